/**
 * Seeded inputs and error measures for the numerics checks, free of vitest and Node, so the same code
 * runs in the vitest suite and in the browser's gradient-check page (src/web/gradcheck-cases.ts).
 */

/**
 * Tolerances, as relative L2 error ‖gpu − ref‖ / ‖ref‖ against the float64 references: elementwise ops in
 * float32; reductions, matmul and conv (long inner sums); and a reference's own backward against central
 * finite differences in float64.
 */
export const TOL = { elementwise: 1e-5, reduction: 1e-4, fd: 1e-6 } as const;

/** A seeded float64 generator for test inputs (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [lo, hi), as float64, exactly representable in float32 (so both sides see the same input). */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.fround(lo + (hi - lo) * r());
  return out;
}

/** n distinct values (a seeded permutation of a grid spaced 2/n apart), so no two maxima are near a tie (max pooling). */
export function distinctArray(n: number, seed: number): Float64Array {
  const r = rng(seed);
  const v = Float64Array.from({ length: n }, (_, i) => Math.fround((2 * i) / n - 1));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [v[i], v[j]] = [v[j], v[i]];
  }
  return v;
}

/** ‖a − b‖ / ‖b‖ (absolute when ‖b‖ is 0). NaN anywhere, or a length mismatch, gives Infinity, so it never passes. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) return Infinity;
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/**
 * Central finite differences of a scalar float64 function f at x0, for every element (or the indices given):
 * df/dx_i ≈ (f(x + h e_i) − f(x − h e_i)) / 2h. x0 is not modified.
 */
export function finiteDiff(f: (x: Float64Array) => number, x0: ArrayLike<number>, h = 1e-6, indices?: number[]): Float64Array {
  const x = Float64Array.from(x0);
  const idx = indices ?? [...x.keys()];
  return Float64Array.from(idx, (i) => {
    const old = x[i];
    x[i] = old + h;
    const fp = f(x);
    x[i] = old - h;
    const fm = f(x);
    x[i] = old;
    return (fp - fm) / (2 * h);
  });
}

/** Σ w_i y_i: a scalar loss with fixed random weights, so every output element gets its own gradient. */
export function weightedSum(y: ArrayLike<number>, w: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * w[i];
  return s;
}
