import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, finiteDiff, randomArray, relError, tensor, weightedSum } from './helpers/numeric';
import { batchNormBackwardRef, batchNormRef, type Nchw } from '../src/reference/batchnorm';
import { BATCHNORM_ADD_RELU_CASES, BATCHNORM_CASES, BATCHNORM_FD_CASES, BATCHNORM_RELU_CASES, batchNormInputs, batchNormRefOptions, type BatchNormCase } from '../src/reference/cases';
import { batchNorm, batchNormAddRelu, batchNormRelu } from '../src/autograd/ops/batchnorm';
import { noGrad } from '../src/autograd/scope';
import { Tensor } from '../src/autograd/tensor';
import { bnBackwardReduce, bnBackwardReduceMasked, bnReluMask } from '../src/kernels/batchnorm';
import { unaryBackward } from '../src/kernels/elementwise/unary_gen';
import type { GpuRuntime } from '../src/gpu/runtime';
import { setKernelConfig } from '../src/kernels/config';
import { BatchNorm2d } from '../src/nn/layers';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

const inputs = batchNormInputs;
const refOptions = batchNormRefOptions;
type Case = BatchNormCase;

describe('batchNorm float64 reference', () => {
  it.each(BATCHNORM_FD_CASES)('gradient check: batchNorm reference backward vs finite differences %j', (k) => {
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
  const affineGrad = k.affineGrad ?? true;
  const weight = v.weight ? tensor(rt, v.weight, [C]).requireGrad(affineGrad) : null;
  const bias = v.bias ? tensor(rt, v.bias, [C]).requireGrad(affineGrad) : null;
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
  if (weight && affineGrad) expectClose(await weight.grad!.toArray(), ref.dweight, TOL.reduction, `${what}: dweight`);
  if (bias && affineGrad) expectClose(await bias.grad!.toArray(), ref.dbias, TOL.reduction, `${what}: dbias`);
  if (!affineGrad) expect([weight?.grad ?? null, bias?.grad ?? null], `${what}: frozen weight and bias get no gradient`).toEqual([null, null]);
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

  it.each(BATCHNORM_CASES)('gradient check: batchNorm %s', async (what, k) => {
    await checkOnGpu(k, what);
  });

  it.each(BATCHNORM_RELU_CASES)('gradient check: batchNormRelu (fused) %s', async (what, k) => {
    await checkOnGpu(k, `bn+relu ${what}`);
  });

  it.each(BATCHNORM_ADD_RELU_CASES)('gradient check: batchNormAddRelu (bn + residual + relu fused) %s', async (what, k) => {
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

describe('frozen batch norm: a BatchNorm2d in eval() is differentiable', () => {
  it.each(['forward', 'forwardRelu', 'forwardAddRelu'] as const)('%s in eval(): x, weight and bias gradients are the eval reference\'s; the running statistics and the batch count stay', async (method) => {
    const shape: Nchw = [2, 5, 3, 7];
    const C = shape[1];
    const k: Case = { shape, seed: 160, training: false, relu: method === 'forwardRelu', residual: method === 'forwardAddRelu' };
    const v = inputs(k);
    const o = refOptions(k);
    const bn = new BatchNorm2d(C).eval();
    rt.write(bn.weight.buffer, Float32Array.from(v.weight!));
    rt.write(bn.bias.buffer, Float32Array.from(v.bias!));
    rt.write(bn.runningMean.buffer, Float32Array.from(v.runningMean));
    rt.write(bn.runningVar.buffer, Float32Array.from(v.runningVar));
    const x = tensor(rt, v.x, shape).requireGrad();
    const r = v.residual ? tensor(rt, v.residual, shape).requireGrad() : null;
    const y = r ? bn.forwardAddRelu(x, r) : method === 'forwardRelu' ? bn.forwardRelu(x) : bn.forward(x);
    const dy = tensor(rt, v.dy, shape);
    y.backward(dy);
    const fwd = batchNormRef(v.x, shape, v.runningMean, v.runningVar, v.weight, v.bias, o);
    const ref = batchNormBackwardRef(v.dy, v.x, shape, fwd, v.weight, o);
    expectClose(await y.toArray(), fwd.y, TOL.reduction, 'y');
    expectClose(await x.grad!.toArray(), ref.dx, TOL.reduction, 'dx');
    expectClose(await bn.weight.grad!.toArray(), ref.dweight, TOL.reduction, 'dweight');
    expectClose(await bn.bias.grad!.toArray(), ref.dbias, TOL.reduction, 'dbias');
    if (r) expectClose(await r.grad!.toArray(), ref.dresidual, TOL.elementwise, 'dresidual');
    expect(Array.from(await bn.runningMean.toArray())).toEqual(Array.from(Float32Array.from(v.runningMean)));
    expect(Array.from(await bn.runningVar.toArray())).toEqual(Array.from(Float32Array.from(v.runningVar)));
    expect(bn.numBatchesTracked.value).toBe(0);
    for (const t of [x, r, y, dy] as (Tensor | null)[]) t?.dispose();
    bn.dispose();
  });
});

describe("batchNormAddRelu's backward: the ReLU mask fused into the sums' pass gives the bits of the mask then the sums", () => {
  // hw 25 and 1 (scalar entries), 16 and 4 (vec4 entries); y holds negatives, 0, −0 and NaN (dy passes at NaN).
  const SHAPES = [[2, 3, 5, 5], [3, 5, 4, 4], [1, 7, 2, 2], [5, 2, 1, 1]] as const;
  for (const reduction of ['serial', 'tree'] as const)
    it.each(SHAPES.flatMap((sh) => (['f32', 'f16'] as const).map((d) => [sh, d] as const)))(`${reduction} reductions, %j, %s`, async (shape, dtype) => {
      const restore = setKernelConfig(rt, { channelReduction: reduction });
      try {
        const [n, c, h, w] = shape;
        const s = { n, c, hw: h * w };
        const total = n * c * h * w;
        const yv = randomArray(total, 31);
        for (let i = 0; i < total; i += 7) yv[i] = [0, -0, NaN][(i / 7) % 3];
        const data = (v: ArrayLike<number>) => Tensor.fromArray(v, [n, c, h, w], dtype, rt);
        const [x, dy, y] = [data(randomArray(total, 32)), data(randomArray(total, 33, -2, 2)), data(yv)];
        const stats = Tensor.fromArray(Float32Array.from([...randomArray(c, 34), ...randomArray(c, 35, 0.5, 2)]), [2 * c], 'f32', rt);
        const outs = () => ({ g: Tensor.empty([n, c, h, w], dtype, rt), dw: Tensor.empty([c], 'f32', rt), db: Tensor.empty([c], 'f32', rt) });
        const [a, b] = [outs(), outs()];
        if (dtype === 'f16') bnReluMask(rt, dy.buffer, y.buffer, a.g.buffer, s, 'f16');
        else unaryBackward(rt, 'relu', { y: y.buffer, dy: dy.buffer }, a.g.buffer, total);
        bnBackwardReduce(rt, a.g.buffer, x.buffer, stats.buffer, { weight: null, bias: null }, a.dw.buffer, a.db.buffer, s, false, dtype);
        bnBackwardReduceMasked(rt, dy.buffer, y.buffer, x.buffer, stats.buffer, b.g.buffer, b.dw.buffer, b.db.buffer, s, dtype);
        const bits = async (t: Tensor) => new Uint16Array(await rt.read(t.buffer, t.byteLength));
        for (const k of ['g', 'dw', 'db'] as const) expect(await bits(b[k]), k).toEqual(await bits(a[k]));
        // the old path is itself right: g is dy where y > 0, else 0 (NaN y passes dy)
        const dyv = await dy.toArray();
        expect(Array.from(await b.g.toArray())).toEqual(Array.from(dyv, (v, i) => (yv[i] > 0 || Number.isNaN(yv[i]) ? v : 0)));
        for (const t of [x, dy, y, stats, a.g, a.dw, a.db, b.g, b.dw, b.db]) t.dispose();
      } finally {
        restore();
      }
    });
});
