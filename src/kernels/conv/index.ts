/**
 * 2D convolution (NCHW, groups = 1) and its three backward passes, by one of two algorithms:
 *   'implicit' (adapters with 8-lane subgroups, the default there): implicit GEMM, the subgroup matmul kernel
 *     gathering the convolution's taps itself (shaders/matmul_subgroup.wgsl, MODE 1 and 2), so no column
 *     matrix is written or read. The data gradient of a strided convolution, and 1×1 stride-1 convolutions
 *     (a plain matmul on the images), take the im2col path.
 *   'im2col': im2col (shaders/im2col.wgsl) + matmul, and col2im for the data gradient. Work is done a batch
 *     tile at a time, so that one tile's column matrix fits `maxColumnBytes` (default: the adapter's
 *     maxStorageBufferBindingSize); the column buffer is reused across tiles. The tile's images sit side by
 *     side in the columns, so each pass is one wide matmul however small the images (one per image left
 *     the 2×2 maps of a 64-pixel ResNet filling 4 of a tile's 64 columns); the outputs and dy are moved
 *     between that layout and NCHW by an axis swap.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import shader from './im2col.wgsl';
import { Params } from '../util';
import { matmul, windowBinding } from '../matmul';
import { type ConvGather, hasSubgroupMatmul, packOperand, releaseOperands, runSubgroupKernel } from '../matmul/subgroup';
import { sumAxis } from '../reduce';
import { type WinogradTile, winogradApplies, winogradBackwardData, winogradBackwardWeight, winogradFits, winogradForward, winogradPays } from './winograd';

export interface Conv2dGeometry {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  KH: number;
  KW: number;
  stride: number;
  pad: number;
  OH: number;
  OW: number;
}

export type ConvAlgorithm = 'implicit' | 'im2col' | 'winograd';

export interface ConvOptions {
  /** Largest column buffer (bytes) to allocate; the batch is tiled to fit. Default: maxStorageBufferBindingSize. */
  maxColumnBytes?: number;
  /** Force an algorithm (see the top of this file). Default: 'implicit' where hasSubgroupMatmul(rt), else 'im2col'. */
  algorithm?: ConvAlgorithm;
  /** At most this many images per batch tile (every algorithm; tests, memory control). Default: as many as fit. */
  maxImagesPerTile?: number;
  /** Winograd's output tile: 2 (F(2×2, 3×3)) or 4 (F(4×4, 3×3)). Default: rt.winogradTile (4) for the forward pass, rt.winogradBackwardTile (4) for the gradients. */
  winogradTile?: WinogradTile;
  /**
   * Implicit-GEMM weight gradient: split the sum over a tile's images into this many partial sums, added
   * afterwards. Default: enough for WEIGHT_GRADIENT_WORKGROUPS workgroups (1 where dW has that many tiles).
   */
  weightSumGroups?: number;
}

/** The geometry of conv2d(x[N,C,H,W], w[O,C,KH,KW], stride, pad), with checks. */
export function conv2dGeometry(x: readonly number[], w: readonly number[], stride: number, pad: number): Conv2dGeometry {
  const str = `conv2d(x [${x.join(', ')}], w [${w.join(', ')}], stride ${stride}, padding ${pad})`;
  if (x.length !== 4 || w.length !== 4) throw new Error(`${str}: x must be [N,C,H,W] and w [O,C,kh,kw]`);
  const [N, C, H, W] = x;
  const [O, Cw, KH, KW] = w;
  if (Cw !== C) throw new Error(`${str}: the weight has ${Cw} input channels, the input ${C} (groups are not supported)`);
  if (!Number.isInteger(stride) || stride < 1 || !Number.isInteger(pad) || pad < 0) throw new Error(`${str}: stride must be ≥ 1 and padding ≥ 0 (integers)`);
  const OH = Math.floor((H + 2 * pad - KH) / stride) + 1;
  const OW = Math.floor((W + 2 * pad - KW) / stride) + 1;
  if (OH < 1 || OW < 1 || KH < 1 || KW < 1) throw new Error(`${str}: the output would be empty (${OH}x${OW})`);
  return { N, C, H, W, O, KH, KW, stride, pad, OH, OW };
}

export function geometryStr(g: Conv2dGeometry): string {
  return `${g.N}x${g.C}x${g.H}x${g.W}->${g.O} k${g.KH}x${g.KW} s${g.stride} p${g.pad}`;
}

