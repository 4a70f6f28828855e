/**
 * Float64 references of the reductions (sum, mean, var, std, logsumexp, max/min without dim) over any dims, and of
 * the selections along one dim (max/min with dim, argmax, argmin, topk), with their backwards. Each output's terms
 * are found from explicit multi-indices (not the kernels' merged layout), so the two are independent. Pure: no GPU.
 */

/** A dim, a list of dims, or undefined (every dim); negative dims count from the end. */
export type RefDims = number | readonly number[] | undefined;

/** The reductions over dims with a float64 reference; 'max'/'min' are torch's max()/min() without dim (amax/amin). */
export type ReduceRefName = 'sum' | 'mean' | 'var' | 'std' | 'logsumexp' | 'max' | 'min';

/** The non-negative dims reduced (every dim when none are given, or an empty list). */
export function refDims(rank: number, dims: RefDims): number[] {
  const list = dims === undefined ? [] : typeof dims === 'number' ? [dims] : [...dims];
  if (list.length === 0) return [...Array(rank).keys()];
  return list.map((d) => (d < 0 ? d + Math.max(rank, 1) : d)).filter((d) => d < rank);
}

/** The output shape of reducing `dims`: removed, or kept as 1. */
export function reducedShapeRef(shape: readonly number[], dims: RefDims, keepdim: boolean): number[] {
  const ds = refDims(shape.length, dims);
  return keepdim ? shape.map((s, i) => (ds.includes(i) ? 1 : s)) : shape.filter((_, i) => !ds.includes(i));
}

/** For each output (row-major over the kept dims), the flat indices of its terms in increasing order. */
export function reduceGroupsRef(shape: readonly number[], dims: RefDims): number[][] {
  const ds = new Set(refDims(shape.length, dims));
  const total = shape.reduce((p, s) => p * s, 1);
  const kept = shape.map((s, i) => (ds.has(i) ? 1 : s));
  const groups: number[][] = Array.from({ length: kept.reduce((p, s) => p * s, 1) }, () => []);
  for (let j = 0; j < total; j++) {
    let r = j;
    let o = 0;
    let stride = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      const digit = r % shape[d];
      r = Math.floor(r / shape[d]);
      if (!ds.has(d)) {
        o += digit * stride;
        stride *= shape[d];
      }
    }
    groups[o].push(j);
  }
  return groups;
}

const nanMax = (a: number, b: number) => (Number.isNaN(a) || a > b ? a : b);
const nanMin = (a: number, b: number) => (Number.isNaN(a) || a < b ? a : b);

/** One output of a reduction from its terms v. */
function reduceOne(name: ReduceRefName, v: number[], correction: number): number {
  const n = v.length;
  const total = v.reduce((p, a) => p + a, 0);
  switch (name) {
    case 'sum':
      return total;
    case 'mean':
      return total / n;
    case 'var':
    case 'std': {
      const m = total / n;
      const m2 = v.reduce((p, a) => p + (a - m) ** 2, 0);
      const r = m2 / Math.max(0, n - correction);
      return name === 'std' ? Math.sqrt(r) : r;
    }
    case 'logsumexp': {
      const m = v.reduce(nanMax, -Infinity);
      const shift = Number.isFinite(m) ? m : 0; // as torch: an infinite max shifts by 0 (a NaN stays NaN)
      return Math.log(v.reduce((p, a) => p + Math.exp(a - shift), 0)) + shift;
    }
    case 'max':
      return v.reduce(nanMax, -Infinity);
    case 'min':
      return v.reduce(nanMin, Infinity);
  }
}

/** y = the reduction of x (shape) over dims, one value per output (row-major over the kept dims). */
export function reduceRef(name: ReduceRefName, x: ArrayLike<number>, shape: readonly number[], dims: RefDims, correction = 1): Float64Array {
  return Float64Array.from(reduceGroupsRef(shape, dims), (g) => reduceOne(name, g.map((j) => x[j]), correction));
}

const ties = (a: number, b: number) => a === b || (Number.isNaN(a) && Number.isNaN(b));

/**
 * dx of Σ_o w[o]·y[o] for y = reduceRef(name, x, shape, dims): sum w; mean w/n; var 2w(x − mean)/(n − correction);
 * std w(x − mean)/((n − correction)·std) (0 where std is 0); logsumexp w·exp(x − y); max/min w split evenly among the
 * terms equal to the result (torch's max()/min() without dim).
 */
