/**
 * The numerics cases of every op, in one table per op: shapes and hyper-parameters, and how a case's seeded
 * inputs are drawn where that is more than one call of randomArray. The vitest op tests (test/*.test.ts) and the
 * browser's gradient-check page (src/web/gradcheck-cases.ts) both iterate these tables, so a shape added here is
 * checked in both places. Pure data and float64 helpers: no GPU, no Node, no test framework.
 *
 * What the tables cover: odd sizes (7, 13, 33), batch 1, 1×1 spatial outputs, channel counts that are not
 * multiples of 4, and every conv and pool configuration ResNet uses (7×7 s2 p3, 3×3 s1 p1, 3×3 s2 p1, 1×1 s2 p0,
 * max pool 3×3 s2 p1); plus the sizes that reach each kernel's other code paths (vec4 rows, several tiles or
 * workgroups), named in each case.
 */
import type { ConvShape } from './conv';
import type { BnRefOptions, Nchw } from './batchnorm';
import type { MaxPoolRefWindow } from './pool';
import type { Reduction } from './loss';
import type { SgdRefOptions } from './sgd';
import { randomArray, rng } from './math';

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

// ---- Elementwise ops and reductions (add, sub, mul, scale, sum, mean).

/** Element counts of the elementwise ops (add, sub, mul, scale). */
export const ELEMENTWISE_SIZES = [1, 7, 13, 33, 1000];

/** sum and mean: a shape and the axis reduced (undefined: all of it). */
export const REDUCE_CASES: [number[], number | undefined][] = [
  [[1], undefined],
  [[7], 0],
  [[13, 33], undefined],
  [[13, 33], 0],
  [[13, 33], 1],
  [[3, 5, 7], 1],
  [[3, 5, 7], -1],
  [[2, 1000, 3], 1],
  [[65_537], undefined],
];

/** A reduction case as [outer, n, inner] around the reduced axis (sumAxisRef's layout) and the output shape. */
export function reduceLayout(shape: number[], axis: number | undefined): { outer: number; len: number; inner: number; outShape: number[] } {
  const n = numel(shape);
  if (axis === undefined) return { outer: 1, len: n, inner: 1, outShape: [] };
  const ax = axis < 0 ? axis + shape.length : axis;
  return { outer: numel(shape.slice(0, ax)), len: shape[ax], inner: numel(shape.slice(ax + 1)), outShape: shape.filter((_, i) => i !== ax) };
}

// ---- The unary ops (relu, …: kernels/elementwise/unary_ops.ts): every declared op runs every shape.

/** The unary ops' shapes: odd sizes, batch 1, and multiples of 4 (the vec4 twins: [1, 1, 1, 1] and [2, 13, 3, 3]). */
export const UNARY_SHAPES: number[][] = [[7], [1, 1, 1, 1], [2, 13, 3, 3], [1, 33, 1, 1], [5, 7, 13]];
/** relu's shapes. */
export const RELU_SHAPES = UNARY_SHAPES;
/** The references' own backwards vs finite differences: this many points per op, 0.05 away from its kinks. */
export const UNARY_FD_SIZE = 33;

/** Seeded inputs for a unary op's finite-difference check, in [lo, hi] and at least 0.05 from each kink (rounded to f32). */
export function unaryFdInputs(n: number, seed: number, kinks: readonly number[] = [], lo = -1, hi = 1): Float64Array {
  return randomArray(n, seed, lo, hi).map((v) => {
    let x = v;
    for (const k of kinks) if (Math.abs(x - k) < 0.05) x = x >= k ? k + 0.05 + (x - k) : k - 0.05 + (x - k);
    return Math.fround(x);
  });
}

// ---- The binary ops (add, sub, mul, maximum, …: kernels/elementwise/binary_ops.ts): every declared op runs every shape.

/** The binary ops' shapes: as the unary ops' (odd sizes, batch 1, and multiples of 4 for the vec4 twins). */
export const BINARY_SHAPES: number[][] = UNARY_SHAPES;
/** The references' own backwards vs finite differences: this many points per op. */
export const BINARY_FD_SIZE = 33;

/**
 * Seeded inputs a, b for a binary op's finite-difference check, in [−1, 1] (rounded to f32), with a − b at least
 * 0.05 from each kink (b moved), so that the central differences (step 1e-6, on either input) do not cross one.
 */
