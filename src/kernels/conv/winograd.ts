/**
 * Winograd convolutions for 3×3, stride-1, padding-1 convolutions: the forward pass, the data gradient (the
 * same algorithm on dy with rotated filters) and the weight gradient, with 2×2 output tiles (F(2×2, 3×3),
 * winograd2.wgsl, 16 transformed planes) or 4×4 ones (F(4×4, 3×3), winograd4.wgsl, 36 planes),
 * each appended to the shared entry points of winograd.wgsl.
 * Each is: transforms into the planes, one batched matmul over them (a packed matmul kernel, chosen at the
 * 'matmul' site with shape 'MxNxK x<planes>': see packedKernel in ../matmul), a transform back. The matmuls do 16/36 (2×2) or 36/144 (4×4) of the direct
 * convolution's multiplies. Batches whose transformed tiles would not fit one binding run in tiles of images.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import common from './winograd.wgsl';
import tile2 from './winograd2.wgsl';
import tile4 from './winograd4.wgsl';
import { windowBinding } from '../util';
import { defineKernel, launch, type KernelContract } from '../contract';
import { kernelConfig } from '../config';
import type { Operand, PackedKernel } from '../matmul/common';
import { packedKernel, packedShape, runPackedKernel } from '../matmul';
import { type Conv2dGeometry, type ConvEpilogue, geometryStr } from './geometry';

const WG = 64;
const WINOGRAD_UNIFORMS = [
  ['N', 'u32'], ['C', 'u32'], ['H', 'u32'], ['W', 'u32'], ['TH', 'u32'], ['TW', 'u32'], ['ld', 'u32'], ['rows', 'u32'], ['O', 'u32'], ['flags', 'u32'],
  ['offSrc', 'u32'], ['offDst', 'u32'], ['offBias', 'u32'], ['offRes', 'u32'],
] as const;
const WINOGRAD_ENTRIES = ['input_tiles', 'weight_tiles', 'output_tiles', 'grad_tiles', 'filter_grad'] as const;

/** The kernel of each tile size: the shared entry points (winograd.wgsl), then that size's transforms. */
export const winograd2Kernel = defineKernel({
  name: 'conv/winograd.wgsl+winograd2.wgsl',
  shader: `${common}\n${tile2}`,
  entries: WINOGRAD_ENTRIES,
  uniforms: WINOGRAD_UNIFORMS,
  bindings: [['src', 'read'], ['dst', 'read_write'], ['bias', 'read'], ['res', 'read']],
});
export const winograd4Kernel = defineKernel({
  name: 'conv/winograd.wgsl+winograd4.wgsl',
  shader: `${common}\n${tile4}`,
  entries: [...WINOGRAD_ENTRIES, 'input_tiles_v4', 'grad_tiles_v4'],
  uniforms: WINOGRAD_UNIFORMS,
  // srcV: the images as vec4 (the *_v4 entries).
  bindings: [['src', 'read', ['srcV']], ['dst', 'read_write'], ['bias', 'read'], ['res', 'read']],
});
type WinogradKernel = KernelContract<(typeof WINOGRAD_UNIFORMS)[number][0], 'src' | 'dst' | 'bias' | 'res'>;
const KERNELS: Record<WinogradTile, WinogradKernel> = { 2: winograd2Kernel, 4: winograd4Kernel };

/** Output tile size: 2 (F(2×2, 3×3)) or 4 (F(4×4, 3×3)). */
export type WinogradTile = 2 | 4;

/** Whether the Winograd kernels compute this convolution: 3×3 filters, stride 1, padding 1. */
export function winogradApplies(g: Conv2dGeometry): boolean {
  return g.KH === 3 && g.KW === 3 && g.stride === 1 && g.pad === 1;
}

/**
 * Whether Winograd saves work here: its matmuls' multiplies, (m + 2)² per tile, below 0.8× the direct
 * convolution's 9 per output pixel. Tiles on tiny maps are mostly padding (a 1×1 map: 16 multiplies per
 * output with 2×2 tiles, against 9).
 */