export function reduceBackwardRef(name: ReduceRefName, x: ArrayLike<number>, shape: readonly number[], dims: RefDims, w: ArrayLike<number>, correction = 1): Float64Array {
  const dx = new Float64Array(x.length);
  reduceGroupsRef(shape, dims).forEach((g, o) => {
    const v = g.map((j) => x[j]);
    const n = v.length;
    const y = reduceOne(name, v, correction);
    const m = v.reduce((p, a) => p + a, 0) / n;
    const count = v.filter((a) => ties(a, y)).length;
    g.forEach((j) => {
      const t = x[j];
      switch (name) {
        case 'sum':
          dx[j] = w[o];
          break;
        case 'mean':
          dx[j] = w[o] / n;
          break;
        case 'var':
          dx[j] = (2 * w[o] * (t - m)) / (n - correction);
          break;
        case 'std':
          dx[j] = y === 0 ? 0 : (w[o] * (t - m)) / ((n - correction) * y);
          break;
        case 'logsumexp':
          dx[j] = w[o] * Math.exp(t - y);
          break;
        case 'max':
        case 'min':
          dx[j] = ties(t, y) ? w[o] / count : 0;
          break;
      }
    });
  });
  return dx;
}

/** The value order of a selection: largest first (else smallest), NaN first or last; equal values by lower index. */
export interface SelectRefOrder {
  largest: boolean;
  nanFirst: boolean;
}

/** max and argmax; min and argmin (both propagate NaN); topk's two orders. */
export const SELECT_ORDERS = {
  max: { largest: true, nanFirst: true },
  min: { largest: false, nanFirst: true },
  topkLargest: { largest: true, nanFirst: true },
  topkSmallest: { largest: false, nanFirst: false },
} as const satisfies Record<string, SelectRefOrder>;

/** [outer, n, inner] around dim (negative from the end), or the flattened tensor when dim is undefined. */
export function selectRows(shape: readonly number[], dim: number | undefined): [number, number, number] {
  if (dim === undefined) return [1, shape.reduce((p, s) => p * s, 1), 1];
  const s = shape.length ? shape : [1];
  const d = dim < 0 ? dim + s.length : dim;
  return [s.slice(0, d).reduce((p, a) => p * a, 1), s[d], s.slice(d + 1).reduce((p, a) => p * a, 1)];
}

/** Whether (a, ia) comes before (b, ib) in the order. */
function before(o: SelectRefOrder, a: number, ia: number, b: number, ib: number): boolean {
  const na = Number.isNaN(a);
  const nb = Number.isNaN(b);
  if (na !== nb) return na === o.nanFirst;
  if (na || a === b) return ia < ib;
  return o.largest ? a > b : a < b;
}

/**
 * The first k terms of each row along dim (or of the flattened tensor) in the order: values and indices laid out as
 * [outer, k, inner] (x's shape with dim of size k), as max/min/argmax/argmin (k = 1) and topk.
 */
export function selectRef(x: ArrayLike<number>, shape: readonly number[], dim: number | undefined, k: number, order: SelectRefOrder): { values: Float64Array; indices: Int32Array } {
  const [outer, n, inner] = selectRows(shape, dim);
  const values = new Float64Array(outer * k * inner);
  const indices = new Int32Array(outer * k * inner);
  for (let oi = 0; oi < outer; oi++) {
    for (let ii = 0; ii < inner; ii++) {
      const idx = [...Array(n).keys()];
      const at = (i: number) => x[(oi * n + i) * inner + ii];
      idx.sort((a, b) => (before(order, at(a), a, at(b), b) ? -1 : 1));
      for (let t = 0; t < k; t++) {
        values[(oi * k + t) * inner + ii] = at(idx[t]);
        indices[(oi * k + t) * inner + ii] = idx[t];
      }
    }
  }
  return { values, indices };
}

/** dx of Σ w·values for values picked by `indices` ([outer, k, inner], from selectRef): w at each pick, 0 elsewhere. */
export function selectBackwardRef(shape: readonly number[], dim: number | undefined, k: number, indices: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  const [outer, n, inner] = selectRows(shape, dim);
  const dx = new Float64Array(outer * n * inner);
  for (let oi = 0; oi < outer; oi++) {
    for (let t = 0; t < k; t++) {
      for (let ii = 0; ii < inner; ii++) {
        const at = (oi * k + t) * inner + ii;
        dx[(oi * n + indices[at]) * inner + ii] += w[at];
      }
    }
  }
  return dx;
}
