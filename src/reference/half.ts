/**
 * float16 for the references: rounding a number to the nearest IEEE binary16 value, by arithmetic (scaled
 * rounding to the format's step), independent of the bit-level encoder that uploads float16 tensors
 * (kernels/cast/half.ts), and the tolerances of float16 results.
 */

/** Unit roundoff of float16's 11-bit significand (round to nearest): 2^-11. */
export const F16_U = 2 ** -11;
/**
 * WGSL lets an f32 → f16 conversion give either neighbour of the value (implementation-defined), so the bound
 * per rounding is the gap, 2^-10, not half of it.
 */
export const F16_ROUND = 2 ** -10;
/** Unit roundoff of float32: 2^-24. */
export const F32_U = 2 ** -24;

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The float16 value nearest x (ties to even), ±Infinity from 65520 on, NaN for NaN. */
export function f16Round(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity;
  if (a === 0) return x;
  // the spacing of float16 values around a: 2^(e − 10) for normal numbers, 2^-24 below 2^-14
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  const step = e < -14 ? 2 ** -24 : 2 ** (e - 10);
  return Math.sign(x) * roundHalfEven(a / step) * step;
}

/** Every element rounded to float16. */
export function f16RoundAll(xs: ArrayLike<number>): Float64Array {
  return Float64Array.from(xs, f16Round);
}

/**
 * The relative L2 tolerance of a float16 result computed in float32 from float16 inputs, against a float64
 * reference on the same (float16-rounded) inputs: one rounding of the result (`F16_ROUND`), `roundings`
 * times where the op rounds an intermediate to float16 as well, plus float32 accumulation over sums of
 * length `k` (k·2^-24, the worst case). float32 results (k > 0, roundings 0): only the accumulation term.
 */
export function f16Tol(k: number, roundings = 1): number {
  return roundings * F16_ROUND + Math.max(1, k) * F32_U * 4;
}
