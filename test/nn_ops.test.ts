// The nn ops (src/autograd/ops/nn.ts): softmax, logSoftmax, layerNorm, mseLoss, binaryCrossEntropyWithLogits,
// nllLoss, linear on [*, in], and the LayerNorm module. The float64 references' backwards vs central finite
// differences, then the GPU ops (forward and backward) vs the references over src/reference/nn_cases.ts (the same
// cases as the gradient-check page), and the non-finite and error cases.
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, finiteDiff, randomArray, relError, tensor, weightedSum } from './helpers/numeric';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { noGrad, tidy } from '../src/autograd/scope';
import { F, LayerNorm as RootLayerNorm } from '../src/index';
import { binaryCrossEntropyWithLogits, layerNorm, logSoftmax, mseLoss, nllLoss, softmax } from '../src/autograd/ops/nn';
import { linear } from '../src/autograd/ops/linear';
import { Linear } from '../src/nn/layers';
import { LayerNorm } from '../src/nn/norm';
import { SeedSequence } from '../src/nn/init';
import {
  axisLayout, bceWithLogitsBackwardRef, bceWithLogitsRef, layerNormBackwardRef, layerNormRef, mseLossBackwardRef, mseLossRef,
  nllLossBackwardRef, nllLossRef, softmaxBackwardRef, softmaxRef,
} from '../src/reference/nn';
import { linearBackwardRef, linearRef } from '../src/reference/matmul';
import { GradCheckSuite } from '../src/web/gradcheck-cases';
import { nnPageChecks } from '../src/web/gradcheck/nn';
import { PAGE_GROUPS } from '../src/web/gradcheck/groups';
import { numel } from '../src/reference/cases';
import {
  BCE_CASES, BCE_FD_CASES, LAYERNORM_CASES, LAYERNORM_EPS, LAYERNORM_FD_CASES, LINEAR_ND_CASES, MSE_CASES, NLL_CASES, NLL_FD_CASES,
  SOFTMAX_CASES, SOFTMAX_FD_CASES, bceInputs, layerNormInputs, lossObjective, lossUpstream, lossValues, nllInputs, softmaxInputs,
} from '../src/reference/nn_cases';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});


/** Run make() (the op on leaves), back-propagate `upstream`, read the output and the leaves' gradients; frees everything. */
async function forwardBackward(make: () => Tensor, leaves: Tensor[], upstream: ArrayLike<number>) {
  const y = tidy(() => {
    const y = make();
    y.backward(tensor(rt, upstream, y.shape));
    return y;
  });
  const out = { shape: y.shape, y: await y.toArray(), grads: await Promise.all(leaves.map((l) => (l.grad ? l.grad.toArray() : null))) };
  y.dispose();
  for (const l of leaves) l.dispose();
  return out;
}

const leaf = (v: ArrayLike<number>, shape: number[]) => tensor(rt, v, shape).requireGrad();

