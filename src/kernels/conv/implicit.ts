/**
 * The implicit-GEMM algorithm: a packed matmul kernel gathers the convolution's taps itself (MODE 1 and 2 of
 * matmul_subgroup.wgsl and matmul_tiled.wgsl, through a ConvGather), so no column matrix is written or read.
 * The kernel is a choice of the 'matmul' site (packedKernel: the subgroup kernel on adapters with fixed-width
 * subgroups, else a tiled configuration), at shape 'MxNxK implicit.<pass> <geometry>'.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import { windowBinding } from '../util';
import type { ConvGather, PackedKernel } from '../matmul/common';
import { packOperand, releaseOperands, withPackedOperand } from '../matmul/pack';
import { packedKernel, packedShape, packedTile, runPackedKernel } from '../matmul';
import { sumAxis } from '../reduce';
import { type Conv2dGeometry, type ConvEpilogue, geometryStr } from './geometry';
import type { ConvOptions } from './choose';

/**
 * Run fn over batch tiles whose image bindings (x, y, and `scratchPerImage` bytes of packed operand per
 * image) fit maxStorageBufferBindingSize: no column matrix, so the whole batch is usually one tile.
 */
function forEachImageTile(rt: GpuRuntime, g: Conv2dGeometry, opts: ConvOptions, scratchPerImage: number, fn: (n0: number, nb: number) => void): void {
  const maxBind = rt.limits.maxStorageBufferBindingSize;
  const perImage = Math.max(g.C * g.H * g.W * 4, g.O * g.OH * g.OW * 4, scratchPerImage);
  const tile = Math.min(g.N, Math.floor(maxBind / perImage), opts.maxImagesPerTile ?? Infinity);
  if (tile < 1) throw new Error(`conv2d ${geometryStr(g)}: one image (${perImage} bytes) does not fit a ${maxBind}-byte binding`);
  for (let n0 = 0; n0 < g.N; n0 += tile) fn(n0, Math.min(tile, g.N - n0));
}

/** The packed kernel of an implicit GEMM of M × N × K (`pass`: forward, data, weight). */
function gatherKernel(rt: GpuRuntime, g: Conv2dGeometry, pass: string, M: number, N: number, K: number): PackedKernel {
  return packedKernel(rt, packedShape(M, N, K, `implicit.${pass} ${geometryStr(g)}`), M, N, 1, true);
}

/** Images n0..n0+nb of a batch of `imageSize`-float images, as the kernel's gathered Y. */
function images(rt: GpuRuntime, buf: GPUBuffer, imageSize: number, n0: number, nb: number): ConvGather['images'] {
  const w = windowBinding(rt, buf, n0 * imageSize, nb * imageSize);
  return { binding: w.binding, offset: w.shift };
}

/**
 * Forward: Y_n[O, OH·OW] = W[O, (c, ki, kj)] · taps of x_n, with X = Wᵀ packed once; the images side by side as
 * columns. The epilogue runs in the kernel's stores (per output channel: per row).
 */
export function forwardImplicit(rt: GpuRuntime, x: GPUBuffer, w: GPUBuffer, bias: GPUBuffer | null, y: GPUBuffer, g: Conv2dGeometry, opts: ConvOptions, epi: ConvEpilogue = {}): void {
  const taps = g.C * g.KH * g.KW;
  const hw = g.OH * g.OW;
  // Wᵀ is packed once per evaluation, not once per batch (withPackedOperand).
  withPackedOperand(rt, w, taps, g.O, taps, true, 1, 0, 'W', (X) => forEachImageTile(rt, g, opts, 0, (n0, nb) => {
    runPackedKernel(rt, {
      kernel: gatherKernel(rt, g, 'forward', g.O, nb * hw, taps),
      op: `conv2dFwd[${geometryStr(g)} images ${n0}+${nb}]`,
      M: g.O,
      N: nb * hw,
      K: taps,
      batch: 1,
      reduce: false,
      accumulate: epi.accumulate ?? false,
      x: X,
      y: { mode: 1, images: images(rt, x, g.C * g.H * g.W, n0, nb), imageStride: g.C * g.H * g.W, inH: g.H, inW: g.W, KH: g.KH, KW: g.KW, gridW: g.OW, rowMul: g.stride, rowAdd: -g.pad, kSign: 1, colsPerImage: hw },
      c: { buffer: y, offset: n0 * g.O * hw, ld: hw, stride: g.O * hw },
      bias,
      biasPerRow: true,
      epilogue: { scale: epi.scale ?? null, residual: epi.residual ? { buffer: epi.residual, offset: n0 * g.O * hw } : null, relu: epi.relu },
    });
  }));
}

/**
 * Data gradient at stride 1, as the convolution of dy with the flipped kernel:
 * dx_n[C, H·W] (+)= Wᵀ[C, (o, ki, kj)] · taps of dy_n at (h + pad − ki, w + pad − kj), X = W packed as [(o, ki, kj), c].
 */
