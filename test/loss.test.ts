import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, finiteDiff, randomArray, relError, rng, tensor, weightedSum } from './helpers/numeric';
import { crossEntropyBackwardRef, crossEntropyRef, type Reduction } from '../src/reference/loss';
import { CROSS_ENTROPY_CASES, CROSS_ENTROPY_FD_CASES, randomLabels } from '../src/reference/cases';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { noGrad, tidy } from '../src/autograd/scope';
import { crossEntropy } from '../src/autograd/ops/loss';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

/** A scalar from the reference: Σ w·loss for 'none', w·loss otherwise. */
function refObjective(logits: Float64Array, labels: Int32Array, n: number, c: number, eps: number, red: Reduction, w: Float64Array): number {
  const l = crossEntropyRef(logits, labels, n, c, eps, red);
  return typeof l === 'number' ? w[0] * l : weightedSum(l, w);
}

/** GPU forward and backward with upstream w ([1] for a reduced loss, [N] for 'none'). */
async function gpuCrossEntropy(xs: ArrayLike<number>, labels: Int32Array, n: number, c: number, eps: number, red: Reduction, w: ArrayLike<number>) {
  const x = tensor(rt, xs, [n, c]).requireGrad();
  const lab = Tensor.fromArray(labels, [n], 'i32', rt);
  const loss = tidy(() => {
    const loss = crossEntropy(x, lab, { labelSmoothing: eps, reduction: red });
    loss.backward(tensor(rt, w, loss.shape));
    return loss;
  });
  const out = { shape: loss.shape, loss: await loss.toArray(), dx: await x.grad!.toArray() };
  x.dispose();
  lab.dispose();
  loss.dispose();
  return out;
}

describe('gradient check: cross-entropy reference', () => {
  it.each(CROSS_ENTROPY_FD_CASES)('smoothing %f, reduction %s: the reference backward matches central finite differences', (eps, red) => {
    const [n, c] = [3, 7];
    const x = randomArray(n * c, 1, -3, 3);
    const labels = randomLabels(n, c, 2);
    const w = randomArray(red === 'none' ? n : 1, 3);
    const fd = finiteDiff((v) => refObjective(v, labels, n, c, eps, red, w), x);
    const analytic = crossEntropyBackwardRef(x, labels, n, c, eps, red, red === 'none' ? w : w[0]);
    expect(relError(analytic, fd)).toBeLessThanOrEqual(TOL.fd);
  });

  it('label smoothing follows PyTorch: (1−ε)·nll + ε·mean over classes of −log p', () => {
    // Two classes, logits (0, 0): p = 1/2 each, so nll = log 2 and the smoothing term is log 2 too.
    expect(crossEntropyRef([0, 0], [0], 1, 2, 0.3) as number).toBeCloseTo(Math.log(2), 12);
    // Logits (log 3, 0): p = (3/4, 1/4); label 1: nll = log 4; mean −log p = (log(4/3) + log 4)/2.
    const want = 0.9 * Math.log(4) + 0.1 * ((Math.log(4 / 3) + Math.log(4)) / 2);
    expect(crossEntropyRef([Math.log(3), 0], [1], 1, 2, 0.1) as number).toBeCloseTo(want, 12);
  });
});