describe('nn references vs central finite differences', () => {
  it.each(SOFTMAX_FD_CASES.flatMap((c) => [[c, false] as const, [c, true] as const]))('%j log %s', (c, log) => {
    const { x, dy } = softmaxInputs(c, 5);
    const l = axisLayout(c.shape, c.dim);
    const fd = finiteDiff((v) => weightedSum(softmaxRef(v, l, log), dy), x);
    expect(relError(softmaxBackwardRef(x, dy, l, log), fd)).toBeLessThanOrEqual(TOL.fd);
  });

  it.each(LAYERNORM_FD_CASES)('layerNorm %j', (c) => {
    const { rows, d, x, weight, bias, dy } = layerNormInputs(c, 7);
    const f = (xv: ArrayLike<number>, w: ArrayLike<number> | null, b: ArrayLike<number> | null) => weightedSum(layerNormRef(xv, rows, d, w, b, LAYERNORM_EPS), dy);
    const g = layerNormBackwardRef(x, rows, d, weight, dy, LAYERNORM_EPS);
    expect(relError(g.dx, finiteDiff((v) => f(v, weight, bias), x))).toBeLessThanOrEqual(TOL.fd);
    expect(relError(g.dweight, finiteDiff((v) => f(x, v, bias), weight!))).toBeLessThanOrEqual(TOL.fd);
    expect(relError(g.dbias, finiteDiff((v) => f(x, weight, v), bias!))).toBeLessThanOrEqual(TOL.fd);
  });

  it.each(MSE_CASES)('mseLoss %j %s', (shape, red) => {
    const n = numel(shape);
    const [a, b] = [randomArray(n, 1), randomArray(n, 2)];
    const w = randomArray(red === 'none' ? n : 1, 3);
    const g = mseLossBackwardRef(a, b, red, lossUpstream(red, w));
    expect(relError(g.da, finiteDiff((v) => lossObjective(mseLossRef(v, b, red), w), a))).toBeLessThanOrEqual(TOL.fd);
    expect(relError(g.db, finiteDiff((v) => lossObjective(mseLossRef(a, v, red), w), b))).toBeLessThanOrEqual(TOL.fd);
  });

  it.each(BCE_FD_CASES)('binaryCrossEntropyWithLogits %j', (c) => {
    const { x, y, weight, posWeight, upstream } = bceInputs(c, 11);
    const o = { weight, posWeight };
    const g = bceWithLogitsBackwardRef(x, y, o, c.reduction, lossUpstream(c.reduction, upstream));
    expect(relError(g.dx, finiteDiff((v) => lossObjective(bceWithLogitsRef(v, y, o, c.reduction), upstream), x))).toBeLessThanOrEqual(TOL.fd);
    expect(relError(g.dt, finiteDiff((v) => lossObjective(bceWithLogitsRef(x, v, o, c.reduction), upstream), y))).toBeLessThanOrEqual(TOL.fd);
  });

  it.each(NLL_FD_CASES)('nllLoss %j', (c) => {
    const { layout, logp, target, weight, upstream } = nllInputs(c, 13);
    const o = { ignoreIndex: c.ignoreIndex, weight };
    const g = nllLossBackwardRef(logp, target, layout, o, c.reduction, lossUpstream(c.reduction, upstream));
    expect(relError(g, finiteDiff((v) => lossObjective(nllLossRef(v, target, layout, o, c.reduction), upstream), logp))).toBeLessThanOrEqual(TOL.fd);
  });

  it("the losses' references follow PyTorch's definitions at known points", () => {
    // bce at x = 0: log 2 whatever the target; pos_weight p scales the positive term: t = 1 gives p·log 2.
    expect(bceWithLogitsRef([0, 0], [0, 1], {}, 'sum') as number).toBeCloseTo(2 * Math.log(2), 12);
    expect(bceWithLogitsRef([0], [1], { posWeight: [3] }, 'mean') as number).toBeCloseTo(3 * Math.log(2), 12);
    // Stable at ±80: max(x, 0) − x·t + log1p(exp(−|x|)).
    expect(bceWithLogitsRef([-80, 80], [0, 1], {}, 'none')).toEqual(Float64Array.from([Math.log1p(Math.exp(-80)), Math.log1p(Math.exp(-80))]));
    // nll 'mean' divides by the weights of the targets kept: (2·1 + 3·2) / (2 + 3); the ignored one counts nowhere.
    expect(nllLossRef([-1, -9, -9, -2, -9, -9], [0, 1, -100], { n: 3, classes: 2, inner: 1 }, { weight: [2, 3] }, 'mean')).toBeCloseTo(8 / 5, 12);
    expect(softmaxRef([-Infinity, -Infinity], { outer: 1, n: 2, inner: 1 }, false).every(Number.isNaN)).toBe(true);
  });
});

