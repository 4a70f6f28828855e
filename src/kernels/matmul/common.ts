/**
 * Types and pieces shared by the matmul launchers: operand references, the checked call, and the call and
 * uniforms of the two packed-operand kernels (subgroup.ts, vec4.ts), which share one Params layout.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import { windowBinding } from '../util';

/** A float32 matrix (or batch of matrices) starting `offset` elements into a buffer. */
export interface MatRef {
  buffer: GPUBuffer;
  offset?: number;
}
export type Mat = GPUBuffer | MatRef;

export function ref(m: Mat): { buffer: GPUBuffer; offset: number } {
  return 'buffer' in m ? { buffer: m.buffer, offset: m.offset ?? 0 } : { buffer: m, offset: 0 };
}

/** The checked sizes of one matmul call, with defaults filled in (see MatmulOptions in index.ts). */
export interface MatmulCall {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  batch: number;
  strideA: number;
  strideB: number;
  strideC: number;
  reduceBatch: boolean;
  accumulate: boolean;
  bias: Mat | null;
  biasPerRow: boolean;
}

/** A short name for error messages and profiles: matmulTN[4x64x3136x576 sum acc]. */
export function matmulOpName(k: MatmulCall, variant = ''): string {
  const form = `${k.transA ? 'T' : 'N'}${k.transB ? 'T' : 'N'}`;
  return `matmul${form}${variant}[${k.batch > 1 ? `${k.batch}x` : ''}${k.M}x${k.N}x${k.K}${k.reduceBatch ? ' sum' : ''}${k.accumulate ? ' acc' : ''}]`;
}

/**
 * The kernels that take packed operands: matmul_subgroup.wgsl (subgroup.ts), matmul_vec4.wgsl (vec4.ts) and
 * the configurations of matmul_tiled.wgsl (tiled.ts: 'tiled-<BM>x<BN>x<BK>-<TM>x<TN>', TILED_CONFIGS).
 */
export type PackedKernel = 'subgroup' | 'vec4' | TiledName;
/** A configuration of the tiled kernel (see TILED_CONFIGS in tiled.ts). */
export type TiledName = `tiled-${string}`;

/**
 * Elementwise work fused after the product, per output (the tiled and subgroup kernels; see the end of
 * matmul_tiled.wgsl and matmul_subgroup.wgsl):
 * v = product · scale (+ bias) (+ residual) (+ C when accumulating), then max(v, 0) when relu.
 */
export interface Epilogue {
  /** Multiplies the product per row or per column, on the bias's axis (biasPerRow). */
  scale?: Mat | null;
  /** A matrix (or batch) with C's layout, at its own offset, added after the bias. Not C's buffer. */
  residual?: Mat | null;
  relu?: boolean;
}

/** Whether an epilogue asks for anything beyond the bias. */
export function hasEpilogue(e: Epilogue | undefined): boolean {
  return !!e && (!!e.scale || !!e.residual || !!e.relu);
}

export type Binding = { buffer: GPUBuffer; offset: number; size: number };

/** An operand as the packed kernels read it: a binding of vec4 rows, with offset, row and batch strides in vec4. */
export interface Operand {
  binding: Binding;
  off4: number;
  ld4: number;
  stride4: number;
  /** A pooled buffer to release once the product is encoded (packed operands). */
  scratch: GPUBuffer | null;
}

/**
 * Y gathered from a batch of images by a convolution's taps: MODE 1 and 2 of matmul_subgroup.wgsl (see its
 * top). The subgroup kernel's interface; conv/implicit.ts fills it from a convolution's geometry.
 */
export interface ConvGather {
  mode: 1 | 2;
  /** The images (floats), image z at offset + z·imageStride. */
  images: { binding: Binding; offset: number };
  imageStride: number;
  inH: number;
  inW: number;
  KH: number;
  KW: number;
  gridW: number;
  rowMul: number;
  rowAdd: number;
  kSign: 1 | -1;
  /** MODE 1: the batch is folded into the columns (N = images · colsPerImage; batch must be 1). */
  colsPerImage?: number;
}

