/**
 * The command-line half of test/outsafe.test.ts (issue 15, items 1, 3, 4, 9, 10): train.js, predict.js and
 * convert.js run from the build refuse NaN/Inf weights, never overwrite an earlier run, check --out before the GPU,
 * take over a stale lock after kill -9 and leave no partial files behind.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { testRuntime } from '../helpers/gpu';
import { makeTinyDataset } from '../helpers/tiny-dataset';
import { pthOfTensors } from '../helpers/pth-writer';
import { allFinite, canMount, deadPid, withTmpfs } from '../helpers/outsafe';
import { Tensor } from '../../src/autograd/tensor';
import { resnet } from '../../src/nn/resnet';
import { writeSafetensors } from '../../src/nn/weights/safetensors';
import type { NamedTensor } from '../../src/nn/weights/types';

beforeAll(async () => {
  const rt = await testRuntime();
  rt.poison = false;
  if (!existsSync('dist/train.js') || !existsSync('dist/convert.js')) execFileSync(process.execPath, ['build.mjs', '--no-types'], { stdio: 'inherit' });
});

function run(script: string, args: string[], timeout = 300_000) {
  const r = spawnSync(process.execPath, [join('dist', script), ...args], { encoding: 'utf8', timeout });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const NO_STACK = /^\s+at /m;

describe('outsafe: NaN/Inf weights (item 1)', () => {
  it('train.js --weights and predict.js --weights refuse a NaN/Inf file with the tensor names, no stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nanw-'));
    const model = resnet('resnet18', { numClasses: 2 });
    const tensors: Record<string, { shape: number[]; data: Float32Array | BigInt64Array }> = {};
    const named = new Map<string, NamedTensor>();
    for (const [k, v] of model.stateDict()) {
      const t = v instanceof Tensor ? { dtype: 'F32' as const, shape: [...v.shape], data: new Float32Array(v.size).fill(0.01) } : { dtype: 'I64' as const, shape: [], data: BigInt64Array.of(0n) };
      tensors[k] = t;
      named.set(k, t);
    }
    model.dispose();
    (tensors['conv1.weight'].data as Float32Array)[7] = NaN;
    (tensors['bn1.running_var'].data as Float32Array)[0] = -Infinity;
    writeFileSync(join(dir, 'nan.pth'), pthOfTensors(tensors));
    writeFileSync(join(dir, 'nan.safetensors'), writeSafetensors(named));
    const ds = await makeTinyDataset({ train: 2, val: 1, test: 1 }, 32);
    const t = run('train.js', ['--data', ds, '--out', join(dir, 'run'), '--weights', join(dir, 'nan.pth'), '--arch', 'resnet18', '--img-size', '32']);
    expect(t.code, t.out).toBe(1);
    expect(t.err).toMatch(/nan\.pth: 2 of \d+ tensors hold NaN or Inf values: conv1\.weight \(1 NaN of 9408\), bn1\.running_var \(1 -Inf of 64\)/);
    expect(t.err).not.toMatch(NO_STACK);
    expect(t.out).not.toMatch(/training resnet18/);
    writeFileSync(join(dir, 'img.png'), readFileSync(join(ds, 'test', 'red', '0.png')));
    const p = run('predict.js', ['--weights', join(dir, 'nan.safetensors'), join(dir, 'img.png')]);
    expect(p.code, p.out).toBe(1);
    expect(p.err).toMatch(/nan\.safetensors: 2 of \d+ tensors hold NaN or Inf values: conv1\.weight \(1 NaN/);
    expect(p.err).not.toMatch(NO_STACK);
    expect(p.out).not.toMatch(/img\.png/); // no prediction printed
  });
});

describe('outsafe: the output folder is checked before any GPU work (item 4)', () => {
  it.skipIf(!canMount)('train.js on a read-only disk: one line, exit 1, before the GPU', async () => {
    const ds = await makeTinyDataset({ train: 1, val: 1, test: 1 }, 32);
    const r = await withTmpfs('size=1m,ro', (ro) => run('train.js', ['--data', ds, '--out', join(ro, 'run')]));
    expect(r.code).toBe(1);
    expect(r.err.trim()).toMatch(/^error: cannot create --out .*: the file system is read-only \(EROFS\); choose a folder on a writable disk$/);
    expect(r.out).not.toMatch(/adapter:/);
  });

  it('train.js with --out a regular file: one line, exit 1, before the GPU', async () => {
    const ds = await makeTinyDataset({ train: 1, val: 1, test: 1 }, 32);
    const f = join(mkdtempSync(join(tmpdir(), 'outfile-')), 'file');
    writeFileSync(f, 'x');
    const r = run('train.js', ['--data', ds, '--out', f]);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toMatch(/^error: --out .*file is a file, not a folder/);
    expect(r.err.trim().split('\n').length).toBe(1);
    expect(r.out).not.toMatch(/adapter:/);
  });
});

describe('outsafe: the CLI never loses a run (items 3, 9, 10)', () => {
  let ds: string;
  beforeAll(async () => {
    ds = await makeTinyDataset({ train: 2, val: 1, test: 1 }, 32);
  });
  const common = ['--arch', 'resnet18', '--img-size', '32', '--batch-size', '4', '--max-epochs', '1'];

  it('an earlier run in --out is refused without --resume/--overwrite, and left as it was', () => {
    const out = mkdtempSync(join(tmpdir(), 'again-'));
    writeFileSync(join(out, 'best.safetensors'), 'earlier weights');
    writeFileSync(join(out, 'metrics.csv'), 'earlier metrics');
    const r = run('train.js', ['--data', ds, '--out', out, ...common]);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toMatch(/^error: .* already holds a training run \(best\.safetensors, metrics\.csv\)\. Nothing was changed\. To continue it, add --resume; to keep it and start a new run, choose another --out; to replace it, add --overwrite\.$/);
    expect(r.out).not.toMatch(/adapter:/);
    expect(readFileSync(join(out, 'best.safetensors'), 'utf8')).toBe('earlier weights');
    expect(readdirSync(out).sort()).toEqual(['best.safetensors', 'metrics.csv']); // lock released, no probe left
    const noCkpt = run('train.js', ['--data', ds, '--out', out, '--resume', ...common]);
    expect(noCkpt.code).toBe(1);
    expect(noCkpt.err).toMatch(/holds an earlier run \(best\.safetensors, metrics\.csv\) but no checkpoint\.safetensors to resume from/);
    const both = run('train.js', ['--data', ds, '--out', out, '--resume', '--overwrite']);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/--resume and --overwrite exclude each other/);
  });

  it('a run into a folder locked by a live process is refused; after kill -9 the lock is taken over, partial files removed, --overwrite replaces the run', async () => {
    const out = mkdtempSync(join(tmpdir(), 'kill9-'));
    writeFileSync(join(out, 'best.safetensors'), 'earlier weights');
    writeFileSync(join(out, 'report.html'), 'earlier report');
    writeFileSync(join(out, 'notes.txt'), 'the user\'s own file');
    // A live run holds the folder: this test process stands for it.
    writeFileSync(join(out, 'train.lock'), JSON.stringify({ pid: process.pid, host: hostname(), started: 'now' }));
    const busy = run('train.js', ['--data', ds, '--out', out, '--overwrite', ...common]);
    expect(busy.code).toBe(1);
    expect(busy.err).toMatch(new RegExp(`is being written by another training run \\(process ${process.pid}`));
    expect(readFileSync(join(out, 'best.safetensors'), 'utf8')).toBe('earlier weights');
    rmSync(join(out, 'train.lock'));

    // A real run killed with SIGKILL as soon as it holds the lock.
    const child = spawn(process.execPath, ['dist/train.js', '--data', ds, '--out', out, '--overwrite', ...common], { stdio: 'ignore' });
    for (let i = 0; i < 600 && !existsSync(join(out, 'train.lock')); i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    expect(JSON.parse(readFileSync(join(out, 'train.lock'), 'utf8')).pid).toBe(child.pid);
    // The killed run may have removed the earlier files already (--overwrite); put them back for the next one.
    writeFileSync(join(out, 'best.safetensors'), 'earlier weights');
    writeFileSync(join(out, 'report.html'), 'earlier report');
    // What a kill -9 in the middle of writing a checkpoint leaves.
    writeFileSync(join(out, `checkpoint.safetensors.tmp-${child.pid}`), new Uint8Array(2 ** 20));

    const r = run('train.js', ['--data', ds, '--out', out, '--overwrite', ...common]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`train\\.lock was left by process ${child.pid} .*no longer runs \\(killed\\?\\); taking over the folder`));
    expect(r.out).toMatch(new RegExp(`removed partial files left by an interrupted run: checkpoint\\.safetensors\\.tmp-${child.pid} \\(1\\.0 MB\\)`));
    expect(r.out).toMatch(/--overwrite: removed the earlier run's/);
    const files = readdirSync(out);
    expect(files.filter((f) => /tmp|lock|write-test/.test(f))).toEqual([]);
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('the user\'s own file');
    expect(allFinite(new Uint8Array(readFileSync(join(out, 'best.safetensors'))))).toBe(true);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).not.toBe('earlier report');
  });
});

describe('outsafe: convert.js (item 10)', () => {
  const weights = () => pthOfTensors({ 'fc.weight': { shape: [256, 256], data: Float32Array.from({ length: 65536 }, (_, i) => i / 7) } });

  it('a folder as output, a missing output folder and NaN input are clear one-line errors that leave no file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'conv-'));
    writeFileSync(join(dir, 'in.pth'), weights());
    mkdirSync(join(dir, 'outdir'));
    const r = run('convert.js', [join(dir, 'in.pth'), join(dir, 'outdir')]);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toMatch(/^error: .*outdir is a folder: give the output file's name, e\.g\. .*outdir\/model\.safetensors$/);
    expect(readdirSync(join(dir, 'outdir'))).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual(['in.pth', 'outdir']);
    const m = run('convert.js', [join(dir, 'in.pth'), join(dir, 'no', 'such', 'out.safetensors')]);
    expect(m.code).toBe(1);
    expect(m.err.trim()).toMatch(/^error: cannot write .*out\.safetensors: a folder on the path does not exist \(ENOENT\); create its folder first/);
    const nan = Float32Array.of(1, NaN, 3, 4);
    writeFileSync(join(dir, 'nan.pth'), pthOfTensors({ 'layer1.0.conv1.weight': { shape: [4], data: nan } }));
    const n = run('convert.js', [join(dir, 'nan.pth'), join(dir, 'nan.safetensors')]);
    expect(n.code).toBe(1);
    expect(n.err.trim()).toMatch(/^error: .*nan\.pth: 1 of 1 tensors hold NaN or Inf values: layer1\.0\.conv1\.weight \(1 NaN of 4\)/);
    expect(existsSync(join(dir, 'nan.safetensors'))).toBe(false);
    for (const x of [r, m, n]) expect(x.err).not.toMatch(NO_STACK);
  });

  it('a partial file of a killed conversion is removed on the next start', () => {
    const dir = mkdtempSync(join(tmpdir(), 'conv-'));
    writeFileSync(join(dir, 'in.pth'), weights());
    const pid = deadPid();
    writeFileSync(join(dir, `out.safetensors.tmp-${pid}`), new Uint8Array(100_000));
    writeFileSync(join(dir, `other.bin.tmp-${pid}`), 'not ours');
    const r = run('convert.js', [join(dir, 'in.pth'), join(dir, 'out.safetensors')]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`removed partial files left by an interrupted conversion: out\\.safetensors\\.tmp-${pid}`));
    expect(readdirSync(dir).sort()).toEqual(['in.pth', `other.bin.tmp-${pid}`, 'out.safetensors']);
  });

  it.skipIf(!canMount)('out of space (a 128 KiB tmpfs, root only): a clear error, and no partial file is left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conv-'));
    writeFileSync(join(dir, 'in.pth'), weights()); // 256 KiB of weights
    await withTmpfs('size=128k', (small) => {
      const r = run('convert.js', [join(dir, 'in.pth'), join(small, 'out.safetensors')]);
      expect(r.code).toBe(1);
      expect(r.err.trim()).toMatch(/^error: cannot write .*out\.safetensors: the disk is full \(ENOSPC\); free some space, or choose a folder on another disk$/);
      expect(readdirSync(small)).toEqual([]);
    });
  });
});
