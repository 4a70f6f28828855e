/**
 * The shape ops' numerics cases (test/shape.test.ts and the page's group, src/web/gradcheck/shape.ts, both iterate
 * them): every op over odd shapes, negative dims, batch 1, 1-element tensors, 5-D permutes, cat of 3 tensors of
 * different sizes along dim, step slicing with Python's bounds, gather on each dim, and out-of-range indices. Each
 * case's seeded inputs, index and upstream gradient, with the float64 reference's output and input gradients,
 * come from shapeCaseData. Pure data and float64 code: no GPU, no Node, no test framework.
 */
import { finiteDiff, randomArray, rng, weightedSum } from './math';
import {
  catBackwardRef, catRef, gatherBackwardRef, gatherRef, indexSelectBackwardRef, indexSelectRef, permuteBackwardRef, permuteRef, reshapeShapeRef,
  sliceIndicesRef, squeezeShapeRef, stackBackwardRef, stackRef, transposeDimsRef, unflattenShapeRef, unsqueezeShapeRef, type RefOut,
} from './shape';

/** One shape op call: the op (torch's name, camelCase), its input shapes and arguments. */
export type ShapeCase =
  | { op: 'permute'; shape: number[]; dims: number[] }
  | { op: 'transpose'; shape: number[]; dim0: number; dim1: number }
  | { op: 'contiguous'; shape: number[] }
  | { op: 'reshape'; shape: number[]; to: number[] }
  | { op: 'narrow'; shape: number[]; dim: number; start: number; length: number }
  | { op: 'slice'; shape: number[]; dim: number; start?: number; end?: number; step?: number }
  | { op: 'cat'; shapes: number[][]; dim: number }
  | { op: 'stack'; shape: number[]; count: number; dim: number }
  /** outOfRange: some index entries are −1, x.size(dim) or x.size(dim) + 2 (they read 0 and pass no gradient). */
  | { op: 'gather'; shape: number[]; dim: number; indexShape: number[]; outOfRange?: boolean }
  | { op: 'indexSelect'; shape: number[]; dim: number; count: number; outOfRange?: boolean }
  | { op: 'squeeze'; shape: number[]; dim?: number | number[] }
  | { op: 'unsqueeze'; shape: number[]; dim: number }
  | { op: 'unflatten'; shape: number[]; dim: number; sizes: number[] };

/** The name of a shape op (as the page reports it). */
export type ShapeOpName = ShapeCase['op'];

/** Every shape op, in the order the cases and the page list them. */
export const SHAPE_OPS: readonly ShapeOpName[] = ['permute', 'transpose', 'contiguous', 'reshape', 'narrow', 'slice', 'cat', 'stack', 'gather', 'indexSelect', 'squeeze', 'unsqueeze', 'unflatten'];

