/**
 * The page's float16 checks (issue 19): every float16 path, forward and backward, against the float64 references of
 * src/reference/ evaluated on the float16-rounded inputs (reference/half.ts f16Round), at the tolerances of
 * f16Tol (the derivation is in docs/ARCHITECTURE.md, "float16 (autocast)"):
 *
 * - the casts, element by element (tol 0): toDtype f32 → f16 at special values (NaN, ±inf, ±0, 65504, the
 *   overflow threshold 65520, subnormals, ties), f16 → f32, roundF16, the backward of each, and the graph's cast of
 *   an upstream gradient to the root's dtype;
 * - conv2d, linear and matmul under autocast (float16 input, float32 weights rounded to float16, float32
 *   accumulation, float16 output; the weights' gradients float32);
 * - batch norm (alone, with ReLU, with a residual and ReLU; training and eval; running statistics updated from the
 *   float16 input), max and adaptive average pooling, dropout (seeded), cross-entropy on float16 logits (the loss
 *   float32), unary and binary ops (float16 + float16 → float16, float16 + float32 → float32);
 * - gradient accumulation of float16 tensors (a tensor used twice, a leaf back-propagated twice).
 *
 * The upstream gradients are given in float32: the graph rounds the seed to float16 when the output is float16, so
 * the references use f16Round(upstream). The casts' exact checks pin this adapter's rounding to round-to-nearest-
 * even, so the float16 inputs the references model (inputs, weights, upstream gradients) carry no error: the only
 * float16 rounding a tolerance allows for is the output's own (and intermediates' where an op stores them).
 *
 * Without shader-f16 (SwiftShader) the group runs one check: that a float16 tensor is refused with an error that
 * names 'shader-f16'.
 */
import type { PageCheckGroup, PageChecks } from './api';
import { Tensor, type DType, type Shape } from '../../autograd/tensor';
import { autocast, tidy } from '../../autograd/scope';
import { roundF16 } from '../../autograd/ops/half';
import { conv2d } from '../../autograd/ops/conv';
import { linear, matmul } from '../../autograd/ops/linear';
import { batchNorm, batchNormAddRelu, batchNormRelu } from '../../autograd/ops/batchnorm';
import { adaptiveAvgPool2d, maxPool2d } from '../../autograd/ops/pool';
import { dropout } from '../../autograd/ops/dropout';
import { crossEntropy } from '../../autograd/ops/loss';
import { unaryOp } from '../../autograd/ops/unary';
import { add, binaryOp, mul } from '../../autograd/ops/binary';
import { hasF16 } from '../../kernels/cast';
import { hasSubgroupMatmul } from '../../kernels/matmul';
import { unarySpec, type UnaryName } from '../../kernels/elementwise/unary_ops';
import type { BinaryName } from '../../kernels/elementwise/binary_ops';
import { f16Round, f16RoundAll, f16Tol, f16TolOf } from '../../reference/half';
import { TOL, distinctArray, randomArray } from '../../reference/math';
import { conv2dBackwardRef, conv2dRef, convOutSize } from '../../reference/conv';
import { linearBackwardRef, linearRef, matmulBackwardRef, matmulRef } from '../../reference/matmul';
import { batchNormBackwardRef, batchNormRef } from '../../reference/batchnorm';
import { adaptiveAvgPool2dBackwardRef, adaptiveAvgPool2dRef, maxPool2dBackwardRef, maxPool2dRef } from '../../reference/pool';
import { dropoutMaskRef, dropoutRef } from '../../reference/dropout';
import { crossEntropyBackwardRef, crossEntropyRef } from '../../reference/loss';
import { binaryBroadcastBackwardRef, binaryBroadcastRef, binaryRef, binaryBackwardRef } from '../../reference/binary';
import {
  AVGPOOL_CASES, BATCHNORM_ADD_RELU_CASES, BATCHNORM_CASES, BATCHNORM_RELU_CASES, CONV_ALGORITHMS, CONV_CASES, CROSS_ENTROPY_CASES, DROPOUT_P, DROPOUT_SHAPES,
  LINEAR_CASES, MATMUL_OP_CASES, MAXPOOL_CASES, type BatchNormCase, batchNormInputs, batchNormRefOptions, numel, randomLabels,
} from '../../reference/cases';

/** The one kernel name the group reports under (with or without shader-f16, it gets at least one check). */
const K = 'float16';

/** Special float32 inputs of the casts: NaN, ±inf, ±0, the top of the range and the overflow threshold, subnormals, ties. */
export const F16_SPECIAL_INPUTS: readonly number[] = [
  NaN, -NaN, Infinity, -Infinity, 0, -0, 1, -1, 65504, -65504, 65505, 65519.99, -65519.99, 65520, -65520, 65536, 1e6, -1e6, 3.4e38,
  2 ** -14, -(2 ** -14), 2 ** -14 - 2 ** -25, 6e-8, -6e-8, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 5 * 2 ** -25, 1e-8, -1e-8, 1e-30, 2 ** -149,
  1 + 2 ** -11, 1 + 3 * 2 ** -11, -(1 + 2 ** -11), 2049, 2051, 4097, 4099, 1 + 2 ** -11 + 2 ** -23, 1 + 2 ** -11 - 2 ** -24, 0.1, 1 / 3, Math.PI, -Math.E, 1000.25, 1000.75,
].map(Math.fround);

