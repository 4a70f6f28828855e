/**
 * Frozen parameters (requiresGrad false) skip their gradient kernels: conv2d, linear and batch norm launch only
 * the kernels of the inputs that need a gradient (counted with rt.counters.dispatches), and give the same
 * gradients to the others as an unfrozen run. Module.requiresGrad_, freeze() and setBatchNormEval() on a small
 * network and a ResNet: only the trained layers get gradients, and eval-mode batch norm trains.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { randomArray, tensor } from './helpers/numeric';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { tidy } from '../src/autograd/scope';
import { conv2d } from '../src/autograd/ops/conv';
import { linear } from '../src/autograd/ops/linear';
import { batchNorm, batchNormAddRelu, batchNormRelu } from '../src/autograd/ops/batchnorm';
import { crossEntropy } from '../src/autograd/ops/loss';
import { conv2dBackwardBias, conv2dBackwardData, conv2dBackwardWeight, conv2dGeometry } from '../src/kernels/conv';
import { matmul as matmulKernel } from '../src/kernels/matmul';
import { sumAxis } from '../src/kernels/reduce';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Sequential } from '../src/nn/layers';
import { SeedSequence } from '../src/nn/init';
import type { Module } from '../src/nn/module';
import { freeze, layerNames, setBatchNormEval } from '../src/nn/freeze';
import { RESNET_LAYERS, resnet18 } from '../src/nn/resnet';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

/** Dispatches that `fn` encodes. */
function dispatchesOf(fn: () => void): number {
  const before = rt.counters.dispatches;
  fn();
  return rt.counters.dispatches - before;
}

const leaf = (data: ArrayLike<number>, shape: number[], grad: boolean) => tensor(rt, data, shape).requireGrad(grad);

