/** Float64 CPU references for matmul and linear (pure TS, no Node or GPU: runs in vitest and in the browser). */

/** c[M,N] = a[M,K] · b[K,N]. */
export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number): Float64Array {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) {
      const av = a[m * K + k];
      for (let n = 0; n < N; n++) c[m * N + n] += av * b[k * N + n];
    }
  }
  return c;
}

/** The [C,R] transpose of a row-major [R,C] matrix. */
export function transposeRef(a: ArrayLike<number>, R: number, C: number): Float64Array {
  const t = new Float64Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) t[c * R + r] = a[r * C + c];
  return t;
}

/** Gradients of L = Σ g·(a·b): da = g·bᵀ, db = aᵀ·g. */
export function matmulBackwardRef(a: ArrayLike<number>, b: ArrayLike<number>, g: ArrayLike<number>, M: number, K: number, N: number): { da: Float64Array; db: Float64Array } {
  return {
    da: matmulRef(g, transposeRef(b, K, N), M, N, K),
    db: matmulRef(transposeRef(a, M, K), g, K, M, N),
  };
}

/** y[N,out] = x[N,in] · w[out,in]ᵀ + bias[out] (torch.nn.functional.linear). */
export function linearRef(x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null, N: number, inF: number, outF: number): Float64Array {
  const y = matmulRef(x, transposeRef(w, outF, inF), N, inF, outF);
  if (bias) for (let i = 0; i < N; i++) for (let o = 0; o < outF; o++) y[i * outF + o] += bias[o];
  return y;
}

/** Gradients of L = Σ g·linear(x, w, b): dx = g·w, dw = gᵀ·x, db = Σ_rows g. */
export function linearBackwardRef(x: ArrayLike<number>, w: ArrayLike<number>, g: ArrayLike<number>, N: number, inF: number, outF: number): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const db = new Float64Array(outF);
  for (let i = 0; i < N; i++) for (let o = 0; o < outF; o++) db[o] += g[i * outF + o];
  return {
    dx: matmulRef(g, w, N, outF, inF),
    dw: matmulRef(transposeRef(g, N, outF), x, outF, N, inF),
    db,
  };
}

/** The elementwise work fused after a GEMM (the tiled kernels' epilogue): see gemmEpilogueRef. */
export interface GemmEpilogueRef {
  /** Per row (length M) or per column (length N), as `perRow` says; so is the bias. */
  scale?: ArrayLike<number> | null;
  bias?: ArrayLike<number> | null;
  perRow?: boolean;
  /** [M, N], added after the bias. */
  residual?: ArrayLike<number> | null;
  /** C's old value [M, N], added when accumulating. */
  c0?: ArrayLike<number> | null;
  relu?: boolean;
}

/** out[m, n] = max?(prod[m, n]·scale + bias + residual[m, n] + c0[m, n], 0) over a [M, N] product. */
export function gemmEpilogueRef(prod: ArrayLike<number>, M: number, N: number, e: GemmEpilogueRef): Float64Array {
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      const i = m * N + n;
      const a = e.perRow ? m : n;
      let v = prod[i] * (e.scale ? e.scale[a] : 1) + (e.bias ? e.bias[a] : 0) + (e.residual ? e.residual[i] : 0) + (e.c0 ? e.c0[i] : 0);
      if (e.relu) v = Math.max(v, 0);
      out[i] = v;
    }
  }
  return out;
}