export function winogradPays(g: Conv2dGeometry, m: WinogradTile): boolean {
  const grid = tileGrid(g, m);
  return grid.XI * grid.perImage < 0.8 * 9 * g.OH * g.OW;
}

/** Whether one image's transformed tiles fit a binding (else the convolution takes another algorithm). */
export function winogradFits(rt: GpuRuntime, g: Conv2dGeometry, m: WinogradTile): boolean {
  return tileBytes(g, tileGrid(g, m), 1) <= rt.limits.maxStorageBufferBindingSize;
}

/** Bytes of the largest transformed tensor for n images. */
function tileBytes(g: Conv2dGeometry, grid: TileGrid, n: number): number {
  const ch = Math.max(g.C, g.O);
  return grid.XI * 4 * Math.max(ch * ceil4(n * grid.perImage), n * grid.perImage * ceil4(ch));
}

const ceil4 = (n: number) => Math.ceil(n / 4) * 4;

interface TileGrid {
  TH: number;
  TW: number;
  perImage: number;
  /** Transformed positions per tile: (m + 2)². */
  XI: number;
  kernel: WinogradKernel;
}

function tileGrid(g: Conv2dGeometry, m: WinogradTile): TileGrid {
  const TH = Math.ceil(g.OH / m);
  const TW = Math.ceil(g.OW / m);
  return { TH, TW, perImage: TH * TW, XI: (m + 2) ** 2, kernel: KERNELS[m] };
}

/**
 * Images per batch tile: every transformed tensor of the tile (16 planes of ≤ max(C, O) rows of its tiles,
 * or of T rows of ≤ max(C, O) columns) must fit one binding.
 */
function imagesPerTile(rt: GpuRuntime, g: Conv2dGeometry, grid: TileGrid, maxImages = Infinity): number {
  const maxBind = rt.limits.maxStorageBufferBindingSize;
  const bytes = (n: number) => tileBytes(g, grid, n);
  // Also keep the tiles within the dispatch grid (8 tiles per workgroup along x in the t-major entries).
  let n = Math.min(g.N, maxImages, Math.max(1, Math.floor((rt.limits.maxComputeWorkgroupsPerDimension * 8) / grid.perImage)));
  while (n > 1 && bytes(n) > maxBind) n = Math.floor(n / 2);
  if (bytes(n) > maxBind) throw new Error(`conv2d ${geometryStr(g)}: one image's Winograd tiles (${bytes(1)} bytes) do not fit a ${maxBind}-byte binding`);
  return n;
}

/** The packed kernel of the batched product of XI planes of M × N × K. */
function kernelFor(rt: GpuRuntime, XI: number, M: number, N: number, K: number): PackedKernel {
  return packedKernel(rt, packedShape(M, N, K, `x${XI}`), M, N, XI, false);
}

interface Dispatch {
  grid: TileGrid;
  entry: 'input_tiles' | 'weight_tiles' | 'output_tiles' | 'grad_tiles' | 'filter_grad';
  op: string;
  src: { buffer: GPUBuffer; offset: number; elements: number };
  dst: { buffer: GPUBuffer; offset: number; elements: number };
  /** output_tiles: the bias; weight_tiles: the per-filter scale. */
  bias?: { buffer: GPUBuffer; offset: number; elements: number } | null;
  /** output_tiles: the residual, in dst's layout. */
  res?: { buffer: GPUBuffer; offset: number; elements: number } | null;
  /** output_tiles: the epilogue's pipeline constant (EPI in winograd.wgsl). */
  epi?: number;
  /** The uniforms but the window shifts (offSrc, offDst, offBias, offRes), which run() adds. */
  p: { N: number; C: number; H: number; W: number; TH: number; TW: number; ld: number; rows: number; O: number; flags: number };
  /** Workgroups along x and y. */
  groups: [number, number];
}

/**
 * Whether a dispatch reads its images as vec4 (the *_v4 entries of winograd4.wgsl): 4×4 tiles, image
 * rows of whole vec4 (W and the images' offset multiples of 4), and KernelConfig.winogradVectorImages.
 */
