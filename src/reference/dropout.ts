/**
 * Float64 reference of dropout: a CPU port of the counter-based generator the GPU draws from (Tensor.rand and
 * the dropout mask, src/kernels/elementwise/fill.wgsl and src/kernels/dropout/dropout.wgsl), so a seeded mask is known element by element.
 */

/** The PCG hash of one 32-bit word. */
function pcg(v: number): number {
  const state = (Math.imul(v, 747796405) + 2891336453) >>> 0;
  const word = Math.imul((state >>> ((state >>> 28) + 4)) ^ state, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** Element i of stream `stream` for `seed`: a float32 uniform in (0, 1), as the shaders compute it. */
export function rand01Ref(seed: number, i: number, stream: number): number {
  const h = pcg((pcg((seed ^ Math.imul(stream, 0x9e3779b9)) >>> 0) ^ pcg(i)) >>> 0);
  return Math.fround((Math.fround(h >>> 8) + 0.5) / 16777216);
}

/** The stream dropout draws its mask from (Tensor.rand uses stream 0). */
export const DROPOUT_STREAM = 3;

/** The mask dropout(x, p, true, seed) applies: element i kept (1) when rand01(seed, i, stream 3) >= p. */
export function dropoutMaskRef(n: number, p: number, seed: number): Float64Array {
  const pf = Math.fround(p);
  return Float64Array.from({ length: n }, (_, i) => (rand01Ref(seed >>> 0, i, DROPOUT_STREAM) >= pf ? 1 : 0));
}

/** x · mask / (1 − p) (0 for p = 1), rounded as the GPU does in float32: one scale, then one product. */
export function dropoutRef(x: ArrayLike<number>, mask: ArrayLike<number>, p: number): Float64Array {
  const s = Math.fround(p >= 1 ? 0 : 1 / (1 - p));
  return Float64Array.from(x, (v, i) => Math.fround(v * Math.fround(mask[i] * s)));
}
