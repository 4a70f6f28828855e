/**
 * `node dist/bench.js --quick` as a smoke test: it runs every benchmark and writes the JSON report (nothing is timed
 * here). And the flags bench.js and gradcheck.js refuse, with one line each.
 */
import { it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { torchAvailable, torchFixture } from '../helpers/torch';
import { readSafetensors, writeSafetensors } from '../../src/nn/weights/safetensors';

it('bench --quick runs every kernel and the model step, and writes the JSON report', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'bench-')), 'bench.json');
  const r = spawnSync(process.execPath, ['dist/bench.js', '--quick', '--batch', '1', '--model-batch', '1', '--img-size', '64', '--samples', '1', '--json', out], { encoding: 'utf8', timeout: 300_000 });
  expect(r.status, r.stderr).toBe(0);
  const report = JSON.parse(readFileSync(out, 'utf8'));
  expect(report.adapter.length).toBeGreaterThan(0);
  for (const c of ['copy_gbps', 'kernel_gbps', 'fma_gflops']) expect(report.ceilings[c], c).toBeGreaterThan(0);
  const names = report.kernels.map((k: { name: string }) => k.name);
  for (const want of ['matmul square 512', 'conv fwd layer1 3x3', 'conv dX layer1 3x3', 'conv dW layer1 3x3', 'batchnorm+relu fwd (train)', 'batchnorm+relu bwd', 'maxpool 3x3/2 fwd', 'softmax-cross-entropy fwd+bwd', 'sgd momentum update']) {
    expect(names).toContain(want);
  }
  for (const k of report.kernels) {
    expect(k.precision, k.name).toBe('f32');
    expect(k.ms).toBeGreaterThan(0);
    expect(Number.isFinite(k.gflops ?? k.gbps)).toBe(true);
    // Which kernels and configurations ran: 'family/file.wgsl [configuration][:entry] {OVERRIDE=value,…}' → dispatches.
    expect(Object.keys(k.kernels).length, k.name).toBeGreaterThan(0);
    for (const [name, n] of Object.entries(k.kernels)) {
      expect(name, k.name).toMatch(/^[\w-]+\/[\w.+-]+\.wgsl( \[[\w-]+\])?(:\w+)?( \{\w+=[\d.-]+(,\w+=[\d.-]+)*\})?$/);
      expect(Number.isInteger(n) && (n as number) > 0).toBe(true);
    }
  }
  // Each kernel row of a forced matmul variant names that kernel, with its configuration.
  const row = (name: string) => report.kernels.filter((k: { name: string }) => k.name === name);
  expect(Object.keys(row('matmul vec4')[0].kernels)).toContainEqual(expect.stringMatching(/^matmul\/matmul_vec4\.wgsl/));
  for (const r of row('matmul subgroup')) expect(Object.keys(r.kernels)).toContainEqual(expect.stringMatching(/^matmul\/matmul_subgroup\.wgsl \{MODE=0,SG=\d+,WIDE=[01]\}$/));
  expect(Object.keys(row('sgd momentum update')[0].kernels)).toEqual([expect.stringMatching(/^sgd\/sgd\.wgsl:sgd_momentum/)]);
  expect(report.model.precision).toBe('f32');
  expect(report.model.train_images_per_second).toBeGreaterThan(0);
  expect(report.model.peak_bytes).toBeGreaterThan(0);
  // The work of one ResNet-34 step as the GPU sees it (dispatches, submits), train and eval.
  for (const f of ['train_step_dispatches', 'train_step_submits', 'eval_step_dispatches', 'eval_step_submits']) {
    expect(Number.isInteger(report.model[f]), f).toBe(true);
    expect(report.model[f], f).toBeGreaterThan(0);
  }
  expect(report.model.train_step_dispatches).toBeGreaterThan(report.model.eval_step_dispatches);
  // The host's time to encode a step: part of the step's time.
  expect(report.model.train_step_encode_ms).toBeGreaterThan(0);
  expect(report.model.train_step_encode_ms).toBeLessThanOrEqual(report.model.train_step_ms);
  // The same step's kernels and configurations add up to its dispatches.
  const sum = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
  expect(sum(report.model.train_step_kernels)).toBe(report.model.train_step_dispatches);
  expect(sum(report.model.eval_step_kernels)).toBe(report.model.eval_step_dispatches);
  expect(Object.keys(report.model.train_step_kernels)).toContainEqual(expect.stringMatching(/^conv\//));
});

