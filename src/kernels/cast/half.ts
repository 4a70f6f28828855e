/**
 * IEEE-754 binary16 on the CPU: encoding numbers into float16 bits (round to nearest, ties to even, once;
 * ±inf past 65504's rounding range; NaN kept) and decoding them. Used to upload and read back float16 tensors.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float16 bits of `v` (rounded to nearest even). */
export function f16Bits(v: number): number {
  f32[0] = v;
  // A float64 that float32 cannot hold: round it to float32 to odd (the float32 neighbour whose last bit is 1), so
  // that the rounding to float16 below is the float64 value's own (rounding to nearest twice would not be:
  // 65519.999999 would become 65520, then inf; 1 + 2^-11 + 2^-40 a tie, then 1).
  if (f32[0] !== v && Number.isFinite(f32[0]) && (u32[0] & 1) === 0) u32[0] += Math.abs(f32[0]) > Math.abs(v) ? -1 : 1;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf, NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    // subnormal or zero: shift the mantissa (with its implicit 1) right by 14 − e bits, rounding to even
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && (m & 1))) m++;
    return sign | m;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++; // may carry into the exponent (up to inf): correct
  return sign | h;
}

/** The value of float16 bits `h`. */
export function f16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Numbers (float64 or float32) → float16 bits (a Uint16Array padded to whole 4-byte words). */
export function encodeF16(data: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(Math.max(2, Math.ceil(data.length / 2) * 2));
  for (let i = 0; i < data.length; i++) out[i] = f16Bits(data[i]);
  return out;
}

/** The first `n` float16 values of `bits`, as float32. */
export function decodeF16(bits: Uint16Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f16Value(bits[i]);
  return out;
}
