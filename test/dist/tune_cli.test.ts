/**
 * The tune cache through the CLIs: `bench --tune-only --quick` writes a cache that train.js loads, train.js
 * --tune replaces a corrupt one, predict.js reads one named by $WEBGPU_RESNET_TUNE_CACHE and ignores a
 * corrupt one with one warning line, and the flags' errors. Tiny shapes (ResNet-18, 32 px, batch 2).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyDataset } from '../helpers/tiny-dataset';

function run(script: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [join('dist', script), ...args], { encoding: 'utf8', timeout: 600_000, env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  if (!existsSync('dist/bench.js')) execFileSync(process.execPath, ['build.mjs', '--no-types'], { stdio: 'inherit' });
});

describe('cli: the tune cache', () => {
  let data: string;
  let dir: string;
  beforeAll(async () => {
    data = await makeTinyDataset();
    dir = mkdtempSync(join(tmpdir(), 'tune-cli-'));
  });
  const train = ['--arch', 'resnet18', '--img-size', '32', '--batch-size', '2', '--max-epochs', '1', '--seed', '3'];

  it('bench --tune-only --quick writes a cache file with what it chose against the heuristic; train.js loads it', () => {
    const cache = join(dir, 'shipped.json');
    const json = join(dir, 'bench.json');
    const b = run('bench.js', ['--tune-only', '--quick', '--no-kernels', '--arch', 'resnet18', '--model-batch', '2', '--img-size', '32', '--samples', '1', '--tune-cache', cache, '--json', json]);
    expect(b.code, b.err).toBe(0);
    expect(b.out).toMatch(/^tune conv2d\.forward 2x3x32x32->64 k7x7 s2 p3: \w+ [\d.]+ ms, \w+ [\d.]+ ms -> \w+ \((the heuristic's pick|heuristic \w+: [\d.]+x faster)\)$/m);
    const done = /^kernel choices: (\d+) tuned now, \d+ differ from the heuristic; wrote (.+)$/m.exec(b.out);
    expect(done?.[2]).toBe(cache);
    const n = Number(done![1]);
    expect(n).toBeGreaterThan(10);
    const file = JSON.parse(readFileSync(cache, 'utf8'));
    expect(file.format).toBe('webgpu-resnet/tune-cache');
    expect(file.entries[0].choices.length).toBe(n);
    expect(JSON.parse(readFileSync(json, 'utf8')).tuned.length).toBe(n);

    const t = run('train.js', ['--data', data, '--out', join(dir, 'run'), ...train, '--tune-cache', cache]);
    expect(t.code, t.err).toBe(0);
    expect(t.out).toContain(`kernel choices: ${n} tuned from ${cache}\n`);
    expect(t.err).not.toMatch(/tune cache/);
  });

  it('train.js --tune replaces a corrupt cache (one warning line); predict.js reads $WEBGPU_RESNET_TUNE_CACHE and ignores a corrupt one', () => {
    const cache = join(dir, 'corrupt.json');
    writeFileSync(cache, '{"format": "webgpu-resnet/tune-cache", "entr');
    const out = join(dir, 'tuned');
    const t = run('train.js', ['--data', data, '--out', out, ...train, '--tune', '--tune-cache', cache]);
    expect(t.code, t.err).toBe(0);
    expect(t.err.split('\n').filter((l) => /tune cache/.test(l))).toEqual([expect.stringMatching(/^warning: tune cache .*corrupt\.json: not valid JSON .*; ignored \(kernel choices use the heuristics\)$/)]);
    expect(t.out).toMatch(/^tuning the kernel choices of a training step \(batch 2, 32px\) on this adapter$/m);
    expect(t.out).toMatch(/^tune batchnorm\.reduce 2x64x256: /m);
    const n = Number(/^kernel choices: (\d+) tuned now, \d+ differ from the heuristic; wrote /m.exec(t.out)?.[1]);
    expect(n).toBeGreaterThan(10);
    expect(JSON.parse(readFileSync(cache, 'utf8')).entries[0].choices.length).toBe(n);

    const weights = join(out, 'best.safetensors');
    const good = run('predict.js', ['--weights', weights, join(data, 'test')], { WEBGPU_RESNET_TUNE_CACHE: cache });
    expect(good.code, good.err).toBe(0);
    expect(good.out).toContain(`kernel choices: ${n} tuned from ${cache}\n`);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ format: 'webgpu-resnet/tune-cache', version: 99, entries: [] }));
    const p = run('predict.js', ['--weights', weights, '--tune-cache', bad, join(data, 'test')]);
    expect(p.code, p.err).toBe(0);
    expect(p.err.split('\n').filter((l) => /tune cache/.test(l))).toEqual([`warning: tune cache ${bad}: written in format version 99; this build reads version 1; ignored (kernel choices use the heuristics)`]);
    expect(p.out).not.toMatch(/kernel choices/);
  });

  it.each([
    ['train.js', ['--tune-cache', 'x.json', '--no-tune-cache']],
    ['predict.js', ['--weights', 'w.safetensors', '--tune-cache', 'x.json', '--no-tune-cache', 'a.png']],
    ['bench.js', ['--tune-cache', 'x.json', '--no-tune-cache']],
  ])('%s: --tune-cache and --no-tune-cache together are a usage error (exit 2)', (script, args) => {
    const r = run(script, args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--tune-cache and --no-tune-cache exclude each other/);
  });
});