/** `n` float32 values spread over every float16 exponent (and beyond it on both sides), both signs. */
export function f16SweepInputs(n: number, seed: number): Float64Array {
  const u = randomArray(n, seed, 0, 1);
  const s = randomArray(n, seed + 1, -1, 1);
  return Float64Array.from(u, (v, i) => Math.fround(Math.sign(s[i]) * 2 ** (-27 + 45 * v)));
}

/** Whether two values are the same float (NaN equals NaN, −0 differs from +0). */
export const sameFloat = (a: number, b: number): boolean => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

/** The number of elements where `got` and `want` differ (sameFloat), or the longer length when the lengths differ. */
export function disagreements(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Math.max(got.length, want.length, 1);
  let bad = 0;
  for (let i = 0; i < want.length; i++) if (!sameFloat(got[i], want[i])) bad++;
  return bad;
}

/** Records an element-exact comparison: the error is the number of disagreeing elements, the tolerance 0. */
async function exact(c: PageChecks, name: string, t: Tensor | null, want: ArrayLike<number>): Promise<void> {
  const got = t ? await t.toArray() : [];
  c.record(K, `${name} (disagreeing elements)`, [disagreements(got, want)], [0], 0);
}

/** Records whether each tensor has its dtype (error: the number that do not). */
function dtypes(c: PageChecks, name: string, pairs: [Tensor | null, DType][]): void {
  const bad = pairs.filter(([t, d]) => !t || t.dtype !== d).length;
  c.record(K, `${name}: dtypes ${pairs.map(([, d]) => d).join(', ')} (the number wrong)`, [bad], [0], 0);
}

/** A float16 tensor of `data` (float32 values, encoded on the CPU), freed after the case. */
function half(c: PageChecks, data: ArrayLike<number>, shape: Shape, grad = false): Tensor {
  const t = c.track(Tensor.fromArray(Float32Array.from(data), shape, 'f16', c.rt));
  return grad ? t.requireGrad() : t;
}

/** y = make(), back-propagated with `upstream` (float32; the graph casts it to y's dtype), in one scope. */
function forwardBackward(c: PageChecks, make: () => Tensor, upstream: ArrayLike<number>): Tensor {
  return c.track(
    tidy(() => {
      const y = make();
      y.backward(Tensor.fromArray(Float32Array.from(upstream), y.shape, 'f32', c.rt));
      return y;
    }),
  );
}

// ---- Without shader-f16.

async function refusal(c: PageChecks): Promise<void> {
  await c.run(K, "no shader-f16 on this adapter: float16 tensors are refused with an error naming 'shader-f16'", async () => {
    const attempts: [string, () => Tensor][] = [
      ['Tensor.fromArray(…, f16)', () => Tensor.fromArray([1, 2, 3], [3], 'f16', c.rt)],
      ['x.half()', () => c.t([1, 2, 3], [3]).half()],
      ['linear under autocast', () => autocast(() => linear(c.t([1, 2], [1, 2]), c.t([1, 2], [1, 2])))],
    ];
    const unclear: string[] = [];
    for (const [what, make] of attempts) {
      try {
        tidy(make);
        unclear.push(`${what} did not throw`);
      } catch (e) {
        if (!/'shader-f16'/.test((e as Error).message)) unclear.push(`${what}: ${(e as Error).message}`);
      }
    }
    c.record(K, `float16 refused without shader-f16 (attempts not refused clearly${unclear.length ? `: ${unclear.join('; ')}` : ''})`, [unclear.length], [0], 0);
  });
}

// ---- The casts.

