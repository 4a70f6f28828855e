import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, finiteDiff, randomArray, relError, tensor, weightedSum } from './helpers/numeric';
import { reluBackwardRef, reluRef } from '../src/reference/activation';
import { RELU_SHAPES } from '../src/reference/cases';
import type { GpuRuntime } from '../src/gpu/runtime';
import { tidy } from '../src/autograd/scope';
import { relu } from '../src/autograd/ops/activation';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

/** Values in [-1, 1] pushed at least 0.05 away from 0 (where ReLU is not differentiable). */
function awayFromZero(n: number, seed: number): Float64Array {
  return randomArray(n, seed).map((v) => Math.fround(v >= 0 ? v + 0.05 : v - 0.05));
}

describe('gradient check: relu', () => {
  it('reference backward matches central finite differences (away from 0)', () => {
    const n = 33;
    const x = awayFromZero(n, 1);
    const w = randomArray(n, 2);
    const fd = finiteDiff((v) => weightedSum(reluRef(v), w), x);
    expect(relError(reluBackwardRef(x, w), fd)).toBeLessThanOrEqual(TOL.fd);
  });

  it.each(RELU_SHAPES.map((s) => [s]))(
    'relu %j: GPU forward and backward match the float64 reference',
    async (shape) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const xs = randomArray(n, n + 11);
      const w = randomArray(n, n + 12);
      const x = tensor(rt, xs, shape).requireGrad();
      const y = tidy(() => {
        const y = relu(x);
        y.backward(tensor(rt, w, shape));
        return y;
      });
      expect(y.shape).toEqual(shape);
      expectClose(await y.toArray(), reluRef(xs), TOL.elementwise, 'relu forward');
      expectClose(await x.grad!.toArray(), reluBackwardRef(xs, w), TOL.elementwise, 'relu backward');
      x.dispose();
      y.dispose();
    },
  );

  it('relu at exactly 0 (and -0) has output ±0 and gradient 0, as PyTorch; NaN stays NaN and passes its gradient', async () => {
    const xs = [0, -0, 1e-30, -1e-30, 2, -2, 0, Number.NaN];
    const w = [1, 2, 3, 4, 5, 6, 7, 8];
    const x = tensor(rt, xs, [xs.length]).requireGrad();
    const y = tidy(() => {
      const y = relu(x);
      y.backward(tensor(rt, w, [w.length]));
      return y;
    });
    const out = Array.from(await y.toArray());
    expect(out.slice(0, 7)).toEqual([0, -0, Math.fround(1e-30), 0, 2, 0, 0]);
    expect(Object.is(out[1], -0)).toBe(true); // relu(-0) is -0 in PyTorch (torch 1.13: tensor(-0.))
    expect(Number.isNaN(out[7])).toBe(true);
    // PyTorch's threshold_backward zeroes the gradient where y <= 0: at NaN it passes the upstream gradient.
    expect(Array.from(await x.grad!.toArray())).toEqual([0, 0, 3, 0, 5, 0, 0, 8]);
    x.dispose();
    y.dispose();
  });

  it('relu frees its temporaries (live GPU bytes return to the start)', async () => {
    const x = tensor(rt, randomArray(100, 3), [10, 10]).requireGrad();
    const w = tensor(rt, randomArray(100, 4), [10, 10]);
    const run = () => tidy(() => relu(relu(x)).backward(w));
    run();
    x.zeroGrad();
    await rt.sync();
    const before = rt.poolStats().liveBytes;
    for (let i = 0; i < 5; i++) {
      run();
      x.zeroGrad();
    }
    await rt.sync();
    expect(rt.poolStats().liveBytes).toBe(before);
    x.dispose();
    w.dispose();
  });
});
