/**
 * 2D convolution (NCHW, groups = 1) as im2col + matmul, and its three backward passes.
 * Work is done a batch tile at a time, so that one tile's column matrix fits `maxColumnBytes`
 * (default: the adapter's maxStorageBufferBindingSize); the column buffer is reused across tiles.
 */
import type { GpuRuntime } from '../gpu/runtime';
import shader from '../../shaders/im2col.wgsl';
import { Params } from './util';
import { matmul, windowBinding } from './matmul';
import { sumAxis } from './reduce';

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

export interface ConvOptions {
  /** Largest column buffer (bytes) to allocate; the batch is tiled to fit. Default: maxStorageBufferBindingSize. */
  maxColumnBytes?: number;
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
  const colBytes = isPointwise(g) ? 0 : g.C * g.KH * g.KW * g.OH * g.OW * 4;
  let n = Math.min(g.N, Math.floor(maxBind / (g.C * g.H * g.W * 4)), Math.floor(maxBind / (g.O * g.OH * g.OW * 4)));
  if (colBytes > 0) n = Math.min(n, Math.floor(maxCols / colBytes));
  if (n < 1) throw new Error(`conv2d ${geometryStr(g)}: one image's column matrix (${colBytes} bytes) or tensor does not fit ${maxCols} bytes (spatial tiling is not implemented)`);
  return n;
}

/** Run fn(n0, nb) over batch tiles, with a column buffer for nb images (null for pointwise convolutions). */
function forEachTile(rt: GpuRuntime, g: Conv2dGeometry, opts: ConvOptions, fn: (n0: number, nb: number, cols: GPUBuffer | null) => void): void {
  const tile = imagesPerTile(rt, g, opts);
  const cols = isPointwise(g) ? null : rt.alloc(tile * g.C * g.KH * g.KW * g.OH * g.OW * 4);
  try {
    for (let n0 = 0; n0 < g.N; n0 += tile) fn(n0, Math.min(tile, g.N - n0), cols);
  } finally {
    if (cols) rt.release(cols); // later users of this buffer are encoded after these dispatches
  }
}

const BLOCK = 8; // BW = BH in im2col.wgsl: a workgroup is an 8×8 block of pixels of one channel

function colsParams(g: Conv2dGeometry, blocksX: number, offSrc: number, offDst: number): Uint8Array {
  return new Params()
    .u32(g.C).u32(g.H).u32(g.W).u32(g.KH)
    .u32(g.KW).u32(g.stride).u32(g.pad).u32(g.OH)
    .u32(g.OW).u32(blocksX).u32(offSrc).u32(offDst)
    .bytes();
}

/** Workgroups over [rows, cols] pixel blocks × channels × images. */
function pixelGrid(rows: number, cols: number, g: Conv2dGeometry, images: number): { blocksX: number; workgroups: [number, number, number] } {
  const blocksX = Math.ceil(cols / BLOCK);
  return { blocksX, workgroups: [blocksX * Math.ceil(rows / BLOCK), g.C, images] };
}

/** cols[0..nb) = im2col of images n0..n0+nb of x: [nb, C·KH·KW, OH·OW]. */
export function im2col(rt: GpuRuntime, x: GPUBuffer, cols: GPUBuffer, g: Conv2dGeometry, n0 = 0, nb = g.N): void {
  const imageSize = g.C * g.H * g.W;
  const src = windowBinding(rt, x, n0 * imageSize, nb * imageSize);
  const dst = windowBinding(rt, cols, 0, nb * g.C * g.KH * g.KW * g.OH * g.OW);
  const grid = pixelGrid(g.OH, g.OW, g, nb);
  rt.dispatch({
    op: `im2col[${geometryStr(g)} images ${n0}+${nb}]`,
    shader,
    entry: 'im2col',
    uniforms: colsParams(g, grid.blocksX, src.shift, 0),
    bindings: [src.binding, dst.binding],
    workgroups: grid.workgroups,
  });
}