async function castChecks(c: PageChecks): Promise<void> {
  const specials = F16_SPECIAL_INPUTS;
  const sweep = f16SweepInputs(2048, 1901);
  for (const [label, xs] of [['special values', specials], ['2048 values over every exponent', sweep]] as const) {
    const n = xs.length;
    const w = label === 'special values' ? [...specials].reverse() : f16SweepInputs(n, 1903);
    await c.run(K, `toDtype f32 → f16 (x.half()) at ${label}: y, dx`, async () => {
      const x = c.t(xs, [n], true);
      const y = forwardBackward(c, () => x.half(), w);
      dtypes(c, `x.half() ${label}`, [[y, 'f16'], [x.grad, 'f32']]);
      await exact(c, `x.half() ${label}: y = f16Round(x)`, y, f16RoundAll(xs));
      // the seed is rounded to the root's dtype (float16), the cast's backward widens it exactly
      await exact(c, `x.half() ${label}: dx = f16Round(upstream)`, x.grad, f16RoundAll(w));
    });
    await c.run(K, `toDtype f16 → f32 (x.float()) at ${label}: y, dx`, async () => {
      const x = half(c, xs, [n], true);
      const y = forwardBackward(c, () => x.float(), w);
      dtypes(c, `x.float() ${label}`, [[y, 'f32'], [x.grad, 'f16']]);
      await exact(c, `x.float() ${label}: y = f16Round(x) (exact widening)`, y, f16RoundAll(xs));
      await exact(c, `x.float() ${label}: dx = f16Round(upstream)`, x.grad, f16RoundAll(w));
    });
    await c.run(K, `roundF16 (autocast's weight rounding) at ${label}: y, dx`, async () => {
      const x = c.t(xs, [n], true);
      const y = forwardBackward(c, () => roundF16(x), w);
      dtypes(c, `roundF16 ${label}`, [[y, 'f32'], [x.grad, 'f32']]);
      await exact(c, `roundF16 ${label}: y = f16Round(x)`, y, f16RoundAll(xs));
      await exact(c, `roundF16 ${label}: dx = upstream (passed through)`, x.grad, Float32Array.from(w));
    });
  }
}

// ---- conv2d, linear, matmul under autocast.

/**
 * A few of CONV_CASES (the stem, 3×3 stride 1 and 2, 1×1 stride 2, batch 1, a 1×1 map, an odd kernel) with the
 * adapter's default algorithm, and 3×3 stride 1 with each algorithm of CONV_ALGORITHMS (Winograd's transforms
 * add float32 error of their own, which the float32 term of the tolerance must cover).
 */
const HALF_CONV_CASES: [string, string?][] = [
  ['7x7 s2 p3 (stem)'], ['3x3 s1 p1'], ['3x3 s2 p1, non-square 9x7'], ['1x1 s2 p0 (downsample)'], ['batch 1, 3x3 s1 p1'], ['3x3 s1 p1 on a 1x1 map'],
  ['odd kernel 2x3 s3 p2'], ['3x3 s1 p1, 7x8 (vec4 rows)'],
  ['3x3 s1 p1', 'im2col'], ['3x3 s1 p1', 'winograd 2x2'], ['3x3 s1 p1', 'winograd 4x4'], ['batch 1, 3x3 s1 p1', 'implicit'],
];

async function convChecks(c: PageChecks): Promise<void> {
  let seed = 1910;
  for (const [i, [name, algorithm]] of HALF_CONV_CASES.entries()) {
    const s = CONV_CASES.find(([n]) => n === name)![1];
    const opts = algorithm ? CONV_ALGORITHMS.find(([a]) => a === algorithm)![1] : undefined;
    if (opts?.algorithm === 'implicit' && !hasSubgroupMatmul(c.rt)) continue;
    const withBias = i % 2 === 0;
    // every third case gives x in float32: autocast casts it (toDtype), and its gradient comes back float32
    const xHalf = i % 3 !== 2;
    const what = `conv2d ${name}${withBias ? ' with bias' : ''} (${algorithm ?? 'default'}) under autocast, x ${xHalf ? 'f16' : 'f32 (cast)'}`;
    await c.run(K, what, async () => {
      const [OH, OW] = convOutSize(s);
      const [xs, ws, dys] = [[s.N, s.C, s.H, s.W], [s.O, s.C, s.KH, s.KW], [s.N, s.O, OH, OW]];
      const [xv, wv, dy] = [randomArray(numel(xs), seed++), randomArray(numel(ws), seed++), randomArray(numel(dys), seed++)];
      const bv = withBias ? randomArray(s.O, seed++) : null;
      const x = xHalf ? half(c, xv, xs, true) : c.t(xv, xs, true);
      const w = c.t(wv, ws, true);
      const b = bv ? c.t(bv, [s.O], true) : null;
      const y = forwardBackward(c, () => autocast(() => conv2d(x, w, b, { stride: s.stride, padding: s.pad, ...opts })), dy);
      const [x16, w16, dy16] = [f16RoundAll(xv), f16RoundAll(wv), f16RoundAll(dy)];
      const r = conv2dBackwardRef(x16, w16, dy16, s);
      dtypes(c, what, [[y, 'f16'], [x.grad, xHalf ? 'f16' : 'f32'], [w.grad, 'f32'], ...(b ? [[b.grad, 'f32'] as [Tensor | null, DType]] : [])]);
      await c.compare(K, `${what}: y`, y, conv2dRef(x16, w16, bv ? f16RoundAll(bv) : null, s), f16Tol(s.C * s.KH * s.KW + (b ? 1 : 0), 1));
      await c.compare(K, `${what}: dx`, x.grad, r.dx, f16Tol(s.O * s.KH * s.KW, 1));
      await c.compare(K, `${what}: dw (f32)`, w.grad, r.dw, f16Tol(s.N * OH * OW, 0));
      if (b) await c.compare(K, `${what}: db (f32)`, b.grad, r.db, f16Tol(s.N * OH * OW, 0));
    });
  }
}

