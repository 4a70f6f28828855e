/**
 * Mixed-precision training (TrainConfig.precision 'f16'): autocast + GradScaler in the trainer. A 10-step
 * trajectory of ResNet-18 in float16 against the same steps in float32 (the loss stays within float16's
 * error bound), a float16 run that trains, checkpoints its loss scale and resumes bit-identically, and the
 * fallback to float32 with one warning line on a device without shader-f16.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import type { GpuRuntime } from '../src/gpu/runtime';
import { initGpu } from '../src/gpu/init';
import { setRuntime } from '../src/gpu/current';
import { Tensor } from '../src/autograd/tensor';
import { resnet18 } from '../src/nn/resnet';
import { setBatchNormEval } from '../src/nn/freeze';
import { SGD } from '../src/train/sgd';
import { GradScaler } from '../src/train/grad_scaler';
import { trainStep } from '../src/train/trainer';
import { MemoryStore } from '../src/train/io';
import { readSafetensors, readSafetensorsMetadata } from '../src/nn/weights/safetensors';
import { TINY_CONFIG, defaultSplits, tinyTrainer } from './helpers/tiny-trainer';
import { f16RoundAll } from '../src/reference/half';
import { randomArray, relError } from '../src/reference/math';
import type { TrainConfig } from '../src/train/config';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
  rt.poison = false;
});

/**
 * `steps` SGD steps (lr 0.001, momentum 0.9: the recipe's) of a seeded ResNet-18 at 32 px, each on its own seeded
 * batch of 8 random images: the per-step losses, the steps the scaler skipped, and how far the weights moved.
 */
async function trajectory(mode: 'f32' | 'f16' | 'f32, input rounded to f16', steps: number): Promise<{ losses: number[]; skipped: number; moved: Float64Array }> {
  const half = mode === 'f16';
  const model = resnet18({ numClasses: 4, seed: 7 });
  model.train();
  setBatchNormEval(model);
  const params = model.parameters();
  const initial = await Promise.all(params.map((p) => p.toArray()));
  const opt = new SGD(params, { lr: 0.001, momentum: 0.9 });
  const scaler = half ? new GradScaler() : null;
  const losses: number[] = [];
  let skipped = 0;
  try {
    for (let i = 0; i < steps; i++) {
      const values = randomArray(8 * 3 * 32 * 32, 100 + i, -2, 2);
      const x = Tensor.fromArray(Float32Array.from(mode === 'f32, input rounded to f16' ? f16RoundAll(values) : values), [8, 3, 32, 32]);
      const y = Tensor.fromArray(Int32Array.from({ length: 8 }, (_, k) => (k + i) % 4), [8], 'i32');
      const { loss, logits, stepped } = trainStep(model, opt, x, y, 0, 0, { autocast: half, scaler });
      if (stepped && !(await stepped)) skipped++;
      losses.push((await loss.toArray())[0]);
      expect(logits.dtype).toBe(half ? 'f16' : 'f32');
      expect(loss.dtype).toBe('f32');
      for (const t of [x, y, loss, logits]) t.dispose();
    }
    const final = await Promise.all(params.map((p) => p.toArray()));
    const moved = Float64Array.from(final.flatMap((f, k) => Array.from(f, (v, j) => v - initial[k][j])));
    return { losses, skipped, moved };
  } finally {
    opt.dispose();
    scaler?.dispose();
    model.dispose();
  }
}

describe('float16 training against float32', () => {
  it("10 steps of ResNet-18: the losses and the weights' movement within float16's expected error of the float32 run", async () => {
    const f32 = await trajectory('f32', 10);
    const f16 = await trajectory('f16', 10);
    // float16's expected error for this network, measured rather than assumed: the float32 run again with one
    // float16 rounding (of the input images) gives the trajectory's sensitivity to one rounding, δ1. A float16
    // run rounds every stored activation and gradient, R = 38 times along ResNet-18's deepest path (the input
    // cast, 17 convolutions and their batch norms, max pool, average pool, fc), independently, so its errors
    // add in quadrature: expected √R·δ1. (The random-init network is ill-conditioned: one rounding of the input
    // alone moves its gradients by a few percent, through the cancellation in each weight-gradient sum.)
    const once = await trajectory('f32, input rounded to f16', 10);
    const R = 38;
    const relSteps = (a: number[]) => f32.losses.map((l, i) => Math.abs(a[i] - l) / Math.abs(l));
    const lossBound = Math.sqrt(R) * Math.max(...relSteps(once.losses));
    const moveBound = Math.sqrt(R) * relError(once.moved, f32.moved);
    const rel = relSteps(f16.losses);
    const movedErr = relError(f16.moved, f32.moved);
    // eslint-disable-next-line no-console
    console.log(
      `[f16] loss f32 ${f32.losses.map((l) => l.toFixed(4)).join(' ')}\n[f16] loss f16 ${f16.losses.map((l) => l.toFixed(4)).join(' ')}\n` +
        `[f16] largest relative loss difference ${Math.max(...rel).toExponential(2)} (bound ${lossBound.toExponential(2)}), weight movement difference ${movedErr.toExponential(2)} (bound ${moveBound.toExponential(2)}), skipped ${f16.skipped}`,
    );
    for (const r of rel) expect(r).toBeLessThan(lossBound);
    expect(movedErr).toBeLessThan(moveBound);
    // float16 really ran (its rounding shows), every step was taken, and the weights moved.
    expect(rel[0]).toBeGreaterThan(0);
    expect(f16.skipped).toBe(0);
    expect(Math.sqrt(f32.moved.reduce((a, v) => a + v * v, 0))).toBeGreaterThan(0);
  }, 180_000);
});