describe('frozen inputs skip their gradient kernels', () => {
  // Odd sizes; 3×3 stride 1 padding 1 (Winograd where it pays) and a strided 1×1.
  it.each<[string, number[], number[], number, number]>([
    ['3x3 s1 p1 [2,5,7,9] -> 6', [2, 5, 7, 9], [6, 5, 3, 3], 1, 1],
    ['1x1 s2 [1,3,9,7] -> 7', [1, 3, 9, 7], [7, 3, 1, 1], 2, 0],
  ])('conv2d %s: each combination launches only its gradients, and they equal the unfrozen ones', async (_, xs, ws, stride, padding) => {
    const xd = randomArray(xs.reduce((a, b) => a * b, 1), 1);
    const wd = randomArray(ws.reduce((a, b) => a * b, 1), 2);
    const bd = randomArray(ws[0], 3);
    const g = conv2dGeometry(xs, ws, stride, padding);
    const dyd = randomArray(g.N * g.O * g.OH * g.OW, 4);
    const dy = tensor(rt, dyd, [g.N, g.O, g.OH, g.OW]);
    /** Backward with the given inputs trainable: its dispatch count and the gradients [dx, dw, db] (null where frozen). */
    const run = async (gx: boolean, gw: boolean, gb: boolean) => {
      const x = leaf(xd, [...xs], gx);
      const w = leaf(wd, [...ws], gw);
      const b = leaf(bd, [ws[0]], gb);
      const y = conv2d(x, w, b, { stride, padding });
      const n = dispatchesOf(() => y.backward(dy));
      const grads = await Promise.all([x, w, b].map((t) => t.grad?.toArray() ?? null));
      for (const t of [x, w, b, y]) t.dispose();
      return { n, grads };
    };
    // The kernels alone, as the op launches them for each input.
    const scratch = Tensor.empty([Math.max(xd.length, wd.length)], 'f32', rt);
    const x0 = tensor(rt, xd, [...xs]);
    const w0 = tensor(rt, wd, [...ws]);
    const kData = dispatchesOf(() => conv2dBackwardData(rt, dy.buffer, w0.buffer, scratch.buffer, g));
    const kWeight = dispatchesOf(() => conv2dBackwardWeight(rt, x0.buffer, dy.buffer, scratch.buffer, g));
    const kBias = dispatchesOf(() => conv2dBackwardBias(rt, dy.buffer, scratch.buffer, g));
    for (const t of [scratch, x0, w0]) t.dispose();

    const all = await run(true, true, true);
    expect(all.n).toBe(kData + kWeight + kBias);
    const xOnly = await run(true, false, false);
    expect(xOnly.n, 'weight and bias frozen: only the data gradient').toBe(kData);
    expect(xOnly.grads[1]).toBeNull();
    expect(xOnly.grads[2]).toBeNull();
    expect(xOnly.grads[0]).toEqual(all.grads[0]);
    // The first convolution of a network: its input needs no gradient.
    const first = await run(false, true, true);
    expect(first.n, 'input without grad: no data gradient').toBe(kWeight + kBias);
    expect(first.grads[0]).toBeNull();
    expect(first.grads[1]).toEqual(all.grads[1]);
    expect(first.grads[2]).toEqual(all.grads[2]);
    const biasOnly = await run(false, false, true);
    expect(biasOnly.n).toBe(kBias);
    expect(biasOnly.grads[2]).toEqual(all.grads[2]);
    dy.dispose();
  });

  it('linear [13,7] -> 5: each combination launches only its gradients, and they equal the unfrozen ones', async () => {
    const [N, inF, outF] = [13, 7, 5];
    const xd = randomArray(N * inF, 11);
    const wd = randomArray(outF * inF, 12);
    const bd = randomArray(outF, 13);
    const dy = tensor(rt, randomArray(N * outF, 14), [N, outF]);
    const run = async (gx: boolean, gw: boolean, gb: boolean) => {
      const x = leaf(xd, [N, inF], gx);
      const w = leaf(wd, [outF, inF], gw);
      const b = leaf(bd, [outF], gb);
      const y = linear(x, w, b);
      const n = dispatchesOf(() => y.backward(dy));
      const grads = await Promise.all([x, w, b].map((t) => t.grad?.toArray() ?? null));
      for (const t of [x, w, b, y]) t.dispose();
      return { n, grads };
    };
    const w0 = tensor(rt, wd, [outF, inF]);
    const scratch = Tensor.empty([N * inF], 'f32', rt);
    const kOne = dispatchesOf(() => matmulKernel(rt, dy.buffer, w0.buffer, scratch.buffer, N, inF, outF));
    const kBias = dispatchesOf(() => sumAxis(rt, dy.buffer, scratch.buffer, 1, N, outF));
    for (const t of [w0, scratch]) t.dispose();
    const all = await run(true, true, true);
    expect(all.n).toBe(2 * kOne + kBias);
    const head = await run(false, true, true); // a head on frozen features
    expect(head.n).toBe(kOne + kBias);
    expect(head.grads[0]).toBeNull();
    expect(head.grads[1]).toEqual(all.grads[1]);
    expect(head.grads[2]).toEqual(all.grads[2]);
    const xOnly = await run(true, false, false);
    expect(xOnly.n).toBe(kOne);
    expect(xOnly.grads[0]).toEqual(all.grads[0]);
    expect(xOnly.grads.slice(1)).toEqual([null, null]);
    dy.dispose();
  });

  it.each([
    ['batchNorm', false],
    ['batchNormRelu', true],
  ] as const)('%s: frozen weight and bias in eval mode launch one kernel (dx); in training mode two (sums, dx); gradients equal the unfrozen ones', async (_, relu) => {
    const shape = [2, 5, 3, 7];
    const C = shape[1];
    const xd = randomArray(2 * 5 * 3 * 7, 21);
    const wd = randomArray(C, 22, 0.5, 1.5);
    const bd = randomArray(C, 23);
    const rmd = randomArray(C, 24);
    const rvd = randomArray(C, 25, 0.5, 2);
    const dy = tensor(rt, randomArray(xd.length, 26), shape);
    const op = relu ? batchNormRelu : batchNorm;
    const run = async (training: boolean, gx: boolean, gAffine: boolean) => {
      const x = leaf(xd, shape, gx);
      const w = leaf(wd, [C], gAffine);
      const b = leaf(bd, [C], gAffine);
      const rm = tensor(rt, rmd, [C]);
      const rv = tensor(rt, rvd, [C]);
      const y = op(x, rm, rv, w, b, training);
      const n = dispatchesOf(() => y.backward(dy));
      const grads = await Promise.all([x, w, b].map((t) => t.grad?.toArray() ?? null));
      const running = [await rm.toArray(), await rv.toArray()];
      for (const t of [x, w, b, y, rm, rv]) t.dispose();
      return { n, grads, running };
    };
    const evalAll = await run(false, true, true);
    const evalFrozen = await run(false, true, false);
    expect(evalAll.n).toBe(2);
    expect(evalFrozen.n, 'eval mode, affine frozen: only dx').toBe(1);
    expect(evalFrozen.grads[0]).toEqual(evalAll.grads[0]);
    expect(evalFrozen.grads.slice(1)).toEqual([null, null]);
    // Eval mode leaves the running statistics as they were.
    expect(Array.from(evalAll.running[0])).toEqual(Array.from(Float32Array.from(rmd)));
    expect(Array.from(evalAll.running[1])).toEqual(Array.from(Float32Array.from(rvd)));
    const trainAll = await run(true, true, true);
    const trainFrozen = await run(true, true, false);
    expect(trainFrozen.n, 'training mode needs the sums for dx').toBe(trainAll.n);
    expect(trainFrozen.grads[0]).toEqual(trainAll.grads[0]);
    expect(trainFrozen.grads.slice(1)).toEqual([null, null]);
    const affineOnly = await run(false, false, true);
    expect(affineOnly.n, 'eval mode, input without grad: only the sums').toBe(1);
    expect(affineOnly.grads[1]).toEqual(evalAll.grads[1]);
    expect(affineOnly.grads[2]).toEqual(evalAll.grads[2]);
    dy.dispose();
  });

  it('batchNormAddRelu in eval mode with frozen weight and bias: dx and the residual gradient only', async () => {
    const shape = [2, 3, 4, 4];
    const n = 2 * 3 * 4 * 4;
    const x = leaf(randomArray(n, 31), shape, true);
    const res = leaf(randomArray(n, 32), shape, true);
    const w = leaf(randomArray(3, 33), [3], false);
    const b = leaf(randomArray(3, 34), [3], false);
    const rm = tensor(rt, randomArray(3, 35), [3]);
    const rv = tensor(rt, randomArray(3, 36, 0.5, 2), [3]);
    const y = batchNormAddRelu(x, res, rm, rv, w, b, false);
    const dy = tensor(rt, randomArray(n, 37), shape);
    // The relu mask (one kernel) and dx (one kernel): no per-channel sums.
    expect(dispatchesOf(() => y.backward(dy))).toBe(2);
    expect(x.grad).not.toBeNull();
    expect(res.grad).not.toBeNull();
    expect(w.grad).toBeNull();
    for (const t of [x, res, w, b, rm, rv, y, dy]) t.dispose();
  });
});

