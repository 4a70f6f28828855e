// Shared vocabulary of the weights readers: element types, the tensor record they return,
// the one error type they throw, and the byte → typed-array decoding both formats use.

/** Element types the readers accept. F16, BF16, F64 and I32 are widened to Float32Array on read. */
export type DType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I32' | 'I64';

/**
 * One tensor read from (or to be written to) a weights file. `dtype` is the element type stored in
 * the file; `data` is always a fresh, contiguous, row-major Float32Array, except for I64, which stays
 * a BigInt64Array (PyTorch's `num_batches_tracked` counters).
 */
export interface NamedTensor {
  dtype: DType;
  shape: number[];
  data: Float32Array | BigInt64Array;
}

/**
 * Every problem with a weights file. The message starts with the file (`source`, e.g. its path),
 * then the tensor key where one is involved, then what is wrong and what to do about it.
 */
export class WeightsFormatError extends Error {
  override readonly name = 'WeightsFormatError';
  constructor(
    readonly source: string,
    detail: string,
    readonly key?: string,
    options?: { cause?: unknown },
  ) {
    super(`${source}: ${key === undefined ? '' : `tensor "${key}": `}${detail}`, options);
  }
}

/**
 * Runs a reader entry point, turning any unexpected exception (a RangeError, a zip library error)
 * into a WeightsFormatError that names the file, so callers have one error type to handle.
 */
export function withFileErrors<T>(source: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof WeightsFormatError) throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw new WeightsFormatError(
      source,
      `could not be read (${why}). The file is corrupt or truncated: download or save it again.`,
      undefined,
      { cause: err },
    );
  }
}

/** Bytes per element of each supported dtype, as stored in the file. */
export const DTYPE_SIZE: Readonly<Record<DType, number>> = { F32: 4, F16: 2, BF16: 2, F64: 8, I32: 4, I64: 8 };

export function isDType(name: unknown): name is DType {
  return typeof name === 'string' && Object.hasOwn(DTYPE_SIZE, name);
}

/** Product of a shape's sizes (1 for a scalar). */
export function numelOf(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/**
 * Decodes little-endian elements into a fresh typed array (the input may be unaligned and is never
 * aliased). `bytes.length` must be a multiple of the element size; callers check this first.
 * Like WebGPU itself, this assumes a little-endian host.
 */
export function decodeElements(dtype: DType, bytes: Uint8Array): Float32Array | BigInt64Array {
  const copy = bytes.slice().buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(copy);
    case 'I64':
      return new BigInt64Array(copy);
    case 'F64':
      return Float32Array.from(new Float64Array(copy));
    case 'I32':
      return Float32Array.from(new Int32Array(copy));
    case 'F16':
      return Float32Array.from(new Uint16Array(copy), (bits) => halfTable()[bits]);
    case 'BF16':
      return bfloat16ToFloat(new Uint16Array(copy));
  }
}

/** IEEE 754 binary16 bits → number (exact: every half is representable in float32). */
function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

let halfValues: Float32Array | undefined;

/** Every binary16 value, widened once (256 KiB) so converting a half model is a table lookup. */
function halfTable(): Float32Array {
  return (halfValues ??= Float32Array.from({ length: 1 << 16 }, (_, bits) => halfToFloat(bits)));
}

/** bfloat16 is the top half of a float32, so widening is a 16-bit shift. */
function bfloat16ToFloat(bits: Uint16Array): Float32Array {
  const words = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) words[i] = bits[i] << 16;
  return new Float32Array(words.buffer);
}
