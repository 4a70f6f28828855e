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
 * The relative L2 tolerance (‖gpu − ref‖ / ‖ref‖, math.ts relError) of a result computed in float32 from float16
 * inputs, against a float64 reference on the same float16-rounded inputs (f16Round; weights and upstream gradients
 * too), where the op rounds to float16 `roundings` times on the way (its float16 output: 1; a float32 result: 0;
 * stored intermediates add theirs), with sums of at most `k` terms (the reduction length of that output: C·KH·KW
 * for a convolution's y, N·OH·OW for its dw; 1 for an elementwise op).
 *
 * - Each rounding of a normal value to float16 errs by less than the gap between its neighbours, 2^-10 of it
 *   (F16_ROUND: WGSL lets the conversion return either neighbour, so not half the gap). Per element, so in L2.
 * - float32 accumulation: a k-term float32 sum errs by at most (k − 1)·2^-24 of the sum of the terms' magnitudes,
 *   in any order. The products of float16 values are exact in float32, so that is the only float32 error of a
 *   convolution or matmul. Relative to the result this bound is not strict (terms of both signs cancel), but the
 *   GPU's tree and tiled sums err far less than the worst case: 4·k·2^-24 is an envelope with a margin (the
 *   measured errors on lavapipe stay below 5% of it). docs/ARCHITECTURE.md ("float16 (autocast)") has the table.
 *
 * Float32 results (roundings 0) keep only the accumulation term, which stays below one float16 rounding (2^-11)
 * while k < 2048: a float16 rounding where the design has none (a weight's gradient narrowed) fails the check.
 * Subnormal float16 outputs (below 2^-14) err by up to 2^-24 absolutely: at most 2^-24·√n / ‖ref‖ in all, which is
 * negligible in these checks (cross-entropy's small probabilities are the only subnormals).
 */
export function f16Tol(k: number, roundings = 1): number {
  return f16TolOf(4 * Math.max(1, k) * F32_U, roundings);
}

/**
 * `roundings` float16 roundings (2^-10 each, as f16Tol) on top of the float32 computation's own tolerance
 * `f32Tol`: for elementwise ops whose float32 kernels approximate (exp, erf, tanh), the tolerance their float32
 * checks hold them to (TOL.elementwise), in place of f16Tol's accumulation term.
 */
export function f16TolOf(f32Tol: number, roundings = 1): number {
  return roundings * F16_ROUND + f32Tol;
}