/** GPU against the float64 reference: every op, odd sizes, negative dims, batch 1 and 1-element tensors. */
export const SHAPE_CASES: readonly ShapeCase[] = [
  { op: 'permute', shape: [7], dims: [0] },
  { op: 'permute', shape: [1], dims: [-1] },
  { op: 'permute', shape: [13, 33], dims: [1, 0] },
  { op: 'permute', shape: [1, 7], dims: [-1, 0] },
  { op: 'permute', shape: [2, 3, 5, 7, 4], dims: [4, 2, 0, 3, 1] },
  { op: 'permute', shape: [3, 1, 5, 2, 7], dims: [-1, 0, -3, 1, 3] },
  { op: 'permute', shape: [2, 3, 4, 5], dims: [0, 1, 3, 2] },
  // 8 dims that do not merge (every slot of the kernels in use).
  { op: 'permute', shape: [2, 3, 2, 2, 3, 2, 2, 2], dims: [7, 6, 5, 4, 3, 2, 1, 0] },
  { op: 'transpose', shape: [5, 7], dim0: 0, dim1: 1 },
  { op: 'transpose', shape: [2, 3, 13], dim0: -1, dim1: 0 },
  { op: 'transpose', shape: [1, 7, 1, 3], dim0: 1, dim1: -1 },
  { op: 'transpose', shape: [4, 5], dim0: 1, dim1: -1 },
  { op: 'transpose', shape: [1, 1], dim0: 0, dim1: 1 },
  { op: 'contiguous', shape: [3, 7] },
  { op: 'reshape', shape: [6, 7], to: [-1, 3] },
  { op: 'reshape', shape: [7], to: [1, 7, 1] },
  { op: 'narrow', shape: [13, 33], dim: 0, start: 3, length: 7 },
  { op: 'narrow', shape: [2, 5, 7], dim: -1, start: -4, length: 3 },
  { op: 'narrow', shape: [1, 1], dim: 0, start: 0, length: 1 },
  { op: 'narrow', shape: [7, 33], dim: 1, start: 0, length: 33 },
  { op: 'slice', shape: [13, 33], dim: 1, start: 2, end: 30, step: 3 },
  { op: 'slice', shape: [7], dim: 0, start: -3 },
  { op: 'slice', shape: [5, 7, 13], dim: -1, step: 2 },
  { op: 'slice', shape: [5, 7, 13], dim: 1, start: -100, end: 100 },
  { op: 'slice', shape: [1, 33], dim: 1, start: 3, end: -3, step: 5 },
  { op: 'slice', shape: [9, 4], dim: 0, start: 8 },
  { op: 'slice', shape: [3, 7, 5], dim: -2, start: 5, end: 6, step: 4 },
  { op: 'cat', shapes: [[2, 3, 5], [2, 7, 5], [2, 1, 5]], dim: 1 },
  { op: 'cat', shapes: [[3, 4], [5, 4], [1, 4]], dim: 0 },
  { op: 'cat', shapes: [[3, 4, 2], [3, 4, 5]], dim: -1 },
  { op: 'cat', shapes: [[7]], dim: 0 },
  { op: 'cat', shapes: [[1, 1], [1, 1]], dim: 1 },
  { op: 'cat', shapes: [[1, 13, 3], [1, 7, 3], [1, 33, 3]], dim: -2 },
  { op: 'stack', shape: [3, 5], count: 3, dim: 0 },
  { op: 'stack', shape: [3, 5], count: 2, dim: -1 },
  { op: 'stack', shape: [7], count: 4, dim: 1 },
  { op: 'stack', shape: [1], count: 1, dim: 0 },
  { op: 'stack', shape: [2, 3], count: 3, dim: -2 },
  { op: 'gather', shape: [5, 7, 3], dim: 0, indexShape: [4, 7, 3] },
  { op: 'gather', shape: [5, 7, 3], dim: 1, indexShape: [5, 13, 3] },
  { op: 'gather', shape: [5, 7, 3], dim: 2, indexShape: [5, 7, 6] },
  { op: 'gather', shape: [5, 7, 3], dim: -1, indexShape: [2, 3, 2] },
  { op: 'gather', shape: [13], dim: 0, indexShape: [33] },
  { op: 'gather', shape: [1, 4], dim: 1, indexShape: [1, 1] },
  { op: 'gather', shape: [6, 10], dim: 1, indexShape: [6, 1] },
  { op: 'gather', shape: [2, 3, 1, 4, 5], dim: 3, indexShape: [2, 2, 1, 7, 5] },
  { op: 'gather', shape: [7, 5], dim: 0, indexShape: [9, 5], outOfRange: true },
  { op: 'gather', shape: [3, 3, 3, 3, 3, 3, 3, 3], dim: 3, indexShape: [2, 2, 2, 5, 2, 2, 2, 2] },
  { op: 'indexSelect', shape: [7, 5], dim: 0, count: 9 },
  { op: 'indexSelect', shape: [3, 13, 2], dim: 1, count: 4 },
  { op: 'indexSelect', shape: [3, 4, 5], dim: -1, count: 7 },
  { op: 'indexSelect', shape: [1], dim: 0, count: 3 },
  { op: 'indexSelect', shape: [4, 6, 3], dim: 1, count: 8, outOfRange: true },
  { op: 'squeeze', shape: [1, 3, 1, 5] },
  { op: 'squeeze', shape: [1, 3, 1, 5], dim: 2 },
  { op: 'squeeze', shape: [1, 3, 1, 5], dim: [0, -2] },
  { op: 'squeeze', shape: [1, 3, 1, 5], dim: 1 },
  { op: 'squeeze', shape: [1] },
  { op: 'unsqueeze', shape: [3, 5], dim: 0 },
  { op: 'unsqueeze', shape: [3, 5], dim: -1 },
  { op: 'unsqueeze', shape: [3, 5], dim: 1 },
  { op: 'unsqueeze', shape: [7], dim: -2 },
  { op: 'unflatten', shape: [3, 12], dim: 1, sizes: [3, -1] },
  { op: 'unflatten', shape: [12, 5], dim: 0, sizes: [2, 2, 3] },
  { op: 'unflatten', shape: [7], dim: -1, sizes: [7, 1] },
];