export function binaryFdInputs(n: number, seed: number, kinks: readonly number[] = []): [Float64Array, Float64Array] {
  const a = randomArray(n, seed).map((v) => Math.fround(v));
  const b = randomArray(n, seed + 1000).map((v, i) => {
    let d = a[i] - v;
    for (const k of kinks) if (Math.abs(d - k) < 0.05) d = d >= k ? k + 0.05 + (d - k) : k - 0.05 + (d - k);
    return Math.fround(a[i] - d);
  });
  return [a, b];
}

// ---- Matmul and linear.

/** The references' own backwards vs finite differences: matmul [M,K]·[K,N], and linear [N,inF]→[N,outF]. */
export const MATMUL_FD_CASE = { M: 3, K: 5, N: 4 };
export const LINEAR_FD_CASE = { N: 4, inF: 6, outF: 3 };

/** The matmul kernels, [M, N, K]: every kernel variant runs each (in vitest, in every transpose form). */
export const MATMUL_SIZES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 33],
  [33, 7, 1],
  [1, 17, 5],
  [9, 1, 6],
  [64, 65, 63],
  [130, 3, 70],
  [131, 133, 19],
];

/** The matmul op (autograd), [M, K, N]. */
export const MATMUL_OP_CASES: [number, number, number][] = [
  [7, 13, 33],
  [1, 5, 1],
  [33, 7, 9],
];

/** The linear op (the fc layer), [N, in, out, with bias]. */
export const LINEAR_CASES: [number, number, number, boolean][] = [
  [4, 33, 7, true],
  [1, 13, 5, true],
  [9, 7, 1, false],
  [13, 64, 10, true],
];

// ---- Convolution.

/** The conv reference's own backward vs finite differences. */
export const CONV_FD_CASES: ConvShape[] = [
  { N: 2, C: 2, H: 5, W: 4, O: 3, KH: 3, KW: 3, stride: 2, pad: 1 },
  { N: 1, C: 3, H: 4, W: 6, O: 2, KH: 2, KW: 3, stride: 1, pad: 0 },
];

/** Every convolution shape of ResNet, at small sizes, plus odd ones. */
export const CONV_CASES: [string, ConvShape][] = [
  ['7x7 s2 p3 (stem)', { N: 2, C: 3, H: 13, W: 13, O: 5, KH: 7, KW: 7, stride: 2, pad: 3 }],
  ['3x3 s1 p1', { N: 2, C: 5, H: 9, W: 9, O: 7, KH: 3, KW: 3, stride: 1, pad: 1 }],
  ['3x3 s2 p1, non-square 9x7', { N: 2, C: 4, H: 9, W: 7, O: 6, KH: 3, KW: 3, stride: 2, pad: 1 }],
  ['1x1 s2 p0 (downsample)', { N: 2, C: 6, H: 7, W: 7, O: 5, KH: 1, KW: 1, stride: 2, pad: 0 }],
  ['1x1 s1 p0 (pointwise)', { N: 2, C: 5, H: 4, W: 3, O: 3, KH: 1, KW: 1, stride: 1, pad: 0 }],
  ['batch 1, 3x3 s1 p1', { N: 1, C: 3, H: 6, W: 5, O: 4, KH: 3, KW: 3, stride: 1, pad: 1 }],
  ['3x3 s1 p1 on a 1x1 map', { N: 3, C: 6, H: 1, W: 1, O: 5, KH: 3, KW: 3, stride: 1, pad: 1 }],
  ['3x3 s1 p1, 2x3 map, 9 output channels', { N: 2, C: 4, H: 2, W: 3, O: 9, KH: 3, KW: 3, stride: 1, pad: 1 }],
  ['batch 1, 1x1 s1 p0 (pointwise)', { N: 1, C: 5, H: 3, W: 5, O: 6, KH: 1, KW: 1, stride: 1, pad: 0 }],
  ['1x1 spatial output (3x3 s2 p1 on 2x2)', { N: 3, C: 7, H: 2, W: 2, O: 9, KH: 3, KW: 3, stride: 2, pad: 1 }],
  ['odd kernel 2x3 s3 p2', { N: 2, C: 3, H: 8, W: 11, O: 5, KH: 2, KW: 3, stride: 3, pad: 2 }],
  // More than one tile of the implicit GEMM's columns: 2·13·13 = 338 pixels (forward, data gradient) and
  // 14·9 = 126 taps (weight gradient).
  ['3x3 s1 p1, 13x13', { N: 2, C: 3, H: 13, W: 13, O: 5, KH: 3, KW: 3, stride: 1, pad: 1 }],
  ['3x3 s2 p1, 14 input channels', { N: 2, C: 14, H: 7, W: 7, O: 4, KH: 3, KW: 3, stride: 2, pad: 1 }],
  // 144 output pixels per image: the im2col data gradient runs a matmul per image.
  ['3x3 s2 p1, 24x23 (per-image column matrices)', { N: 2, C: 3, H: 24, W: 23, O: 4, KH: 3, KW: 3, stride: 2, pad: 1 }],
  ['1x1 s2 p0, 23x23 (per-image column matrices)', { N: 2, C: 3, H: 23, W: 23, O: 4, KH: 1, KW: 1, stride: 2, pad: 0 }],
  // Rows of whole vec4 (W a multiple of 4): Winograd's 4×4 transforms read them as vec4, with a left and a
  // right edge tile (7x8), one tile with both edges (6x4), and a middle one (5x12).
  ['3x3 s1 p1, 7x8 (vec4 rows)', { N: 2, C: 3, H: 7, W: 8, O: 5, KH: 3, KW: 3, stride: 1, pad: 1 }],
  ['3x3 s1 p1, 6x4 (vec4 rows)', { N: 2, C: 2, H: 6, W: 4, O: 3, KH: 3, KW: 3, stride: 1, pad: 1 }],
  ['3x3 s1 p1, 5x12 (vec4 rows)', { N: 1, C: 3, H: 5, W: 12, O: 4, KH: 3, KW: 3, stride: 1, pad: 1 }],
];