describe('gradient check: cross-entropy on the GPU', () => {
  it.each(CROSS_ENTROPY_CASES)('N=%i, C=%i, smoothing %f, reduction %s: forward and backward match the float64 reference', async (n, c, eps, red) => {
    const xs = randomArray(n * c, n * c + 1, -4, 4);
    const labels = randomLabels(n, c, n + c);
    const w = randomArray(red === 'none' ? n : 1, 5, 0.5, 2);
    const got = await gpuCrossEntropy(xs, labels, n, c, eps, red, w);
    const want = crossEntropyRef(xs, labels, n, c, eps, red);
    expect(got.shape).toEqual(red === 'none' ? [n] : []);
    expectClose(got.loss, typeof want === 'number' ? [want] : want, TOL.reduction, 'loss');
    expectClose(got.dx, crossEntropyBackwardRef(xs, labels, n, c, eps, red, red === 'none' ? w : w[0]), TOL.reduction, 'dlogits');
  });

  it.each([
    [7, 37, 0],
    [7, 37, 0.1],
    [3, 1000, 0],
    [3, 1000, 0.1],
  ])('logits of ±1e4 (N=%i, C=%i, smoothing %f): finite loss and gradients that match the float64 reference', async (n, c, eps) => {
    const xs = randomArray(n * c, 17, -1, 1).map((v) => Math.fround(v * 1e4));
    xs[0] = 1e4;
    xs[1] = -1e4;
    const labels = randomLabels(n, c, 18);
    for (const red of ['mean', 'none'] as Reduction[]) {
      const w = randomArray(red === 'none' ? n : 1, 19, 0.5, 2);
      const got = await gpuCrossEntropy(xs, labels, n, c, eps, red, w);
      expect(Array.from(got.loss).every(Number.isFinite)).toBe(true);
      const want = crossEntropyRef(xs, labels, n, c, eps, red);
      expectClose(got.loss, typeof want === 'number' ? [want] : want, TOL.reduction, `loss (${red})`);
      expectClose(got.dx, crossEntropyBackwardRef(xs, labels, n, c, eps, red, red === 'none' ? w : w[0]), TOL.reduction, `dlogits (${red})`);
    }
  });

  it('a label outside [0, C) gives a NaN loss for its row (and a NaN mean), the other rows are unaffected', async () => {
    const [n, c] = [4, 37];
    const xs = randomArray(n * c, 21);
    const labels = Int32Array.from([-1, 37, 5, -100]);
    const none = await gpuCrossEntropy(xs, labels, n, c, 0.1, 'none', [1, 1, 1, 1]);
    expect(Number.isNaN(none.loss[0])).toBe(true);
    expect(Number.isNaN(none.loss[1])).toBe(true);
    expect(Number.isNaN(none.loss[3])).toBe(true);
    const row2 = crossEntropyRef(xs.slice(2 * c, 3 * c), [5], 1, c, 0.1) as number;
    expect(Math.abs(none.loss[2] - row2) / row2).toBeLessThan(1e-5);
    expect(Array.from(none.dx.slice(0, c)).every(Number.isNaN)).toBe(true);
    expect(Array.from(none.dx.slice(2 * c, 3 * c)).every(Number.isFinite)).toBe(true);
    const mean = await gpuCrossEntropy(xs, labels, n, c, 0, 'mean', [1]);
    expect(Number.isNaN(mean.loss[0])).toBe(true);
  });

  it('checks the shapes and the label dtype', () => {
    const x = Tensor.zeros([3, 5], rt);
    const good = Tensor.fromArray([0, 1, 2], [3], 'i32', rt);
    const f32 = Tensor.fromArray([0, 1, 2], [3], 'f32', rt);
    const short = Tensor.fromArray([0, 1], [2], 'i32', rt);
    expect(() => crossEntropy(x, f32)).toThrowError(/int32/);
    expect(() => crossEntropy(x, short)).toThrowError(/\[3\]/);
    expect(() => crossEntropy(x.view([15]), good)).toThrowError(/\[N, C\]/);
    expect(() => crossEntropy(x, good, { labelSmoothing: 1.5 })).toThrowError(/smoothing/);
    for (const t of [x, good, f32, short]) t.dispose();
  });

  it('frees its temporaries, with and without a recorded graph', async () => {
    const [n, c] = [7, 37];
    const x = tensor(rt, randomArray(n * c, 31), [n, c]).requireGrad();
    const labels = Tensor.fromArray(randomLabels(n, c, 32), [n], 'i32', rt);
    const step = () => {
      tidy(() => crossEntropy(x, labels, { labelSmoothing: 0.1 }).backward());
      x.zeroGrad();
      tidy(() => {
        noGrad(() => crossEntropy(x, labels));
        crossEntropy(x, labels, { reduction: 'none' }); // recorded, never back-propagated
      });
    };
    step();
    await rt.sync();
    const before = rt.poolStats().liveBytes;
    for (let i = 0; i < 5; i++) step();
    await rt.sync();
    expect(rt.poolStats().liveBytes).toBe(before);
    x.dispose();
    labels.dispose();
  });
});
