/**
 * Launcher for shaders/matmul_subgroup.wgsl (C = X·Y, X k-major and Y row-major, both as rows of vec4, or Y
 * gathered from images by a convolution's taps), and for shaders/matmul_pack.wgsl, which brings an operand
 * into that layout when it is not already:
 *   X = op(A) as [K, M]: A stored [K, M] (transA) is used in place when M, its offset and its batch stride
 *       are multiples of 4; otherwise (and always for a plain A [M, K]) it is packed (transposed) first.
 *   Y = op(B) as [K, N]: likewise, used in place for a plain B [K, N] with N, offset, stride multiples of 4.
 * Packing is one pass over the operand (O(MK) or O(KN)), small next to the O(MNK) product.
 * conv.ts runs implicit-GEMM convolutions through runSubgroupKernel with a ConvGather.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import shader from './matmul_subgroup.wgsl';
import vec4Shader from './matmul_vec4.wgsl';
import packShader from './matmul_pack.wgsl';
import { Params, grid1d } from '../util';
import { type MatmulCall, type Mat, matmulOpName, ref, windowBinding } from './common';

/** The two kernels this launcher runs: shaders/matmul_subgroup.wgsl and shaders/matmul_vec4.wgsl (MODE 0 only). */
export type PackedKernel = 'subgroup' | 'vec4';

/**
 * The vec4 kernel's workgroup side along a dimension of `n`: threads of 8 outputs each, up to 8 (a 64-wide
 * tile), fewer for a thin C (4 of a tile's 64 columns used measured 16× slower than a fitted tile).
 */
function vec4Side(n: number): number {
  return Math.min(8, 2 ** Math.ceil(Math.log2(Math.ceil(n / 8))));
}

/** Whether this runtime can run the subgroup kernel: the feature is on and subgroups are exactly 8 lanes. */
export function hasSubgroupMatmul(rt: GpuRuntime): boolean {
  if (!rt.features.has('subgroups')) return false;
  const info = (rt.device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number; subgroupMaxSize?: number } }).adapterInfo;
  return info?.subgroupMinSize === 8 && info?.subgroupMaxSize === 8;
}

type Binding = { buffer: GPUBuffer; offset: number; size: number };

/** An operand as the kernel reads it: a binding of vec4 rows, with offset, row and batch strides in vec4. */
export interface Operand {
  binding: Binding;
  off4: number;
  ld4: number;
  stride4: number;
  /** A pooled buffer to release once the product is encoded (packed operands). */
  scratch: GPUBuffer | null;
}

/**
 * Pack `matrices` matrices of `rows` × `cols` (z-th at z·strideS floats from S, element (r, c) at
 * r·ldS + c, or c·ldS + r when `transpose`) into rows of ceil(cols / 4) vec4, zero-padded, one matrix after
 * the other. Returns the packed operand (a pooled scratch buffer: release it after use).
 */
export function packOperand(rt: GpuRuntime, S: Mat, rows: number, cols: number, ldS: number, transpose: boolean, matrices: number, strideS: number, name: string): Operand {
  const s = ref(S);
  const ld4 = Math.ceil(cols / 4);
  const bytes = Math.max(16, matrices * rows * ld4 * 16);
  const scratch = rt.alloc(bytes);
  const span = (matrices - 1) * strideS + (transpose ? (cols - 1) * ldS + rows : (rows - 1) * ldS + cols);
  // Aligned transposes read the source as vec4, a 4 × 4 block per thread (entry point transpose4).
  const quads = transpose && rows % 4 === 0 && ldS % 4 === 0 && s.offset % 4 === 0 && (matrices === 1 || strideS % 4 === 0);
  const src = windowBinding(rt, s.buffer, s.offset, span, quads);
  const rowsPerGroup = quads ? 32 : 8;
  const maxRows = rt.limits.maxComputeWorkgroupsPerDimension * rowsPerGroup;
  for (let rowBase = 0; rowBase < rows; rowBase += maxRows) {
    rt.dispatch({
      op: `matmul-pack[${name} ${matrices > 1 ? `${matrices}x` : ''}${rows}x${cols}${transpose ? ' T' : ''}]`,
      shader: packShader,
      entry: quads ? 'transpose4' : 'main',
      uniforms: new Params()
        .u32(rows).u32(cols).u32(ld4).u32(ldS)
        .u32(strideS).u32(src.shift).u32(rows * ld4).u32(rowBase)
        .u32(Number(transpose))
        .bytes(),
      bindings: [src.binding, { buffer: scratch, offset: 0, size: bytes }],
      workgroups: [Math.ceil(ld4 / 8), Math.ceil(Math.min(maxRows, rows - rowBase) / rowsPerGroup), matrices],
    });
  }
  return { binding: { buffer: scratch, offset: 0, size: bytes }, off4: 0, ld4, stride4: matrices > 1 ? rows * ld4 : 0, scratch };
}