/** The conv algorithm options a case runs with (a subset of conv2d's options, named here to stay pure data). */
export interface ConvAlgorithmCase {
  algorithm: 'implicit' | 'im2col' | 'winograd';
  winogradTile?: 2 | 4;
}

/**
 * Every algorithm runs every case it computes: 'implicit' (implicit GEMM in the subgroup matmul kernel; adapters
 * with fixed-width subgroups only), 'im2col' (column matrix + matmul, any adapter) and 'winograd' (the 3x3 stride-1
 * padding-1 cases), with its default tiles and with each tile size in every pass.
 */
export const CONV_ALGORITHMS: [string, ConvAlgorithmCase][] = [
  ['implicit', { algorithm: 'implicit' }],
  ['im2col', { algorithm: 'im2col' }],
  ['winograd', { algorithm: 'winograd' }],
  ['winograd 2x2', { algorithm: 'winograd', winogradTile: 2 }],
  ['winograd 4x4', { algorithm: 'winograd', winogradTile: 4 }],
];

/** Whether `algorithm` computes `shape` itself (Winograd: 3×3 stride 1 padding 1 only; the others fall back). */
export function convAlgorithmComputes(algorithm: ConvAlgorithmCase, s: ConvShape): boolean {
  return algorithm.algorithm !== 'winograd' || (s.KH === 3 && s.KW === 3 && s.stride === 1 && s.pad === 1);
}

// ---- Batch norm (alone, fused with ReLU, fused with a residual add and ReLU).

export interface BatchNormCase {
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
  /** Whether weight and bias require grad (default true; false: frozen, dx alone). */
  affineGrad?: boolean;
  /** max(bn(x) + residual, 0) through batchNormAddRelu (a seeded residual of the input's shape). */
  residual?: boolean;
}