describe('softmax and logSoftmax on the GPU', () => {
  it.each(SOFTMAX_CASES.flatMap((c) => [[c, false] as const, [c, true] as const]))('%j log %s: forward and backward match the float64 reference', async (c, log) => {
    const { x, dy } = softmaxInputs(c, numel(c.shape) + c.dim + 100);
    const X = leaf(x, c.shape);
    const r = await forwardBackward(() => (log ? logSoftmax(X, c.dim) : softmax(X, c.dim)), [X], dy);
    expect(r.shape).toEqual(c.shape);
    const l = axisLayout(c.shape, c.dim);
    expectClose(r.y, softmaxRef(x, l, log), TOL.reduction, 'forward');
    expectClose(r.grads[0]!, softmaxBackwardRef(x, dy, l, log), TOL.reduction, 'backward');
  });

  it('F.softmax, F.logSoftmax and the tensor methods x.softmax(dim), x.logSoftmax(dim) are the same ops', async () => {
    const x = tensor(rt, randomArray(15, 3), [3, 5]);
    const [a, b, c, d] = noGrad(() => [F.softmax(x, 0), x.softmax(0), F.logSoftmax(x, -1), x.logSoftmax(-1)].map((t) => t.toArray()));
    expect(await a).toEqual(await b);
    expect(await c).toEqual(await d);
    x.dispose();
  });

  it.each([7, 300])('a row of all −∞ gives NaN, as PyTorch; the other rows are unaffected (row length %i)', async (n) => {
    const xs = Float32Array.from({ length: 2 * n }, (_, i) => (i < n ? -Infinity : (i % 5) - 2));
    const x = tensor(rt, xs, [2, n]);
    for (const log of [false, true]) {
      const y = noGrad(() => (log ? logSoftmax(x, 1) : softmax(x, 1)));
      const v = await y.toArray();
      y.dispose();
      expect(Array.from(v.subarray(0, n)).every(Number.isNaN)).toBe(true);
      expectClose(v.subarray(n), softmaxRef(xs.subarray(n), { outer: 1, n, inner: 1 }, log), TOL.reduction, 'finite row');
    }
    x.dispose();
  });

  it.each([7, 300])('large logits give finite results: the row max is subtracted (one logit of 1e4 among −1e4 and 0s, row length %i)', async (n) => {
    // Each row has its max at another position (so that every lane of the tree reduction must pass it on).
    const rows = 3;
    const xs = Array.from({ length: rows * n }, (_, i) => (i % n === [0, 1, n - 1][Math.floor(i / n)] ? 1e4 : i % 3 === 0 ? -1e4 : 0));
    const x = tensor(rt, xs, [rows, n]);
    const [p, lp] = noGrad(() => [softmax(x, 1), logSoftmax(x, -1)].map((t) => t.toArray()));
    expectClose(await p, softmaxRef(xs, { outer: rows, n, inner: 1 }, false), TOL.reduction, 'softmax');
    expectClose(await lp, softmaxRef(xs, { outer: rows, n, inner: 1 }, true), TOL.reduction, 'logSoftmax');
    x.dispose();
  });
});

