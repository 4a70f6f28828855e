import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, finiteDiff, randomArray, relError, tensor, weightedSum } from './helpers/numeric';
import { batchNormBackwardRef, batchNormRef, type BnRefOptions, type Nchw } from './reference/batchnorm';
import { batchNorm, batchNormAddRelu, batchNormRelu } from '../src/autograd/ops/batchnorm';
import { noGrad } from '../src/autograd/scope';
import type { Tensor } from '../src/autograd/tensor';
import type { GpuRuntime } from '../src/gpu/runtime';
import { setKernelConfig } from '../src/kernels/config';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

const numel = (s: Nchw) => s[0] * s[1] * s[2] * s[3];

interface Case {
  shape: Nchw;
  seed: number;
  training: boolean;
  relu?: boolean;
  affine?: boolean;
  /** Input range (default [-1, 1)). */
  lo?: number;
  hi?: number;
  momentum?: number;
  eps?: number;
  /** Whether x requires grad (default true; false checks dweight / dbias alone). */
  xGrad?: boolean;
  /** max(bn(x) + residual, 0) through batchNormAddRelu (a seeded residual of the input's shape). */
  residual?: boolean;
}

function inputs(k: Case) {
  const C = k.shape[1];
  const affine = k.affine ?? true;
  return {
    x: randomArray(numel(k.shape), k.seed, k.lo ?? -1, k.hi ?? 1),
    weight: affine ? randomArray(C, k.seed + 1, 0.5, 1.5) : null,
    bias: affine ? randomArray(C, k.seed + 2, -0.5, 0.5) : null,
    runningMean: randomArray(C, k.seed + 3, -0.5, 0.5),
    runningVar: randomArray(C, k.seed + 4, 0.5, 2),
    dy: randomArray(numel(k.shape), k.seed + 5),
    residual: k.residual ? randomArray(numel(k.shape), k.seed + 6) : undefined,
  };
}

function refOptions(k: Case): BnRefOptions {
  return { training: k.training, relu: k.relu, momentum: k.momentum, eps: k.eps, residual: inputs(k).residual };
}

describe('batchNorm float64 reference', () => {
  const cases: Case[] = [
    { shape: [2, 3, 3, 5], seed: 11, training: true },
    { shape: [1, 5, 3, 3], seed: 12, training: true, affine: false },
    { shape: [2, 3, 3, 5], seed: 13, training: false },
    { shape: [2, 3, 3, 5], seed: 14, training: true, relu: true },
    { shape: [2, 3, 3, 5], seed: 15, training: false, relu: true },
    { shape: [2, 3, 3, 5], seed: 16, training: true, residual: true },
    { shape: [2, 3, 3, 5], seed: 17, training: false, residual: true },
  ];
  it.each(cases)('gradient check: batchNorm reference backward vs finite differences %j', (k) => {
    const v = inputs(k);
    const o = refOptions(k);
    const loss = (x: Float64Array, w: ArrayLike<number> | null, b: ArrayLike<number> | null) =>
      weightedSum(batchNormRef(x, k.shape, v.runningMean, v.runningVar, w, b, o).y, v.dy);
    const fwd = batchNormRef(v.x, k.shape, v.runningMean, v.runningVar, v.weight, v.bias, o);
    const g = batchNormBackwardRef(v.dy, v.x, k.shape, fwd, v.weight, o);
    expect(relError(g.dx, finiteDiff((x) => loss(x, v.weight, v.bias), Float64Array.from(v.x)))).toBeLessThan(TOL.fd);
    const fdW = finiteDiff((w) => loss(v.x, w, v.bias), Float64Array.from(v.weight ?? new Float64Array(k.shape[1]).fill(1)));
    const fdB = finiteDiff((b) => loss(v.x, v.weight ?? new Float64Array(k.shape[1]).fill(1), b), Float64Array.from(v.bias ?? new Float64Array(k.shape[1])));
    expect(relError(g.dweight, fdW)).toBeLessThan(TOL.fd);
    expect(relError(g.dbias, fdB)).toBeLessThan(TOL.fd);
    if (v.residual) {
      const lossR = (r: Float64Array) => weightedSum(batchNormRef(v.x, k.shape, v.runningMean, v.runningVar, v.weight, v.bias, { ...o, residual: r }).y, v.dy);
      expect(relError(g.dresidual, finiteDiff(lossR, Float64Array.from(v.residual)))).toBeLessThan(TOL.fd);
    }
  });
});

