/**
 * C = op(A)·op(B) (+ bias) (+ C), single or batched: the public launcher. It runs one of four kernels:
 *   'subgroup' (matmul_subgroup.wgsl, subgroup.ts): for adapters with a fixed subgroup width of 4 to 128 lanes
 *     (llvmpipe: 8, or 4 to 128 with LP_NATIVE_VECTOR_WIDTH);
 *     chosen automatically when available and the shape is not tiny;
 *   'vec4' (matmul_vec4.wgsl, vec4.ts): every other software adapter (SwiftShader) when the shape is not tiny;
 *     8 × 8 outputs per thread in named registers;
 *   'tiled-…' (matmul_tiled.wgsl, tiled.ts): workgroup-memory tiling in a few configurations, the default on
 *     hardware adapters (GPUs); with 'subgroup', the kernels with a fused epilogue (scale, residual, ReLU);
 *   'portable' (matmul.wgsl, portable.ts): any adapter, any shape, no packing; the fallback.
 * All but the portable kernel take operands packed into rows of vec4 (pack.ts).
 */
import type { GpuRuntime } from '../../gpu/runtime';
import { choose } from '../config';
import { type Epilogue, type Mat, type MatmulCall, type PackedKernel, type PackedKernelSpec, hasEpilogue, matmulOpName, ref } from './common';
import { asOperand, releaseOperands } from './pack';
import { DEFAULT_TILES, MAX_TM, MAX_TN, type MatmulTiles, matmulPortable } from './portable';
import { hasSubgroupMatmul, runSubgroupKernel, subgroupLanes, subgroupPreferred, subgroupTile } from './subgroup';
import { runVec4Kernel } from './vec4';
import { runTiledKernel, tiledConfig, tiledFor, tiledNames } from './tiled';
import { matmulSmatrix, smatrixFits } from './smatrix';

export type { Epilogue, Mat, MatRef, PackedKernel, TiledName } from './common';
export { TILED_CONFIGS, TILED_NAMES, type TiledConfig, tiledConfig, tiledFor, tiledNames } from './tiled';
export type { MatmulTiles } from './portable';
export { DEFAULT_TILES } from './portable';
export { SUBGROUP_LANES, hasSubgroupMatmul, subgroupLanes, subgroupPreferred } from './subgroup';
export { SMATRIX_FEATURE, type SmatrixConfig, convDataSmatrix, convForwardSmatrix, convWeightSmatrix, hasSmatrix, smatrixConfig } from './smatrix';

/** Which kernel runs a matmul (see the top of this file). */
export type MatmulVariant = 'portable' | PackedKernel | 'smatrix';

export interface MatmulOptions {
  /** A is stored [K, M] (use Aᵀ). */
  transA?: boolean;
  /** B is stored [N, K] (use Bᵀ). */
  transB?: boolean;
  /** Added to every output: bias[n] per column (default) or bias[m] per row. */
  bias?: Mat | null;
  biasPer?: 'col' | 'row';
  /** C += op(A)·op(B) instead of C = … */
  accumulate?: boolean;
  /** Number of matrices; matrix z starts at z·stride (elements). A stride of 0 reuses one matrix. */
  batch?: number;
  strideA?: number;
  strideB?: number;
  strideC?: number;
  /** Sum the batch's products into a single C (strideC is then unused). */
  reduceBatch?: boolean;
  /** Override the portable kernel's tile shape (benchmarks, other adapters); implies variant 'portable'. */
  tiles?: MatmulTiles;
  /**
   * Force a kernel (tests, benchmarks). Default: matmulVariant(). 'subgroup' needs hasSubgroupMatmul(rt); 'vec4'
   * runs anywhere; a tiled configuration where the adapter's limits admit it (tiledNames).
   */
  variant?: MatmulVariant;
  /**
   * Scale, residual and ReLU fused after the product (see Epilogue). The tiled and subgroup kernels run it; with another
   * kernel chosen, the default variant becomes the shape's tiled configuration, and a forced other one throws.
   */
  epilogue?: Epilogue;
  /**
   * A and B hold float16 values (the float16 path's operands: float16 tensors widened, weights rounded): the
   * subgroup-matrix kernel ('smatrix', float16 inputs, float32 accumulation) is then a candidate where the adapter
   * offers it, at the 'matmul' site's shape 'MxNxK f16'.
   */
  halfInputs?: boolean;
}