describe('layerNorm on the GPU', () => {
  it.each(LAYERNORM_CASES)('%j: y, dx, dweight and dbias match the float64 reference', async (c) => {
    const { rows, d, x, weight, bias, dy } = layerNormInputs(c, numel(c.shape) + 200);
    const X = leaf(x, c.shape);
    const W = weight ? leaf(weight, c.normalizedShape) : null;
    const B = bias ? leaf(bias, c.normalizedShape) : null;
    const leaves = [X, ...(W ? [W] : []), ...(B ? [B] : [])];
    const r = await forwardBackward(() => layerNorm(X, c.normalizedShape, W, B), leaves, dy);
    expect(r.shape).toEqual(c.shape);
    expectClose(r.y, layerNormRef(x, rows, d, weight, bias, LAYERNORM_EPS), TOL.reduction, 'forward');
    const g = layerNormBackwardRef(x, rows, d, weight, dy, LAYERNORM_EPS);
    expectClose(r.grads[0]!, g.dx, TOL.reduction, 'dx');
    if (W) expectClose(r.grads[1]!, g.dweight, TOL.reduction, 'dweight');
    if (B) expectClose(r.grads[leaves.length - 1]!, g.dbias, TOL.reduction, 'dbias');
  });

  it('only the inputs that require grad get one (a frozen weight, a bias)', async () => {
    const c = LAYERNORM_CASES[4];
    const { rows, d, x, weight, bias, dy } = layerNormInputs(c, 9);
    const X = tensor(rt, x, c.shape);
    const W = tensor(rt, weight!, c.normalizedShape);
    const B = leaf(bias!, c.normalizedShape);
    const r = await forwardBackward(() => layerNorm(X, c.normalizedShape, W, B, LAYERNORM_EPS), [X, W, B], dy);
    expect(r.grads[0]).toBeNull();
    expect(r.grads[1]).toBeNull();
    expectClose(r.grads[2]!, layerNormBackwardRef(x, rows, d, weight, dy, LAYERNORM_EPS).dbias, TOL.reduction, 'dbias');
  });

  it('the LayerNorm module: torch init (weight 1, bias 0), keys weight/bias, elementwiseAffine false has none', async () => {
    const m = new LayerNorm([3, 5]);
    expect([...m.stateDict().keys()]).toEqual(['weight', 'bias']);
    expect(m.weight!.shape).toEqual([3, 5]);
    expect(Array.from(await m.weight!.toArray())).toEqual(new Array(15).fill(1));
    expect(Array.from(await m.bias!.toArray())).toEqual(new Array(15).fill(0));
    const xs = randomArray(30, 4);
    const x = tensor(rt, xs, [2, 3, 5]);
    const y = noGrad(() => m.forward(x));
    expectClose(await y.toArray(), layerNormRef(xs, 2, 15, null, null, 1e-5), TOL.reduction, 'module forward');
    const plain = new LayerNorm(5, { elementwiseAffine: false, eps: 1e-3 });
    expect([...plain.stateDict().keys()]).toEqual([]);
    const y2 = noGrad(() => plain.forward(x));
    expectClose(await y2.toArray(), layerNormRef(xs, 6, 5, null, null, 1e-3), TOL.reduction, 'no affine');
    expect([...new LayerNorm(5, { bias: false }).stateDict().keys()]).toEqual(['weight']);
    for (const t of [x, y, y2]) t.dispose();
    m.dispose();
  });
});