/** A 1×1, stride 1, unpadded convolution: the column matrix of an image is the image itself. */
function isPointwise(g: Conv2dGeometry): boolean {
  return g.KH === 1 && g.KW === 1 && g.stride === 1 && g.pad === 0;
}

/** Images per batch tile: the column buffer and every per-tile binding must fit their limits. */
export function imagesPerTile(rt: GpuRuntime, g: Conv2dGeometry, opts: ConvOptions = {}): number {
  const maxBind = rt.limits.maxStorageBufferBindingSize;
  const maxCols = Math.min(opts.maxColumnBytes ?? maxBind, maxBind);
  const colBytes = g.C * g.KH * g.KW * g.OH * g.OW * 4;
  let n = Math.min(g.N, Math.floor(maxBind / (g.C * g.H * g.W * 4)), Math.floor(maxBind / (g.O * g.OH * g.OW * 4)), Math.floor(maxCols / colBytes));
  if (opts.maxImagesPerTile) n = Math.min(n, opts.maxImagesPerTile);
  if (n < 1) throw new Error(`conv2d ${geometryStr(g)}: one image's column matrix (${colBytes} bytes) or tensor does not fit ${maxCols} bytes (spatial tiling is not implemented)`);
  return n;
}

/** Run fn(n0, nb, cols) over batch tiles, with a column buffer for a tile's images (reused by every tile). */
function forEachTile(rt: GpuRuntime, g: Conv2dGeometry, opts: ConvOptions, fn: (n0: number, nb: number, cols: GPUBuffer) => void): void {
  const tile = imagesPerTile(rt, g, opts);
  const cols = rt.alloc(tile * g.C * g.KH * g.KW * g.OH * g.OW * 4);
  try {
    for (let n0 = 0; n0 < g.N; n0 += tile) fn(n0, Math.min(tile, g.N - n0), cols);
  } finally {
    rt.release(cols); // later users of this buffer are encoded after these dispatches
  }
}

/** Output pixels per image from which the im2col data gradient runs one matmul per image (see conv2dBackwardData). */
const PER_IMAGE_PIXELS = 128;
const BLOCK = 8; // BW = BH in im2col.wgsl: a workgroup is an 8×8 block of pixels of one channel
/** Rows of pixels per col2im thread (the ROWS override): 4 cut the 1×1/2 data gradient's col2im (batch 8, 56²) from 37 ms to 16 ms on lavapipe. */
const COL2IM_ROWS = 4;

/** perImage: the column matrix is one [C·KH·KW, OH·OW] matrix per image, not the images side by side. */
function colsParams(g: Conv2dGeometry, blocksX: number, offSrc: number, offDst: number, nb: number, perImage = false): Uint8Array {
  const hw = g.OH * g.OW;
  return new Params()
    .u32(g.C).u32(g.H).u32(g.W).u32(g.KH)
    .u32(g.KW).u32(g.stride).u32(g.pad).u32(g.OH)
    .u32(g.OW).u32(blocksX).u32(offSrc).u32(offDst)
    .u32(perImage ? hw : nb * hw).u32(perImage ? g.C * g.KH * g.KW * hw : hw)
    .bytes();
}

/** Workgroups over [rows, cols] pixel blocks × channels × images. */
function pixelGrid(rows: number, cols: number, g: Conv2dGeometry, images: number, rowsPerThread = 1): { blocksX: number; workgroups: [number, number, number] } {
  const blocksX = Math.ceil(cols / BLOCK);
  return { blocksX, workgroups: [blocksX * Math.ceil(rows / (BLOCK * rowsPerThread)), g.C, images] };
}

/** cols = im2col of images n0..n0+nb of x: [C·KH·KW, nb·OH·OW], the images side by side (see shaders/im2col.wgsl). */
export function im2col(rt: GpuRuntime, x: GPUBuffer, cols: GPUBuffer, g: Conv2dGeometry, n0 = 0, nb = g.N): void {
  const imageSize = g.C * g.H * g.W;
  const src = windowBinding(rt, x, n0 * imageSize, nb * imageSize);
  const dst = windowBinding(rt, cols, 0, nb * g.C * g.KH * g.KW * g.OH * g.OW);
  const grid = pixelGrid(g.OH, g.OW, g, nb);
  rt.dispatch({
    op: `im2col[${geometryStr(g)} images ${n0}+${nb}]`,
    shader,
    entry: 'im2col',
    uniforms: colsParams(g, grid.blocksX, src.shift, 0, nb),
    bindings: [src.binding, dst.binding],
    workgroups: grid.workgroups,
  });
}

