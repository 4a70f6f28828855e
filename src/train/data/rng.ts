/**
 * Seeded pseudo-random numbers: xoshiro128** seeded through a 32-bit hash of (seed, ...keys).
 *
 * `Rng.derive(seed, epoch, index)` gives an independent stream per key tuple, so the augmentation
 * of sample i in epoch e is the same whichever worker draws it and in whatever order.
 */

/** What the transforms need from a random source (tests may supply a scripted one). */
export interface RandomSource {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform in [a, b). */
  uniform(a: number, b: number): number;
}

const TWO_POW_32 = 4294967296;

/** murmur3's 32-bit finaliser: a bijective avalanche mix. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash a list of integers (any safe integer, negative included) to 32 bits. */
export function hashInts(values: readonly number[]): number {
  let h = 0x9e3779b9;
  for (const v of values) {
    if (!Number.isSafeInteger(v)) throw new RangeError(`rng key must be a safe integer, got ${v}`);
    const lo = v >>> 0;
    const hi = Math.floor(v / TWO_POW_32) >>> 0;
    h = fmix32((h ^ fmix32(lo + 0x632be5ab)) + 0x7f4a7c15);
    h = fmix32((h ^ fmix32(hi + 0x85157af5)) + 0x3c6ef372);
  }
  return h;
}

/** FNV-1a over UTF-16 code units: a stable 32-bit key for a string (e.g. a class name). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class Rng implements RandomSource {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** `seed` is any safe integer. */
  constructor(seed: number) {
    // splitmix32 expands the 32-bit hash into the 128-bit state.
    let x = hashInts([seed]);
    const split = () => {
      x = (x + 0x9e3779b9) >>> 0;
      return fmix32(x);
    };
    this.s0 = split();
    this.s1 = split();
    this.s2 = split();
    this.s3 = split();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** An independent stream for the key tuple, e.g. `Rng.derive(seed, epoch, sampleIndex)`. */
  static derive(seed: number, ...keys: number[]): Rng {
    return new Rng(hashInts([seed, ...keys]));
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  next(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`Rng.int needs a positive integer, got ${n}`);
    return Math.floor(this.next() * n);
  }

  uniform(a: number, b: number): number {
    return a + (b - a) * this.next();
  }

  /** Fisher–Yates, in place; returns the same array. */
  shuffle<T>(array: T[]): T[] {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i]!;
      array[i] = array[j]!;
      array[j] = tmp;
    }
    return array;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Tags that keep the data pipeline's streams apart for the same seed: `Rng.derive(seed, tag, ...)`. */
export const RNG_STREAM = { augment: 1, shuffle: 2, split: 3 } as const;
