/**
 * 2D convolution (NCHW, groups = 1) and its three backward passes: the public launchers. Each pass runs one of
 * three algorithms, chosen per pass and shape by choose.ts (through the kernel configuration, ../config.ts):
 *   'winograd' (winograd.ts): 3×3, stride 1, padding 1 convolutions, where it saves work;
 *   'implicit' (implicit.ts; the subgroup matmul kernel or the tiled one; the default on adapters with fixed-width
 *     subgroups and on hardware adapters): implicit GEMM. The data gradient of a strided convolution, and
 *     1×1 stride-1 convolutions (a plain matmul on the images), take the im2col path;
 *   'im2col' (im2col.ts): im2col + matmul, and col2im for the data gradient; any adapter.
 * geometry.ts holds the shapes and their checks.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import { sumAxis } from '../reduce';
import { type ConvAlgorithm, type ConvOptions, convPlan } from './choose';
import { type Conv2dGeometry, type ConvEpilogue, geometryStr } from './geometry';
import { dataIm2col, forwardIm2col, weightIm2col } from './im2col';
import { dataImplicit, forwardImplicit, weightImplicit } from './implicit';
import { winogradBackwardData, winogradBackwardWeight, winogradForward } from './winograd';

export { type Conv2dGeometry, type ConvEpilogue, conv2dGeometry, geometryStr } from './geometry';
export { type ConvAlgorithm, type ConvOptions, type ConvPass, type ConvPlan, convAlgorithm, convPlan, convShape } from './choose';
export { col2im, im2col, imagesPerTile } from './im2col';
export type { WinogradTile } from './winograd';

/**
 * y[N,O,OH,OW] = conv2d(x, w) (+ bias[O]), through an epilogue fused into the output's write where one is
 * given: y = max(scale[o]·conv + bias[o] + residual, 0) (see ConvEpilogue; a batch norm in eval mode folded in).
 * The Winograd and implicit algorithms fuse it (epilogueFuses); im2col refuses it.
 */
export function conv2dForward(rt: GpuRuntime, x: GPUBuffer, w: GPUBuffer, bias: GPUBuffer | null, y: GPUBuffer, g: Conv2dGeometry, opts: ConvOptions = {}, epi: ConvEpilogue = {}): void {
  const { algorithm, winogradTile } = convPlan(rt, g, 'forward', opts);
  if (algorithm === 'winograd') return winogradForward(rt, x, w, bias, y, g, winogradTile, opts.maxImagesPerTile, epi);
  if (algorithm === 'implicit') return forwardImplicit(rt, x, w, bias, y, g, opts, epi);
  if (Object.values(epi).some(Boolean)) throw new Error(`conv2d ${geometryStr(g)}: the im2col algorithm does not fuse an epilogue (scale, residual, relu); run the convolution, then the elementwise ops`);
  forwardIm2col(rt, x, w, bias, y, g, opts);
}

/** Whether a forward pass by `algorithm` fuses a ConvEpilogue into its output's write (conv2dForward). */
export function epilogueFuses(algorithm: ConvAlgorithm): boolean {
  return algorithm !== 'im2col';
}

/**
 * dx[N,C,H,W] = the gradient of conv2d with respect to x, given dy[N,O,OH,OW]: overwrites dx, or with
 * `accumulate` adds into it (a gradient that another use of x gave already), in the same passes.
 */
export function conv2dBackwardData(rt: GpuRuntime, dy: GPUBuffer, w: GPUBuffer, dx: GPUBuffer, g: Conv2dGeometry, opts: ConvOptions = {}, accumulate = false): void {
  const { algorithm, winogradTile } = convPlan(rt, g, 'data', opts);
  if (algorithm === 'winograd') return winogradBackwardData(rt, dy, w, dx, g, winogradTile, opts.maxImagesPerTile, accumulate);
  if (algorithm === 'implicit') return dataImplicit(rt, dy, w, dx, g, opts, accumulate);
  dataIm2col(rt, dy, w, dx, g, opts, accumulate);
}

/** dw[O,C,KH,KW] = the gradient of conv2d with respect to w, given x and dy (overwrites dw). */
export function conv2dBackwardWeight(rt: GpuRuntime, x: GPUBuffer, dy: GPUBuffer, dw: GPUBuffer, g: Conv2dGeometry, opts: ConvOptions = {}): void {
  const { algorithm, winogradTile } = convPlan(rt, g, 'weight', opts);
  if (algorithm === 'winograd') return winogradBackwardWeight(rt, x, dy, dw, g, winogradTile, opts.maxImagesPerTile);
  if (algorithm === 'implicit') return weightImplicit(rt, x, dy, dw, g, opts);
  weightIm2col(rt, x, dy, dw, g, opts);
}

/** db[O] = Σ_{n, oh, ow} dy[n, o, oh, ow] (overwrites db). */
export function conv2dBackwardBias(rt: GpuRuntime, dy: GPUBuffer, db: GPUBuffer, g: Conv2dGeometry): void {
  const hw = g.OH * g.OW;
  const perImage = rt.alloc(g.N * g.O * 4);
  sumAxis(rt, dy, perImage, g.N * g.O, hw, 1);
  sumAxis(rt, perImage, db, 1, g.N, g.O);
  rt.release(perImage);
}
