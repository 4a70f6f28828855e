/**
 * The reductions' cases, shared by test/reduce.test.ts and the page's checks (src/web/gradcheck/reduce.ts): shapes
 * with dims lists, negative dims, keepdim both ways, batch 1, odd sizes, both kernel paths (one thread per output for
 * ≤ 64 terms, a workgroup per output above), and seeded inputs with ties, NaN and −inf. Pure data: no GPU.
 */
import { randomArray, rng } from './math';
import type { ReduceRefName } from './reduce';

/** A reduction over dims (undefined: all of them). */
export interface DimsCase {
  shape: number[];
  dims?: number | number[];
  keepdim: boolean;
}

/** sum, mean, var, std, logsumexp (and max/min without dim, over the `dims: undefined` cases). */
export const REDUCE_DIMS_CASES: DimsCase[] = [
  { shape: [1], keepdim: false }, // one element
  { shape: [7], dims: 0, keepdim: true },
  { shape: [13, 33], keepdim: true }, // all dims, kept: [1, 1]
  { shape: [13, 33], dims: 0, keepdim: false },
  { shape: [13, 33], dims: -1, keepdim: true },
  { shape: [1, 13], dims: 1, keepdim: false }, // batch 1
  { shape: [3, 5, 7], dims: [0, 2], keepdim: false }, // dims that are not adjacent
  { shape: [3, 5, 7], dims: [-1, 0], keepdim: true }, // negative and unsorted
  { shape: [2, 3, 4, 5], dims: [1, 2], keepdim: false }, // adjacent dims: one group
  { shape: [2, 3, 1, 5, 7], dims: [0, 2, 4], keepdim: true }, // a size-1 dim between reduced ones
  { shape: [2, 3, 2, 3, 2, 3, 2, 3], dims: [1, 3, 5, 7], keepdim: false }, // four kept and four reduced groups (the most)
  { shape: [2, 100, 3], dims: 1, keepdim: false }, // a workgroup per output
  { shape: [3, 40, 5, 9], dims: [1, 3], keepdim: true }, // a workgroup per output, dims not adjacent
  { shape: [4097], keepdim: false }, // long: each of 256 threads sums 16 or 17 terms
];

/** The reductions over dims that every REDUCE_DIMS_CASES case runs. */
export const REDUCE_DIMS_OPS: readonly ReduceRefName[] = ['sum', 'mean', 'var', 'std', 'logsumexp'];

/** Small cases for the references' backwards against finite differences. */
export const REDUCE_FD_CASES: DimsCase[] = [
  { shape: [3, 4], dims: 1, keepdim: false },
  { shape: [2, 3, 4], dims: [0, 2], keepdim: true },
  { shape: [5], keepdim: false },
];

/** A selection along one dim (undefined: the flattened tensor): max, min, argmax, argmin. */
export interface SelectCase {
  shape: number[];
  dim?: number;
  keepdim: boolean;
}

export const SELECT_CASES: SelectCase[] = [
  { shape: [1], keepdim: false },
  { shape: [7], dim: 0, keepdim: false },
  { shape: [13, 33], dim: 1, keepdim: false },
  { shape: [13, 33], dim: 0, keepdim: true },
  { shape: [3, 5, 7], dim: -2, keepdim: false },
  { shape: [1, 13], dim: 0, keepdim: true }, // batch 1 along the reduced dim (n = 1)
  { shape: [2, 100, 3], dim: 1, keepdim: false }, // a workgroup per row
  { shape: [13, 33], keepdim: false }, // flattened, a workgroup
  { shape: [3, 5], keepdim: true }, // flattened, kept: [1, 1]
];

/** topk: shape, dim, k. */
export const TOPK_CASES: [number[], number, number][] = [
  [[7], -1, 3],
  [[13, 33], 1, 5],
  [[13, 33], 0, 13], // k = n
  [[3, 5, 7], -2, 2],
  [[1, 100], 1, 7], // a workgroup per row
  [[2, 70, 3], 1, 70], // a workgroup per row, k = n
  [[5, 1], 1, 1],
];

/** Small cases for the selections' backwards against finite differences: shape, dim, k. */
export const SELECT_FD_CASES: [number[], number | undefined, number][] = [
  [[3, 5], 1, 1],
  [[4, 3, 2], 1, 2],
  [[7], undefined, 1],
];

/** The kinds of inputs: seeded uniform, few levels (many ties), all equal, with NaN, with −inf. */
export type InputKind = 'random' | 'ties' | 'equal' | 'nan' | '-inf';

/**
 * n seeded inputs of a kind, exactly representable in float32: 'ties' draws from three levels, 'equal' is all 0.5,
 * 'nan' and '-inf' put that value at about one element in five (and at the first), the rest uniform.
 */
export function reduceInputs(n: number, seed: number, kind: InputKind = 'random'): Float64Array {
  const r = rng(seed + 7);
  switch (kind) {
    case 'random':
      return randomArray(n, seed, -2, 2);
    case 'ties':
      return Float64Array.from({ length: n }, () => [-1, 0.25, 1][Math.floor(r() * 3)]);
    case 'equal':
      return new Float64Array(n).fill(0.5);
    case 'nan':
    case '-inf': {
      const special = kind === 'nan' ? NaN : -Infinity;
      return randomArray(n, seed, -2, 2).map((v, i) => (i === 0 || r() < 0.2 ? special : v));
    }
  }
}