/** Images n0..n0+nb of dx = col2im of dcols[0..nb) (overwrites). */
export function col2im(rt: GpuRuntime, dcols: GPUBuffer, dx: GPUBuffer, g: Conv2dGeometry, n0 = 0, nb = g.N): void {
  const imageSize = g.C * g.H * g.W;
  const src = windowBinding(rt, dcols, 0, nb * g.C * g.KH * g.KW * g.OH * g.OW);
  const dst = windowBinding(rt, dx, n0 * imageSize, nb * imageSize);
  const grid = pixelGrid(g.H, g.W, g, nb);
  rt.dispatch({
    op: `col2im[${geometryStr(g)} images ${n0}+${nb}]`,
    shader,
    entry: 'col2im',
    uniforms: colsParams(g, grid.blocksX, 0, dst.shift),
    bindings: [src.binding, dst.binding],
    workgroups: grid.workgroups,
  });
}

/** y[N,O,OH,OW] = conv2d(x, w) (+ bias[O]). */
export function conv2dForward(rt: GpuRuntime, x: GPUBuffer, w: GPUBuffer, bias: GPUBuffer | null, y: GPUBuffer, g: Conv2dGeometry, opts: ConvOptions = {}): void {
  const taps = g.C * g.KH * g.KW;
  const hw = g.OH * g.OW;
  forEachTile(rt, g, opts, (n0, nb, cols) => {
    if (cols) im2col(rt, x, cols, g, n0, nb);
    // Y_n[O, hw] = W[O, taps] · cols_n[taps, hw], for the nb images of the tile.
    matmul(rt, w, cols ?? { buffer: x, offset: n0 * taps * hw }, { buffer: y, offset: n0 * g.O * hw }, g.O, hw, taps, {
      batch: nb,
      strideA: 0,
      strideB: taps * hw,
      strideC: g.O * hw,
      bias,
      biasPer: 'row',
    });
  });
}

/** dx[N,C,H,W] = the gradient of conv2d with respect to x, given dy[N,O,OH,OW] (overwrites dx). */
export function conv2dBackwardData(rt: GpuRuntime, dy: GPUBuffer, w: GPUBuffer, dx: GPUBuffer, g: Conv2dGeometry, opts: ConvOptions = {}): void {
  const taps = g.C * g.KH * g.KW;
  const hw = g.OH * g.OW;
  forEachTile(rt, g, opts, (n0, nb, dcols) => {
    // dcols_n[taps, hw] = Wᵀ[taps, O] · dY_n[O, hw]; then each pixel gathers its taps' entries.
    matmul(rt, w, { buffer: dy, offset: n0 * g.O * hw }, dcols ?? { buffer: dx, offset: n0 * taps * hw }, taps, hw, g.O, {
      transA: true,
      batch: nb,
      strideA: 0,
      strideB: g.O * hw,
      strideC: taps * hw,
    });
    if (dcols) col2im(rt, dcols, dx, g, n0, nb);
  });
}

/** dw[O,C,KH,KW] = the gradient of conv2d with respect to w: Σ_n dY_n · cols_nᵀ (overwrites dw). */
export function conv2dBackwardWeight(rt: GpuRuntime, x: GPUBuffer, dy: GPUBuffer, dw: GPUBuffer, g: Conv2dGeometry, opts: ConvOptions = {}): void {
  const taps = g.C * g.KH * g.KW;
  const hw = g.OH * g.OW;
  forEachTile(rt, g, opts, (n0, nb, cols) => {
    if (cols) im2col(rt, x, cols, g, n0, nb);
    // dW[O, taps] (+)= Σ_{n in tile} dY_n[O, hw] · cols_n[taps, hw]ᵀ: the first tile writes, later ones add.
    matmul(rt, { buffer: dy, offset: n0 * g.O * hw }, cols ?? { buffer: x, offset: n0 * taps * hw }, dw, g.O, taps, hw, {
      transB: true,
      batch: nb,
      strideA: g.O * hw,
      strideB: taps * hw,
      reduceBatch: true,
      accumulate: n0 > 0,
    });
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
