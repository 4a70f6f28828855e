/**
 * Float64 references of the shape ops (src/autograd/ops/shape.ts), each written as an index map over multi-indices
 * (which input element each output element reads): the forward reads through it, the backward is its adjoint (each
 * output's gradient added to the input element it came from).
 * Negative dims count from the end. Out-of-range indices in gather and indexSelect read 0 and receive no gradient,
 * as the GPU kernels do. The ops that only change the shape (squeeze, unsqueeze, unflatten, contiguous, reshape)
 * keep the data as it is; their references give the output shape.
 */

/** A shape, as the references take it. */
export type RefShape = readonly number[];

const prod = (a: RefShape) => a.reduce((p, d) => p * d, 1);
const norm = (dim: number, ndim: number) => (dim < 0 ? dim + ndim : dim);

/** The multi-index of flat element i of a row-major shape. */
function unravel(i: number, shape: RefShape): number[] {
  const c = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    c[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return c;
}

/** The flat element of a multi-index in a row-major shape. */
function ravel(c: readonly number[], shape: RefShape): number {
  let i = 0;
  for (let d = 0; d < shape.length; d++) i = i * shape[d] + c[d];
  return i;
}

/** A reference forward's output and its shape. */
export interface RefOut {
  y: Float64Array;
  shape: number[];
}

/**
 * A shape op as an index map: its output shape, and for each output element the [input, element] it reads (null:
 * none, the output is 0). The forward reads through the map; the backward (its adjoint) adds each output's
 * gradient into the element it read.
 */
interface IndexMap {
  shape: number[];
  source(i: number): readonly [number, number] | null;
}

function forwardThrough(xs: readonly ArrayLike<number>[], m: IndexMap): RefOut {
  const y = new Float64Array(prod(m.shape));
  for (let i = 0; i < y.length; i++) {
    const s = m.source(i);
    if (s) y[i] = xs[s[0]][s[1]];
  }
  return { y, shape: m.shape };
}

function backwardThrough(g: ArrayLike<number>, inputShapes: readonly RefShape[], m: IndexMap): Float64Array[] {
  const dxs = inputShapes.map((s) => new Float64Array(prod(s)));
  for (let i = 0; i < g.length; i++) {
    const s = m.source(i);
    if (s) dxs[s[0]][s[1]] += g[i];
  }
  return dxs;
}

function permuteMap(shape: RefShape, dims: readonly number[]): IndexMap {
  const p = dims.map((d) => norm(d, shape.length));
  const outShape = p.map((d) => shape[d]);
  return {
    shape: outShape,
    source(i) {
      const c = unravel(i, outShape);
      const xc = new Array<number>(shape.length);
      p.forEach((d, j) => (xc[d] = c[j]));
      return [0, ravel(xc, shape)];
    },
  };
}

/** y = x.permute(dims). */
export function permuteRef(x: ArrayLike<number>, shape: RefShape, dims: readonly number[]): RefOut {
  return forwardThrough([x], permuteMap(shape, dims));
}

/** dx of permuteRef for the upstream gradient g (of the output's shape). */
export function permuteBackwardRef(g: ArrayLike<number>, shape: RefShape, dims: readonly number[]): Float64Array {
  return backwardThrough(g, [shape], permuteMap(shape, dims))[0];
}

/** The dims of a transpose of dims a and b, as a permutation (for permuteRef). */
export function transposeDimsRef(ndim: number, a: number, b: number): number[] {
  const [i, j] = [norm(a, ndim), norm(b, ndim)];
  return Array.from({ length: ndim }, (_, k) => (k === i ? j : k === j ? i : k));
}

/** The indices Python's range(n)[start:end:step] holds (step > 0): negative bounds count from the end, others are clamped. */
export function sliceIndicesRef(n: number, start: number | undefined, end: number | undefined, step: number): number[] {
  const clampTo = (b: number) => Math.min(Math.max(b < 0 ? b + n : b, 0), n);
  const out: number[] = [];
  for (let i = clampTo(start ?? 0); i < clampTo(end ?? n); i += step) out.push(i);
  return out;
}

/** Indexing along dim: the output has indexShape; element c reads x at c with c_dim = index[at(c)]. */
function alongMap(shape: RefShape, dim: number, outShape: number[], index: ArrayLike<number>, at: (c: number[], i: number) => number): IndexMap {
  const d = norm(dim, shape.length);
  return {
    shape: outShape,
    source(i) {
      const c = unravel(i, outShape);
      const k = index[at(c, i)];
      if (k < 0 || k >= shape[d]) return null;
      c[d] = k;
      return [0, ravel(c, shape)];
    },
  };
}

function indexSelectMap(shape: RefShape, dim: number, index: ArrayLike<number>): IndexMap {
  const d = norm(dim, shape.length);
  return alongMap(shape, d, shape.map((n, i) => (i === d ? index.length : n)), index, (c) => c[d]);
}

/** y = x.index_select(dim, index) (also slice and narrow, with the indices they keep). */
export function indexSelectRef(x: ArrayLike<number>, shape: RefShape, dim: number, index: ArrayLike<number>): RefOut {
  return forwardThrough([x], indexSelectMap(shape, dim, index));
}

/** dx of indexSelectRef: each gradient entry added to the x element it was read from (repeats add up). */
export function indexSelectBackwardRef(g: ArrayLike<number>, shape: RefShape, dim: number, index: ArrayLike<number>): Float64Array {
  return backwardThrough(g, [shape], indexSelectMap(shape, dim, index))[0];
}

/** y = torch.gather(x, dim, index), index of shape indexShape (same rank as x). */
export function gatherRef(x: ArrayLike<number>, shape: RefShape, dim: number, index: ArrayLike<number>, indexShape: RefShape): RefOut {
  return forwardThrough([x], alongMap(shape, dim, [...indexShape], index, (_, i) => i));
}

/** dx of gatherRef (scatter-add of g by index). */
export function gatherBackwardRef(g: ArrayLike<number>, shape: RefShape, dim: number, index: ArrayLike<number>, indexShape: RefShape): Float64Array {
  return backwardThrough(g, [shape], alongMap(shape, dim, [...indexShape], index, (_, i) => i))[0];
}

function catMap(shapes: readonly RefShape[], dim: number): IndexMap {
  const d = norm(dim, shapes[0].length);
  const sizes = shapes.map((s) => s[d]);
  const outShape = shapes[0].map((n, i) => (i === d ? sizes.reduce((a, b) => a + b, 0) : n));
  return {
    shape: outShape,
    source(i) {
      const c = unravel(i, outShape);
      let k = 0;
      while (c[d] >= sizes[k]) c[d] -= sizes[k++];
      return [k, ravel(c, shapes[k])];
    },
  };
}

/** y = torch.cat(xs, dim). */
export function catRef(xs: readonly ArrayLike<number>[], shapes: readonly RefShape[], dim: number): RefOut {
  return forwardThrough(xs, catMap(shapes, dim));
}

/** The gradients of catRef's inputs (each input's block of g). */
export function catBackwardRef(g: ArrayLike<number>, shapes: readonly RefShape[], dim: number): Float64Array[] {
  return backwardThrough(g, shapes, catMap(shapes, dim));
}

/** The shape of each input of stack(…, dim) seen as a cat input (a size-1 dim inserted at dim). */
function stackedShape(shape: RefShape, dim: number): number[] {
  const d = norm(dim, shape.length + 1);
  return [...shape.slice(0, d), 1, ...shape.slice(d)];
}

/** y = torch.stack(xs, dim) (all of shape `shape`). */
export function stackRef(xs: readonly ArrayLike<number>[], shape: RefShape, dim: number): RefOut {
  const s = stackedShape(shape, dim);
  return catRef(xs, xs.map(() => s), norm(dim, shape.length + 1));
}

/** The gradients of stackRef's inputs. */
export function stackBackwardRef(g: ArrayLike<number>, shape: RefShape, count: number, dim: number): Float64Array[] {
  const s = stackedShape(shape, dim);
  return catBackwardRef(g, Array.from({ length: count }, () => s), norm(dim, shape.length + 1));
}

/** torch.squeeze's output shape: size-1 dims removed (all, or those listed). */
export function squeezeShapeRef(shape: RefShape, dim?: number | readonly number[]): number[] {
  const dims = dim === undefined ? shape.map((_, i) => i) : (typeof dim === 'number' ? [dim] : dim).map((d) => norm(d, shape.length));
  return shape.filter((n, i) => n !== 1 || !dims.includes(i));
}

/** torch.unsqueeze's output shape. */
export function unsqueezeShapeRef(shape: RefShape, dim: number): number[] {
  return stackedShape(shape, dim);
}

/** torch.unflatten's output shape (one size may be −1). */
export function unflattenShapeRef(shape: RefShape, dim: number, sizes: readonly number[]): number[] {
  const d = norm(dim, shape.length);
  const known = prod(sizes.filter((s) => s !== -1));
  return [...shape.slice(0, d), ...sizes.map((s) => (s === -1 ? shape[d] / known : s)), ...shape.slice(d + 1)];
}

/** torch.reshape's output shape (one size may be −1). */
export function reshapeShapeRef(shape: RefShape, to: readonly number[]): number[] {
  return unflattenShapeRef([prod(shape)], 0, to);
}
