/**
 * The im2col algorithm: im2col (im2col.wgsl) + matmul, and col2im for the data gradient. Work is done a batch
 * tile at a time, so that one tile's column matrix fits `maxColumnBytes` (default: the adapter's
 * maxStorageBufferBindingSize); the column buffer is reused across tiles. The tile's images sit side by side
 * in the columns, so each pass is one wide matmul however small the images (one matmul per image would leave
 * the 2×2 maps of a 64-pixel ResNet filling 4 of a tile's 64 columns); the outputs and dy are moved
 * between that layout and NCHW by an axis swap (swap01, in the same shader).
 */
import type { GpuRuntime } from '../../gpu/runtime';
import shader from './im2col.wgsl';
import { windowBinding } from '../util';
import { defineKernel, launch } from '../contract';
import { convDataSmatrix, convForwardSmatrix, convWeightSmatrix, matmul, matmulVariant } from '../matmul';
import { type Conv2dGeometry, geometryStr, isPointwise } from './geometry';
import type { ConvOptions } from './choose';

export const im2colKernel = defineKernel({
  name: 'conv/im2col.wgsl',
  shader,
  entries: ['im2col', 'col2im', 'scatter_1x1', 'swap01'],
  uniforms: [
    ['C', 'u32'], ['H', 'u32'], ['W', 'u32'], ['KH', 'u32'], ['KW', 'u32'], ['stride', 'u32'], ['pad', 'u32'],
    ['OH', 'u32'], ['OW', 'u32'], ['blocksX', 'u32'], ['offSrc', 'u32'], ['offDst', 'u32'], ['ldCols', 'u32'], ['imgStride', 'u32'],
  ],
  bindings: [['src', 'read'], ['dst', 'read_write']],
});

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

/** Run fn(n0, nb) over batch tiles. */
function forEachTileOf(rt: GpuRuntime, g: Conv2dGeometry, opts: ConvOptions, fn: (n0: number, nb: number) => void): void {
  const tile = imagesPerTile(rt, g, opts);
  for (let n0 = 0; n0 < g.N; n0 += tile) fn(n0, Math.min(tile, g.N - n0));
}

/**
 * Whether, on the float16 path (halfOperands), the 'matmul' site gives the subgroup-matrix kernel the product
 * of every batch tile (its M, N, K for a tile of nb images: `shape`). Those tiles skip the float32 column matrix
 * (see smatrix.ts's convolution products).
 */
function onSmatrix(rt: GpuRuntime, opts: ConvOptions, [M, N, K]: [number, number, number]): boolean {
  return Boolean(opts.halfOperands) && matmulVariant(rt, M, N, K, 1, true) === 'smatrix';
}