/** A batch-norm case's seeded inputs. */
export function batchNormInputs(k: BatchNormCase) {
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

/** The reference's options for a case. */
export function batchNormRefOptions(k: BatchNormCase): BnRefOptions {
  return { training: k.training, relu: k.relu, momentum: k.momentum, eps: k.eps, residual: batchNormInputs(k).residual };
}

/** The batch-norm reference's own backward vs finite differences. */
export const BATCHNORM_FD_CASES: BatchNormCase[] = [
  { shape: [2, 3, 3, 5], seed: 11, training: true },
  { shape: [1, 5, 3, 3], seed: 12, training: true, affine: false },
  { shape: [2, 3, 3, 5], seed: 13, training: false },
  { shape: [2, 3, 3, 5], seed: 14, training: true, relu: true },
  { shape: [2, 3, 3, 5], seed: 15, training: false, relu: true },
  { shape: [2, 3, 3, 5], seed: 16, training: true, residual: true },
  { shape: [2, 3, 3, 5], seed: 17, training: false, residual: true },
];

/** batchNorm alone. */
export const BATCHNORM_CASES: [string, BatchNormCase][] = [
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
  // Frozen batch norm (fine-tuning with weight and bias frozen): dx alone.
  ['eval, weight and bias frozen (dx only) [2,5,3,7]', { shape: [2, 5, 3, 7], seed: 126, training: false, affineGrad: false }],
  ['eval vec4 path, weight and bias frozen, batch 1 [1,3,4,4]', { shape: [1, 3, 4, 4], seed: 127, training: false, affineGrad: false }],
  ['training, weight and bias frozen (dx only) [2,5,3,3]', { shape: [2, 5, 3, 3], seed: 128, training: true, affineGrad: false }],
  // A large mean (1000 + noise): a naive E[x²] − E[x]² in float32 would be off by tens of percent here.
  ['training, large mean [8,3,15,17]', { shape: [8, 3, 15, 17], seed: 120, training: true, lo: 998, hi: 1002 }],
  ['training, large mean, vec4 path [8,3,16,16]', { shape: [8, 3, 16, 16], seed: 121, training: true, lo: 998, hi: 1002 }],
];

/** batchNormRelu (fused). */
export const BATCHNORM_RELU_CASES: [string, BatchNormCase][] = [
  ['training [2,5,7,7]', { shape: [2, 5, 7, 7], seed: 130, training: true, relu: true }],
  ['training batch 1 [1,13,3,5]', { shape: [1, 13, 3, 5], seed: 131, training: true, relu: true }],
  ['training without weight and bias [2,3,5,5]', { shape: [2, 3, 5, 5], seed: 132, training: true, relu: true, affine: false }],
  ['eval [2,3,7,5]', { shape: [2, 3, 7, 5], seed: 133, training: false, relu: true }],
  ['training vec4 path [2,5,4,8]', { shape: [2, 5, 4, 8], seed: 134, training: true, relu: true }],
  ['eval vec4 path without weight and bias [2,3,4,4]', { shape: [2, 3, 4, 4], seed: 135, training: false, relu: true, affine: false }],
  ['eval, weight and bias frozen [2,13,3,5]', { shape: [2, 13, 3, 5], seed: 136, training: false, relu: true, affineGrad: false }],
];

/** batchNormAddRelu (bn + residual + relu, fused). */
export const BATCHNORM_ADD_RELU_CASES: [string, BatchNormCase][] = [
  ['training [2,5,7,7]', { shape: [2, 5, 7, 7], seed: 150, training: true, residual: true }],
  ['training vec4 path [2,5,4,8]', { shape: [2, 5, 4, 8], seed: 151, training: true, residual: true }],
  ['training batch 1, odd sizes [1,13,3,5]', { shape: [1, 13, 3, 5], seed: 152, training: true, residual: true }],
  ['training without weight and bias [2,3,5,5]', { shape: [2, 3, 5, 5], seed: 153, training: true, residual: true, affine: false }],
  ['eval [2,3,7,5]', { shape: [2, 3, 7, 5], seed: 154, training: false, residual: true }],
  ['eval vec4 path [2,3,4,4]', { shape: [2, 3, 4, 4], seed: 155, training: false, residual: true }],
  ['eval, weight and bias frozen [1,5,3,7]', { shape: [1, 5, 3, 7], seed: 156, training: false, residual: true, affineGrad: false }],
  ['training vec4 path, planes of 1⅝ chunks [3,5,4,13]', { shape: [3, 5, 4, 13], seed: 156, training: true, residual: true }],
];

// ---- Pooling.

/** A square max-pool window. */
export function poolWindow(k: number, s: number, p: number): MaxPoolRefWindow {
  return { kh: k, kw: k, sh: s, sw: s, ph: p, pw: p };
}

/** The pool references' own backwards vs finite differences. */
export const MAXPOOL_FD_CASES: [Nchw, MaxPoolRefWindow][] = [
  [[2, 3, 7, 7], poolWindow(3, 2, 1)],
  [[1, 2, 13, 9], poolWindow(3, 2, 1)],
  [[1, 2, 6, 5], { kh: 2, kw: 3, sh: 1, sw: 2, ph: 1, pw: 0 }],
];
export const AVGPOOL_FD_CASES: [Nchw, [number, number]][] = [
  [[2, 3, 5, 5], [1, 1]],
  [[1, 2, 13, 11], [3, 4]],
  [[1, 2, 5, 4], [7, 6]],
];

/** maxPool2d (inputs from distinctArray, so no two maxima are near a tie). */
export const MAXPOOL_CASES: [string, Nchw, MaxPoolRefWindow][] = [
  ['3x3 s2 p1 (ResNet) on [2,3,7,7]', [2, 3, 7, 7], poolWindow(3, 2, 1)],
  ['3x3 s2 p1 on [1,5,13,9] (batch 1)', [1, 5, 13, 9], poolWindow(3, 2, 1)],
  ['3x3 s2 p1 on [2,3,16,16]', [2, 3, 16, 16], poolWindow(3, 2, 1)],
  ['3x3 s2 p1 to a 1x1 output [2,3,2,2]', [2, 3, 2, 2], poolWindow(3, 2, 1)],
  ['2x2 s2 p0 to a 1x1 output [1,3,2,3]', [1, 3, 2, 3], poolWindow(2, 2, 0)],
  ['3x3 s1 p1 (overlapping windows) [1,3,5,7]', [1, 3, 5, 7], poolWindow(3, 1, 1)],
  ['2x3 s(1,2) p(1,0) [2,2,6,7]', [2, 2, 6, 7], { kh: 2, kw: 3, sh: 1, sw: 2, ph: 1, pw: 0 }],
];

/** adaptiveAvgPool2d: input shape and output size. */
export const AVGPOOL_CASES: [string, Nchw, number | [number, number]][] = [
  ['[2,5,7,7] -> 1x1 (ResNet)', [2, 5, 7, 7], 1],
  ['[1,3,1,1] -> 1x1', [1, 3, 1, 1], 1],
  ['[2,3,13,11] -> 3x4 (overlapping bins)', [2, 3, 13, 11], [3, 4]],
  ['[1,3,5,5] -> 7x7 (up-sampling bins)', [1, 3, 5, 5], 7],
  ['[1,2,5,9] -> 7x4 (mixed)', [1, 2, 5, 9], [7, 4]],
  ['[2,3,33,17] -> 1x1 (long bins)', [2, 3, 33, 17], [1, 1]],
];

// ---- Dropout.

/** dropout's shapes (p = DROPOUT_P, seeded), and the p of dropoutWithMask's cases. */
export const DROPOUT_SHAPES: number[][] = [[7], [1, 1, 1, 1], [2, 13, 3, 3], [33, 5]];
export const DROPOUT_P = 0.4;
export const DROPOUT_MASK_PS = [0, 0.2, 0.5, 1];

// ---- Cross-entropy.

/** The reference's own backward vs finite differences: label smoothing and reduction (N = 3, C = 7). */
export const CROSS_ENTROPY_FD_CASES: [number, Reduction][] = [
  [0, 'mean'],
  [0.1, 'mean'],
  [0.1, 'sum'],
  [0.25, 'none'],
];

/** [N, C, label smoothing, reduction]. */
export const CROSS_ENTROPY_CASES: [number, number, number, Reduction][] = [
  [1, 37, 0, 'mean'],
  [7, 37, 0, 'mean'],
  [7, 37, 0.1, 'mean'],
  [1, 1000, 0, 'mean'],
  [7, 1000, 0.1, 'mean'],
  [7, 1000, 0, 'sum'],
  [13, 37, 0.1, 'none'],
  [33, 13, 0, 'none'],
  [5, 1, 0.1, 'mean'],
  [300, 5, 0.1, 'mean'],
];

/** n seeded labels in [0, c). */
export function randomLabels(n: number, c: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * c));
}