/** Forward and backward on the GPU vs the reference; checks y, the saved stats, the running stats and every gradient. */
async function checkOnGpu(k: Case, what: string): Promise<void> {
  const live0 = rt.poolStats().liveBuffers;
  const v = inputs(k);
  const o = refOptions(k);
  const fwd = batchNormRef(v.x, k.shape, v.runningMean, v.runningVar, v.weight, v.bias, o);
  const ref = batchNormBackwardRef(v.dy, v.x, k.shape, fwd, v.weight, o);

  const C = k.shape[1];
  const x = tensor(rt, v.x, k.shape).requireGrad(k.xGrad ?? true);
  const weight = v.weight ? tensor(rt, v.weight, [C]).requireGrad() : null;
  const bias = v.bias ? tensor(rt, v.bias, [C]).requireGrad() : null;
  const rm = tensor(rt, v.runningMean, [C]);
  const rv = tensor(rt, v.runningVar, [C]);
  const residual = v.residual ? tensor(rt, v.residual, k.shape).requireGrad() : null;
  const y = residual
    ? batchNormAddRelu(x, residual, rm, rv, weight, bias, k.training, k.momentum, k.eps)
    : (k.relu ? batchNormRelu : batchNorm)(x, rm, rv, weight, bias, k.training, k.momentum, k.eps);
  expect(y.node!.saved.length).toBe(1);
  const saved = await y.node!.saved[0].toArray();
  const dy = tensor(rt, v.dy, k.shape);
  y.backward(dy);

  expectClose(await y.toArray(), fwd.y, TOL.reduction, `${what}: y`);
  expectClose(saved.subarray(0, C), fwd.mean, TOL.reduction, `${what}: saved mean`);
  expectClose(saved.subarray(C), fwd.invstd, TOL.reduction, `${what}: saved invstd`);
  expectClose(await rm.toArray(), fwd.runningMean, TOL.reduction, `${what}: running mean`);
  expectClose(await rv.toArray(), fwd.runningVar, TOL.reduction, `${what}: running var`);
  if (k.xGrad ?? true) expectClose(await x.grad!.toArray(), ref.dx, TOL.reduction, `${what}: dx`);
  else expect(x.grad).toBeNull();
  if (weight) expectClose(await weight.grad!.toArray(), ref.dweight, TOL.reduction, `${what}: dweight`);
  if (bias) expectClose(await bias.grad!.toArray(), ref.dbias, TOL.reduction, `${what}: dbias`);
  if (residual) expectClose(await residual.grad!.toArray(), ref.dresidual, TOL.elementwise, `${what}: dresidual`);

  for (const t of [x, weight, bias, rm, rv, y, dy, residual] as (Tensor | null)[]) t?.dispose();
  expect(rt.poolStats().liveBuffers, `${what}: GPU buffers leaked`).toBe(live0);
}