/** bench.js on a tiny model step (no kernel rows): its JSON report and its output. */
function benchModel(args: string[], env: NodeJS.ProcessEnv = {}) {
  const out = join(mkdtempSync(join(tmpdir(), 'bench-')), 'bench.json');
  const r = spawnSync(process.execPath, ['dist/bench.js', '--no-kernels', '--arch', 'resnet18', '--model-batch', '2', '--img-size', '32', '--samples', '1', '--steps', '1', '--json', out, ...args], {
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, ...env },
  });
  expect(r.status, r.stderr).toBe(0);
  return { out: r.stdout, report: JSON.parse(readFileSync(out, 'utf8')) };
}

it('bench --precision f16 --compare-precision: a row per precision, each recording it, and the peak-memory comparison', () => {
  const { out, report } = benchModel(['--precision', 'f16', '--compare-precision']);
  expect(report.model_rows.map((m: { precision: string }) => m.precision)).toEqual(['f32', 'f16']);
  const [f32, f16] = report.model_rows;
  expect(report.model).toEqual(f16); // the row of --precision
  expect([f32.loss_scaling, f16.loss_scaling]).toEqual([false, true]);
  // The forward ran under autocast in the f16 row's train step and eval (its logits are float16), not in f32's.
  expect([f32.logits_dtype, f16.logits_dtype]).toEqual([{ train: 'f32', eval: 'f32' }, { train: 'f16', eval: 'f16' }]);
  for (const m of report.model_rows) {
    expect(m.peak_bytes, m.precision).toBeGreaterThan(0);
    expect(m.train_step_ms, m.precision).toBeGreaterThan(0);
    expect(Number.isInteger(m.skipped_steps)).toBe(true);
  }
  // Under autocast each of ResNet-18's 20 convolutions and its fc rounds its weight to float16 (one more
  // dispatch each, at least), in the train step and in the eval forward: the f16 row really ran under autocast.
  expect(f16.train_step_dispatches).toBeGreaterThanOrEqual(f32.train_step_dispatches + 21);
  expect(f16.eval_step_dispatches).toBeGreaterThanOrEqual(f32.eval_step_dispatches + 21);
  const c = report.precision_comparison;
  expect(c.peak_bytes_f32).toBe(f32.peak_bytes);
  expect(c.peak_bytes_f16).toBe(f16.peak_bytes);
  expect(c.peak_reduction).toBeCloseTo(1 - f16.peak_bytes / f32.peak_bytes, 12);
  expect(c.train_speedup).toBeCloseTo(f32.train_step_ms / f16.train_step_ms, 12);
  expect(out).toMatch(/^model resnet18 batch 2 32px f32: /m);
  expect(out).toMatch(/^model resnet18 batch 2 32px f16: /m);
  expect(out).toMatch(/^f16 against f32: peak GPU memory \d+ MiB against \d+ MiB \(\d+\.\d% (lower|higher)\); train step/m);
});

it('bench --precision f16 without shader-f16: one line says so, and the row is float32\'s', () => {
  const { out, report } = benchModel(['--precision', 'f16'], { WEBGPU_DISABLE_FEATURES: 'shader-f16' });
  expect(out.split('\n').filter((l) => /shader-f16/.test(l))).toEqual([expect.stringMatching(/^warning: this adapter \(.+\) has no shader-f16, so --precision f16 cannot run on it: measuring float32 instead$/)]);
  expect(report.model.precision).toBe('f32');
  expect(report.model.loss_scaling).toBe(false);
  expect(report.model_rows).toBeUndefined();
});

it.each([
  [['--bogus'], /Unknown option '--bogus'/],
  [['--arch', 'vgg16'], /--arch must be one of resnet18, resnet34, resnet50, got 'vgg16'/],
  [['--model-batch', 'x'], /--model-batch must be a whole number ≥ 1, got 'x'/],
  [['--steps', '0'], /--steps must be a whole number ≥ 1/],
  [['--img-size', '16'], /--img-size must be a whole number from 32 to 1024, got '16'/],
  [['--train-layers', 'layer9'], /'layer9' is not one/],
  [['--model-batch', '1', '--img-size', '32', '--no-kernels'], /--model-batch 1 cannot train at --img-size 32: .*--model-batch 2 or more/],
])('bench %j is a usage error: one line, exit 2, no stack trace', (args, message) => {
  const r = spawnSync(process.execPath, ['dist/bench.js', ...(args as string[])], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(2);
  expect(r.stderr).toMatch(message as RegExp);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).toBe('');
});