// ---- SGD.

/** Parameter shapes, some not multiples of 4 (the vec4 and the scalar kernels). */
export const SGD_SHAPES = [[7], [13, 3], [1], [33, 5], [4, 3], [2, 2, 5, 2]];
/** The learning rate of each step (changed between steps). */
export const SGD_LRS = [0.1, 0.1, 0.05, 0.2, 0.01];

/** Every combination of momentum, dampening, weight decay and Nesterov (the invalid Nesterov ones throw). */
export const SGD_COMBOS: SgdRefOptions[] = [];
for (const momentum of [0, 0.9])
  for (const dampening of [0, 0.25])
    for (const weightDecay of [0, 0.01])
      for (const nesterov of [false, true]) SGD_COMBOS.push({ lr: SGD_LRS[0], momentum, dampening, weightDecay, nesterov });

/** Whether torch.optim.SGD accepts the options (Nesterov needs a momentum and zero dampening). */
export const sgdValid = (o: SgdRefOptions): boolean => !o.nesterov || ((o.momentum ?? 0) > 0 && (o.dampening ?? 0) === 0);

/** Seeded initial values of the SGD_SHAPES parameters. */
export function sgdParams(seed: number): Float64Array[] {
  return SGD_SHAPES.map((s, i) => randomArray(numel(s), seed + i));
}

/** Gradients for one step; parameter 2 has none on steps 0 and 2 (skipped, and its buffer starts on step 1). */
export function sgdStepGrads(step: number): (Float64Array | null)[] {
  return SGD_SHAPES.map((s, i) => (i === 2 && step % 2 === 0 ? null : randomArray(numel(s), 1000 * step + i, -2, 2)));
}