export function dataImplicit(rt: GpuRuntime, dy: GPUBuffer, w: GPUBuffer, dx: GPUBuffer, g: Conv2dGeometry, opts: ConvOptions, accumulate = false): void {
  const T = g.KH * g.KW;
  const hwIn = g.H * g.W;
  const X = { ...packOperand(rt, w, T, g.C, T, true, g.O, g.C * T, 'W'), stride4: 0 }; // one [O·T, C] matrix
  forEachImageTile(rt, g, opts, 0, (n0, nb) => {
    runPackedKernel(rt, {
      kernel: gatherKernel(rt, g, 'data', g.C, nb * hwIn, g.O * T),
      op: `conv2dDx[${geometryStr(g)} images ${n0}+${nb}]`,
      M: g.C,
      N: nb * hwIn,
      K: g.O * T,
      batch: 1,
      reduce: false,
      accumulate,
      x: X,
      y: { mode: 1, images: images(rt, dy, g.O * g.OH * g.OW, n0, nb), imageStride: g.O * g.OH * g.OW, inH: g.OH, inW: g.OW, KH: g.KH, KW: g.KW, gridW: g.W, rowMul: 1, rowAdd: g.pad, kSign: -1, colsPerImage: hwIn },
      c: { buffer: dx, offset: n0 * g.C * hwIn, ld: hwIn, stride: g.C * hwIn },
      bias: null,
      biasPerRow: false,
    });
  });
  releaseOperands(rt, X);
}

/**
 * The implicit weight gradient's workgroups to aim for: a dW of fewer tiles (the kernel's: 32 × 32 for the
 * subgroup one) splits its sum over the images into partial sums, added afterwards (sumAxis), so that a few
 * long workgroups (ResNet's 1×1 downsamples) do not leave cores idle, above all with a core busy elsewhere.
 * (History: docs/benchmarks.md.)
 */
const WEIGHT_GRADIENT_WORKGROUPS = 128;

/** Weight gradient: dW[O, (c, ki, kj)] = Σ_n dy_n[O, OH·OW] · (taps of x_n)ᵀ, with X = dy_nᵀ packed per tile. */
export function weightImplicit(rt: GpuRuntime, x: GPUBuffer, dy: GPUBuffer, dw: GPUBuffer, g: Conv2dGeometry, opts: ConvOptions): void {
  const taps = g.C * g.KH * g.KW;
  const hw = g.OH * g.OW;
  forEachImageTile(rt, g, opts, hw * Math.ceil(g.O / 4) * 16, (n0, nb) => {
    const kernel = gatherKernel(rt, g, 'weight', g.O, taps, hw);
    const [tm, tn] = packedTile(rt, kernel);
    const tiles = Math.ceil(g.O / tm) * Math.ceil(taps / tn);
    const asked = Math.max(1, Math.min(nb, opts.weightSumGroups ?? Math.ceil(WEIGHT_GRADIENT_WORKGROUPS / tiles)));
    const termsPerSum = Math.ceil(nb / asked);
    const groups = Math.ceil(nb / termsPerSum); // 4 asked for 5 images: sums of 2, 2 and 1
    const size = g.O * taps;
    // Split: partial sums [groups, O, taps] (and dW's old value after them, when accumulating), then summed.
    const partial = groups > 1 ? rt.alloc((groups + Number(n0 > 0)) * size * 4) : null;
    if (partial && n0 > 0) rt.copy(dw, 0, partial, groups * size * 4, size * 4, 'conv2dDw-accumulate');
    const X = packOperand(rt, { buffer: dy, offset: n0 * g.O * hw }, hw, g.O, hw, true, nb, g.O * hw, 'dY');
    runPackedKernel(rt, {
      kernel,
      op: `conv2dDw[${geometryStr(g)} images ${n0}+${nb}${groups > 1 ? ` in ${groups} sums` : ''}]`,
      M: g.O,
      N: taps,
      K: hw,
      batch: nb,
      reduce: true,
      termsPerSum,
      accumulate: !partial && n0 > 0,
      x: X,
      y: { mode: 2, images: images(rt, x, g.C * g.H * g.W, n0, nb), imageStride: g.C * g.H * g.W, inH: g.H, inW: g.W, KH: g.KH, KW: g.KW, gridW: g.OW, rowMul: g.stride, rowAdd: -g.pad, kSign: 1 },
      c: { buffer: partial ?? dw, offset: 0, ld: taps, stride: size },
      bias: null,
      biasPerRow: false,
    });
    releaseOperands(rt, X);
    if (partial) {
      sumAxis(rt, partial, dw, 1, groups + Number(n0 > 0), size);
      rt.release(partial);
    }
  });
}