function vectorImages(rt: GpuRuntime, d: Dispatch): boolean {
  const reads = d.entry === 'input_tiles' || d.entry === 'grad_tiles';
  return kernelConfig(rt).winogradVectorImages && reads && d.grid.XI === 36 && d.p.W % 4 === 0 && d.src.offset % 4 === 0;
}

function run(rt: GpuRuntime, d: Dispatch): void {
  const vec = vectorImages(rt, d);
  const s = windowBinding(rt, d.src.buffer, d.src.offset, d.src.elements, vec);
  const t = windowBinding(rt, d.dst.buffer, d.dst.offset, d.dst.elements);
  const b = d.bias ? windowBinding(rt, d.bias.buffer, d.bias.offset, d.bias.elements) : s;
  const r = d.res ? windowBinding(rt, d.res.buffer, d.res.offset, d.res.elements) : s;
  const output = d.entry === 'output_tiles';
  launch(rt, d.grid.kernel, {
    op: d.op,
    entry: vec ? `${d.entry}_v4` : d.entry,
    ...(output ? { constants: { EPI: d.epi ?? 0 } } : {}),
    uniforms: Object.assign({ offSrc: s.shift, offDst: t.shift, offBias: b.shift, offRes: r.shift }, d.p),
    bindings: { src: s.binding, dst: t.binding, bias: output || d.entry === 'weight_tiles' ? b.binding : null, res: output ? r.binding : null },
    workgroups: d.groups,
  });
}

/** A transformed tensor [XI][rows][ld] as a matmul operand (rows = k, columns = m or n). */
function operand(buffer: GPUBuffer, XI: number, rows: number, ld: number): Operand {
  return { binding: { buffer, offset: 0, size: XI * rows * ld * 4 }, off4: 0, ld4: ld / 4, stride4: (rows * ld) / 4, scratch: null };
}

/**
 * The filters transformed: U[ξ][c][o] (forward) or, rotated for the data gradient, U[ξ][o][c]; with `scale`,
 * filter o scaled by scale[o] first.
 */
function transformFilters(rt: GpuRuntime, w: GPUBuffer, g: Conv2dGeometry, grid: TileGrid, forData: boolean, scale: GPUBuffer | null = null): { buf: GPUBuffer; rows: number; ld: number } {
  const [rows, cols] = forData ? [g.O, g.C] : [g.C, g.O];
  const ld = ceil4(cols);
  const XI = grid.XI;
  const buf = rt.alloc(XI * rows * ld * 4);
  run(rt, {
    grid,
    entry: 'weight_tiles',
    op: `winograd-filters[${geometryStr(g)}${forData ? ' dX' : ''}]`,
    src: { buffer: w, offset: 0, elements: g.O * g.C * 9 },
    dst: { buffer: buf, offset: 0, elements: XI * rows * ld },
    bias: scale ? { buffer: scale, offset: 0, elements: g.O } : null,
    p: { N: 0, C: g.C, H: 0, W: 0, TH: 0, TW: 0, ld, rows, O: g.O, flags: Number(forData) | (scale ? 2 : 0) },
    groups: [Math.ceil(cols / WG), rows],
  });
  return { buf, rows, ld };
}

/**
 * out[N, outCh, OH, OW] = the Winograd convolution of x[N, inCh, OH, OW] (padding 1) with transformed filters
 * U[ξ][inCh][outCh] (+ bias), through the epilogue (its scale is in U already): the forward pass, or with
 * rotated filters, the data gradient.
 */