// Per-channel reductions run 'serial' (one thread per channel, the default on CPU adapters) or 'tree' (one
// workgroup per channel, the default on GPUs): every case runs both, whatever the adapter.
for (const reduction of ['serial', 'tree'] as const) describe(`batchNorm on the GPU vs the reference (${reduction} reductions)`, () => {
  let restore: () => void;
  beforeAll(() => {
    restore = setKernelConfig(rt, { channelReduction: reduction });
  });
  afterAll(() => restore());

  it.each<[string, Case]>([
    ['training [2,3,7,7]', { shape: [2, 3, 7, 7], seed: 101, training: true }],
    ['training [3,5,5,3] (odd H/W)', { shape: [3, 5, 5, 3], seed: 102, training: true }],
    ['training [2,13,9,11]', { shape: [2, 13, 9, 11], seed: 103, training: true }],
    ['training batch 1 [1,5,3,3]', { shape: [1, 5, 3, 3], seed: 104, training: true }],
    ['training 1x1 spatial [7,3,1,1]', { shape: [7, 3, 1, 1], seed: 105, training: true }],
    ['training more values per channel than threads [4,3,13,13]', { shape: [4, 3, 13, 13], seed: 106, training: true }],
    ['training H·W above the workgroup size [2,3,17,19]', { shape: [2, 3, 17, 19], seed: 112, training: true }],
    ['training without weight and bias [2,5,3,7]', { shape: [2, 5, 3, 7], seed: 107, training: true, affine: false }],
    ['training momentum 0.3 eps 1e-3 [2,3,5,5]', { shape: [2, 3, 5, 5], seed: 108, training: true, momentum: 0.3, eps: 1e-3 }],
    ['training vec4 path (H·W % 4 = 0) [2,5,4,6]', { shape: [2, 5, 4, 6], seed: 113, training: true }],
    ['training vec4 path batch 1 [1,3,4,4]', { shape: [1, 3, 4, 4], seed: 114, training: true }],
    ['training vec4 path, H·W/4 above the workgroup size [2,3,32,36]', { shape: [2, 3, 32, 36], seed: 115, training: true }],
    ['training vec4 path, several threads per plane step [5,13,8,8]', { shape: [5, 13, 8, 8], seed: 116, training: true }],
    // The vec4 elementwise entries walk chunks of 8 vec4s inside a plane: 13 vec4s = a full chunk and a partial one.
    ['training vec4 path, planes of 1⅝ chunks [3,5,4,13]', { shape: [3, 5, 4, 13], seed: 124, training: true }],
    ['eval vec4 path, planes of 1⅝ chunks [3,5,4,13]', { shape: [3, 5, 4, 13], seed: 125, training: false }],
    // The reductions size their workgroups to the channel (32 to 256 threads): these two reach 64 and 256.
    ['training, 64-thread reduction [2,3,13,15]', { shape: [2, 3, 13, 15], seed: 117, training: true }],
    ['training, 256-thread reduction [3,2,45,47]', { shape: [3, 2, 45, 47], seed: 118, training: true, relu: true }],
    ['training vec4 path without weight and bias [3,5,2,2]', { shape: [3, 5, 2, 2], seed: 117, training: true, affine: false }],
    ['training grid-stride over several workgroups [4,13,9,11]', { shape: [4, 13, 9, 11], seed: 118, training: true }],
    ['eval [2,5,7,7]', { shape: [2, 5, 7, 7], seed: 109, training: false }],
    ['eval vec4 path [2,13,4,4]', { shape: [2, 13, 4, 4], seed: 119, training: false }],
    ['eval batch 1 [1,13,3,5]', { shape: [1, 13, 3, 5], seed: 110, training: false }],
    ['eval without weight and bias [2,3,3,3]', { shape: [2, 3, 3, 3], seed: 111, training: false, affine: false }],
    ['training, input without grad (dweight, dbias only) [2,5,3,3]', { shape: [2, 5, 3, 3], seed: 122, training: true, xGrad: false }],
    ['eval, input without grad (dweight, dbias only) [2,5,4,4]', { shape: [2, 5, 4, 4], seed: 123, training: false, xGrad: false }],
  ])('gradient check: batchNorm %s', async (what, k) => {
    await checkOnGpu(k, what);
  });

  it('gradient check: batchNorm with a large mean (1000 + noise) keeps the variance accurate', async () => {
    await checkOnGpu({ shape: [8, 3, 15, 17], seed: 120, training: true, lo: 998, hi: 1002 }, 'large mean');
    await checkOnGpu({ shape: [8, 3, 16, 16], seed: 121, training: true, lo: 998, hi: 1002 }, 'large mean (vec4 path)');
    // A naive E[x²] − E[x]² in float32 would be off by tens of percent here; ours must match float64.
  });

  it.each<[string, Case]>([
    ['training [2,5,7,7]', { shape: [2, 5, 7, 7], seed: 130, training: true, relu: true }],
    ['training batch 1 [1,13,3,5]', { shape: [1, 13, 3, 5], seed: 131, training: true, relu: true }],
    ['training without weight and bias [2,3,5,5]', { shape: [2, 3, 5, 5], seed: 132, training: true, relu: true, affine: false }],
    ['eval [2,3,7,5]', { shape: [2, 3, 7, 5], seed: 133, training: false, relu: true }],
    ['training vec4 path [2,5,4,8]', { shape: [2, 5, 4, 8], seed: 134, training: true, relu: true }],
    ['eval vec4 path without weight and bias [2,3,4,4]', { shape: [2, 3, 4, 4], seed: 135, training: false, relu: true, affine: false }],
  ])('gradient check: batchNormRelu (fused) %s', async (what, k) => {
    await checkOnGpu(k, `bn+relu ${what}`);
  });

  it.each<[string, Case]>([
    ['training [2,5,7,7]', { shape: [2, 5, 7, 7], seed: 150, training: true, residual: true }],
    ['training vec4 path [2,5,4,8]', { shape: [2, 5, 4, 8], seed: 151, training: true, residual: true }],
    ['training batch 1, odd sizes [1,13,3,5]', { shape: [1, 13, 3, 5], seed: 152, training: true, residual: true }],
    ['training without weight and bias [2,3,5,5]', { shape: [2, 3, 5, 5], seed: 153, training: true, residual: true, affine: false }],
    ['eval [2,3,7,5]', { shape: [2, 3, 7, 5], seed: 154, training: false, residual: true }],
    ['eval vec4 path [2,3,4,4]', { shape: [2, 3, 4, 4], seed: 155, training: false, residual: true }],
    ['training vec4 path, planes of 1⅝ chunks [3,5,4,13]', { shape: [3, 5, 4, 13], seed: 156, training: true, residual: true }],
  ])('gradient check: batchNormAddRelu (bn + residual + relu fused) %s', async (what, k) => {
    await checkOnGpu(k, `bn+add+relu ${what}`);
  });

  it('updates the running stats in training mode even without a graph, and leaves them alone in eval mode', async () => {
    const shape: Nchw = [2, 3, 5, 5];
    const v = inputs({ shape, seed: 140, training: true });
    const x = tensor(rt, v.x, shape);
    const rm = tensor(rt, v.runningMean, [3]);
    const rv = tensor(rt, v.runningVar, [3]);
    const live0 = rt.poolStats().liveBuffers;
    const y1 = noGrad(() => batchNorm(x, rm, rv, null, null, true));
    const fwd = batchNormRef(v.x, shape, v.runningMean, v.runningVar, null, null, { training: true });
    expectClose(await rm.toArray(), fwd.runningMean, TOL.reduction, 'running mean');
    expectClose(await rv.toArray(), fwd.runningVar, TOL.reduction, 'running var');
    const y2 = batchNorm(x, rm, rv, null, null, false);
    expectClose(await rm.toArray(), fwd.runningMean, TOL.reduction, 'running mean after eval');
    expectClose(await y2.toArray(), batchNormRef(v.x, shape, fwd.runningMean, fwd.runningVar, null, null, { training: false }).y, TOL.reduction, 'eval y');
    y1.dispose();
    y2.dispose();
    expect(rt.poolStats().liveBuffers).toBe(live0);
    for (const t of [x, rm, rv]) t.dispose();
  });

  it('rejects a training batch with one value per channel, and mismatched shapes', () => {
    const x = tensor(rt, [1, 2, 3], [1, 3, 1, 1]);
    const r = tensor(rt, [0, 0, 0], [3]);
    expect(() => batchNorm(x, r, r, null, null, true)).toThrowError(/more than 1 value per channel/);
    const r2 = tensor(rt, [0, 0], [2]);
    expect(() => batchNorm(x, r2, r2, null, null, false)).toThrowError(/runningMean has shape \[2\]/);
    for (const t of [x, r, r2]) t.dispose();
  });
});
