/**
 * C = op(A)·op(B) (+ bias) (+ C), single or batched: the public launcher. It runs one of three kernels:
 *   'subgroup' (shaders/matmul_subgroup.wgsl, src/kernels/matmul_subgroup.ts): for adapters with subgroups of
 *     8 lanes (llvmpipe), 3–5× faster there; chosen automatically when available and the shape is not tiny;
 *   'vec4' (shaders/matmul_vec4.wgsl, same launcher): every other adapter (SwiftShader, GPUs) when the shape
 *     is not tiny; 8 × 8 outputs per thread in named registers, ~10× the portable kernel on SwiftShader;
 *   'portable' (shaders/matmul.wgsl, below): any adapter, any shape, no packing; the fallback.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import shader from './matmul.wgsl';
import { Params, grid1d } from '../util';
import { type Mat, type MatmulCall, matmulOpName, ref, windowBinding } from './common';
import { hasSubgroupMatmul, matmulSubgroup } from './subgroup';

export type { Mat, MatRef } from './common';
export { windowBinding } from './common';
export { hasSubgroupMatmul } from './subgroup';

/** Which kernel runs a matmul (see the top of this file). */
export type MatmulVariant = 'portable' | 'subgroup' | 'vec4';

/** Register-tiling shape: each thread computes tm × tn outputs, wg threads side by side along N. */
export interface MatmulTiles {
  tm: number;
  tn: number;
  wg: number;
}

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
 * The tile shape, chosen on lavapipe (llvmpipe, 8-wide SIMD, see ADAPTERS.md): 16×8 outputs per thread beat
 * 8×8, 12×4, 8×4, 24×8, 32×8 and 16×16 on 512³/1024³ matmuls and on ResNet's convolutions. A real GPU wants
 * smaller per-thread tiles and larger workgroups: pass `tiles` (or change this per adapter).
 */
export const DEFAULT_TILES: MatmulTiles = { tm: 16, tn: 8, wg: 8 };
const MAX_TM = 16;
const MAX_TN = 8;

/**
 * The kernel matmul() uses by default: on adapters with 8-lane subgroups (llvmpipe), 'subgroup' for products
 * big enough for its 32 × 32 tiles (min(M, N) ≥ 16, K ≥ 16) and 'portable' below that (its narrower tiles
 * and the saved packing pass win there); on every other adapter 'vec4', whose loop-free body is what
 * SwiftShader needs (the portable kernel's loops over register arrays run from memory there).
 */
export function matmulVariant(rt: GpuRuntime, M: number, N: number, K: number): MatmulVariant {
  if (!hasSubgroupMatmul(rt)) return 'vec4';
  return Math.min(M, N) < 16 || K < 16 ? 'portable' : 'subgroup';
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
  const variant = opts.tiles ? 'portable' : (opts.variant ?? matmulVariant(rt, M, N, K));
  if (variant === 'subgroup' && !hasSubgroupMatmul(rt)) throw new Error('matmul: the subgroup kernel needs the subgroups feature with 8-lane subgroups');
  // K = 0 leaves only the epilogue (bias, zeros, or C unchanged): the portable kernel does it without packing.
  if (variant !== 'portable' && K > 0) matmulSubgroup(rt, A, B, C, call, variant);
  else matmulPortable(rt, A, B, C, call, t);
}

/**
 * The portable kernel (shaders/matmul.wgsl). It is fastest with a K-major matrix in its A slot. When A is
 * [M,K] and B is [K,N] (both plain), it computes Cᵀ = Bᵀ·Aᵀ instead, which puts B (K-major for Bᵀ) in that
 * slot, and stores the result transposed, which is C.
 */
function matmulPortable(rt: GpuRuntime, A: Mat, B: Mat, C: Mat, k: MatmulCall, t: MatmulTiles): void {
  const { M, N, K, transA, transB, batch, strideA, strideB, strideC, reduceBatch, accumulate, biasPerRow } = k;
  const last = (stride: number) => (batch - 1) * stride;
  const a = ref(A);
  const b = ref(B);
  const c = ref(C);
  const wa = windowBinding(rt, a.buffer, a.offset, last(strideA) + M * K);
  const wb = windowBinding(rt, b.buffer, b.offset, last(strideB) + K * N);
  const wc = windowBinding(rt, c.buffer, c.offset, last(strideC) + M * N);
  const wbias = k.bias ? windowBinding(rt, ref(k.bias).buffer, ref(k.bias).offset, biasPerRow ? M : N) : { binding: wa.binding, shift: 0 };

  // The kernel's view: D[m,n] = Σ_k X(m,k)·Y(k,n), with X = op(A), Y = op(B) or, swapped, X = op(B)ᵀ, Y = op(A)ᵀ.
  const swap = !transA && !transB;
  const [x, y, Mk, Nk] = swap ? [wb, wa, N, M] : [wa, wb, M, N];
  const [sx, sy] = swap ? [strideB, strideA] : [strideA, strideB];
  const biasMode = !k.bias ? 0 : biasPerRow !== swap ? 2 : 1;

  const tilesN = Math.ceil(Nk / (t.wg * t.tn));
  const tiles = tilesN * Math.ceil(Mk / t.tm);
  const [gx, gy] = grid1d(rt, tiles, 1);
  rt.dispatch({
    op: matmulOpName(k),
    shader,
    constants: {
      TRANS_A: Number(swap || transA),
      TRANS_B: Number(swap || transB),
      TRANS_C: Number(swap),
      BIAS: biasMode,
      ACCUMULATE: Number(accumulate),
      REDUCE_BATCH: Number(reduceBatch),
      TM: t.tm,
      TN: t.tn,
      WG: t.wg,
    },
    uniforms: new Params()
      .u32(Mk).u32(Nk).u32(K).u32(batch)
      .u32(sx).u32(sy).u32(strideC).u32(tilesN)
      .u32(tiles).u32(x.shift).u32(y.shift).u32(wc.shift)
      .u32(wbias.shift)
      .bytes(),
    bindings: [x.binding, y.binding, wbias.binding, wc.binding],
    workgroups: [gx, gy, reduceBatch ? 1 : batch],
  });
}