function convolve(rt: GpuRuntime, x: GPUBuffer, U: { buf: GPUBuffer; ld: number }, bias: GPUBuffer | null, out: GPUBuffer, g: Conv2dGeometry, grid: TileGrid, inCh: number, outCh: number, name: string, epi: ConvEpilogue, maxImages?: number): void {
  const XI = grid.XI;
  const hw = g.OH * g.OW;
  const tile = imagesPerTile(rt, g, grid, maxImages);
  const ldT = ceil4(tile * grid.perImage);
  const V = rt.alloc(XI * inCh * ldT * 4);
  const M = rt.alloc(XI * outCh * ldT * 4);
  for (let n0 = 0; n0 < g.N; n0 += tile) {
    const nb = Math.min(tile, g.N - n0);
    const T = nb * grid.perImage;
    const tag = `${name}[${geometryStr(g)} images ${n0}+${nb}]`;
    run(rt, {
      grid,
      entry: 'input_tiles',
      op: `winograd-input ${tag}`,
      src: { buffer: x, offset: n0 * inCh * hw, elements: nb * inCh * hw },
      dst: { buffer: V, offset: 0, elements: XI * inCh * ldT },
      p: { N: nb, C: inCh, H: g.OH, W: g.OW, TH: grid.TH, TW: grid.TW, ld: ldT, rows: inCh, O: 0, flags: 0 },
      groups: [Math.ceil(T / WG), inCh],
    });
    runPackedKernel(rt, {
      op: `${name}[winograd ${XI}x${outCh}x${T}x${inCh}]`,
      M: outCh,
      N: T,
      K: inCh,
      batch: XI,
      reduce: false,
      accumulate: false,
      x: operand(U.buf, XI, inCh, U.ld),
      y: operand(V, XI, inCh, ldT),
      c: { buffer: M, offset: 0, ld: ldT, stride: outCh * ldT },
      bias: null,
      biasPerRow: false,
      kernel: kernelFor(rt, XI, outCh, T, inCh),
    });
    run(rt, {
      grid,
      entry: 'output_tiles',
      op: `winograd-output ${tag}`,
      src: { buffer: M, offset: 0, elements: XI * outCh * ldT },
      dst: { buffer: out, offset: n0 * outCh * hw, elements: nb * outCh * hw },
      bias: bias ? { buffer: bias, offset: 0, elements: outCh } : null,
      res: epi.residual ? { buffer: epi.residual, offset: n0 * outCh * hw, elements: nb * outCh * hw } : null,
      epi: epilogueConstant(epi),
      p: { N: nb, C: 0, H: g.OH, W: g.OW, TH: grid.TH, TW: grid.TW, ld: ldT, rows: outCh, O: outCh, flags: bias ? 1 : 0 },
      groups: [Math.ceil(T / WG), outCh],
    });
  }
  rt.release(V);
  rt.release(M);
}

/** output_tiles' epilogue constant EPI (see put() in winograd.wgsl). */
function epilogueConstant(epi: ConvEpilogue): number {
  return (epi.accumulate ? 2 : 0) | (epi.residual ? 4 : 0) | (epi.relu ? 8 : 0);
}

/** y[N,O,OH,OW] = conv2d(x, w) (+ bias[O]) through the epilogue, 3×3, stride 1, padding 1. */
export function winogradForward(rt: GpuRuntime, x: GPUBuffer, w: GPUBuffer, bias: GPUBuffer | null, y: GPUBuffer, g: Conv2dGeometry, m: WinogradTile, maxImages?: number, epi: ConvEpilogue = {}): void {
  const grid = tileGrid(g, m);
  withFilters(rt, w, g, grid, false, epi.scale ?? null, (U) => convolve(rt, x, U, bias, y, g, grid, g.C, g.O, 'conv2dFwd', epi, maxImages));
}

/**
 * `use` with the transformed filters (transformFilters). Inside the runtime's derived-buffer scope (an
 * evaluation loop) they are made once and kept while neither the weights nor the scale are written.
 */
function withFilters(rt: GpuRuntime, w: GPUBuffer, g: Conv2dGeometry, grid: TileGrid, forData: boolean, scale: GPUBuffer | null, use: (U: { buf: GPUBuffer; ld: number }) => void): void {
  const name = `winograd-filters ${g.O}x${g.C} xi${grid.XI}${forData ? ' dX' : ''}${scale ? ' scaled' : ''}`;
  const ld = ceil4(forData ? g.C : g.O);
  rt.derived.use(name, [w, scale], () => [transformFilters(rt, w, g, grid, forData, scale).buf], ([buf]) => use({ buf, ld }));
}

/**
 * dx[N,C,H,W] from dy[N,O,OH,OW]: the convolution of dy with the filters rotated by 180° (overwrites dx, or
 * adds into it with `accumulate`).
 */