function everyTileOnSmatrix(rt: GpuRuntime, g: Conv2dGeometry, opts: ConvOptions, shape: (nb: number) => [number, number, number]): boolean {
  if (!opts.halfOperands) return false;
  const tile = imagesPerTile(rt, g, opts);
  const last = g.N - Math.floor((g.N - 1) / tile) * tile;
  return onSmatrix(rt, opts, shape(tile)) && onSmatrix(rt, opts, shape(last));
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

/** Output pixels per image from which the im2col data gradient runs one matmul per image (see dataIm2col). */
const PER_IMAGE_PIXELS = 128;

const BLOCK = 8; // BW = BH in im2col.wgsl: a workgroup is an 8×8 block of pixels of one channel

/** Rows of pixels per col2im thread (the ROWS override): fewer, fuller workgroups suit a CPU driver. */
const COL2IM_ROWS = 4;

/** perImage: the column matrix is one [C·KH·KW, OH·OW] matrix per image, not the images side by side. */
function colsParams(g: Conv2dGeometry, blocksX: number, offSrc: number, offDst: number, nb: number, perImage = false) {
  const hw = g.OH * g.OW;
  const { C, H, W, KH, KW, stride, pad, OH, OW } = g;
  return { C, H, W, KH, KW, stride, pad, OH, OW, blocksX, offSrc, offDst, ldCols: perImage ? hw : nb * hw, imgStride: perImage ? C * KH * KW * hw : hw };
}

/** Workgroups over [rows, cols] pixel blocks × channels × images. */
function pixelGrid(rows: number, cols: number, g: Conv2dGeometry, images: number, rowsPerThread = 1): { blocksX: number; workgroups: [number, number, number] } {
  const blocksX = Math.ceil(cols / BLOCK);
  return { blocksX, workgroups: [blocksX * Math.ceil(rows / (BLOCK * rowsPerThread)), g.C, images] };
}

/** cols = im2col of images n0..n0+nb of x: [C·KH·KW, nb·OH·OW], the images side by side (see im2col.wgsl). */
export function im2col(rt: GpuRuntime, x: GPUBuffer, cols: GPUBuffer, g: Conv2dGeometry, n0 = 0, nb = g.N): void {
  const imageSize = g.C * g.H * g.W;
  const src = windowBinding(rt, x, n0 * imageSize, nb * imageSize);
  const dst = windowBinding(rt, cols, 0, nb * g.C * g.KH * g.KW * g.OH * g.OW);
  const grid = pixelGrid(g.OH, g.OW, g, nb);
  launch(rt, im2colKernel, {
    op: `im2col[${geometryStr(g)} images ${n0}+${nb}]`,
    entry: 'im2col',
    uniforms: colsParams(g, grid.blocksX, src.shift, 0, nb),
    bindings: { src: src.binding, dst: dst.binding },
    workgroups: grid.workgroups,
  });
}

/**
 * Images n0..n0+nb of dx = col2im of dcols ([C·KH·KW, nb·OH·OW], as im2col writes it, or with perImage one
 * [C·KH·KW, OH·OW] matrix per image; overwrites, or with `accumulate` adds into dx).
 */
export function col2im(rt: GpuRuntime, dcols: GPUBuffer, dx: GPUBuffer, g: Conv2dGeometry, n0 = 0, nb = g.N, perImage = false, accumulate = false): void {
  const imageSize = g.C * g.H * g.W;
  const ACC = Number(accumulate);
  if (isPointwise(g)) {
    if (perImage) throw new Error(`col2im ${geometryStr(g)}: a pointwise convolution's columns are not per image`);
    // The column matrix is the images with their first two axes swapped.
    swapAxes01(rt, dcols, 0, dx, n0 * imageSize, g.C, nb, g.H * g.W, `col2im ${geometryStr(g)}`, accumulate);
    return;
  }
  const src = windowBinding(rt, dcols, 0, nb * g.C * g.KH * g.KW * g.OH * g.OW);
  const dst = windowBinding(rt, dx, n0 * imageSize, nb * imageSize);
  if (g.KH === 1 && g.KW === 1 && g.pad === 0) {
    // One tap per input pixel at most: zero this tile of dx (unless adding into it), then scatter the taps to
    // their pixels.
    if (!accumulate) rt.clear(dx, n0 * imageSize * 4, nb * imageSize * 4, `col2im-clear[${geometryStr(g)}]`);
    const grid = pixelGrid(g.OH, g.OW, g, nb);
    launch(rt, im2colKernel, {
      op: `col2im[${geometryStr(g)} images ${n0}+${nb}]`,
      entry: 'scatter_1x1',
      constants: { ACC },
      uniforms: colsParams(g, grid.blocksX, 0, dst.shift, nb, perImage),
      bindings: { src: src.binding, dst: dst.binding },
      workgroups: grid.workgroups,
    });
    return;
  }
  const grid = pixelGrid(g.H, g.W, g, nb, COL2IM_ROWS);
  launch(rt, im2colKernel, {
    op: `col2im[${geometryStr(g)} images ${n0}+${nb}]`,
    entry: 'col2im',
    constants: { ROWS: COL2IM_ROWS, ACC },
    uniforms: colsParams(g, grid.blocksX, 0, dst.shift, nb, perImage),
    bindings: { src: src.binding, dst: dst.binding },
    workgroups: grid.workgroups,
  });
}

/** The column matrix of images n0..n0+nb: im2col into `cols`, or for one image of a pointwise convolution, x itself. */
function columns(rt: GpuRuntime, x: GPUBuffer, cols: GPUBuffer, g: Conv2dGeometry, n0: number, nb: number): GPUBuffer | { buffer: GPUBuffer; offset: number } {
  if (isPointwise(g) && nb === 1) return { buffer: x, offset: n0 * g.C * g.H * g.W };
  im2col(rt, x, cols, g, n0, nb);
  return cols;
}

/** dst[b, a, s] (+)= src[a, b, s] for a < A, b < B, s < S (element offsets into the buffers; no overlap). */
function swapAxes01(rt: GpuRuntime, src: GPUBuffer, offSrc: number, dst: GPUBuffer, offDst: number, A: number, B: number, S: number, name: string, accumulate = false): void {
  const n = A * B * S;
  const s = windowBinding(rt, src, offSrc, n);
  const d = windowBinding(rt, dst, offDst, n);
  launch(rt, im2colKernel, {
    op: `swap-axes[${name} ${A}x${B}x${S}]`,
    entry: 'swap01',
    constants: { ACC: Number(accumulate) },
    // swap01 reads C, H, W as A, B, S and the two shifts; the convolution's fields are unused (0).
    uniforms: { C: A, H: B, W: S, KH: 0, KW: 0, stride: 0, pad: 0, OH: 0, OW: 0, blocksX: 0, offSrc: s.shift, offDst: d.shift, ldCols: 0, imgStride: 0 },
    bindings: { src: s.binding, dst: d.binding },
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
 * y[N,O,OH,OW] = conv2d(x, w) (+ bias[O]) by im2col + matmul. On the float16 path (halfOperands), a tile whose
 * product the 'matmul' site gives the subgroup-matrix kernel skips the column matrix: its columns are gathered
 * straight into that kernel's float16 operand and the product is written in NCHW (convForwardSmatrix).
 */
export function forwardIm2col(rt: GpuRuntime, x: GPUBuffer, w: GPUBuffer, bias: GPUBuffer | null, y: GPUBuffer, g: Conv2dGeometry, opts: ConvOptions): void {
  const taps = g.C * g.KH * g.KW;
  const hw = g.OH * g.OW;
  if (everyTileOnSmatrix(rt, g, opts, (nb) => [g.O, nb * hw, taps])) {
    forEachTileOf(rt, g, opts, (n0, nb) => convForwardSmatrix(rt, x, w, bias, y, g, n0, nb, geometryStr(g)));
    return;
  }
  forEachTile(rt, g, opts, (n0, nb, cols) => {
    // Y'[O, nb·hw] = W[O, taps] · cols[taps, nb·hw]; then Y' → NCHW (a single image is already NCHW).
    const colsMat = columns(rt, x, cols, g, n0, nb);
    const out = nb === 1 ? null : rt.alloc(nb * g.O * hw * 4);
    matmul(rt, w, colsMat, out ?? { buffer: y, offset: n0 * g.O * hw }, g.O, nb * hw, taps, { bias, biasPer: 'row', halfInputs: opts.halfOperands });
    if (out) {
      swapAxes01(rt, out, 0, y, n0 * g.O * hw, g.O, nb, hw, `y ${geometryStr(g)}`);
      rt.release(out);
    }
  });
}

/** dx[N,C,H,W] from dy by matmul + col2im (overwrites dx, or adds into it with `accumulate`). */
export function dataIm2col(rt: GpuRuntime, dy: GPUBuffer, w: GPUBuffer, dx: GPUBuffer, g: Conv2dGeometry, opts: ConvOptions, accumulate = false): void {
  const taps = g.C * g.KH * g.KW;
  const hw = g.OH * g.OW;
  // Images of at least PER_IMAGE_PIXELS outputs fill the matmul's tiles alone: one matmul per image, straight
  // from NCHW dy, saves turning dy into [O, nb·hw] first (pointwise stride-1 convolutions excepted: their
  // column matrix is dx with its axes swapped).
  const perImage = hw >= PER_IMAGE_PIXELS && !isPointwise(g);
  if (isPointwise(g) && everyTileOnSmatrix(rt, g, opts, (nb) => [taps, nb * hw, g.O])) {
    // The column matrix is dx with its axes swapped: the subgroup-matrix product writes dx's NCHW images itself.
    forEachTileOf(rt, g, opts, (n0, nb) => convDataSmatrix(rt, w, dy, dx, g, n0, nb, geometryStr(g), { accumulate }));
    return;
  }
  forEachTile(rt, g, opts, (n0, nb, dcols) => {
    if (perImage) {
      // dcols[n][taps, hw] = Wᵀ[taps, O] · dY_n[O, hw] for each image n of the tile.
      matmul(rt, w, { buffer: dy, offset: n0 * g.O * hw }, dcols, taps, hw, g.O, { transA: true, batch: nb, strideA: 0, strideB: g.O * hw, strideC: taps * hw, halfInputs: opts.halfOperands });
    } else if (onSmatrix(rt, opts, [taps, nb * hw, g.O])) {
      // The same product on the subgroup-matrix kernel, dY' packed straight from NCHW dy.
      convDataSmatrix(rt, w, dy, dcols, g, n0, nb, geometryStr(g));
    } else {
      // dcols[taps, nb·hw] = Wᵀ[taps, O] · dY'[O, nb·hw].
      const dyCols = gradientColumns(rt, dy, g, n0, nb);
      matmul(rt, w, dyCols.mat, dcols, taps, nb * hw, g.O, { transA: true, halfInputs: opts.halfOperands });
      if (dyCols.scratch) rt.release(dyCols.scratch);
    }
    // Then each pixel gathers its taps' entries.
    col2im(rt, dcols, dx, g, n0, nb, perImage, accumulate);
  });
}

/** dw[O,C,KH,KW] = dY'[O, N·hw] · colsᵀ, a batch tile at a time (overwrites dw). */
export function weightIm2col(rt: GpuRuntime, x: GPUBuffer, dy: GPUBuffer, dw: GPUBuffer, g: Conv2dGeometry, opts: ConvOptions): void {
  const taps = g.C * g.KH * g.KW;
  const hw = g.OH * g.OW;
  if (everyTileOnSmatrix(rt, g, opts, (nb) => [g.O, taps, nb * hw])) {
    // The same products on the subgroup-matrix kernel, from dy and x as they are (no float32 copies).
    forEachTileOf(rt, g, opts, (n0, nb) => convWeightSmatrix(rt, x, dy, dw, g, n0, nb, n0 > 0, geometryStr(g)));
    return;
  }
  forEachTile(rt, g, opts, (n0, nb, cols) => {
    const colsMat = columns(rt, x, cols, g, n0, nb);
    // dW[O, taps] (+)= dY'[O, nb·hw] · cols[taps, nb·hw]ᵀ: the first tile writes, later ones add.
    const dyCols = gradientColumns(rt, dy, g, n0, nb);
    matmul(rt, dyCols.mat, colsMat, dw, g.O, taps, nb * hw, { transB: true, accumulate: n0 > 0, halfInputs: opts.halfOperands });
    if (dyCols.scratch) rt.release(dyCols.scratch);
  });
}