/**
 * Images n0..n0+nb of dx = col2im of dcols ([C·KH·KW, nb·OH·OW], as im2col writes it, or with perImage one
 * [C·KH·KW, OH·OW] matrix per image; overwrites).
 */
export function col2im(rt: GpuRuntime, dcols: GPUBuffer, dx: GPUBuffer, g: Conv2dGeometry, n0 = 0, nb = g.N, perImage = false): void {
  const imageSize = g.C * g.H * g.W;
  if (isPointwise(g)) {
    if (perImage) throw new Error(`col2im ${geometryStr(g)}: a pointwise convolution's columns are not per image`);
    // The column matrix is the images with their first two axes swapped.
    swapAxes01(rt, dcols, 0, dx, n0 * imageSize, g.C, nb, g.H * g.W, `col2im ${geometryStr(g)}`);
    return;
  }
  const src = windowBinding(rt, dcols, 0, nb * g.C * g.KH * g.KW * g.OH * g.OW);
  const dst = windowBinding(rt, dx, n0 * imageSize, nb * imageSize);
  if (g.KH === 1 && g.KW === 1 && g.pad === 0) {
    // One tap per input pixel at most: zero this tile of dx, then scatter the taps to their pixels.
    rt.clear(dx, n0 * imageSize * 4, nb * imageSize * 4, `col2im-clear[${geometryStr(g)}]`);
    const grid = pixelGrid(g.OH, g.OW, g, nb);
    rt.dispatch({
      op: `col2im[${geometryStr(g)} images ${n0}+${nb}]`,
      shader,
      entry: 'scatter_1x1',
      uniforms: colsParams(g, grid.blocksX, 0, dst.shift, nb, perImage),
      bindings: [src.binding, dst.binding],
      workgroups: grid.workgroups,
    });
    return;
  }
  const grid = pixelGrid(g.H, g.W, g, nb, COL2IM_ROWS);
  rt.dispatch({
    op: `col2im[${geometryStr(g)} images ${n0}+${nb}]`,
    shader,
    entry: 'col2im',
    constants: { ROWS: COL2IM_ROWS },
    uniforms: colsParams(g, grid.blocksX, 0, dst.shift, nb, perImage),
    bindings: [src.binding, dst.binding],
    workgroups: grid.workgroups,
  });
}

/** The column matrix of images n0..n0+nb: im2col into `cols`, or for one image of a pointwise convolution, x itself. */
function columns(rt: GpuRuntime, x: GPUBuffer, cols: GPUBuffer, g: Conv2dGeometry, n0: number, nb: number): GPUBuffer | { buffer: GPUBuffer; offset: number } {
  if (isPointwise(g) && nb === 1) return { buffer: x, offset: n0 * g.C * g.H * g.W };
  im2col(rt, x, cols, g, n0, nb);
  return cols;
}

/** dst[b, a, s] = src[a, b, s] for a < A, b < B, s < S (element offsets into the buffers; no overlap). */
function swapAxes01(rt: GpuRuntime, src: GPUBuffer, offSrc: number, dst: GPUBuffer, offDst: number, A: number, B: number, S: number, name: string): void {
  const n = A * B * S;
  const s = windowBinding(rt, src, offSrc, n);
  const d = windowBinding(rt, dst, offDst, n);
  rt.dispatch({
    op: `swap-axes[${name} ${A}x${B}x${S}]`,
    shader,
    entry: 'swap01',
    uniforms: new Params()
      .u32(A).u32(B).u32(S).u32(0)
      .u32(0).u32(0).u32(0).u32(0)
      .u32(0).u32(0).u32(s.shift).u32(d.shift)
      .u32(0)
      .bytes(),
    bindings: [s.binding, d.binding],
    workgroups: [Math.ceil(S / (BLOCK * BLOCK)), A, B],
  });
}

/**
 * dy of images n0..n0+nb as [O, nb·OH·OW] (the layout of the column matrix's columns): a buffer to release
 * when one was made (nb > 1), or dy itself when the tile is one image.
 */