it('gradcheck --bogus is a usage error: one line naming the option, with the usage, exit 2, no stack trace', () => {
  const r = spawnSync(process.execPath, ['dist/gradcheck.js', '--bogus'], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(2);
  expect(r.stderr.trim()).toMatch(/^gradcheck: Unknown option '--bogus' \(usage: node dist\/gradcheck\.js \[--json FILE\]\)$/);
  expect(r.stderr).not.toMatch(/\n\s+at /);
});

it('bench --parity DIR without a fixture there is a usage error naming the command that makes one', () => {
  const r = spawnSync(process.execPath, ['dist/bench.js', '--parity', '/nonexistent-fixture', '--no-kernels', '--no-model'], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(2);
  expect(r.stderr.trim()).toMatch(/^bench: --parity \/nonexistent-fixture: fixture\.safetensors and model\.pth not found there; make the fixture with: python3 tools\/make_resnet_fixture\.py \/nonexistent-fixture/);
  expect(r.stdout).toBe('');
});

it.runIf(torchAvailable())('bench --parity: every comparison within its tolerance on this adapter; numbers off from PyTorch\'s exit 1, naming them', () => {
  // The fixture of tools/make_resnet_fixture.py at 64 px (PyTorch on the CPU), then a copy whose eval logits are 1% off.
  const dir = torchFixture('resnet34-64', 'tools/make_resnet_fixture.py', ['--batch', '2', '--size', '64']);
  const bad = mkdtempSync(join(tmpdir(), 'parity-'));
  const fx = readSafetensors(new Uint8Array(readFileSync(join(dir, 'fixture.safetensors'))), 'fixture');
  const logits = fx.get('eval_logits')!;
  fx.set('eval_logits', { ...logits, data: (logits.data as Float32Array).map((v) => v * 1.01) });
  writeFileSync(join(bad, 'fixture.safetensors'), writeSafetensors(fx));
  copyFileSync(join(dir, 'model.pth'), join(bad, 'model.pth'));
  const run = (d: string) => {
    const json = join(mkdtempSync(join(tmpdir(), 'parity-json-')), 'p.json');
    const r = spawnSync(process.execPath, ['dist/bench.js', '--parity', d, '--no-kernels', '--no-model', '--json', json], { encoding: 'utf8', timeout: 300_000 });
    return { ...r, report: r.status === 0 || r.status === 1 ? JSON.parse(readFileSync(json, 'utf8')) : null };
  };
  const good = run(dir);
  expect(good.status, good.stderr).toBe(0);
  expect(good.stdout).toMatch(/^parity: every comparison within its tolerance$/m);
  expect(good.report.parity).toMatchObject({ batch: 2, size: 64, pass: true });
  expect(good.report.parity.rows.map((r: { what: string }) => r.what)).toEqual(expect.arrayContaining(['eval logits', 'train logits', 'loss', 'grad.conv1.weight (vs float64)', 'after.bn1.running_mean']));
  const off = run(bad);
  expect(off.status, off.stderr).toBe(1);
  expect(off.stdout).toMatch(/^ {2}eval logits +9\.90e-3 > 0\.0001 {2}FAIL$/m);
  expect(off.stdout).toMatch(/^parity: FAILED \(1 over their tolerance\)/m);
  expect(off.report.parity.pass).toBe(false);
}, 600_000);

it.runIf(torchAvailable())('bench --parity with an unreadable fixture or weights file: one error naming the file, exit 2, no stack trace', () => {
  const dir = torchFixture('resnet34-64', 'tools/make_resnet_fixture.py', ['--batch', '2', '--size', '64']);
  const bad = mkdtempSync(join(tmpdir(), 'parity-bad-'));
  const run = () => spawnSync(process.execPath, ['dist/bench.js', '--parity', bad, '--no-kernels', '--no-model'], { encoding: 'utf8', timeout: 120_000 });
  const truncated = (f: string) => writeFileSync(join(bad, f), readFileSync(join(dir, f)).subarray(0, 100));
  for (const [cut, kept] of [['fixture.safetensors', 'model.pth'], ['model.pth', 'fixture.safetensors']]) {
    truncated(cut);
    copyFileSync(join(dir, kept), join(bad, kept));
    const r = run();
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^bench: --parity ${bad}: ${bad}/${cut.replace('.', '\\.')}: .*; make the fixture again with: python3 tools/make_resnet_fixture\\.py ${bad} `));
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }
}, 300_000);