describe('losses on the GPU', () => {
  it.each(MSE_CASES)('mseLoss %j %s: loss, da and db match the float64 reference', async (shape, red) => {
    const n = numel(shape);
    const [a, b] = [randomArray(n, n + 1, -2, 2), randomArray(n, n + 2, -2, 2)];
    const w = randomArray(red === 'none' ? n : 1, n + 3, 0.5, 2);
    const [A, B] = [leaf(a, shape), leaf(b, shape)];
    const r = await forwardBackward(() => mseLoss(A, B, { reduction: red }), [A, B], w);
    expect(r.shape).toEqual(red === 'none' ? shape : []);
    expectClose(r.y, lossValues(mseLossRef(a, b, red)), TOL.reduction, 'loss');
    const g = mseLossBackwardRef(a, b, red, lossUpstream(red, w));
    expectClose(r.grads[0]!, g.da, TOL.reduction, 'da');
    expectClose(r.grads[1]!, g.db, TOL.reduction, 'db');
  });

  it.each(BCE_CASES)('binaryCrossEntropyWithLogits %j: loss, dx and dy match the float64 reference', async (c) => {
    const { x, y, weight, posWeight, upstream } = bceInputs(c, numel(c.shape) + 300);
    const [X, Y] = [leaf(x, c.shape), leaf(y, c.shape)];
    const W = weight ? tensor(rt, weight, c.weight!) : null;
    const P = posWeight ? tensor(rt, posWeight, c.posWeight!) : null;
    const r = await forwardBackward(() => binaryCrossEntropyWithLogits(X, Y, { reduction: c.reduction, weight: W, posWeight: P }), [X, Y], upstream);
    W?.dispose();
    P?.dispose();
    const o = { weight, posWeight };
    expectClose(r.y, lossValues(bceWithLogitsRef(x, y, o, c.reduction)), TOL.reduction, 'loss');
    const g = bceWithLogitsBackwardRef(x, y, o, c.reduction, lossUpstream(c.reduction, upstream));
    expectClose(r.grads[0]!, g.dx, TOL.reduction, 'dx');
    expectClose(r.grads[1]!, g.dt, TOL.reduction, 'dy');
  });

  it('binaryCrossEntropyWithLogits is exact at ±80 element by element (no cancellation)', async () => {
    const xs = [-80, 80, -80, 80];
    const ts = [0, 1, 1, 0];
    const X = leaf(xs, [4]);
    const r = await forwardBackward(() => binaryCrossEntropyWithLogits(X, tensor(rt, ts, [4]), { reduction: 'none' }), [X], [1, 1, 1, 1]);
    const want = bceWithLogitsRef(xs, ts, {}, 'none') as Float64Array;
    const dwant = bceWithLogitsBackwardRef(xs, ts, {}, 'none', [1, 1, 1, 1]).dx;
    for (let i = 0; i < 4; i++) {
      expect(Math.abs(r.y[i] - want[i]) / Math.abs(want[i])).toBeLessThan(1e-5);
      expect(Math.abs(r.grads[0]![i] - dwant[i]) / Math.abs(dwant[i])).toBeLessThan(1e-5);
    }
  });

  it.each(NLL_CASES)('nllLoss %j: loss and dlogp match the float64 reference', async (c) => {
    const { layout, logp, target, weight, upstream } = nllInputs(c, numel(c.shape) + 400);
    const L = leaf(logp, c.shape);
    const T = Tensor.fromArray(target, layout.targetShape, 'i32', rt);
    const W = weight ? tensor(rt, weight, [layout.classes]) : null;
    const r = await forwardBackward(() => nllLoss(L, T, { reduction: c.reduction, ignoreIndex: c.ignoreIndex, weight: W }), [L], upstream);
    T.dispose();
    W?.dispose();
    expect(r.shape).toEqual(c.reduction === 'none' ? layout.targetShape : []);
    const o = { ignoreIndex: c.ignoreIndex, weight };
    expectClose(r.y, lossValues(nllLossRef(logp, target, layout, o, c.reduction)), TOL.reduction, 'loss');
    expectClose(r.grads[0]!, nllLossBackwardRef(logp, target, layout, o, c.reduction, lossUpstream(c.reduction, upstream)), TOL.reduction, 'dlogp');
  });

  it('nllLoss: targets as a CPU array are checked (ignoreIndex allowed); all targets ignored gives NaN for the mean, as PyTorch', async () => {
    const logp = tensor(rt, [-1, -2, -3, -4], [2, 2]);
    expect(() => nllLoss(logp, [0, 2])).toThrow(/nllLoss: target 2 \(position 1 of 2\) is out of range for 2 classes/);
    expect(() => nllLoss(logp, [0])).toThrow(/nllLoss: 1 targets for logp \[2, 2\]/);
    const [kept, none] = noGrad(() => [nllLoss(logp, [1, -100]), nllLoss(logp, [-100, -100])].map((t) => t.toArray()));
    expect(Array.from(await kept)).toEqual([2]);
    expect(Number.isNaN((await none)[0])).toBe(true);
    // A GPU target out of range is not checked (no CPU sync): NaN, as crossEntropy's.
    const bad = Tensor.fromArray([5, 0], [2], 'i32', rt);
    const v = await noGrad(() => nllLoss(logp, bad, { reduction: 'none' }).toArray());
    expect(Number.isNaN(v[0])).toBe(true);
    expect(v[1]).toBe(3);
    bad.dispose();
    logp.dispose();
  });
});