export function winogradBackwardData(rt: GpuRuntime, dy: GPUBuffer, w: GPUBuffer, dx: GPUBuffer, g: Conv2dGeometry, m: WinogradTile, maxImages?: number, accumulate = false): void {
  const grid = tileGrid(g, m);
  withFilters(rt, w, g, grid, true, null, (U) => convolve(rt, dy, U, null, dx, g, grid, g.O, g.C, 'conv2dDx', { accumulate }, maxImages));
}

/** dw[O,C,3,3] = Σ over images and tiles, through the transformed domain (overwrites dw). */
export function winogradBackwardWeight(rt: GpuRuntime, x: GPUBuffer, dy: GPUBuffer, dw: GPUBuffer, g: Conv2dGeometry, m: WinogradTile, maxImages?: number): void {
  const grid = tileGrid(g, m);
  const XI = grid.XI;
  const hw = g.OH * g.OW;
  const tile = imagesPerTile(rt, g, grid, maxImages);
  const Tmax = tile * grid.perImage;
  const [ldO, ldC] = [ceil4(g.O), ceil4(g.C)];
  const Z = rt.alloc(XI * Tmax * ldO * 4);
  const V = rt.alloc(XI * Tmax * ldC * 4);
  const dU = rt.alloc(XI * g.O * ldC * 4);
  for (let n0 = 0; n0 < g.N; n0 += tile) {
    const nb = Math.min(tile, g.N - n0);
    const T = nb * grid.perImage;
    const tag = `[${geometryStr(g)} images ${n0}+${nb}]`;
    run(rt, {
      grid,
      entry: 'grad_tiles',
      op: `winograd-grad ${tag}`,
      src: { buffer: dy, offset: n0 * g.O * hw, elements: nb * g.O * hw },
      dst: { buffer: Z, offset: 0, elements: XI * T * ldO },
      p: { N: nb, C: g.O, H: g.OH, W: g.OW, TH: grid.TH, TW: grid.TW, ld: ldO, rows: T, O: 0, flags: 0 },
      groups: [Math.ceil(T / 8), Math.ceil(g.O / 8)],
    });
    run(rt, {
      grid,
      entry: 'input_tiles', // flags 1: V[ξ][t][c], 8 channels × 8 tiles a workgroup
      op: `winograd-input ${tag}`,
      src: { buffer: x, offset: n0 * g.C * hw, elements: nb * g.C * hw },
      dst: { buffer: V, offset: 0, elements: XI * T * ldC },
      p: { N: nb, C: g.C, H: g.H, W: g.W, TH: grid.TH, TW: grid.TW, ld: ldC, rows: T, O: 0, flags: 1 },
      groups: [Math.ceil(T / 8), Math.ceil(g.C / 8)],
    });
    // dU[ξ][o][c] (+)= Σ_t Z[ξ][t][o] · V[ξ][t][c]
    runPackedKernel(rt, {
      op: `conv2dDw[winograd ${XI}x${g.O}x${g.C}x${T}${n0 > 0 ? ' acc' : ''}]`,
      M: g.O,
      N: g.C,
      K: T,
      batch: XI,
      reduce: false,
      accumulate: n0 > 0,
      x: operand(Z, XI, T, ldO),
      y: operand(V, XI, T, ldC),
      c: { buffer: dU, offset: 0, ld: ldC, stride: g.O * ldC },
      bias: null,
      biasPerRow: false,
      kernel: kernelFor(rt, XI, g.O, g.C, T),
    });
  }
  run(rt, {
    grid,
    entry: 'filter_grad',
    op: `winograd-filter-grad[${geometryStr(g)}]`,
    src: { buffer: dU, offset: 0, elements: XI * g.O * ldC },
    dst: { buffer: dw, offset: 0, elements: g.O * g.C * 9 },
    p: { N: 0, C: g.C, H: 0, W: 0, TH: 0, TW: 0, ld: ldC, rows: g.O, O: g.O, flags: 0 },
    groups: [Math.ceil(g.C / WG), g.O],
  });
  for (const b of [Z, V, dU]) rt.release(b);
}