function smallNet(seed = 1): Sequential {
  const seeds = new SeedSequence(seed);
  return new Sequential(new Conv2d(3, 4, 3, { stride: 1, padding: 1, seeds }), new BatchNorm2d(4), new ReLU(), new AdaptiveAvgPool2d(1), new Flatten(), new Linear(4, 3, seeds));
}

/** One forward and backward of cross-entropy on a fixed batch: the backward's dispatch count. */
function step(model: Module, x: Tensor, y: Tensor): number {
  let n = 0;
  tidy(() => {
    const loss = crossEntropy(model.forward(x), y);
    n = dispatchesOf(() => loss.backward());
  });
  return n;
}

describe('Module.requiresGrad_, freeze and setBatchNormEval', () => {
  it("requiresGrad_(false) freezes every parameter (torch's requires_grad_), and true thaws them", () => {
    const m = smallNet();
    expect(m.requiresGrad_(false)).toBe(m);
    expect(m.parameters().every((p) => !p.requiresGrad)).toBe(true);
    m.layers[5].requiresGrad_();
    expect(m.namedParameters().filter(([, p]) => p.requiresGrad).map(([k]) => k)).toEqual(['5.weight', '5.bias']);
    m.dispose();
  });

  it('head-only: only the head gets gradients, equal to those of the unfrozen network, with fewer kernels', async () => {
    const x = tensor(rt, randomArray(2 * 3 * 5 * 5, 41), [2, 3, 5, 5]);
    const y = Tensor.fromArray(Int32Array.of(0, 2), [2], 'i32', rt);
    const full = smallNet();
    const nFull = step(full, x, y);
    const head = smallNet();
    const report = freeze(head, { trainLayers: ['5'] });
    expect(report.trainable).toEqual(['5.weight', '5.bias']);
    expect(report.frozen).toEqual(['0.weight', '1.weight', '1.bias']);
    expect([report.trainableValues, report.frozenValues]).toEqual([15, 116]);
    const nHead = step(head, x, y);
    expect(nHead).toBeLessThan(nFull);
    for (const [k, p] of head.namedParameters()) {
      if (k.startsWith('5.')) expect(await p.grad!.toArray(), k).toEqual(await full.namedParameters().find(([q]) => q === k)![1].grad!.toArray());
      else expect(p.grad, k).toBeNull();
    }
    // freeze(…, 'all') thaws everything again.
    expect(freeze(head, { trainLayers: 'all' }).frozen).toEqual([]);
    for (const t of [x, y]) t.dispose();
    full.dispose();
    head.dispose();
  });

  it('refuses unknown or empty layer lists, naming trainLayers and the layers', () => {
    const m = resnet18({ numClasses: 2, dropout: 0.5 });
    expect(layerNames(m)).toEqual([...RESNET_LAYERS]);
    expect(() => freeze(m, { trainLayers: ['layer5'] })).toThrowError("trainLayers names 'layer5', which is not a top-level layer with parameters of this model; its layers are conv1, bn1, layer1, layer2, layer3, layer4, fc");
    expect(() => freeze(m, { trainLayers: ['maxpool'] })).toThrowError(/'maxpool', which is not a top-level layer with parameters/);
    expect(() => freeze(m, { trainLayers: [] })).toThrowError(/trainLayers must name at least one layer to train/);
    expect(m.parameters().every((p) => p.requiresGrad)).toBe(true); // nothing changed
    const r = freeze(m, { trainLayers: ['layer4', 'fc'] });
    expect(r.trainable.every((k) => k.startsWith('layer4.') || k.startsWith('fc.'))).toBe(true);
    expect(r.frozen).toContain('conv1.weight');
    m.dispose();
  });

  it('eval-mode batch norm trains: setBatchNormEval keeps the running statistics fixed while weight and bias get gradients', async () => {
    const m = smallNet();
    m.train();
    expect(setBatchNormEval(m)).toBe(1);
    const bn = m.layers[1] as BatchNorm2d;
    expect([m.training, bn.training]).toEqual([true, false]);
    const before = [await bn.runningMean.toArray(), await bn.runningVar.toArray()];
    const x = tensor(rt, randomArray(2 * 3 * 5 * 5, 51), [2, 3, 5, 5]);
    const y = Tensor.fromArray(Int32Array.of(1, 2), [2], 'i32', rt);
    step(m, x, y);
    expect(await bn.runningMean.toArray()).toEqual(before[0]);
    expect(await bn.runningVar.toArray()).toEqual(before[1]);
    expect(bn.numBatchesTracked.value).toBe(0);
    for (const p of m.parameters()) expect(p.grad).not.toBeNull();
    for (const t of [x, y]) t.dispose();
    m.dispose();
  });
});