/**
 * The kernel matmul() uses by default. On software adapters: with subgroups of 8 lanes or more (llvmpipe;
 * subgroupPreferred), 'subgroup' for
 * products big enough for its 32 × 32 tiles (min(M, N) ≥ 16, K ≥ 16) and 'portable' below that (its narrower
 * tiles and the saved packing pass win there); without (SwiftShader) 'vec4', whose loop-free body is what
 * SwiftShader needs (the portable kernel's loops over register arrays run from memory there). On hardware
 * adapters, the tiled configuration of tiledFor. Every kernel the adapter runs is a candidate of the 'matmul'
 * site (shape 'MxNxK'), so a chooser (the autotuner) may pick another.
 */
export function matmulVariant(rt: GpuRuntime, M: number, N: number, K: number, batch = 1, halfInputs = false, matrices = batch): MatmulVariant {
  const tiled = tiledNames(rt);
  const subgroup = hasSubgroupMatmul(rt);
  // Its packed operands within a binding, and its packing's workgroup rows (one per k) within a dispatch.
  // (`matrices`: the operands' matrices, which a batch summed into one C, counted as one above, still has.)
  const smatrix = halfInputs && smatrixFits(rt, M, N, K, matrices);
  const candidates: MatmulVariant[] = [...(subgroup ? ['subgroup' as const] : []), 'vec4', 'portable', ...tiled, ...(smatrix ? ['smatrix' as const] : [])];
  const onGpu = rt.isSoftware ? null : smatrix && Math.min(M, N) >= 16 && K >= 16 ? 'smatrix' : tiledFor(rt, M, N, batch);
  const heuristic: MatmulVariant = onGpu ?? (!subgroupPreferred(rt) ? 'vec4' : Math.min(M, N) < 16 || K < 16 ? 'portable' : 'subgroup');
  return choose(rt, 'matmul', `${M}x${N}x${K}${halfInputs ? ' f16' : ''}`, candidates, heuristic);
}

/**
 * The packed kernel of a product inside a convolution (Winograd's batched products, the implicit GEMM's
 * gathers): a choice of the 'matmul' site at `shape` (see packedShape) among the packed kernels that run it
 * (no 'vec4' for a gather). Software adapters keep the subgroup kernel where it is preferred (subgroupPreferred),
 * else 'vec4' (a gather: the subgroup kernel where it runs, else the tiled kernel); hardware adapters take the
 * tiled configuration of tiledFor.
 */
export function packedKernel(rt: GpuRuntime, shape: string, M: number, N: number, outputs: number, gather: boolean): PackedKernel {
  const tiled = tiledNames(rt);
  const subgroup = hasSubgroupMatmul(rt);
  const candidates: PackedKernel[] = [...(subgroup ? ['subgroup' as const] : []), ...(gather ? [] : ['vec4' as const]), ...tiled];
  const fallback: PackedKernel | null = subgroupPreferred(rt) || (subgroup && gather) ? 'subgroup' : gather ? null : 'vec4';
  const heuristic = (!rt.isSoftware || !fallback ? tiledFor(rt, M, N, outputs) : null) ?? fallback;
  if (!heuristic) throw new Error(`matmul [${shape}]: no packed kernel runs this product here (the subgroup kernel needs fixed-width subgroups; no tiled configuration fits the adapter's limits)`);
  return choose(rt, 'matmul', shape, candidates, heuristic);
}

/** The C tile (rows, columns) one workgroup of a packed kernel computes (the subgroup kernel: its narrow tile). */
export function packedTile(rt: GpuRuntime, kernel: PackedKernel): [number, number] {
  if (kernel.startsWith('tiled-')) {
    const c = tiledConfig(kernel);
    return [c.bm, c.bn];
  }
  return kernel === 'vec4' ? [64, 64] : subgroupTile(subgroupLanes(rt) ?? 8);
}

/**
 * The 'matmul' site's shape of a product inside a convolution: 'MxNxK xB' (a batch of B products, e.g.
 * Winograd's) or 'MxNxK <what>' (an implicit-GEMM gather: what = the pass and the convolution's geometry).
 */
export function packedShape(M: number, N: number, K: number, what: string): string {
  return `${M}x${N}x${K} ${what}`;
}

/**
 * C[M,N] = op(A)·op(B) (+ bias) (+ C), for `batch` matrices (or their sum with reduceBatch).
 * Any M, N, K (K = 0 gives the bias, or zeros). C must not share a buffer with A, B or the bias.
 */
