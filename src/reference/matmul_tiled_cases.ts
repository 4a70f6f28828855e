/**
 * The cases every configuration of the tiled matmul kernel runs (test/matmul_tiled.test.ts and the page's group
 * src/web/gradcheck/matmul_tiled.ts): odd shapes in every transpose form, a batch, the epilogues, and the
 * convolutions whose GEMMs it serves (implicit GEMM forward, data and weight gradients; Winograd's batched
 * products; im2col's matmuls). Pure data: no GPU, no test framework.
 */
import type { ConvAlgorithmCase } from './cases';
import type { ConvShape } from './conv';

/** [M, N, K]: one element; odd sizes below one tile; several tiles along M and N with a K of 13 slabs, not a multiple of any BK. */
export const TILED_SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [33, 65, 17],
  [129, 63, 200],
];

/** A batch: 3 products with a shared A (stride 0), odd row strides; then their sum, accumulated onto C. */
export const TILED_BATCH_CASE = { batch: 3, M: 18, N: 21, K: 7 };

/** One epilogue: the product's M × N × K, the axis of scale and bias, and which parts run. */
export interface TiledEpilogueCase {
  name: string;
  M: number;
  N: number;
  K: number;
  perRow: boolean;
  scale: boolean;
  bias: boolean;
  residual: boolean;
  relu: boolean;
  accumulate: boolean;
}

export const TILED_EPILOGUE_CASES: TiledEpilogueCase[] = [
  { name: 'inference batch norm + residual + ReLU (per row)', M: 33, N: 65, K: 17, perRow: true, scale: true, bias: true, residual: true, relu: true, accumulate: false },
  { name: 'scale and bias per column, ReLU', M: 7, N: 13, K: 5, perRow: false, scale: true, bias: true, residual: false, relu: true, accumulate: false },
  { name: 'residual alone (per column bias), accumulating', M: 19, N: 70, K: 9, perRow: false, scale: false, bias: true, residual: true, relu: false, accumulate: true },
  { name: 'ReLU alone', M: 66, N: 5, K: 33, perRow: true, scale: false, bias: false, residual: false, relu: true, accumulate: false },
];

/**
 * Convolutions through the tiled kernel: 'implicit' runs its three passes in the kernel's gathers (MODE 1 for
 * the forward and the stride-1 data gradient, MODE 2 for the weight gradient; a strided data gradient runs
 * im2col's matmul), 'winograd' its batched products, 'im2col' plain matmuls.
 */
export const TILED_CONV_CASES: [string, ConvShape, ConvAlgorithmCase][] = [
  ['3x3 s1 p1, 338 pixels (several column tiles)', { N: 2, C: 3, H: 13, W: 13, O: 5, KH: 3, KW: 3, stride: 1, pad: 1 }, { algorithm: 'implicit' }],
  ['3x3 s2 p1, non-square 9x7', { N: 2, C: 4, H: 9, W: 7, O: 6, KH: 3, KW: 3, stride: 2, pad: 1 }, { algorithm: 'implicit' }],
  ['7x7 s2 p3 (stem), batch 1', { N: 1, C: 3, H: 13, W: 13, O: 5, KH: 7, KW: 7, stride: 2, pad: 3 }, { algorithm: 'implicit' }],
  ['1x1 s2 p0 (downsample)', { N: 2, C: 6, H: 7, W: 7, O: 5, KH: 1, KW: 1, stride: 2, pad: 0 }, { algorithm: 'implicit' }],
  ['3x3 s1 p1, Winograd 4x4', { N: 2, C: 5, H: 9, W: 9, O: 7, KH: 3, KW: 3, stride: 1, pad: 1 }, { algorithm: 'winograd', winogradTile: 4 }],
  ['3x3 s1 p1, Winograd 2x2', { N: 1, C: 3, H: 6, W: 5, O: 4, KH: 3, KW: 3, stride: 1, pad: 1 }, { algorithm: 'winograd', winogradTile: 2 }],
  ['3x3 s2 p1, im2col', { N: 2, C: 3, H: 24, W: 23, O: 4, KH: 3, KW: 3, stride: 2, pad: 1 }, { algorithm: 'im2col' }],
];