async function linearChecks(c: PageChecks): Promise<void> {
  let seed = 1930;
  for (const [i, [N, inF, outF, withBias]] of LINEAR_CASES.entries()) {
    const xHalf = i % 2 === 0;
    const what = `linear [${N},${inF}]→[${N},${outF}]${withBias ? ' with bias' : ''} under autocast, x ${xHalf ? 'f16' : 'f32 (cast)'}`;
    await c.run(K, what, async () => {
      const [xv, wv, dy] = [randomArray(N * inF, seed++), randomArray(outF * inF, seed++), randomArray(N * outF, seed++)];
      const bv = withBias ? randomArray(outF, seed++) : null;
      const x = xHalf ? half(c, xv, [N, inF], true) : c.t(xv, [N, inF], true);
      const w = c.t(wv, [outF, inF], true);
      const b = bv ? c.t(bv, [outF], true) : null;
      const y = forwardBackward(c, () => autocast(() => linear(x, w, b)), dy);
      const [x16, w16, dy16] = [f16RoundAll(xv), f16RoundAll(wv), f16RoundAll(dy)];
      const r = linearBackwardRef(x16, w16, dy16, N, inF, outF);
      dtypes(c, what, [[y, 'f16'], [x.grad, xHalf ? 'f16' : 'f32'], [w.grad, 'f32'], ...(b ? [[b.grad, 'f32'] as [Tensor | null, DType]] : [])]);
      await c.compare(K, `${what}: y`, y, linearRef(x16, w16, bv ? f16RoundAll(bv) : null, N, inF, outF), f16Tol(inF + (b ? 1 : 0), 1));
      await c.compare(K, `${what}: dx`, x.grad, r.dx, f16Tol(outF, 1));
      await c.compare(K, `${what}: dw (f32)`, w.grad, r.dw, f16Tol(N, 0));
      if (b) await c.compare(K, `${what}: db (f32)`, b.grad, r.db, f16Tol(N, 0));
    });
  }
  for (const [M, Kd, N] of MATMUL_OP_CASES) {
    // a float16; b float32, cast to float16 by autocast (its gradient is the float16 one, widened)
    const what = `matmul [${M},${Kd}]·[${Kd},${N}] under autocast, a f16, b f32 (cast)`;
    await c.run(K, what, async () => {
      const [av, bv, g] = [randomArray(M * Kd, seed++), randomArray(Kd * N, seed++), randomArray(M * N, seed++)];
      const a = half(c, av, [M, Kd], true);
      const b = c.t(bv, [Kd, N], true);
      const y = forwardBackward(c, () => autocast(() => matmul(a, b)), g);
      const [a16, b16, g16] = [f16RoundAll(av), f16RoundAll(bv), f16RoundAll(g)];
      const r = matmulBackwardRef(a16, b16, g16, M, Kd, N);
      dtypes(c, what, [[y, 'f16'], [a.grad, 'f16'], [b.grad, 'f32']]);
      await c.compare(K, `${what}: y`, y, matmulRef(a16, b16, M, Kd, N), f16Tol(Kd, 1));
      await c.compare(K, `${what}: da`, a.grad, r.da, f16Tol(N, 1));
      await c.compare(K, `${what}: db (rounded to f16, widened)`, b.grad, r.db, f16Tol(M, 1));
    });
  }
}

// ---- Batch norm.

type BnOp = 'batchNorm' | 'batchNormRelu' | 'batchNormAddRelu';

/** [op, case name, residual dtype (batchNormAddRelu)]: training and eval, odd sizes, batch 1, vec4 planes, no affine, frozen. */
const HALF_BN_CASES: [BnOp, string, DType?][] = [
  ['batchNorm', 'training [3,5,5,3] (odd H/W)'],
  ['batchNorm', 'training batch 1 [1,5,3,3]'],
  ['batchNorm', 'training vec4 path (H·W % 4 = 0) [2,5,4,6]'],
  ['batchNorm', 'training without weight and bias [2,5,3,7]'],
  ['batchNorm', 'eval batch 1 [1,13,3,5]'],
  ['batchNorm', 'eval, weight and bias frozen (dx only) [2,5,3,7]'],
  ['batchNormRelu', 'training batch 1 [1,13,3,5]'],
  ['batchNormRelu', 'eval [2,3,7,5]'],
  ['batchNormAddRelu', 'training [2,5,7,7]', 'f16'],
  ['batchNormAddRelu', 'training batch 1, odd sizes [1,13,3,5]', 'f16'],
  ['batchNormAddRelu', 'eval [2,3,7,5]', 'f16'],
  ['batchNormAddRelu', 'training vec4 path [2,5,4,8]', 'f32'],
];