function gradientColumns(rt: GpuRuntime, dy: GPUBuffer, g: Conv2dGeometry, n0: number, nb: number): { mat: { buffer: GPUBuffer; offset: number }; scratch: GPUBuffer | null } {
  const hw = g.OH * g.OW;
  if (nb === 1) return { mat: { buffer: dy, offset: n0 * g.O * hw }, scratch: null };
  const scratch = rt.alloc(nb * g.O * hw * 4);
  swapAxes01(rt, dy, n0 * g.O * hw, scratch, 0, nb, g.O, hw, `dy ${geometryStr(g)}`);
  return { mat: { buffer: scratch, offset: 0 }, scratch };
}

/**
 * The Winograd output tile of a pass: the call's choice, else the runtime's (4×4 in every pass by default; see
 * GpuRuntime.winogradTile for what 2×2 tiles in the forward pass change).
 */
function winogradTileFor(rt: GpuRuntime, pass: 'forward' | 'data' | 'weight', opts: ConvOptions): WinogradTile {
  return opts.winogradTile ?? (pass === 'forward' ? rt.winogradTile : rt.winogradBackwardTile);
}

/** The algorithm a pass runs with (see the top of this file). */
export function convAlgorithm(rt: GpuRuntime, g: Conv2dGeometry, pass: 'forward' | 'data' | 'weight', opts: ConvOptions = {}): ConvAlgorithm {
  const available = hasSubgroupMatmul(rt);
  // Winograd where it computes the shape and one image's transformed tiles fit a binding; by default only
  // where it also saves work (not on the tiniest maps).
  const tile = winogradTileFor(rt, pass, opts);
  const winograd = winogradApplies(g) && winogradFits(rt, g, tile);
  const chosen = opts.algorithm ?? (winograd && winogradPays(g, tile) ? 'winograd' : available ? 'implicit' : 'im2col');
  if (chosen === 'implicit' && !available) throw new Error(`conv2d ${geometryStr(g)}: the implicit algorithm needs the subgroups feature with 8-lane subgroups`);
  if (chosen === 'winograd') {
    if (winograd) return 'winograd';
    return convAlgorithm(rt, g, pass, { ...opts, algorithm: available ? 'implicit' : 'im2col' });
  }
  if (chosen === 'im2col' || isPointwise(g) || (pass === 'data' && g.stride !== 1)) return 'im2col';
  return 'implicit';
}

/** y[N,O,OH,OW] = conv2d(x, w) (+ bias[O]). */
export function conv2dForward(rt: GpuRuntime, x: GPUBuffer, w: GPUBuffer, bias: GPUBuffer | null, y: GPUBuffer, g: Conv2dGeometry, opts: ConvOptions = {}): void {
  const algorithm = convAlgorithm(rt, g, 'forward', opts);
  if (algorithm === 'winograd') return winogradForward(rt, x, w, bias, y, g, winogradTileFor(rt, 'forward', opts), opts.maxImagesPerTile);
  if (algorithm === 'implicit') return forwardImplicit(rt, x, w, bias, y, g, opts);
  const taps = g.C * g.KH * g.KW;
  const hw = g.OH * g.OW;
  forEachTile(rt, g, opts, (n0, nb, cols) => {
    // Y'[O, nb·hw] = W[O, taps] · cols[taps, nb·hw]; then Y' → NCHW (a single image is already NCHW).
    const colsMat = columns(rt, x, cols, g, n0, nb);
    const out = nb === 1 ? null : rt.alloc(nb * g.O * hw * 4);
    matmul(rt, w, colsMat, out ?? { buffer: y, offset: n0 * g.O * hw }, g.O, nb * hw, taps, { bias, biasPer: 'row' });
    if (out) {
      swapAxes01(rt, out, 0, y, n0 * g.O * hw, g.O, nb, hw, `y ${geometryStr(g)}`);
      rt.release(out);
    }
  });
}