/**
 * op(S) as a [K, cols] row-major matrix of vec4 rows, for each of `batch` matrices (one if stride is 0).
 * `rowMajor`: S is stored [K, cols] already (else [cols, K], and is transposed while packing).
 */
function operand(rt: GpuRuntime, S: Mat, K: number, cols: number, rowMajor: boolean, stride: number, batch: number, name: string): Operand {
  const s = ref(S);
  const matrices = stride === 0 ? 1 : batch;
  if (rowMajor && cols % 4 === 0 && s.offset % 4 === 0 && stride % 4 === 0) {
    const w = windowBinding(rt, s.buffer, s.offset, (matrices - 1) * stride + K * cols);
    return { binding: w.binding, off4: w.shift / 4, ld4: cols / 4, stride4: stride / 4, scratch: null };
  }
  return packOperand(rt, S, K, cols, rowMajor ? cols : K, !rowMajor, matrices, stride, name);
}

/** Y gathered from a batch of images by a convolution's taps (MODE 1 and 2 of the shader; see its top). */
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

/** One dispatch of the subgroup kernel: C[M,N] (per z, or summed over z) = X·Y (+ bias) (+ C). */
export interface SubgroupKernelSpec {
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
}

/**
 * Whether the subgroup kernel takes 32 × 64 tiles for a C of N columns: when they waste at most 10% more
 * columns than 32-wide ones. Measured on llvmpipe, 32 × 64 tiles run the Winograd and 1024³ products
 * 1.04-1.28× faster (fewer loads and broadcasts per multiply-add).
 */
export function subgroupWide(N: number): boolean {
  return N >= 64 && Math.ceil(N / 64) * 64 <= 1.1 * Math.ceil(N / 32) * 32;
}