async function batchNormChecks(c: PageChecks): Promise<void> {
  const tables: Record<BnOp, [string, BatchNormCase][]> = { batchNorm: BATCHNORM_CASES, batchNormRelu: BATCHNORM_RELU_CASES, batchNormAddRelu: BATCHNORM_ADD_RELU_CASES };
  for (const [op, name, rDtype] of HALF_BN_CASES) {
    const k = tables[op].find(([n]) => n === name)![1];
    const what = `${op} ${name}, x f16${rDtype ? `, residual ${rDtype}` : ''}`;
    await c.run(K, what, async () => {
      const v = batchNormInputs(k);
      const C = k.shape[1];
      const M = k.shape[0] * k.shape[2] * k.shape[3];
      const x16 = f16RoundAll(v.x);
      const r16 = v.residual ? (rDtype === 'f16' ? f16RoundAll(v.residual) : Float64Array.from(v.residual)) : undefined;
      // a float32 result (a float32 residual) takes the upstream gradient unrounded
      const outHalf = !r16 || rDtype === 'f16';
      const dy = outHalf ? f16RoundAll(v.dy) : v.dy;
      const o = { ...batchNormRefOptions(k), residual: r16 };
      const fwd = batchNormRef(x16, k.shape, v.runningMean, v.runningVar, v.weight, v.bias, o);
      const ref = batchNormBackwardRef(dy, x16, k.shape, fwd, v.weight, o);
      const xGrad = k.xGrad ?? true;
      const affineGrad = k.affineGrad ?? true;
      const x = half(c, v.x, k.shape, xGrad);
      const w = v.weight ? c.t(v.weight, [C], affineGrad) : null;
      const b = v.bias ? c.t(v.bias, [C], affineGrad) : null;
      const rm = c.t(v.runningMean, [C]);
      const rv = c.t(v.runningVar, [C]);
      const r = v.residual ? (rDtype === 'f16' ? half(c, v.residual, k.shape, true) : c.t(v.residual, k.shape, true)) : null;
      const y = forwardBackward(
        c,
        () => (r ? batchNormAddRelu(x, r, rm, rv, w, b, k.training, k.momentum, k.eps) : (op === 'batchNormRelu' ? batchNormRelu : batchNorm)(x, rm, rv, w, b, k.training, k.momentum, k.eps)),
        v.dy,
      );
      dtypes(c, what, [[y, outHalf ? 'f16' : 'f32'], [rm, 'f32'], [rv, 'f32'], ...(xGrad ? [[x.grad, 'f16'] as [Tensor | null, DType]] : []), ...(r ? [[r.grad, rDtype!] as [Tensor | null, DType]] : [])]);
      // training: y and dx go through the batch statistics, sums over M = N·H·W; eval: elementwise
      const kx = k.training ? M : 1;
      await c.compare(K, `${what}: y`, y, fwd.y, f16Tol(kx, outHalf ? 1 : 0));
      await c.compare(K, `${what}: running mean (f32)`, rm, fwd.runningMean, f16Tol(M, 0));
      await c.compare(K, `${what}: running var (f32)`, rv, fwd.runningVar, f16Tol(M, 0));
      if (xGrad) await c.compare(K, `${what}: dx`, x.grad, ref.dx, f16Tol(kx, 1));
      if (w && affineGrad) await c.compare(K, `${what}: dweight (f32)`, w.grad, ref.dweight, f16Tol(M, 0));
      if (b && affineGrad) await c.compare(K, `${what}: dbias (f32)`, b.grad, ref.dbias, f16Tol(M, 0));
      // dy masked by y > 0: no arithmetic, so no rounding (the upstream is float16 already, or float32 throughout)
      if (r) await c.compare(K, `${what}: dresidual`, r.grad, ref.dresidual, f16Tol(1, 0));
    });
  }
}

// ---- Pooling, dropout, cross-entropy.

