/**
 * Training parity with PyTorch: tools/make_train_fixture.py trains a seeded torchvision resnet34 (the recipe's
 * head, dropout 0) for 10 steps with SGD(momentum) and StepLR; here the same model, loaded from its .pth, is
 * trained with our trainStep / SGD / StepLR on the same batches. Every step's loss and every final
 * state_dict tensor (parameters and BatchNorm buffers) must match. A second test checks StepLR's schedule
 * over 30 epochs against PyTorch's.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { testRuntime } from './helpers/gpu';
import { relError } from './helpers/numeric';
import { torchAvailable, torchFixture, FIXTURE_TIMEOUT_MS } from './helpers/torch';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { resnet34, type ResNet } from '../src/nn/resnet';
import { exportStateDict, loadStateDict } from '../src/nn/state';
import { readPth } from '../src/nn/weights/pth';
import { readSafetensors, readSafetensorsMetadata } from '../src/nn/weights/safetensors';
import type { NamedTensor } from '../src/nn/weights/types';
import { trainStep } from '../src/train/trainer';
import { SGD } from '../src/train/sgd';
import { StepLR } from '../src/train/scheduler';

const hasTorch = torchAvailable();

// The run (kept in sync with the fixture through its arguments).
const [N, S, BATCHES, CLASSES] = [4, 64, 5, 37];
const [STEPS, STEPS_PER_EPOCH] = [10, 2];
const [LR, MOMENTUM, STEP_SIZE, GAMMA] = [0.01, 0.9, 3, 0.5];
// Relative tolerances: each step's loss, and each final state_dict tensor (relative L2).
const LOSS_TOL = 1e-3;
const WEIGHT_TOL = 1e-3;
// The fixture must be reproducible: PyTorch's own float32 run within this of its float64 run (else the
// comparison measures chaos, not correctness; see tools/make_train_fixture.py). It measures ~3e-4.
const FIXTURE_TOL = WEIGHT_TOL / 2;

const floats = (t: NamedTensor) => t.data as Float32Array;
const fmt = (x: number) => x.toExponential(2);

describe.runIf(hasTorch)('PyTorch parity: training resnet34 with SGD + StepLR', () => {
  let rt: GpuRuntime;
  let fx: Map<string, NamedTensor>;
  let meta: Record<string, string>;
  let initial: Map<string, NamedTensor>;
  let model: ResNet;
  let optimizer: SGD | undefined;

  beforeAll(async () => {
    const args = ['--batch', N, '--size', S, '--batches', BATCHES, '--classes', CLASSES, '--steps', STEPS, '--steps-per-epoch', STEPS_PER_EPOCH,
      '--lr', LR, '--momentum', MOMENTUM, '--step-size', STEP_SIZE, '--gamma', GAMMA].map(String);
    const dir = torchFixture('train34', 'tools/make_train_fixture.py', args);
    rt = await testRuntime();
    rt.poison = false; // big model: skip NaN-filling every buffer (the op tests do that)
    const bytes = new Uint8Array(readFileSync(join(dir, 'train.safetensors')));
    fx = readSafetensors(bytes, 'train.safetensors');
    meta = readSafetensorsMetadata(bytes, 'train.safetensors');
    initial = readPth(new Uint8Array(readFileSync(join(dir, 'model.pth'))), 'model.pth');
    model = resnet34({ numClasses: CLASSES, dropout: 0, seed: 0 });
    const report = loadStateDict(model, initial, { source: 'model.pth' });
    expect(report.loaded.length).toBe(initial.size);
  }, FIXTURE_TIMEOUT_MS);

  afterAll(() => {
    optimizer?.dispose();
    model?.dispose();
  });

  it('StepLR gives PyTorch\'s learning rate in each of 30 epochs', () => {
    const torchLrs = JSON.parse(meta.steplr_30) as number[];
    expect(torchLrs).toHaveLength(30);
    const p = Tensor.zeros([1], rt);
    const opt = new SGD([p], { lr: 0.001 });
    const scheduler = new StepLR(opt, { stepSize: 3, gamma: 0.9 });
    torchLrs.forEach((lr, epoch) => {
      expect(opt.lr, `epoch ${epoch}`).toBeCloseTo(lr, 12);
      scheduler.step();
    });
    opt.dispose();
    p.dispose();
  });

  it(`${STEPS} training steps give PyTorch's loss at every step and its final weights`, async () => {
    const torchLoss = floats(fx.get('loss')!);
    const torchLoss64 = floats(fx.get('loss64')!);
    const torchLrs = JSON.parse(meta.lr) as number[];
    const inputs = floats(fx.get('inputs')!);
    const labels = fx.get('labels')!.data as BigInt64Array;
    const imageSize = N * 3 * S * S;

    model.train();
    optimizer = new SGD(model.parameters(), { lr: LR, momentum: MOMENTUM });
    const scheduler = new StepLR(optimizer, { stepSize: STEP_SIZE, gamma: GAMMA });
    const losses: number[] = [];
    const lrs: number[] = [];
    for (let step = 0; step < STEPS; step++) {
      if (step > 0 && step % STEPS_PER_EPOCH === 0) scheduler.step(); // the end of an "epoch"
      const b = step % BATCHES;
      const x = Tensor.fromArray(inputs.subarray(b * imageSize, (b + 1) * imageSize), [N, 3, S, S], 'f32', rt);
      const y = Tensor.fromArray(Int32Array.from(labels.subarray(b * N, (b + 1) * N), Number), [N], 'i32', rt);
      const { loss, logits } = trainStep(model, optimizer, x, y);
      losses.push((await loss.toArray())[0]);
      lrs.push(optimizer.lr);
      for (const t of [x, y, loss, logits]) t.dispose();
    }

    console.log('step  lr      ours      PyTorch   rel. error  (PyTorch float64, its float32 error)');
    const lossErrors = losses.map((l, i) => Math.abs(l - torchLoss[i]) / Math.abs(torchLoss[i]));
    losses.forEach((l, i) => {
      const err64 = Math.abs(torchLoss[i] - torchLoss64[i]) / Math.abs(torchLoss64[i]);
      console.log(`${String(i).padStart(4)}  ${lrs[i].toFixed(4)}  ${l.toFixed(6)}  ${torchLoss[i].toFixed(6)}  ${fmt(lossErrors[i])}    (${torchLoss64[i].toFixed(6)}, ${fmt(err64)})`);
    });
    lrs.forEach((lr, i) => expect(lr, `lr at step ${i}`).toBeCloseTo(torchLrs[i], 12));
    lossErrors.forEach((e, i) => expect(e, `loss at step ${i}: ours ${losses[i]}, PyTorch ${torchLoss[i]}`).toBeLessThanOrEqual(LOSS_TOL));

    // Final state_dict: every tensor within WEIGHT_TOL of PyTorch's float32 run. Also printed: the distance to
    // its float64 run (ours and PyTorch float32's), and the error of the change (final − initial), a far
    // stricter measure.
    const ours = await exportStateDict(model);
    const expectedKeys = [...fx.keys()].filter((k) => k.startsWith('weights.')).map((k) => k.slice(8));
    expect([...ours.keys()]).toEqual(expectedKeys);
    const rows: { key: string; err: number; err64: number; torchErr: number; updateErr: number; updateErr64: number; torchUpdateErr: number }[] = [];
    for (const [key, t] of ours) {
      const want = fx.get(`weights.${key}`)!;
      if (t.dtype === 'I64') {
        expect(t.data[0], key).toBe((want.data as BigInt64Array)[0]);
        continue;
      }
      const [got, ref, ref64] = [floats(t), floats(want), floats(fx.get(`weights64.${key}`)!)];
      const init = initial.get(key)!.data as Float32Array;
      const [dGot, dRef, dRef64] = [got, ref, ref64].map((a) => a.map((v, i) => v - init[i]));
      rows.push({
        key,
        err: relError(got, ref),
        err64: relError(got, ref64),
        torchErr: relError(ref, ref64),
        updateErr: relError(dGot, dRef),
        updateErr64: relError(dGot, dRef64),
        torchUpdateErr: relError(dRef, dRef64),
      });
    }
    const worst = [...rows].sort((a, b) => b.err - a.err);
    const worstUpdate = [...rows].sort((a, b) => b.updateErr - a.updateErr)[0];
    const worst64 = [...rows].sort((a, b) => b.err64 - a.err64)[0];
    const worstTorch = [...rows].sort((a, b) => b.torchErr - a.torchErr)[0];
    for (const r of worst.slice(0, 5)) {
      console.log(
        `final ${r.key}: relative L2 error ${fmt(r.err)} (vs PyTorch float64: ours ${fmt(r.err64)}, PyTorch float32 ${fmt(r.torchErr)}); ` +
          `of the update: ${fmt(r.updateErr)} (vs PyTorch float64: ours ${fmt(r.updateErr64)}, PyTorch float32 ${fmt(r.torchUpdateErr)})`,
      );
    }
    console.log(
      `worst update error: ${worstUpdate.key} ${fmt(worstUpdate.updateErr)} (vs PyTorch float64: ours ${fmt(worstUpdate.updateErr64)}, PyTorch float32 ${fmt(worstUpdate.torchUpdateErr)})`,
    );
    console.log(`worst vs PyTorch float64: ours ${worst64.key} ${fmt(worst64.err64)}, PyTorch float32 ${worstTorch.key} ${fmt(worstTorch.torchErr)}`);
    expect(worstTorch.torchErr, `the fixture is not reproducible in float32 (PyTorch float32 vs float64, ${worstTorch.key})`).toBeLessThanOrEqual(FIXTURE_TOL);
    for (const r of rows) expect(r.err, `final ${r.key}: relative L2 error ${fmt(r.err)}`).toBeLessThanOrEqual(WEIGHT_TOL);
  });
});