export function runSubgroupKernel(rt: GpuRuntime, k: SubgroupKernelSpec): void {
  const { M, N } = k;
  const conv = 'mode' in k.y ? k.y : null;
  const y = 'mode' in k.y ? null : k.y;
  // Batch terms per output matrix, and the output matrices (grid z).
  const zPer = k.reduce ? Math.min(k.batch, k.termsPerSum ?? k.batch) : 1;
  const outputs = Math.ceil(k.batch / zPer);
  // C's extent: `outputs` matrices, or with the images folded into the columns, one per image.
  const cpi = conv?.colsPerImage ?? 0;
  const [cMats, cCols] = cpi ? [Math.ceil(N / cpi), cpi] : [outputs, N];
  const kernel = k.kernel ?? 'subgroup';
  // The subgroup kernel binds C as vec4 (whole-vec4 stores where aligned): its window is whole vec4s.
  const wc = windowBinding(rt, k.c.buffer, k.c.offset, (cMats - 1) * k.c.stride + (M - 1) * k.c.ld + cCols, kernel === 'subgroup');
  const wbias = k.bias ? windowBinding(rt, ref(k.bias).buffer, ref(k.bias).offset, k.biasPerRow ? M : N) : { binding: k.x.binding, shift: 0 };
  const yBinding = conv ? conv.images.binding : y!.binding;
  if (kernel === 'vec4' && conv) throw new Error(`${k.op}: the vec4 matmul kernel has no convolution gather`);
  // C's tile per workgroup: 32 × 32 for the subgroup kernel (8 lanes), 32 × 64 (WIDE) for plain operands
  // whose C is wide enough to fill it; 8·wgy × 8·wgx for the vec4 kernel.
  const wide = kernel === 'subgroup' && !conv && subgroupWide(N);
  const [wgx, wgy] = kernel === 'vec4' ? [vec4Side(N), vec4Side(M)] : [wide ? 8 : 4, 4];
  const tilesN = Math.ceil(N / (8 * wgx));
  const tiles = tilesN * Math.ceil(M / (8 * wgy));
  const [gx, gy] = grid1d(rt, tiles, 1);
  rt.dispatch({
    op: k.op,
    shader: kernel === 'vec4' ? vec4Shader : shader,
    constants: kernel === 'vec4' ? { WGX: wgx, WGY: wgy } : { MODE: conv ? conv.mode : 0, WIDE: Number(wide) },
    uniforms: new Params()
      .u32(M).u32(N).u32(k.K).u32(k.batch)
      .u32(k.x.ld4).u32(y ? y.ld4 : 0).u32(k.x.stride4).u32(conv ? conv.imageStride : y!.stride4)
      .u32(k.x.off4).u32(conv ? conv.images.offset : y!.off4).u32(k.c.ld).u32(k.c.stride)
      .u32(wc.shift).u32(wbias.shift).u32(tilesN).u32(tiles)
      .u32(zPer).u32(Number(k.accumulate)).u32(!k.bias ? 0 : k.biasPerRow ? 2 : 1)
      .u32(conv?.inH ?? 0).u32(conv?.inW ?? 0).u32(conv?.KH ?? 0).u32(conv?.KW ?? 0)
      .u32(conv?.gridW ?? 0).i32(conv?.rowMul ?? 0).i32(conv?.rowAdd ?? 0).i32(conv?.kSign ?? 0)
      .u32(conv?.colsPerImage ?? 0)
      .bytes(),
    // The subgroup kernel also declares the images' binding (slot 5), the vec4 kernel only slots 1–4.
    bindings: [k.x.binding, yBinding, wbias.binding, wc.binding, ...(kernel === 'vec4' ? [] : [yBinding])],
    workgroups: [gx, gy, outputs],
  });
}

/** Release the scratch buffers of packed operands (once the dispatches that read them are encoded). */
export function releaseOperands(rt: GpuRuntime, ...ops: (Operand | ConvGather)[]): void {
  for (const o of ops) if ('scratch' in o && o.scratch) rt.release(o.scratch);
}

/** C = op(A)·op(B) (+ bias) (+ C) with the subgroup or vec4 kernel; sizes already checked, M, N, K, batch ≥ 1. */
export function matmulSubgroup(rt: GpuRuntime, A: Mat, B: Mat, C: Mat, k: MatmulCall, kernel: PackedKernel = 'subgroup'): void {
  const x = operand(rt, A, k.K, k.M, k.transA, k.strideA, k.batch, 'A');
  const y = operand(rt, B, k.K, k.N, !k.transB, k.strideB, k.batch, 'B');
  const c = ref(C);
  runSubgroupKernel(rt, {
    op: matmulOpName(k),
    M: k.M,
    N: k.N,
    K: k.K,
    batch: k.batch,
    reduce: k.reduceBatch,
    accumulate: k.accumulate,
    x,
    y,
    c: { buffer: c.buffer, offset: c.offset, ld: k.N, stride: k.strideC },
    bias: k.bias,
    biasPerRow: k.biasPerRow,
    kernel,
  });
  releaseOperands(rt, x, y);
}