/** The references' own backwards vs central finite differences: one small case per op (and the out-of-range index). */
export const SHAPE_FD_CASES: readonly ShapeCase[] = [
  { op: 'permute', shape: [2, 3, 1, 4], dims: [3, -4, 1, 2] },
  { op: 'transpose', shape: [3, 5], dim0: 0, dim1: -1 },
  { op: 'contiguous', shape: [3, 2] },
  { op: 'reshape', shape: [4, 3], to: [2, -1] },
  { op: 'narrow', shape: [5, 7], dim: 1, start: -5, length: 3 },
  { op: 'slice', shape: [4, 13], dim: -1, start: 1, end: -2, step: 3 },
  { op: 'cat', shapes: [[2, 3], [2, 1], [2, 4]], dim: 1 },
  { op: 'stack', shape: [3, 2], count: 3, dim: 1 },
  { op: 'gather', shape: [4, 5], dim: 1, indexShape: [3, 7] },
  { op: 'gather', shape: [4, 5], dim: 0, indexShape: [6, 5], outOfRange: true },
  { op: 'indexSelect', shape: [5, 3], dim: 0, count: 7 },
  { op: 'squeeze', shape: [1, 4, 1] },
  { op: 'unsqueeze', shape: [4, 3], dim: -1 },
  { op: 'unflatten', shape: [6, 2], dim: 0, sizes: [-1, 3] },
];

/** The shapes of a case's float inputs. */
export function shapeCaseInputShapes(c: ShapeCase): number[][] {
  if (c.op === 'cat') return c.shapes;
  if (c.op === 'stack') return Array.from({ length: c.count }, () => c.shape);
  return [c.shape];
}

/** A case's i32 index (gather, indexSelect), seeded: values in [0, x.size(dim)), with repeats; null for other ops. */
export function shapeCaseIndex(c: ShapeCase, seed: number): { data: Int32Array; shape: number[] } | null {
  if (c.op !== 'gather' && c.op !== 'indexSelect') return null;
  const d = c.dim < 0 ? c.dim + c.shape.length : c.dim;
  const n = c.shape[d];
  const shape = c.op === 'gather' ? c.indexShape : [c.count];
  const r = rng(seed);
  const data = Int32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.floor(r() * n));
  if (c.outOfRange) for (let i = 0; i < data.length; i += 3) data[i] = [-1, n, n + 2][(i / 3) % 3];
  return { data, shape };
}

/** The reference forward of a case at inputs xs (index: shapeCaseIndex's). */
export function shapeCaseRef(c: ShapeCase, xs: readonly ArrayLike<number>[], index: ArrayLike<number> | null): RefOut {
  const same = (shape: number[]): RefOut => ({ y: Float64Array.from(xs[0]), shape });
  switch (c.op) {
    case 'permute':
      return permuteRef(xs[0], c.shape, c.dims);
    case 'transpose':
      return permuteRef(xs[0], c.shape, transposeDimsRef(c.shape.length, c.dim0, c.dim1));
    case 'contiguous':
      return same([...c.shape]);
    case 'reshape':
      return same(reshapeShapeRef(c.shape, c.to));
    case 'narrow':
    case 'slice':
      return indexSelectRef(xs[0], c.shape, c.dim, sliceCaseIndices(c));
    case 'cat':
      return catRef(xs, c.shapes, c.dim);
    case 'stack':
      return stackRef(xs, c.shape, c.dim);
    case 'gather':
      return gatherRef(xs[0], c.shape, c.dim, index!, c.indexShape);
    case 'indexSelect':
      return indexSelectRef(xs[0], c.shape, c.dim, index!);
    case 'squeeze':
      return same(squeezeShapeRef(c.shape, c.dim));
    case 'unsqueeze':
      return same(unsqueezeShapeRef(c.shape, c.dim));
    case 'unflatten':
      return same(unflattenShapeRef(c.shape, c.dim, c.sizes));
  }
}