async function poolChecks(c: PageChecks): Promise<void> {
  let seed = 1950;
  for (const name of ['3x3 s2 p1 (ResNet) on [2,3,7,7]', '3x3 s2 p1 on [1,5,13,9] (batch 1)', '3x3 s1 p1 (overlapping windows) [1,3,5,7]', '2x3 s(1,2) p(1,0) [2,2,6,7]']) {
    const [, s, k] = MAXPOOL_CASES.find(([n]) => n === name)!;
    const what = `maxPool2d ${name}, x f16`;
    await c.run(K, what, async () => {
      const x16 = f16RoundAll(distinctArray(numel(s), seed++));
      const fwd = maxPool2dRef(x16, s, k);
      const dy = randomArray(fwd.y.length, seed++);
      const x = half(c, x16, s, true);
      const y = forwardBackward(c, () => maxPool2d(x, { kernelSize: [k.kh, k.kw], stride: [k.sh, k.sw], padding: [k.ph, k.pw] }), dy);
      dtypes(c, what, [[y, 'f16'], [x.grad, 'f16']]);
      // y picks float16 values: nothing to round. dx sums dy over the windows whose maximum an element is, one
      // scatter pass per class of disjoint windows (m = ⌈kh/sh⌉·⌈kw/sw⌉ passes), each adding in float32 and
      // storing float16: up to m roundings.
      const m = Math.ceil(k.kh / k.sh) * Math.ceil(k.kw / k.sw);
      await c.compare(K, `${what}: y (a selection, exact)`, y, fwd.y, f16Tol(1, 0));
      await c.compare(K, `${what}: dx`, x.grad, maxPool2dBackwardRef(f16RoundAll(dy), fwd, s), f16Tol(m, m));
    });
  }
  for (const name of ['[2,5,7,7] -> 1x1 (ResNet)', '[2,3,13,11] -> 3x4 (overlapping bins)', '[1,3,5,5] -> 7x7 (up-sampling bins)', '[1,2,5,9] -> 7x4 (mixed)']) {
    const [, s, size] = AVGPOOL_CASES.find(([n]) => n === name)!;
    const what = `adaptiveAvgPool2d ${name}, x f16`;
    await c.run(K, what, async () => {
      const [oh, ow] = typeof size === 'number' ? [size, size] : size;
      const [xv, dy] = [randomArray(numel(s), seed++), randomArray(s[0] * s[1] * oh * ow, seed++)];
      const x = half(c, xv, s, true);
      const y = forwardBackward(c, () => adaptiveAvgPool2d(x, size), dy);
      dtypes(c, what, [[y, 'f16'], [x.grad, 'f16']]);
      // a bin holds at most ⌈H/oh⌉+1 rows by ⌈W/ow⌉+1 columns; an input element lies in at most ⌈oh/H⌉+1 × ⌈ow/W⌉+1 bins
      const kBin = (Math.ceil(s[2] / oh) + 1) * (Math.ceil(s[3] / ow) + 1);
      const kCover = (Math.ceil(oh / s[2]) + 1) * (Math.ceil(ow / s[3]) + 1);
      await c.compare(K, `${what}: y`, y, adaptiveAvgPool2dRef(f16RoundAll(xv), s, oh, ow), f16Tol(kBin, 1));
      await c.compare(K, `${what}: dx`, x.grad, adaptiveAvgPool2dBackwardRef(f16RoundAll(dy), s, oh, ow), f16Tol(kCover, 1));
    });
  }
}

async function dropoutChecks(c: PageChecks): Promise<void> {
  let seed = 1970;
  for (const shape of DROPOUT_SHAPES) {
    const what = `dropout [${shape}] p=${DROPOUT_P} seeded, x f16`;
    await c.run(K, what, async () => {
      const n = numel(shape);
      const [xv, w] = [randomArray(n, seed++), randomArray(n, seed++)];
      const mask = dropoutMaskRef(n, DROPOUT_P, 9100 + n);
      const x = half(c, xv, shape, true);
      const y = forwardBackward(c, () => dropout(x, DROPOUT_P, true, 9100 + n), w);
      dtypes(c, what, [[y, 'f16'], [x.grad, 'f16']]);
      await c.compare(K, `${what}: y`, y, dropoutRef(f16RoundAll(xv), mask, DROPOUT_P), f16Tol(1, 1));
      await c.compare(K, `${what}: dx (same mask)`, x.grad, dropoutRef(f16RoundAll(w), mask, DROPOUT_P), f16Tol(1, 1));
    });
  }
  for (const [p, training] of [[DROPOUT_P, false], [0, true]] as const) {
    const what = `dropout p=${p} ${training ? 'training' : 'eval'} (the identity), x f16`;
    await c.run(K, what, async () => {
      const [xv, w] = [randomArray(33, seed++), randomArray(33, seed++)];
      const x = half(c, xv, [3, 11], true);
      const y = forwardBackward(c, () => dropout(x, p, training, 5), w);
      dtypes(c, what, [[y, 'f16'], [x.grad, 'f16']]);
      await exact(c, `${what}: y = x`, y, f16RoundAll(xv));
      await exact(c, `${what}: dx = f16Round(upstream)`, x.grad, f16RoundAll(w));
    });
  }
}

async function crossEntropyChecks(c: PageChecks): Promise<void> {
  let seed = 1990;
  const picked = CROSS_ENTROPY_CASES.filter(([n, cl]) => n * cl <= 7000);
  for (const [n, cl, eps, red] of picked) {
    const what = `crossEntropy N=${n} C=${cl} ε=${eps} ${red}, logits f16`;
    await c.run(K, what, async () => {
      const xv = randomArray(n * cl, seed++, -4, 4);
      const labels = randomLabels(n, cl, seed++);
      const w = randomArray(red === 'none' ? n : 1, seed++, 0.5, 2);
      const x = half(c, xv, [n, cl], true);
      const lab = c.track(Tensor.fromArray(labels, [n], 'i32', c.rt));
      const loss = forwardBackward(c, () => crossEntropy(x, lab, { labelSmoothing: eps, reduction: red }), w);
      const x16 = f16RoundAll(xv);
      const want = crossEntropyRef(x16, labels, n, cl, eps, red);
      dtypes(c, what, [[loss, 'f32'], [x.grad, 'f16']]);
      // the loss: a log-sum-exp over C per row, then (mean, sum) over N rows; the upstream stays float32 (a float32 root)
      await c.compare(K, `${what}: loss (f32)`, loss, typeof want === 'number' ? [want] : want, f16Tol(cl + (red === 'none' ? 0 : n), 0));
      await c.compare(K, `${what}: dlogits`, x.grad, crossEntropyBackwardRef(x16, labels, n, cl, eps, red, red === 'none' ? w : w[0]), f16Tol(cl, 1));
    });
  }
}

