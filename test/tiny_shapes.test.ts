/**
 * Tiny tensors (1 to 3 floats per binding, fewer than one vec4) through every op and every conv algorithm,
 * forward and backward, against the float64 references. WebGPU rejects a storage binding smaller than the
 * shader's element (16 bytes for array<vec4f>): the runtime widens such bindings (src/gpu/runtime.ts,
 * declaredMinBindingSizes), and these cases would otherwise fail with "Binding size (4/8/12) is smaller than
 * the minimum binding size (16)".
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, randomArray, tensor } from './helpers/numeric';
import { conv2dBackwardRef, conv2dRef, convOutSize, type ConvShape } from '../src/reference/conv';
import { batchNormBackwardRef, batchNormRef } from '../src/reference/batchnorm';
import { adaptiveAvgPool2dBackwardRef, adaptiveAvgPool2dRef, maxPool2dBackwardRef, maxPool2dRef } from '../src/reference/pool';
import { linearBackwardRef, linearRef, matmulBackwardRef, matmulRef } from '../src/reference/matmul';
import { crossEntropyBackwardRef, crossEntropyRef } from '../src/reference/loss';
import { reluBackwardRef, reluRef } from '../src/reference/activation';
import type { GpuRuntime } from '../src/gpu/runtime';
import { declaredMinBindingSizes } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { conv2d } from '../src/autograd/ops/conv';
import { batchNorm, batchNormAddRelu, batchNormRelu } from '../src/autograd/ops/batchnorm';
import { adaptiveAvgPool2d, maxPool2d } from '../src/autograd/ops/pool';
import { linear, matmul } from '../src/autograd/ops/linear';
import { crossEntropy } from '../src/autograd/ops/loss';
import { relu } from '../src/autograd/ops/activation';
import { dropout } from '../src/autograd/ops/dropout';
import { hasSubgroupMatmul } from '../src/kernels/matmul';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});
let seed = 70_000;
const fresh = (n: number) => randomArray(n, seed++);
const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

describe('declared minimum binding sizes', () => {
  it('reads one element of each storage array type, the largest where a binding is declared twice', () => {
    const m = declaredMinBindingSizes(`
      @group(0) @binding(1) var<storage, read> a: array<f32>;
      @group(0) @binding(2) var<storage, read_write> b : array<vec4<f32>>;
      @group(0) @binding(3) var<storage, read> c: array<vec4f>;
      @group(0) @binding(3) var<storage, read> c1: array<f32>;
      @group(0) @binding(4) var<storage, read> d: array<i32>;
      @group(0) @binding(5) var<storage, read> e: array<vec2f>;`);
    expect([...m.entries()].sort((p, q) => p[0] - q[0])).toEqual([[1, 4], [2, 16], [3, 16], [4, 4], [5, 8]]);
  });
});

// The repro shapes of issue 20 (a batch tile of x with fewer than 4 floats), and other tiny ones.
const CONV: [string, ConvShape][] = [
  ['x[1,2,1,1] w[3,2,1,1] s1 p3', { N: 1, C: 2, H: 1, W: 1, O: 3, KH: 1, KW: 1, stride: 1, pad: 3 }],
  ['x[1,1,1,2] w[1,1,3,3] s1 p1', { N: 1, C: 1, H: 1, W: 2, O: 1, KH: 3, KW: 3, stride: 1, pad: 1 }],
  ['x[1,1,3,1] w[5,1,2,1] s1 p0', { N: 1, C: 1, H: 3, W: 1, O: 5, KH: 2, KW: 1, stride: 1, pad: 0 }],
  ['x[3,1,1,1] w[3,1,1,1] s2 p2', { N: 3, C: 1, H: 1, W: 1, O: 3, KH: 1, KW: 1, stride: 2, pad: 2 }],
  ['x[1,1,1,1] w[1,1,1,1] s1 p0', { N: 1, C: 1, H: 1, W: 1, O: 1, KH: 1, KW: 1, stride: 1, pad: 0 }],
  ['x[1,1,1,1] w[2,1,3,3] s1 p1', { N: 1, C: 1, H: 1, W: 1, O: 2, KH: 3, KW: 3, stride: 1, pad: 1 }],
  ['x[2,1,1,1] w[1,1,3,3] s1 p1', { N: 2, C: 1, H: 1, W: 1, O: 1, KH: 3, KW: 3, stride: 1, pad: 1 }],
  ['x[1,3,1,1] w[1,3,1,1] s1 p0', { N: 1, C: 3, H: 1, W: 1, O: 1, KH: 1, KW: 1, stride: 1, pad: 0 }],
];
const subgroupsHere = hasSubgroupMatmul(await testRuntime());
const ALGORITHMS = (['implicit', 'im2col', 'winograd'] as const).filter((a) => a !== 'implicit' || subgroupsHere);

describe('conv2d on tiny tensors, every algorithm forced', () => {
  for (const algorithm of ALGORITHMS)
    for (const [name, s] of CONV)
      it(`${name} (${algorithm}): forward, dx, dw, db`, async () => {
        const [OH, OW] = convOutSize(s);
        const x = fresh(s.N * s.C * s.H * s.W);
        const w = fresh(s.O * s.C * s.KH * s.KW);
        const b = fresh(s.O);
        const dy = fresh(s.N * s.O * OH * OW);
        const X = tensor(rt, x, [s.N, s.C, s.H, s.W]).requireGrad();
        const W = tensor(rt, w, [s.O, s.C, s.KH, s.KW]).requireGrad();
        const B = tensor(rt, b, [s.O]).requireGrad();
        const DY = tensor(rt, dy, [s.N, s.O, OH, OW]);
        const y = conv2d(X, W, B, { stride: s.stride, padding: s.pad, algorithm, winogradTile: 4 });
        y.backward(DY);
        const g = conv2dBackwardRef(x, w, dy, s);
        expectClose(await y.toArray(), conv2dRef(x, w, b, s), TOL.reduction, 'forward');
        expectClose(await X.grad!.toArray(), g.dx, TOL.reduction, 'dx');
        expectClose(await W.grad!.toArray(), g.dw, TOL.reduction, 'dw');
        expectClose(await B.grad!.toArray(), g.db, TOL.reduction, 'db');
        for (const t of [X, W, B, DY, y]) t.dispose();
      });
});

describe('other ops on tiny tensors', () => {
  it.each([
    [[2, 1, 1, 1]],
    [[1, 1, 1, 2]],
    [[3, 1, 1, 1]],
    [[1, 3, 1, 2]],
  ] as [readonly [number, number, number, number]][])('batch norm (plain, +ReLU, +residual+ReLU) %o: forward, running stats, gradients', async (s) => {
    const C = s[1];
    for (const kind of ['plain', 'relu', 'residual'] as const) {
      const x = fresh(prod(s));
      const res = fresh(prod(s));
      const w = fresh(C);
      const bb = fresh(C);
      const dy = fresh(prod(s));
      const X = tensor(rt, x, s).requireGrad();
      const R = tensor(rt, res, s).requireGrad();
      const Wt = tensor(rt, w, [C]).requireGrad();
      const Bt = tensor(rt, bb, [C]).requireGrad();
      const rm = tensor(rt, new Float32Array(C), [C]);
      const rv = tensor(rt, new Float32Array(C).fill(1), [C]);
      const y =
        kind === 'plain' ? batchNorm(X, rm, rv, Wt, Bt, true) : kind === 'relu' ? batchNormRelu(X, rm, rv, Wt, Bt, true) : batchNormAddRelu(X, R, rm, rv, Wt, Bt, true);
      y.backward(tensor(rt, dy, s));
      const o = { training: true, relu: kind === 'relu', residual: kind === 'residual' ? res : undefined };
      const f = batchNormRef(x, s, new Float64Array(C), new Float64Array(C).fill(1), w, bb, o);
      const gr = batchNormBackwardRef(dy, x, s, f, w, o);
      expectClose(await y.toArray(), f.y, TOL.reduction, `${kind} y`);
      expectClose(await rm.toArray(), f.runningMean, TOL.reduction, `${kind} running mean`);
      expectClose(await rv.toArray(), f.runningVar, TOL.reduction, `${kind} running var`);
      // With 2 values per channel dx is 0 up to rounding (x̂ = ±1): compare against the scale of its terms.
      const dx = await X.grad!.toArray();
      const scale = Math.max(...f.invstd.map((v, c) => Math.abs(v * w[c]))) * Math.max(...dy.map(Math.abs));
      dx.forEach((v, i) => expect(Math.abs(v - gr.dx[i]), `${kind} dx[${i}]`).toBeLessThanOrEqual(1e-5 * scale));
      expectClose(await Wt.grad!.toArray(), gr.dweight, TOL.reduction, `${kind} dweight`);
      expectClose(await Bt.grad!.toArray(), gr.dbias, TOL.reduction, `${kind} dbias`);
      if (kind === 'residual') expectClose(await R.grad!.toArray(), gr.dresidual, TOL.reduction, 'dresidual');
      for (const t of [X, R, Wt, Bt, rm, rv, y]) t.dispose();
    }
  });

  it.each([
    [[1, 1, 1, 1], 1, 1, 0],
    [[1, 1, 1, 2], 2, 2, 1],
    [[1, 3, 1, 1], 3, 2, 1],
    [[2, 1, 1, 3], 1, 1, 0],
  ] as [readonly [number, number, number, number], number, number, number][])('max pool %o k%i s%i p%i: forward and gradient', async (s, k, st, p) => {
    const x = fresh(prod(s));
    const win = { kh: k, kw: k, sh: st, sw: st, ph: p, pw: p };
    const f = maxPool2dRef(x, s, win);
    const dy = fresh(f.y.length);
    const X = tensor(rt, x, s).requireGrad();
    const y = maxPool2d(X, { kernelSize: k, stride: st, padding: p });
    y.backward(tensor(rt, dy, f.outShape));
    expectClose(await y.toArray(), f.y, 0, 'y');
    expectClose(await X.grad!.toArray(), maxPool2dBackwardRef(dy, f, s), 0, 'dx');
  });

  it.each([
    [[1, 1, 1, 1], 1, 1],
    [[1, 1, 1, 3], 1, 2],
    [[3, 1, 1, 1], 1, 1],
    [[1, 1, 2, 1], 3, 1],
  ] as [readonly [number, number, number, number], number, number][])('adaptive average pool %o -> %ix%i: forward and gradient', async (s, oh, ow) => {
    const x = fresh(prod(s));
    const dy = fresh(s[0] * s[1] * oh * ow);
    const X = tensor(rt, x, s).requireGrad();
    const y = adaptiveAvgPool2d(X, [oh, ow]);
    y.backward(tensor(rt, dy, [s[0], s[1], oh, ow]));
    expectClose(await y.toArray(), adaptiveAvgPool2dRef(x, s, oh, ow), TOL.elementwise, 'y');
    expectClose(await X.grad!.toArray(), adaptiveAvgPool2dBackwardRef(dy, s, oh, ow), TOL.elementwise, 'dx');
  });

  it.each([
    [1, 1, 1],
    [1, 3, 2],
    [3, 1, 1],
    [2, 1, 3],
  ])('linear x[%i,%i] -> %i features, and matmul: forward and gradients', async (n, inF, outF) => {
    const x = fresh(n * inF);
    const w = fresh(outF * inF);
    const b = fresh(outF);
    const dy = fresh(n * outF);
    const X = tensor(rt, x, [n, inF]).requireGrad();
    const W = tensor(rt, w, [outF, inF]).requireGrad();
    const B = tensor(rt, b, [outF]).requireGrad();
    const y = linear(X, W, B);
    y.backward(tensor(rt, dy, [n, outF]));
    const g = linearBackwardRef(x, w, dy, n, inF, outF);
    expectClose(await y.toArray(), linearRef(x, w, b, n, inF, outF), TOL.reduction, 'linear');
    expectClose(await X.grad!.toArray(), g.dx, TOL.reduction, 'dx');
    expectClose(await W.grad!.toArray(), g.dw, TOL.reduction, 'dw');
    expectClose(await B.grad!.toArray(), g.db, TOL.reduction, 'db');
    // matmul a[n, inF] · b[inF, outF]
    const A = tensor(rt, x, [n, inF]).requireGrad();
    const Bm = tensor(rt, w, [inF, outF]).requireGrad();
    const c = matmul(A, Bm);
    c.backward(tensor(rt, dy, [n, outF]));
    const mg = matmulBackwardRef(x, w, dy, n, inF, outF);
    expectClose(await c.toArray(), matmulRef(x, w, n, inF, outF), TOL.reduction, 'matmul');
    expectClose(await A.grad!.toArray(), mg.da, TOL.reduction, 'da');
    expectClose(await Bm.grad!.toArray(), mg.db, TOL.reduction, 'db');
  });

  it.each([
    [1, 1],
    [1, 3],
    [3, 1],
    [2, 2],
  ])('cross-entropy logits[%i,%i] (mean, none): loss and gradient', async (n, c) => {
    const logits = fresh(n * c);
    const labels = Int32Array.from({ length: n }, (_, i) => i % c);
    for (const reduction of ['mean', 'none'] as const) {
      const L = tensor(rt, logits, [n, c]).requireGrad();
      const loss = crossEntropy(L, Tensor.fromArray(labels, [n], 'i32', rt), { reduction, labelSmoothing: 0.1 });
      const up = reduction === 'none' ? fresh(n) : 1;
      loss.backward(reduction === 'none' ? tensor(rt, up as Float64Array, [n]) : undefined);
      const ref = crossEntropyRef(logits, labels, n, c, 0.1, reduction);
      expectClose(await loss.toArray(), typeof ref === 'number' ? [ref] : ref, TOL.reduction, `${reduction} loss`);
      expectClose(await L.grad!.toArray(), crossEntropyBackwardRef(logits, labels, n, c, 0.1, reduction, up), TOL.reduction, `${reduction} dlogits`);
    }
  });

  it.each([[[1]], [[2]], [[3]], [[1, 3]]] as [number[]][])('relu and dropout %o: forward and gradient', async (s) => {
    const x = fresh(prod(s));
    const dy = fresh(prod(s));
    const X = tensor(rt, x, s).requireGrad();
    const y = relu(X);
    y.backward(tensor(rt, dy, s));
    expectClose(await y.toArray(), reluRef(x), 0, 'relu');
    expectClose(await X.grad!.toArray(), reluBackwardRef(x, dy), 0, 'relu dx');
    const D = tensor(rt, x, s).requireGrad();
    const z = dropout(D, 0.5, true, 123);
    z.backward(tensor(rt, dy, s));
    const zv = await z.toArray();
    const gv = await D.grad!.toArray();
    // Each element is dropped (0, and a 0 gradient) or kept and scaled by 2 (and its gradient too).
    zv.forEach((v, i) => {
      const kept = v !== 0;
      expect(v).toBeCloseTo(kept ? 2 * x[i] : 0, 5);
      expect(gv[i]).toBeCloseTo(kept ? 2 * dy[i] : 0, 5);
    });
  });
});