describe('linear on [*, in]', () => {
  it.each(LINEAR_ND_CASES)('x %j → out %i (bias %s): forward and backward match the float64 reference', async (shape, outF, withBias) => {
    const inF = shape[shape.length - 1];
    const N = numel(shape) / inF;
    const [x, w, b] = [randomArray(numel(shape), 21), randomArray(outF * inF, 22), randomArray(outF, 23)];
    const dy = randomArray(N * outF, 24);
    const X = leaf(x, shape);
    const W = leaf(w, [outF, inF]);
    const B = withBias ? leaf(b, [outF]) : null;
    const r = await forwardBackward(() => linear(X, W, B), B ? [X, W, B] : [X, W], dy);
    expect(r.shape).toEqual([...shape.slice(0, -1), outF]);
    expectClose(r.y, linearRef(x, w, withBias ? b : null, N, inF, outF), TOL.reduction, 'forward');
    const g = linearBackwardRef(x, w, dy, N, inF, outF);
    expectClose(r.grads[0]!, g.dx, TOL.reduction, 'dx');
    expectClose(r.grads[1]!, g.dw, TOL.reduction, 'dw');
    if (B) expectClose(r.grads[2]!, g.db, TOL.reduction, 'db');
  });

  it('the Linear module takes [2, 3, 5, in]', async () => {
    const m = new Linear(7, 4, new SeedSequence(3));
    const xs = randomArray(2 * 3 * 5 * 7, 25);
    const x = tensor(rt, xs, [2, 3, 5, 7]);
    const y = noGrad(() => m.forward(x));
    expect(y.shape).toEqual([2, 3, 5, 4]);
    expectClose(await y.toArray(), linearRef(xs, await m.weight.toArray(), await m.bias!.toArray(), 30, 7, 4), TOL.reduction, 'Linear');
    x.dispose();
    y.dispose();
    m.dispose();
  });
});

describe("the issue's call forms, from the package root", () => {
  it('F.layerNorm(x, normalizedShape, weight, bias, eps), F.mseLoss(a, b), F.binaryCrossEntropyWithLogits(x, y), F.nllLoss(logp, y), new LayerNorm(…)', async () => {
    const xs = randomArray(12, 41);
    const ys = randomArray(12, 42, 0, 1);
    const [x, y, w, b] = [tensor(rt, xs, [3, 4]), tensor(rt, ys, [3, 4]), Tensor.ones([4], rt), Tensor.zeros([4], rt)];
    const labels = Tensor.fromArray([0, 3, 1], [3], 'i32', rt);
    const m = new RootLayerNorm(4);
    const outs = noGrad(() => [
      F.layerNorm(x, [4], w, b, 1e-5),
      F.mseLoss(x, y),
      F.binaryCrossEntropyWithLogits(x, y),
      F.nllLoss(F.logSoftmax(x, 1), labels),
      m.forward(x),
    ].map((t) => t.toArray()));
    const [ln, mse, bce, nll, mod] = await Promise.all(outs);
    const lnRef = layerNormRef(xs, 3, 4, null, null, 1e-5);
    expectClose(ln, lnRef, TOL.reduction, 'layerNorm');
    expectClose(mod, lnRef, TOL.reduction, 'LayerNorm module');
    expectClose(mse, [mseLossRef(xs, ys, 'mean') as number], TOL.reduction, 'mseLoss');
    expectClose(bce, [bceWithLogitsRef(xs, ys, {}, 'mean') as number], TOL.reduction, 'bce');
    const logp = softmaxRef(xs, { outer: 3, n: 4, inner: 1 }, true);
    expectClose(nll, [nllLossRef(logp, [0, 3, 1], { n: 3, classes: 4, inner: 1 }, {}, 'mean') as number], TOL.reduction, 'nllLoss');
    for (const t of [x, y, w, b, labels]) t.dispose();
    m.dispose();
  });
});