// ---- Elementwise ops.

/** Unary ops on float16 tensors: the ones ResNet uses, and ones whose backward reads the (float16) output. */
const HALF_UNARY: UnaryName[] = ['relu', 'gelu', 'sigmoid', 'exp', 'tanh', 'silu'];

async function unaryChecks(c: PageChecks): Promise<void> {
  let seed = 2010;
  for (const name of HALF_UNARY) {
    const spec = unarySpec(name);
    for (const shape of [[7], [2, 13, 3, 3]]) {
      const what = `${name} [${shape}], x f16`;
      await c.run(K, what, async () => {
        const n = numel(shape);
        const [xv, w] = [randomArray(n, seed++, -3, 3), randomArray(n, seed++)];
        const x = half(c, xv, shape, true);
        const y = forwardBackward(c, () => unaryOp(name)(x), w);
        const [x16, w16] = [f16RoundAll(xv), f16RoundAll(w)];
        const y64 = Float64Array.from(x16, (v) => spec.forward64(v, {}));
        // the backward reads the output as the op stored it: rounded to float16
        const dx64 = Float64Array.from(x16, (v, i) => spec.backward64(v, f16Round(y64[i]), w16[i], {}));
        dtypes(c, what, [[y, 'f16'], [x.grad, 'f16']]);
        // the float32 kernel's own error (TOL.elementwise, its float32 checks) plus one float16 rounding
        await c.compare(K, `${what}: y`, y, y64, f16TolOf(TOL.elementwise, 1));
        await c.compare(K, `${what}: dx`, x.grad, dx64, f16TolOf(TOL.elementwise, 1));
      });
    }
  }
  // NaN, ±inf, ±0, the top of the range, subnormals: non-finite results exactly, finite ones within one float16 step
  await c.run(K, 'unary ops at special float16 values', async () => {
    const xs = [NaN, Infinity, -Infinity, 0, -0, 65504, -65504, 11.5, -11.5, 2 ** -24, -(2 ** -24), 1, -1, 0.5];
    const x = half(c, xs, [xs.length]);
    for (const name of HALF_UNARY) {
      const spec = unarySpec(name);
      const y = c.track(unaryOp(name)(x));
      const got = await y.toArray();
      const bad = xs.filter((v, i) => {
        const want = f16Round(spec.forward64(v, {}));
        if (!Number.isFinite(want)) return !sameFloat(got[i], want);
        return !(Number.isFinite(got[i]) && Math.abs(got[i] - want) <= 2 ** -10 * Math.abs(want) + 2 ** -24);
      });
      c.record(K, `${name} at special f16 values (disagreeing elements${bad.length ? `: x = ${bad.join(', ')}` : ''})`, [bad.length], [0], 0);
    }
  });
}

