/**
 * The promise of docs/numerics.md for non-finite inputs (NaN, ±Inf), op by op. The expected values are
 * PyTorch's semantics (ReLU(NaN) = NaN, a NaN wins its max-pool window, ...), written out per case; the
 * randomized cross-check (test/crosscheck.test.ts) compares the same against PyTorch itself.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, randomArray, tensor } from './helpers/numeric';
import { conv2dBackwardRef, conv2dRef, convOutSize, type ConvShape } from '../src/reference/conv';
import { crossEntropyRowsRef } from '../src/reference/loss';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { relu } from '../src/autograd/ops/activation';
import { batchNorm, batchNormAddRelu, batchNormRelu } from '../src/autograd/ops/batchnorm';
import { maxPool2d } from '../src/autograd/ops/pool';
import { checkLabels, crossEntropy } from '../src/autograd/ops/loss';
import { conv2d } from '../src/autograd/ops/conv';
import { hasSubgroupMatmul } from '../src/kernels/matmul';
import { withKernelConfig } from '../src/kernels/config';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

/** Element-by-element equality that tells NaN, +0 and −0 apart (Object.is). */
function expectSame(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Object.is(actual[i], expected[i]), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`).toBe(true);
}

describe('relu', () => {
  // 7 elements: the scalar kernel; 8: the vec4 kernel.
  const X = [NaN, -0, 0, -1, 2, Infinity, -Infinity];
  const Y = [NaN, -0, 0, 0, 2, Infinity, 0];
  const DX = [1, 0, 0, 0, 1, 1, 0]; // dy = 1: the gradient passes at NaN (PyTorch's threshold_backward), not at ±0
  it.each([7, 8])('ReLU(NaN) = NaN, ReLU(−0) = −0, and the gradient at NaN is the upstream gradient (%i elements)', async (n) => {
    const x = tensor(rt, [...X, 5].slice(0, n), [n]).requireGrad();
    const y = relu(x);
    y.backward(Tensor.ones([n], rt));
    expectSame(await y.toArray(), [...Y, 5].slice(0, n), 'y');
    expectSame(await x.grad!.toArray(), [...DX, 1].slice(0, n), 'dx');
  });
});

describe('fused batch norm + ReLU and batch norm + residual + ReLU propagate NaN (issue 15)', () => {
  // hw = 3: the scalar kernels; hw = 4: the vec4 kernels. Eval mode, so that one NaN stays one NaN.
  it.each([3, 4])('a NaN in x, in the residual or in the weight gives NaN, not 0 (H·W = %i)', async (hw) => {
    const s = [2, 2, 1, hw] as const;
    const n = 2 * 2 * hw;
    const x = Float32Array.from(randomArray(n, 11, -2, -1)); // all negative: every finite output of ReLU is 0
    x[1] = NaN;
    const res = new Float32Array(n).fill(-5);
    res[hw + 2] = NaN; // image 0, channel 1
    const rm = tensor(rt, [0, 0], [2]);
    const rv = tensor(rt, [1, 1], [2]);
    const w = tensor(rt, [1, 1], [2]);
    const b = tensor(rt, [0, 0], [2]);
    const X = tensor(rt, x, s);
    const y1 = await batchNormRelu(X, rm, rv, w, b, false).toArray();
    const y2 = await batchNormAddRelu(X, tensor(rt, res, s), rm, rv, w, b, false).toArray();
    for (let i = 0; i < n; i++) {
      expect(Object.is(y1[i], i === 1 ? NaN : 0), `bn+relu y[${i}] = ${y1[i]}`).toBe(true);
      expect(Object.is(y2[i], i === 1 || i === hw + 2 ? NaN : 0), `bn+add+relu y[${i}] = ${y2[i]}`).toBe(true);
    }
    // A NaN weight (as from a corrupted .pth) makes its whole channel NaN.
    const wNaN = tensor(rt, [1, NaN], [2]);
    const y3 = await batchNormRelu(X, rm, rv, wNaN, b, false).toArray();
    const y4 = await batchNormAddRelu(X, tensor(rt, res, s), rm, rv, wNaN, b, false).toArray();
    for (let i = 0; i < n; i++) {
      const channel = Math.floor(i / hw) % 2;
      expect(Number.isNaN(y3[i]), `bn+relu, NaN weight, y[${i}] = ${y3[i]}`).toBe(channel === 1 || i === 1);
      expect(Number.isNaN(y4[i]), `bn+add+relu, NaN weight, y[${i}] = ${y4[i]}`).toBe(channel === 1 || i === 1 || i === hw + 2);
    }
  });

  it('the backward of the fused ReLU passes the upstream gradient at a NaN output', async () => {
    const s = [1, 1, 1, 3] as const;
    const x = tensor(rt, [NaN, -1, 1], s).requireGrad();
    const r = tensor(rt, [0, 0, 0], s).requireGrad();
    const y = batchNormAddRelu(x, r, tensor(rt, [0], [1]), tensor(rt, [1], [1]), null, null, false);
    y.backward(tensor(rt, [3, 4, 5], s));
    const dr = await r.grad!.toArray();
    expect([dr[0], dr[1], dr[2]]).toEqual([3, 0, 5]);
    const x2 = tensor(rt, [NaN, -1, 1], s).requireGrad();
    const y2 = batchNormRelu(x2, tensor(rt, [0], [1]), tensor(rt, [1], [1]), null, null, false);
    y2.backward(tensor(rt, [3, 4, 5], s));
    const dx = await x2.grad!.toArray();
    const invstd = 1 / Math.sqrt(1 + 1e-5);
    expect(dx[0]).toBeCloseTo(3 * invstd, 5);
    expect(dx[1]).toBe(0);
    expect(dx[2]).toBeCloseTo(5 * invstd, 5);
  });
});

describe('batch norm statistics', () => {
  it.each([3, 4])('+Inf in x makes the running mean +Inf (PyTorch), −Inf and +Inf together NaN (H·W = %i)', async (hw) => {
    for (const reduction of ['serial', 'tree'] as const) {
      await withKernelConfig(rt, { channelReduction: reduction }, async () => {
        const x = Float32Array.from(randomArray(2 * 3 * hw, 5));
        x[1] = Infinity; // channel 0
        x[hw + 1] = Infinity; // channel 1 gets +Inf and −Inf
        x[hw + 2] = -Infinity;
        const rm = tensor(rt, [0, 0, 0], [3]);
        const rv = tensor(rt, [1, 1, 1], [3]);
        batchNorm(tensor(rt, x, [2, 3, 1, hw]), rm, rv, null, null, true, 0.5).dispose();
        const m = await rm.toArray();
        const v = await rv.toArray();
        expect(m[0], reduction).toBe(Infinity);
        expect(Number.isNaN(m[1]), reduction).toBe(true);
        expect(Number.isFinite(m[2]), reduction).toBe(true);
        expect(Number.isNaN(v[0]) && Number.isNaN(v[1]) && Number.isFinite(v[2]), `${reduction} running var ${v}`).toBe(true);
      });
    }
  });

  it.each([3, 4])('a constant channel with eps = 0 gives the bias, as PyTorch (invstd 0, not ∞) (H·W = %i)', async (hw) => {
    for (const reduction of ['serial', 'tree'] as const) {
      await withKernelConfig(rt, { channelReduction: reduction }, async () => {
        const x = new Float32Array(2 * hw).fill(0.75);
        const y = await batchNorm(tensor(rt, x, [2, 1, 1, hw]), tensor(rt, [0], [1]), tensor(rt, [1], [1]), tensor(rt, [2], [1]), tensor(rt, [0.5], [1]), true, 0.1, 0).toArray();
        expect([...y], reduction).toEqual(new Array(2 * hw).fill(0.5));
      });
    }
  });
});

describe('max pool', () => {
  it('a NaN wins its window wherever it is, and takes the gradient (the last NaN, as PyTorch)', async () => {
    // Windows of 2 (kernel [1, 2], stride 2): [1, NaN] [−Inf, NaN] [NaN, 1] [NaN, NaN] [3, 2].
    const x = tensor(rt, [1, NaN, -Infinity, NaN, NaN, 1, NaN, NaN, 3, 2], [1, 1, 1, 10]).requireGrad();
    const y = maxPool2d(x, { kernelSize: [1, 2], stride: [1, 2] });
    y.backward(tensor(rt, [1, 2, 3, 4, 5], [1, 1, 1, 5]));
    expectSame(await y.toArray(), [NaN, NaN, NaN, NaN, 3], 'y');
    expectSame(await x.grad!.toArray(), [0, 1, 0, 2, 3, 0, 0, 4, 5, 0], 'dx');
  });
});

describe('cross-entropy', () => {
  it('a −Inf logit gives the finite loss without smoothing (and +Inf with), and +Inf when it is the label\'s', async () => {
    const logits = [0.5, -Infinity, 1.5, 0.25, 2, -Infinity];
    // Row 0: label 0 (finite: the −Inf class has probability 0); row 1: label 2, whose logit is −Inf.
    const finite = crossEntropyRowsRef([0.5, 1.5], [0], 1, 2)[0];
    const l0 = await crossEntropy(tensor(rt, logits, [2, 3]), [0, 2], { reduction: 'none' }).toArray();
    expect(l0[0]).toBeCloseTo(finite, 5);
    expect(l0[1]).toBe(Infinity);
    const l1 = await crossEntropy(tensor(rt, logits, [2, 3]), [0, 0], { reduction: 'none', labelSmoothing: 0.1 }).toArray();
    expect([l1[0], l1[1]]).toEqual([Infinity, Infinity]);
    const g = tensor(rt, logits.slice(0, 3), [1, 3]).requireGrad();
    crossEntropy(g, [0]).backward();
    const dg = await g.grad!.toArray();
    expect(dg.every(Number.isFinite)).toBe(true);
    expect(dg[1]).toBe(0);
  });

  it('labels out of range raise an error naming the label and the class count, before any GPU work', () => {
    const logits = Tensor.zeros([2, 5], rt);
    const dispatches = rt.counters.dispatches;
    expect(() => crossEntropy(logits, [0, 5])).toThrow(/label 5 \(position 1 of 2\) is out of range for 5 classes/);
    expect(() => crossEntropy(logits, Int32Array.from([-1, 0]))).toThrow(/label -1 \(position 0 of 2\) is out of range for 5 classes/);
    expect(() => crossEntropy(logits, [-100, 0])).toThrow(/ignore_index are not supported/);
    expect(() => checkLabels([0, 1.5], 3, 'training batch 4')).toThrow(/^training batch 4: label 1.5/);
    expect(rt.counters.dispatches).toBe(dispatches);
    expect(() => checkLabels(Int32Array.from([0, 2, 1]), 3)).not.toThrow();
  });
});

const subgroupsHere = hasSubgroupMatmul(await testRuntime());
const ALGOS = (['implicit', 'im2col', 'winograd'] as const).filter((a) => a !== 'implicit' || subgroupsHere);

describe('conv2d: a non-finite input never gives a finite output that depends on it', () => {
  const s: ConvShape = { N: 2, C: 3, H: 9, W: 8, O: 4, KH: 3, KW: 3, stride: 1, pad: 1 };
  const [OH, OW] = convOutSize(s);
  /** Every output the float64 reference makes NaN is NaN, every ±Inf is non-finite, and finite ones that stay finite are close. */
  function check(actual: Float32Array, ref: Float64Array, what: string): void {
    let finite = 0;
    for (let i = 0; i < ref.length; i++) {
      if (Number.isNaN(ref[i])) expect(Number.isNaN(actual[i]), `${what}[${i}]: ${actual[i]}, PyTorch NaN`).toBe(true);
      else if (!Number.isFinite(ref[i])) expect(Number.isFinite(actual[i]), `${what}[${i}]: ${actual[i]}, PyTorch ${ref[i]}`).toBe(false);
      else if (!Number.isNaN(actual[i])) {
        expect(Math.abs(actual[i] - ref[i]), `${what}[${i}]`).toBeLessThanOrEqual(TOL.reduction * 10);
        finite++;
      }
    }
    expect(finite, `${what}: finite outputs left`).toBeGreaterThan(0);
  }
  for (const algorithm of ALGOS)
    for (const [name, bad] of [
      ['NaN', NaN],
      ['+Inf', Infinity],
      ['-Inf', -Infinity],
    ] as const)
      it(`${name} in x, and in w (${algorithm}): forward, dx, dw`, async () => {
        for (const where of ['x', 'w'] as const) {
          const x = Float32Array.from(randomArray(s.N * s.C * s.H * s.W, 3));
          const w = Float32Array.from(randomArray(s.O * s.C * 9, 4));
          const dy = Float32Array.from(randomArray(s.N * s.O * OH * OW, 6));
          if (where === 'x') x[s.H * s.W + 2 * s.W + 5] = bad; // image 0, channel 1, row 2
          else w[(1 * s.C + 2) * 9 + 4] = bad; // output channel 1, input channel 2, centre tap
          const X = tensor(rt, x, [s.N, s.C, s.H, s.W]).requireGrad();
          const W = tensor(rt, w, [s.O, s.C, 3, 3]).requireGrad();
          const y = conv2d(X, W, null, { padding: 1, algorithm });
          y.backward(tensor(rt, dy, [s.N, s.O, OH, OW]));
          const ref = conv2dBackwardRef(x, w, dy, s);
          check(await y.toArray(), conv2dRef(x, w, null, s), `${where} y`);
          check(await X.grad!.toArray(), ref.dx, `${where} dx`);
          check(await W.grad!.toArray(), ref.dw, `${where} dw`);
        }
      });
});