/** One dispatch of a packed kernel: C[M,N] (per z, or summed over z) = X·Y (+ bias) (+ C). */
export interface PackedKernelSpec {
  op: string;
  M: number;
  N: number;
  K: number;
  batch: number;
  reduce: boolean;
  /**
   * With reduce: sum runs of this many consecutive batch indices, each into its own matrix of C (run g at
   * g·c.stride), for more workgroups where C has few tiles. Default: the whole batch, one sum.
   */
  termsPerSum?: number;
  accumulate: boolean;
  x: Operand;
  y: Operand | ConvGather;
  /** C: element (z, m, n) at offset + z·stride + m·ld + n of the buffer. */
  c: { buffer: GPUBuffer; offset: number; ld: number; stride: number };
  bias: Mat | null;
  biasPerRow: boolean;
  /** Default 'subgroup'. 'vec4' takes plain operands only (no ConvGather). */
  kernel?: PackedKernel;
  /** Fused scale, residual and ReLU (the tiled and subgroup kernels). */
  epilogue?: Epilogue;
}

/** The epilogue's uniform fields, after the others of the tiled and subgroup kernels. */
export const EPILOGUE_UNIFORMS = [['offScale', 'u32'], ['offRes', 'u32'], ['scaleMode', 'u32'], ['residual', 'u32'], ['relu', 'u32']] as const;
/** The epilogue's bindings (after yImg): the scale and the residual. */
export const EPILOGUE_BINDINGS = [['scale', 'read'], ['res', 'read']] as const;

/** The epilogue's uniforms and bindings for a packed-kernel dispatch (unused bindings get X's). */
export function epilogueLaunch(rt: GpuRuntime, k: PackedKernelSpec, l: ReturnType<typeof packedLaunch>) {
  const e = k.epilogue ?? {};
  const wscale = e.scale ? windowBinding(rt, ref(e.scale).buffer, ref(e.scale).offset, k.biasPerRow ? k.M : k.N) : null;
  const wres = e.residual ? windowBinding(rt, ref(e.residual).buffer, ref(e.residual).offset, l.cExtent) : null;
  if (wres && wres.binding.buffer === l.wc.binding.buffer) throw new Error(`${k.op}: the residual must not be C's buffer`);
  const scaleMode = !wscale ? 0 : k.biasPerRow ? 2 : 1;
  return {
    uniforms: { offScale: wscale?.shift ?? 0, offRes: wres?.shift ?? 0, scaleMode, residual: Number(!!wres), relu: Number(!!e.relu) },
    bindings: { scale: wscale?.binding ?? k.x.binding, res: wres?.binding ?? k.x.binding },
    /** Whether there is an epilogue. */
    any: !!(wscale || wres || e.relu),
  };
}

/** The windows and batch split of a packed-kernel dispatch (wholeVec4C: C's window is whole vec4s). */
export function packedLaunch(rt: GpuRuntime, k: PackedKernelSpec, wholeVec4C: boolean) {
  const { M, N } = k;
  const conv = 'mode' in k.y ? k.y : null;
  const y = 'mode' in k.y ? null : k.y;
  // Batch terms per output matrix, and the output matrices (grid z).
  const zPer = k.reduce ? Math.min(k.batch, k.termsPerSum ?? k.batch) : 1;
  const outputs = Math.ceil(k.batch / zPer);
  // C's extent: `outputs` matrices, or with the images folded into the columns, one per image.
  const cpi = conv?.colsPerImage ?? 0;
  const [cMats, cCols] = cpi ? [Math.ceil(N / cpi), cpi] : [outputs, N];
  const cExtent = (cMats - 1) * k.c.stride + (M - 1) * k.c.ld + cCols;
  const wc = windowBinding(rt, k.c.buffer, k.c.offset, cExtent, wholeVec4C);
  const wbias = k.bias ? windowBinding(rt, ref(k.bias).buffer, ref(k.bias).offset, k.biasPerRow ? M : N) : { binding: k.x.binding, shift: 0 };
  const yBinding = conv ? conv.images.binding : y!.binding;
  return { conv, y, zPer, outputs, cExtent, wc, wbias, yBinding };
}