const text = (s: MemoryStore, name: string) => new TextDecoder().decode(s.files.get(name)!);

async function train(r: GpuRuntime, store: MemoryStore, cfg: TrainConfig, opts: { stopAfter?: number; resume?: boolean } = {}) {
  const run = tinyTrainer(r, store, cfg, defaultSplits(), { stopAfter: opts.stopAfter });
  try {
    if (opts.resume) expect(await run.trainer.resume()).toBe(true);
    const summary = await run.trainer.run();
    return { summary, logs: run.logs, precision: run.trainer.precision, scale: run.trainer.scaler?.getScale() };
  } finally {
    run.dispose();
  }
}

describe('trainer with precision f16', () => {
  const cfg: TrainConfig = { ...TINY_CONFIG, maxEpochs: 3, precision: 'f16' };

  it('trains, keeps its loss scale in the checkpoint, and resumes to bit-identical weights, optimizer state, loss scale and metrics', async () => {
    const full = new MemoryStore();
    const a = await train(rt, full, cfg);
    expect(a.precision).toBe('f16');
    expect(a.summary!.precision).toBe('f16');
    const meta = JSON.parse(readSafetensorsMetadata(full.files.get('checkpoint.safetensors')!, 'c').trainer!);
    expect(meta.gradScaler.scale).toBe(a.scale);
    expect(meta.run.precision).toBe('f16');
    // The checkpoint's tensors stay float32.
    for (const [k, t] of readSafetensors(full.files.get('checkpoint.safetensors')!, 'c')) expect(t.data instanceof Float32Array || t.data instanceof BigInt64Array, k).toBe(true);

    const split = new MemoryStore();
    expect((await train(rt, split, cfg, { stopAfter: 3 })).summary).toBeNull();
    const b = await train(rt, split, cfg, { resume: true });
    const ta = readSafetensors(full.files.get('checkpoint.safetensors')!, 'c');
    const tb = readSafetensors(split.files.get('checkpoint.safetensors')!, 'c');
    expect([...tb.keys()].sort()).toEqual([...ta.keys()].sort());
    for (const [k, t] of ta) expect(Array.from(tb.get(k)!.data as ArrayLike<unknown>), k).toEqual(Array.from(t.data as ArrayLike<unknown>));
    expect(JSON.parse(readSafetensorsMetadata(split.files.get('checkpoint.safetensors')!, 'c').trainer!).gradScaler).toEqual(meta.gradScaler);
    const cols = (s: MemoryStore) => text(s, 'metrics.csv').split('\n').map((l) => l.split(',').slice(0, 6).join(','));
    expect(cols(split)).toEqual(cols(full));
    expect(b.summary!.test_loss).toBe(a.summary!.test_loss);
  }, 120_000);

  it('a resume in the other precision continues, with a note', async () => {
    const store = new MemoryStore();
    expect((await train(rt, store, cfg, { stopAfter: 3 })).summary).toBeNull();
    const b = await train(rt, store, { ...cfg, precision: 'f32' }, { resume: true });
    expect(b.summary).not.toBeNull();
    expect(b.logs.join('\n')).toMatch(/was trained in f16; this run continues in f32 \(its loss scale is not used\)/);
  }, 120_000);

  it('on a device without shader-f16: one warning line, and the run trains in float32', async () => {
    const plain = await initGpu({ features: [] });
    try {
      plain.poison = false;
      expect(plain.features.has('shader-f16')).toBe(false);
      const store = new MemoryStore();
      const r = await train(plain, store, { ...cfg, maxEpochs: 1 });
      expect(r.precision).toBe('f32');
      expect(r.summary!.precision).toBe('f32');
      expect(r.summary!.config.precision).toBe('f16');
      expect(r.scale).toBeUndefined();
      const warnings = r.logs.filter((l) => /shader-f16/.test(l));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/^warning: this adapter \(.+\) has no shader-f16, so precision f16 cannot run on it: training in float32 instead$/);
      const meta = JSON.parse(readSafetensorsMetadata(store.files.get('checkpoint.safetensors')!, 'c').trainer!);
      expect(meta.run.precision).toBe('f32');
      expect(meta.gradScaler).toBeUndefined();
    } finally {
      setRuntime(rt);
      plain.destroy();
    }
  }, 120_000);
});