async function binaryChecks(c: PageChecks): Promise<void> {
  let seed = 2030;
  for (const name of ['add', 'mul', 'sub', 'div'] as BinaryName[]) {
    for (const bDtype of ['f16', 'f32'] as const) {
      const n = 33;
      const what = `${name} [${n}] f16 ${name} ${bDtype} → ${bDtype}`;
      await c.run(K, what, async () => {
        const [av, bv0, w] = [randomArray(n, seed++), randomArray(n, seed++), randomArray(n, seed++)];
        const bv = name === 'div' ? Float64Array.from(bv0, (v) => Math.fround(Math.sign(v) * (0.5 + Math.abs(v)))) : bv0;
        const a = half(c, av, [n], true);
        const b = bDtype === 'f16' ? half(c, bv, [n], true) : c.t(bv, [n], true);
        const y = forwardBackward(c, () => binaryOp(name)(a, b), w);
        // float16 + float16 → float16 (the upstream rounded to it); float16 + float32 → float32 (the upstream kept)
        const [a16, b16] = [f16RoundAll(av), bDtype === 'f16' ? f16RoundAll(bv) : bv];
        const dy = bDtype === 'f16' ? f16RoundAll(w) : w;
        const [da, db] = binaryBackwardRef(name, a16, b16, dy);
        const out = bDtype === 'f16' ? 1 : 0;
        dtypes(c, what, [[y, bDtype], [a.grad, 'f16'], [b.grad, bDtype]]);
        await c.compare(K, `${what}: y`, y, binaryRef(name, a16, b16), f16Tol(1, out));
        await c.compare(K, `${what}: da (f16)`, a.grad, da, f16Tol(1, 1));
        await c.compare(K, `${what}: db (${bDtype})`, b.grad, db, f16Tol(1, out));
      });
    }
  }
  await c.run(K, 'mul f16 [2,13,3,3] by f16 [13,1,1] (broadcast), and by the number 2.5', async () => {
    const [sa, sb] = [[2, 13, 3, 3], [13, 1, 1]];
    const [av, bv, w] = [randomArray(numel(sa), seed++), randomArray(numel(sb), seed++), randomArray(numel(sa), seed++)];
    const a = half(c, av, sa, true);
    const b = half(c, bv, sb, true);
    const y = forwardBackward(c, () => mul(a, b), w);
    const [a16, b16, w16] = [f16RoundAll(av), f16RoundAll(bv), f16RoundAll(w)];
    const [da, db] = binaryBroadcastBackwardRef('mul', a16, sa, b16, sb, w16);
    dtypes(c, 'mul broadcast', [[y, 'f16'], [a.grad, 'f16'], [b.grad, 'f16']]);
    await c.compare(K, 'mul f16 broadcast: y', y, binaryBroadcastRef('mul', a16, sa, b16, sb).y, f16Tol(1, 1));
    await c.compare(K, 'mul f16 broadcast: da', a.grad, da, f16Tol(1, 1));
    // b's gradient sums 2·3·3 products per element
    await c.compare(K, 'mul f16 broadcast: db (summed over the broadcast dims)', b.grad, db, f16Tol(18, 1));
    const x = half(c, av, sa, true);
    const z = forwardBackward(c, () => mul(x, 2.5), w);
    dtypes(c, 'mul by a number', [[z, 'f16'], [x.grad, 'f16']]);
    await c.compare(K, 'mul f16 by 2.5: y', z, Float64Array.from(a16, (v) => v * 2.5), f16Tol(1, 1));
    await c.compare(K, 'mul f16 by 2.5: dx', x.grad, Float64Array.from(w16, (v) => v * 2.5), f16Tol(1, 1));
  });
}

// ---- Gradient accumulation.

async function accumulationChecks(c: PageChecks): Promise<void> {
  const n = 37;
  const [xv, av, bv, cv, w] = [randomArray(n, 2051), randomArray(n, 2052), randomArray(n, 2053), randomArray(n, 2054), randomArray(n, 2055)];
  const [x16, a16, b16, c16, w16] = [xv, av, bv, cv, w].map(f16RoundAll);
  await c.run(K, 'f16 gradient accumulation: u = relu(x) used twice (summed in the graph), x used twice (summed at the leaf)', async () => {
    const x = half(c, xv, [n], true);
    const [a, b, cc] = [half(c, av, [n]), half(c, bv, [n]), half(c, cv, [n])];
    forwardBackward(
      c,
      () => {
        const u = unaryOp('relu')(x);
        return add(add(mul(u, a), mul(u, b)), mul(x, cc));
      },
      w,
    );
    // each product's gradient rounded to float16, then u's sum, then the leaf's sum: three roundings, sums of ≤ 3 terms
    const want = Float64Array.from(x16, (v, i) => (v > 0 ? w16[i] * (a16[i] + b16[i]) : 0) + w16[i] * c16[i]);
    dtypes(c, 'accumulation', [[x.grad, 'f16']]);
    await c.compare(K, 'f16 accumulation: dx of u·a + u·b + x·c, u = relu(x)', x.grad, want, f16Tol(3, 3));
  });
  await c.run(K, 'f16 gradient accumulation: a second backward through the same graph (retainGraph) doubles .grad', async () => {
    const x = half(c, xv, [n], true);
    const a = half(c, av, [n]);
    const once = c.track(
      tidy(() => {
        const y = mul(x, a);
        const dy = Tensor.fromArray(Float32Array.from(w), [n], 'f32', c.rt);
        y.backward(dy, { retainGraph: true });
        const first = x.grad!.float(); // a float32 copy of the first gradient
        y.backward(dy);
        return first;
      }),
    );
    dtypes(c, 'accumulation, twice', [[x.grad, 'f16']]);
    await c.compare(K, 'f16 accumulation: dx of x·a after the first backward', once, Float64Array.from(a16, (v, i) => v * w16[i]), f16Tol(1, 1));
    // f16(g + g) = 2g exactly (below the overflow threshold)
    const g = await once.toArray();
    await exact(c, 'f16 accumulation: dx after the second backward = 2 × the first', x.grad, Float32Array.from(g, (v) => 2 * v));
  });
}

/** The float16 paths (issue 19), or without shader-f16 the one check that float16 is refused clearly. */
export const halfPageGroup: PageCheckGroup = {
  kernels: [K],
  async run(c) {
    if (!hasF16(c.rt)) {
      await refusal(c);
      return;
    }
    await castChecks(c);
    await convChecks(c);
    await linearChecks(c);
    await batchNormChecks(c);
    await poolChecks(c);
    await dropoutChecks(c);
    await crossEntropyChecks(c);
    await unaryChecks(c);
    await binaryChecks(c);
    await accumulationChecks(c);
  },
};