/** dx[N,C,H,W] = the gradient of conv2d with respect to x, given dy[N,O,OH,OW] (overwrites dx). */
export function conv2dBackwardData(rt: GpuRuntime, dy: GPUBuffer, w: GPUBuffer, dx: GPUBuffer, g: Conv2dGeometry, opts: ConvOptions = {}): void {
  const algorithm = convAlgorithm(rt, g, 'data', opts);
  if (algorithm === 'winograd') return winogradBackwardData(rt, dy, w, dx, g, winogradTileFor(rt, 'data', opts), opts.maxImagesPerTile);
  if (algorithm === 'implicit') return dataImplicit(rt, dy, w, dx, g, opts);
  const taps = g.C * g.KH * g.KW;
  const hw = g.OH * g.OW;
  // Images of at least PER_IMAGE_PIXELS outputs fill the matmul's tiles alone: one matmul per image, straight
  // from NCHW dy, saves turning dy into [O, nb·hw] first (pointwise stride-1 convolutions excepted: their
  // column matrix is dx with its axes swapped).
  const perImage = hw >= PER_IMAGE_PIXELS && !isPointwise(g);
  forEachTile(rt, g, opts, (n0, nb, dcols) => {
    if (perImage) {
      // dcols[n][taps, hw] = Wᵀ[taps, O] · dY_n[O, hw] for each image n of the tile.
      matmul(rt, w, { buffer: dy, offset: n0 * g.O * hw }, dcols, taps, hw, g.O, { transA: true, batch: nb, strideA: 0, strideB: g.O * hw, strideC: taps * hw });
    } else {
      // dcols[taps, nb·hw] = Wᵀ[taps, O] · dY'[O, nb·hw].
      const dyCols = gradientColumns(rt, dy, g, n0, nb);
      matmul(rt, w, dyCols.mat, dcols, taps, nb * hw, g.O, { transA: true });
      if (dyCols.scratch) rt.release(dyCols.scratch);
    }
    // Then each pixel gathers its taps' entries.
    col2im(rt, dcols, dx, g, n0, nb, perImage);
  });
}

/** dw[O,C,KH,KW] = the gradient of conv2d with respect to w: dY'[O, N·hw] · colsᵀ, a batch tile at a time (overwrites dw). */
export function conv2dBackwardWeight(rt: GpuRuntime, x: GPUBuffer, dy: GPUBuffer, dw: GPUBuffer, g: Conv2dGeometry, opts: ConvOptions = {}): void {
  const algorithm = convAlgorithm(rt, g, 'weight', opts);
  if (algorithm === 'winograd') return winogradBackwardWeight(rt, x, dy, dw, g, winogradTileFor(rt, 'weight', opts), opts.maxImagesPerTile);
  if (algorithm === 'implicit') return weightImplicit(rt, x, dy, dw, g, opts);
  const taps = g.C * g.KH * g.KW;
  const hw = g.OH * g.OW;
  forEachTile(rt, g, opts, (n0, nb, cols) => {
    const colsMat = columns(rt, x, cols, g, n0, nb);
    // dW[O, taps] (+)= dY'[O, nb·hw] · cols[taps, nb·hw]ᵀ: the first tile writes, later ones add.
    const dyCols = gradientColumns(rt, dy, g, n0, nb);
    matmul(rt, dyCols.mat, colsMat, dw, g.O, taps, nb * hw, { transB: true, accumulate: n0 > 0 });
    if (dyCols.scratch) rt.release(dyCols.scratch);
  });
}

// ---------------------------------------------------------------- implicit GEMM (subgroup kernel)

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

/** Images n0..n0+nb of a batch of `imageSize`-float images, as the kernel's gathered Y. */
function images(rt: GpuRuntime, buf: GPUBuffer, imageSize: number, n0: number, nb: number): ConvGather['images'] {
  const w = windowBinding(rt, buf, n0 * imageSize, nb * imageSize);
  return { binding: w.binding, offset: w.shift };
}

/** Forward: Y_n[O, OH·OW] = W[O, (c, ki, kj)] · taps of x_n, with X = Wᵀ packed once; the images side by side as columns. */
function forwardImplicit(rt: GpuRuntime, x: GPUBuffer, w: GPUBuffer, bias: GPUBuffer | null, y: GPUBuffer, g: Conv2dGeometry, opts: ConvOptions): void {
  const taps = g.C * g.KH * g.KW;
  const hw = g.OH * g.OW;
  const X = packOperand(rt, w, taps, g.O, taps, true, 1, 0, 'W');
  forEachImageTile(rt, g, opts, 0, (n0, nb) => {
    runSubgroupKernel(rt, {
      op: `conv2dFwd[${geometryStr(g)} images ${n0}+${nb}]`,
      M: g.O,
      N: nb * hw,
      K: taps,
      batch: 1,
      reduce: false,
      accumulate: false,
      x: X,
      y: { mode: 1, images: images(rt, x, g.C * g.H * g.W, n0, nb), imageStride: g.C * g.H * g.W, inH: g.H, inW: g.W, KH: g.KH, KW: g.KW, gridW: g.OW, rowMul: g.stride, rowAdd: -g.pad, kSign: 1, colsPerImage: hw },
      c: { buffer: y, offset: n0 * g.O * hw, ld: hw, stride: g.O * hw },
      bias,
      biasPerRow: true,
    });
  });
  releaseOperands(rt, X);
}