/** The reference gradients of a case's inputs for the upstream gradient g. */
export function shapeCaseBackwardRef(c: ShapeCase, g: ArrayLike<number>, index: ArrayLike<number> | null): Float64Array[] {
  switch (c.op) {
    case 'permute':
      return [permuteBackwardRef(g, c.shape, c.dims)];
    case 'transpose':
      return [permuteBackwardRef(g, c.shape, transposeDimsRef(c.shape.length, c.dim0, c.dim1))];
    case 'narrow':
    case 'slice':
      return [indexSelectBackwardRef(g, c.shape, c.dim, sliceCaseIndices(c))];
    case 'cat':
      return catBackwardRef(g, c.shapes, c.dim);
    case 'stack':
      return stackBackwardRef(g, c.shape, c.count, c.dim);
    case 'gather':
      return [gatherBackwardRef(g, c.shape, c.dim, index!, c.indexShape)];
    case 'indexSelect':
      return [indexSelectBackwardRef(g, c.shape, c.dim, index!)];
    default:
      return [Float64Array.from(g)];
  }
}

/** The indices a narrow or slice case keeps along its dim. */
function sliceCaseIndices(c: Extract<ShapeCase, { op: 'narrow' | 'slice' }>): number[] {
  const n = c.shape[c.dim < 0 ? c.dim + c.shape.length : c.dim];
  if (c.op === 'narrow') {
    const s = c.start < 0 ? c.start + n : c.start;
    return Array.from({ length: c.length }, (_, i) => s + i);
  }
  return sliceIndicesRef(n, c.start, c.end, c.step ?? 1);
}

export interface ShapeCaseData {
  /** The float inputs (rounded to f32) and their shapes. */
  inputs: { data: Float64Array; shape: number[] }[];
  index: { data: Int32Array; shape: number[] } | null;
  /** The reference output and its shape. */
  y: Float64Array;
  outShape: number[];
  /** The upstream gradient (of the output's shape). */
  g: Float64Array;
  /** The reference gradients of the inputs. */
  dx: Float64Array[];
}

/** A case's seeded inputs, index and upstream gradient, with the reference's output and gradients. */
export function shapeCaseData(c: ShapeCase, seed: number): ShapeCaseData {
  const inputs = shapeCaseInputShapes(c).map((shape, k) => ({ data: randomArray(shape.reduce((a, b) => a * b, 1), seed + 17 * k), shape }));
  const index = shapeCaseIndex(c, seed + 1000);
  const { y, shape: outShape } = shapeCaseRef(c, inputs.map((i) => i.data), index?.data ?? null);
  const g = randomArray(y.length, seed + 2000);
  return { inputs, index, y, outShape, g, dx: shapeCaseBackwardRef(c, g, index?.data ?? null) };
}

/** A case's name in test and page output: the op and its arguments. */
export function shapeCaseName(c: ShapeCase): string {
  const { op, ...args } = c;
  return `${op} ${JSON.stringify(args)}`;
}

/**
 * A case's reference backward against central finite differences of its reference forward (float64), for each
 * float input: [got, want] pairs to compare at TOL.fd.
 */
export function shapeCaseFdCheck(c: ShapeCase, seed: number): { input: number; got: Float64Array; want: Float64Array }[] {
  const d = shapeCaseData(c, seed);
  const xs = d.inputs.map((i) => i.data);
  const index = d.index?.data ?? null;
  return xs.map((x, k) => ({
    input: k,
    got: d.dx[k],
    want: finiteDiff((v) => weightedSum(shapeCaseRef(c, xs.map((o, j) => (j === k ? v : o)), index).y, d.g), x),
  }));
}
