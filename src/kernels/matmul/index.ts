/**
 * C = op(A)·op(B) (+ bias) (+ C), single or batched: the public launcher. It runs one of three kernels:
 *   'subgroup' (matmul_subgroup.wgsl, subgroup.ts): for adapters with subgroups of 8 lanes (llvmpipe);
 *     chosen automatically when available and the shape is not tiny;
 *   'vec4' (matmul_vec4.wgsl, vec4.ts): every other adapter (SwiftShader, GPUs) when the shape is not tiny;
 *     8 × 8 outputs per thread in named registers;
 *   'portable' (matmul.wgsl, portable.ts): any adapter, any shape, no packing; the fallback.
 * The first two take operands packed into rows of vec4 (pack.ts).
 */
import type { GpuRuntime } from '../../gpu/runtime';
import { choose } from '../config';
import { type Mat, type MatmulCall, type PackedKernel, type PackedKernelSpec, matmulOpName, ref } from './common';
import { asOperand, releaseOperands } from './pack';
import { DEFAULT_TILES, MAX_TM, MAX_TN, type MatmulTiles, matmulPortable } from './portable';
import { hasSubgroupMatmul, runSubgroupKernel } from './subgroup';
import { runVec4Kernel } from './vec4';

export type { Mat, MatRef } from './common';
export type { MatmulTiles } from './portable';
export { DEFAULT_TILES } from './portable';
export { hasSubgroupMatmul } from './subgroup';

/** Which kernel runs a matmul (see the top of this file). */
export type MatmulVariant = 'portable' | 'subgroup' | 'vec4';

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
  /** Force a kernel (tests, benchmarks). Default: matmulVariant(). 'subgroup' needs hasSubgroupMatmul(rt); 'vec4' runs anywhere. */
  variant?: MatmulVariant;
}

/**
 * The kernel matmul() uses by default: on adapters with 8-lane subgroups (llvmpipe), 'subgroup' for products
 * big enough for its 32 × 32 tiles (min(M, N) ≥ 16, K ≥ 16) and 'portable' below that (its narrower tiles
 * and the saved packing pass win there); on every other adapter 'vec4', whose loop-free body is what
 * SwiftShader needs (the portable kernel's loops over register arrays run from memory there).
 */
export function matmulVariant(rt: GpuRuntime, M: number, N: number, K: number): MatmulVariant {
  if (!hasSubgroupMatmul(rt)) return choose(rt, 'matmul', `${M}x${N}x${K}`, PORTABLE_VARIANTS, 'vec4');
  return choose(rt, 'matmul', `${M}x${N}x${K}`, ALL_VARIANTS, Math.min(M, N) < 16 || K < 16 ? 'portable' : 'subgroup');
}
const ALL_VARIANTS: readonly MatmulVariant[] = ['subgroup', 'vec4', 'portable'];
const PORTABLE_VARIANTS: readonly MatmulVariant[] = ['vec4', 'portable'];

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
  const variant = opts.tiles ? 'portable' : (opts.variant ?? matmulVariant(rt, M, N, K));
  if (variant === 'subgroup' && !hasSubgroupMatmul(rt)) throw new Error('matmul: the subgroup kernel needs the subgroups feature with 8-lane subgroups');
  // K = 0 leaves only the epilogue (bias, zeros, or C unchanged): the portable kernel does it without packing.
  if (variant !== 'portable' && K > 0) matmulPacked(rt, A, B, C, call, variant);
  else matmulPortable(rt, A, B, C, call, t);
}

/** One dispatch of a packed kernel: spec.kernel's, the subgroup kernel by default. */
export function runPackedKernel(rt: GpuRuntime, k: PackedKernelSpec): void {
  if ((k.kernel ?? 'subgroup') === 'vec4') runVec4Kernel(rt, k);
  else runSubgroupKernel(rt, k);
}

/** C = op(A)·op(B) (+ bias) (+ C) with the subgroup or vec4 kernel; sizes already checked, M, N, K, batch ≥ 1. */
function matmulPacked(rt: GpuRuntime, A: Mat, B: Mat, C: Mat, k: MatmulCall, kernel: PackedKernel): void {
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
  });
  releaseOperands(rt, x, y);
}