export function matmul(rt: GpuRuntime, A: Mat, B: Mat, C: Mat, M: number, N: number, K: number, opts: MatmulOptions = {}): void {
  const { transA = false, transB = false, accumulate = false, reduceBatch = false } = opts;
  const batch = opts.batch ?? 1;
  const strideA = opts.strideA ?? M * K;
  const strideB = opts.strideB ?? K * N;
  const strideC = reduceBatch ? 0 : (opts.strideC ?? M * N);
  const t = opts.tiles ?? DEFAULT_TILES;
  for (const [name, v] of Object.entries({ M, N, K, batch, strideA, strideB, strideC })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`matmul: ${name} = ${v} must be a non-negative integer`);
  }
  if (t.tm < 1 || t.tm > MAX_TM || t.tn < 1 || t.tn > MAX_TN || t.wg < 1) throw new Error(`matmul: bad tile shape ${JSON.stringify(t)}`);
  if (M === 0 || N === 0 || batch === 0) return;
  const call: MatmulCall = { M, N, K, transA, transB, batch, strideA, strideB, strideC, reduceBatch, accumulate, bias: opts.bias ?? null, biasPerRow: opts.biasPer === 'row' };
  const fused = hasEpilogue(opts.epilogue);
  let variant = opts.tiles ? 'portable' : (opts.variant ?? matmulVariant(rt, M, N, K, reduceBatch ? 1 : batch, Boolean(opts.halfInputs) && !fused, batch));
  if (variant === 'smatrix') {
    if (!opts.halfInputs) throw new Error(`${matmulOpName(call)}: the subgroup-matrix kernel rounds its operands to float16; it runs products whose operands are float16 values (halfInputs)`);
    if (fused) throw new Error(`${matmulOpName(call)}: the subgroup-matrix kernel has no fused epilogue (scale, residual, relu)`);
    if (K === 0) return matmulPortable(rt, A, B, C, call, t);
    return matmulSmatrix(rt, A, B, C, call);
  }
  if (fused && !variant.startsWith('tiled-') && variant !== 'subgroup') {
    if (opts.variant || opts.tiles) throw new Error(`${matmulOpName(call)}: a fused epilogue (scale, residual, relu) needs a tiled or the subgroup kernel, not '${variant}'`);
    const tiled = tiledFor(rt, M, N, reduceBatch ? 1 : batch);
    if (!tiled) throw new Error(`${matmulOpName(call)}: a fused epilogue needs a tiled kernel, and none fits this adapter's limits`);
    variant = tiled;
  }
  if (variant === 'subgroup' && !hasSubgroupMatmul(rt)) throw new Error('matmul: the subgroup kernel needs the subgroups feature with a fixed subgroup width of 4 to 128 lanes');
  // K = 0 leaves only the epilogue (bias, zeros, or C unchanged): the portable kernel does it without packing.
  if (variant !== 'portable' && (K > 0 || fused)) matmulPacked(rt, A, B, C, call, variant as PackedKernel, opts.epilogue);
  else matmulPortable(rt, A, B, C, call, t);
}

/** One dispatch of a packed kernel: spec.kernel's, the subgroup kernel by default. */
export function runPackedKernel(rt: GpuRuntime, k: PackedKernelSpec): void {
  const kernel = k.kernel ?? 'subgroup';
  if (kernel.startsWith('tiled-')) return runTiledKernel(rt, k, kernel as `tiled-${string}`);
  if (kernel === 'subgroup') return runSubgroupKernel(rt, k);
  if (hasEpilogue(k.epilogue)) throw new Error(`${k.op}: a fused epilogue (scale, residual, relu) needs a tiled or the subgroup kernel, not '${kernel}'`);
  runVec4Kernel(rt, k);
}

/** C = op(A)·op(B) (+ bias) (+ C) (+ epilogue) with a packed kernel; sizes already checked, M, N, batch ≥ 1. */
function matmulPacked(rt: GpuRuntime, A: Mat, B: Mat, C: Mat, k: MatmulCall, kernel: PackedKernel, epilogue?: Epilogue): void {
  const x = asOperand(rt, A, k.K, k.M, k.transA, k.strideA, k.batch, 'A');
  const y = asOperand(rt, B, k.K, k.N, !k.transB, k.strideB, k.batch, 'B');
  const c = ref(C);
  runPackedKernel(rt, {
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
    epilogue,
  });
  releaseOperands(rt, x, y);
}