/** The uniform fields of matmul_vec4.wgsl, which are also the first 19 of matmul_subgroup.wgsl. */
export const PACKED_UNIFORMS = [
  ['M', 'u32'], ['N', 'u32'], ['K', 'u32'], ['batch', 'u32'],
  ['ldx4', 'u32'], ['ldy4', 'u32'], ['strideX4', 'u32'], ['strideY', 'u32'],
  ['offX4', 'u32'], ['offY', 'u32'], ['ldc', 'u32'], ['strideC', 'u32'],
  ['offC', 'u32'], ['offBias', 'u32'], ['tilesN', 'u32'], ['tiles', 'u32'],
  ['zPer', 'u32'], ['accumulate', 'u32'], ['biasMode', 'u32'],
] as const;
/** The convolution-gather fields that follow them in matmul_subgroup.wgsl (MODE 1 and 2; zero in MODE 0). */
export const CONV_GATHER_UNIFORMS = [
  ['inH', 'u32'], ['inW', 'u32'], ['KH', 'u32'], ['KW', 'u32'], ['gridW', 'u32'],
  ['rowMul', 'i32'], ['rowAdd', 'i32'], ['kSign', 'i32'], ['colsPerImage', 'u32'],
] as const;
/** The bindings of both packed kernels: X, Y (vec4 rows), bias, C. */
export const PACKED_BINDINGS = [['x', 'read'], ['y', 'read'], ['bias', 'read'], ['c', 'read_write']] as const;

/** The uniforms shared by the two packed kernels (PACKED_UNIFORMS), by name. */
export function packedUniforms(k: PackedKernelSpec, l: ReturnType<typeof packedLaunch>, tilesN: number, tiles: number) {
  const { conv, y } = l;
  return {
    M: k.M, N: k.N, K: k.K, batch: k.batch,
    ldx4: k.x.ld4, ldy4: y ? y.ld4 : 0, strideX4: k.x.stride4, strideY: conv ? conv.imageStride : y!.stride4,
    offX4: k.x.off4, offY: conv ? conv.images.offset : y!.off4, ldc: k.c.ld, strideC: k.c.stride,
    offC: l.wc.shift, offBias: l.wbias.shift, tilesN, tiles,
    zPer: l.zPer, accumulate: Number(k.accumulate), biasMode: !k.bias ? 0 : k.biasPerRow ? 2 : 1,
  };
}

/**
 * The uniforms and bindings of a subgroup- or tiled-kernel dispatch: the packed ones, the convolution gather's and
 * the epilogue's. Merged by Object.assign, not spreads: spreading these 33 fields cost about 30 µs a dispatch in
 * Node 20 (docs/benchmarks.md).
 */
export function gatherKernelArgs(k: PackedKernelSpec, l: ReturnType<typeof packedLaunch>, e: ReturnType<typeof epilogueLaunch>, tilesN: number, tiles: number) {
  return {
    uniforms: Object.assign(packedUniforms(k, l, tilesN, tiles), convGatherUniforms(l.conv), e.uniforms),
    // The images' binding is declared twice (slots 2 and 5: vec4 rows and floats).
    bindings: Object.assign({ x: k.x.binding, y: l.yBinding, bias: l.wbias.binding, c: l.wc.binding, yImg: l.yBinding }, e.bindings),
  };
}

/** The convolution-gather uniforms of matmul_subgroup.wgsl (CONV_GATHER_UNIFORMS), by name. */
export function convGatherUniforms(conv: ConvGather | null) {
  return {
    inH: conv?.inH ?? 0, inW: conv?.inW ?? 0, KH: conv?.KH ?? 0, KW: conv?.KW ?? 0,
    gridW: conv?.gridW ?? 0, rowMul: conv?.rowMul ?? 0, rowAdd: conv?.rowAdd ?? 0, kSign: conv?.kSign ?? 0,
    colsPerImage: conv?.colsPerImage ?? 0,
  };
}