/**
 * Data gradient at stride 1, as the convolution of dy with the flipped kernel:
 * dx_n[C, H·W] = Wᵀ[C, (o, ki, kj)] · taps of dy_n at (h + pad − ki, w + pad − kj), X = W packed as [(o, ki, kj), c].
 */
function dataImplicit(rt: GpuRuntime, dy: GPUBuffer, w: GPUBuffer, dx: GPUBuffer, g: Conv2dGeometry, opts: ConvOptions): void {
  const T = g.KH * g.KW;
  const hwIn = g.H * g.W;
  const X = { ...packOperand(rt, w, T, g.C, T, true, g.O, g.C * T, 'W'), stride4: 0 }; // one [O·T, C] matrix
  forEachImageTile(rt, g, opts, 0, (n0, nb) => {
    runSubgroupKernel(rt, {
      op: `conv2dDx[${geometryStr(g)} images ${n0}+${nb}]`,
      M: g.C,
      N: nb * hwIn,
      K: g.O * T,
      batch: 1,
      reduce: false,
      accumulate: false,
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
 * The implicit weight gradient's workgroups to aim for: a dW of fewer 32 × 32 tiles splits its sum over
 * the images into partial sums, added afterwards (sumAxis). The 1×1 downsamples' dW has only 8 tiles at
 * layer2 (each summing 25,088 pixels), 32 at layer3 and 128 at layer4. Measured on llvmpipe at batch 32 (A/B
 * against the same convolution's forward, two runs): dW / forward at layer2 1.21-1.28× unsplit, 1.13-1.27× in
 * 16 sums; layer3 1.11-1.40×, 1.02-1.31× in 4 sums; layer4 best unsplit (1.15-1.24×; 4 sums 1.24-1.34×). With
 * a core busy elsewhere (the image decoders while training, or before src/gpu/node.ts stopped dawn.node's
 * busy loop) few long workgroups cannot rebalance: layer2 unsplit measured up to 2.4× then.
 */
const WEIGHT_GRADIENT_WORKGROUPS = 128;

/** Weight gradient: dW[O, (c, ki, kj)] = Σ_n dy_n[O, OH·OW] · (taps of x_n)ᵀ, with X = dy_nᵀ packed per tile. */
function weightImplicit(rt: GpuRuntime, x: GPUBuffer, dy: GPUBuffer, dw: GPUBuffer, g: Conv2dGeometry, opts: ConvOptions): void {
  const taps = g.C * g.KH * g.KW;
  const hw = g.OH * g.OW;
  const tiles = Math.ceil(g.O / 32) * Math.ceil(taps / 32);
  forEachImageTile(rt, g, opts, hw * Math.ceil(g.O / 4) * 16, (n0, nb) => {
    const asked = Math.max(1, Math.min(nb, opts.weightSumGroups ?? Math.ceil(WEIGHT_GRADIENT_WORKGROUPS / tiles)));
    const termsPerSum = Math.ceil(nb / asked);
    const groups = Math.ceil(nb / termsPerSum); // 4 asked for 5 images: sums of 2, 2 and 1
    const size = g.O * taps;
    // Split: partial sums [groups, O, taps] (and dW's old value after them, when accumulating), then summed.
    const partial = groups > 1 ? rt.alloc((groups + Number(n0 > 0)) * size * 4) : null;
    if (partial && n0 > 0) rt.copy(dw, 0, partial, groups * size * 4, size * 4, 'conv2dDw-accumulate');
    const X = packOperand(rt, { buffer: dy, offset: n0 * g.O * hw }, hw, g.O, hw, true, nb, g.O * hw, 'dY');
    runSubgroupKernel(rt, {
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

/** db[O] = Σ_{n, oh, ow} dy[n, o, oh, ow] (overwrites db). */
export function conv2dBackwardBias(rt: GpuRuntime, dy: GPUBuffer, db: GPUBuffer, g: Conv2dGeometry): void {
  const hw = g.OH * g.OW;
  const perImage = rt.alloc(g.N * g.O * 4);
  sumAxis(rt, dy, perImage, g.N * g.O, hw, 1);
  sumAxis(rt, perImage, db, 1, g.N, g.O);
  rt.release(perImage);
}