describe('errors and memory', () => {
  it('bad input gets an error naming the op, the shapes and what is wrong', () => {
    const x = Tensor.zeros([2, 3], rt);
    const w = Tensor.ones([4], rt);
    expect(() => softmax(x, 2)).toThrow('softmax: dim 2 is out of range for shape [2, 3]');
    expect(() => logSoftmax(x, -3)).toThrow('logSoftmax: dim -3 is out of range for shape [2, 3]');
    expect(() => layerNorm(x, [4])).toThrow('layerNorm: normalizedShape [4] must be the last dims of x [2, 3]');
    expect(() => layerNorm(x, 3, w)).toThrow('layerNorm: weight [4] must have the normalizedShape [3]');
    expect(() => mseLoss(x, w)).toThrow(/mseLoss: input \[2, 3\] and target \[4\] must have the same shape/);
    expect(() => mseLoss(x, x, { reduction: 'avg' as never })).toThrow("mseLoss: unknown reduction 'avg'");
    expect(() => binaryCrossEntropyWithLogits(x, x, { posWeight: w })).toThrow(/posWeight \[4\] does not broadcast to \[2, 3\]/);
    expect(() => nllLoss(x, Tensor.zeros([2], rt))).toThrow(/nllLoss: target must be an int32 tensor \[2\]/);
    expect(() => nllLoss(x, [0, 0], { weight: w })).toThrow('nllLoss: weight [4] must be [3] (one per class)');
    expect(() => linear(Tensor.zeros([2, 5], rt), Tensor.zeros([3, 4], rt))).toThrow(/linear: x \[2, 5\], weight \[3, 4\] do not match/);
    x.dispose();
    w.dispose();
  });

  it('a forward and backward of every op leaves no GPU buffer behind', async () => {
    await rt.sync();
    const before = rt.poolStats().liveBuffers;
    const x = leaf(randomArray(21, 31), [3, 7]);
    const y = tensor(rt, randomArray(21, 32, 0, 1), [3, 7]);
    const w = leaf(randomArray(7, 33), [7]);
    tidy(() => {
      const parts = [
        softmax(x, 0).sum(),
        logSoftmax(x, 1).sum(),
        layerNorm(x, [7], w, w).sum(),
        mseLoss(x, y),
        binaryCrossEntropyWithLogits(x, y, { weight: w, posWeight: w }),
        nllLoss(logSoftmax(x, 1), [1, -100, 6]),
        nllLoss(x.reshape([3, 7, 1]), [[0], [1], [2]].flat(), { reduction: 'sum' }),
      ];
      parts.reduce((a, b) => a.add(b)).backward();
    });
    for (const t of [x, y, w]) t.dispose();
    await rt.sync();
    expect(rt.poolStats().liveBuffers).toBe(before);
  });
});

describe("the gradient-check page's nn group", () => {
  it('is registered, passes every check on this adapter, covers each of its kernels and leaks no buffer', async () => {
    expect(PAGE_GROUPS).toContain(nnPageChecks);
    await rt.sync();
    const before = rt.poolStats().liveBuffers;
    const suite = new GradCheckSuite(rt);
    await nnPageChecks.run(suite);
    await rt.sync();
    expect(suite.results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.error} > ${r.tol} ${r.message ?? ''}`)).toEqual([]);
    for (const k of nnPageChecks.kernels) expect(suite.results.filter((r) => r.kernel === k).length, k).toBeGreaterThan(0);
    expect(rt.poolStats().liveBuffers).toBe(before);
  }, 120_000);
});
