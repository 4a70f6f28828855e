/**
 * Launcher for matmul.wgsl, the portable kernel: any adapter, any shape, no packing (the fallback, and
 * matmul()'s choice for small products on subgroup adapters).
 */
import type { GpuRuntime } from '../../gpu/runtime';
import shader from './matmul.wgsl';
import { grid1d, windowBinding } from '../util';
import { defineKernel, launch } from '../contract';

export const matmulPortableKernel = defineKernel({
  name: 'matmul/matmul.wgsl',
  shader,
  entries: ['main'],
  uniforms: [
    ['M', 'u32'], ['N', 'u32'], ['K', 'u32'], ['batch', 'u32'],
    ['strideA', 'u32'], ['strideB', 'u32'], ['strideC', 'u32'], ['tilesN', 'u32'],
    ['tiles', 'u32'], ['offA', 'u32'], ['offB', 'u32'], ['offC', 'u32'],
    ['offBias', 'u32'],
  ],
  bindings: [['a', 'read'], ['b', 'read'], ['bias', 'read'], ['c', 'read_write']],
});
import { type Mat, type MatmulCall, matmulOpName, ref } from './common';

/** Register-tiling shape: each thread computes tm × tn outputs, wg threads side by side along N. */
export interface MatmulTiles {
  tm: number;
  tn: number;
  wg: number;
}

/**
 * The tile shape, chosen on lavapipe (llvmpipe, 8-wide SIMD): the fastest per-thread tile there on large
 * matmuls and on ResNet's convolutions. A real GPU wants smaller per-thread tiles and larger workgroups: pass
 * `tiles` (or change this per adapter).
 */
export const DEFAULT_TILES: MatmulTiles = { tm: 16, tn: 8, wg: 8 };
export const MAX_TM = 16;
export const MAX_TN = 8;

/**
 * The portable kernel. It is fastest with a K-major matrix in its A slot. When A is [M,K] and B is [K,N]
 * (both plain), it computes Cᵀ = Bᵀ·Aᵀ instead, which puts B (K-major for Bᵀ) in that slot, and stores the
 * result transposed, which is C.
 */
export function matmulPortable(rt: GpuRuntime, A: Mat, B: Mat, C: Mat, k: MatmulCall, t: MatmulTiles): void {
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
  launch(rt, matmulPortableKernel, {
    op: matmulOpName(k),
    entry: 'main',
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
    uniforms: {
      M: Mk, N: Nk, K, batch,
      strideA: sx, strideB: sy, strideC, tilesN,
      tiles, offA: x.shift, offB: y.shift, offC: wc.shift,
      offBias: wbias.shift,
    },
    bindings: { a: x.binding, b: y.binding, bias: wbias.binding, c: wc.binding },
    workgroups: [gx, gy, reduceBatch ? 1 : batch],
  });
}
