/** `node dist/bench.js --quick` as a smoke test: it runs every benchmark and writes the JSON report (nothing is timed here). */
import { it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
    expect(k.ms).toBeGreaterThan(0);
    expect(Number.isFinite(k.gflops ?? k.gbps)).toBe(true);
  }
  expect(report.model.train_images_per_second).toBeGreaterThan(0);
  expect(report.model.peak_bytes).toBeGreaterThan(0);
  // The work of one ResNet-34 step as the GPU sees it (dispatches, submits), train and eval.
  for (const f of ['train_step_dispatches', 'train_step_submits', 'eval_step_dispatches', 'eval_step_submits']) {
    expect(Number.isInteger(report.model[f]), f).toBe(true);
    expect(report.model[f], f).toBeGreaterThan(0);
  }
  expect(report.model.train_step_dispatches).toBeGreaterThan(report.model.eval_step_dispatches);
});
