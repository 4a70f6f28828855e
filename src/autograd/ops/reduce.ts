/**
 * Reductions over any dims, with keepdim, as torch's: sum, mean, var, std, logsumexp (kernels/reduce/dims.wgsl, any
 * set of dims in one launch), and max, min, argmax, argmin, topk (kernels/reduce/select.wgsl, one dim or the
 * flattened tensor). Each op's forward and backward side by side.
 */
import { Tensor, shapeStr, type Shape } from '../tensor';
import { record } from '../graph';
import { requireNonEmpty } from './check';
import {
  dimsLayout, expandDims, logsumexpBackward, logsumexpDims, selectBackward, selectTop, sumDims, tiesBackward, varBackward, varDims,
  type SelectOrder, type SelectShape,
} from '../../kernels/reduce';

/** torch's `dim` argument: one dim or a list of dims; negative dims count from the end. */
export type Dims = number | readonly number[];

/** The values and the indices (i32) of max/min along a dim, and of topk. */
export interface ValuesIndices {
  values: Tensor;
  indices: Tensor;
}

/** Options of var and std: torch's `correction` (default 1, Bessel's) or `unbiased` (false: correction 0), and keepdim. */
export interface VarOptions {
  correction?: number;
  unbiased?: boolean;
  keepdim?: boolean;
}

const MAX_ORDER: SelectOrder = { largest: true, nanFirst: true };
const MIN_ORDER: SelectOrder = { largest: false, nanFirst: true };

function requireF32(op: string, x: Tensor): void {
  requireNonEmpty(op, { x });
  if (x.dtype !== 'f32') throw new Error(`${op}: x ${shapeStr(x.shape)} is an ${x.dtype} tensor; reductions take f32 tensors`);
}

/** One dim, made non-negative. A 0-d tensor takes dim 0 or -1, as torch. */
function normDim(op: string, shape: Shape, d: number): number {
  const rank = Math.max(shape.length, 1);
  if (!Number.isInteger(d)) throw new Error(`${op}: dim ${d} is not an integer`);
  if (d < -rank || d >= rank) throw new Error(`${op}: dim ${d} is out of range for shape ${shapeStr(shape)} (expected ${-rank} to ${rank - 1})`);
  return d < 0 ? d + rank : d;
}

/** The dims to reduce, non-negative and sorted; none given (or an empty list, as torch's sum) reduces them all. */
function normDims(op: string, shape: Shape, dim: Dims | undefined): number[] {
  const list = dim === undefined ? [] : typeof dim === 'number' ? [dim] : [...dim];
  if (list.length === 0) return shape.map((_, i) => i);
  const dims = list.map((d) => normDim(op, shape, d));
  const dup = dims.findIndex((d, i) => dims.indexOf(d) !== i);
  if (dup >= 0) throw new Error(`${op}: dim ${list[dup]} appears more than once in [${list.join(', ')}] (shape ${shapeStr(shape)})`);
  return shape.length === 0 ? [] : dims.sort((a, b) => a - b);
}

/** The shape after reducing `dims`: removed, or kept as size 1. */
function reducedShape(shape: Shape, dims: readonly number[], keepdim: boolean): number[] {
  return keepdim ? shape.map((s, i) => (dims.includes(i) ? 1 : s)) : shape.filter((_, i) => !dims.includes(i));
}

function sumOrMean(op: 'sum' | 'mean', x: Tensor, dim: Dims | undefined, keepdim: boolean): Tensor {
  requireF32(op, x);
  const dims = normDims(op, x.shape, dim);
  const l = dimsLayout(op, x.shape, dims);
  const k = op === 'mean' ? 1 / l.n : 1;
  const out = Tensor.empty(reducedShape(x.shape, dims, keepdim), 'f32', x.rt);
  sumDims(x.rt, x.buffer, out.buffer, l, k);
  return record(out, op, [x], (g) => {
    const gx = Tensor.empty(x.shape, 'f32', x.rt);
    expandDims(x.rt, g.buffer, gx.buffer, l, k);
    return [gx];
  });
}

/** Sum over `dim` (a dim or a list of dims; all when omitted), as torch.sum. The backward spreads dy over the reduced dims. */
export function sum(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return sumOrMean('sum', x, dim, keepdim);
}

/** Mean over `dim` (a dim or a list of dims; all when omitted), as torch.mean. */
export function mean(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return sumOrMean('mean', x, dim, keepdim);
}

function varOrStd(op: 'var' | 'std', x: Tensor, dim: Dims | undefined, opts: VarOptions): Tensor {
  requireF32(op, x);
  if (opts.correction !== undefined && opts.unbiased !== undefined) throw new Error(`${op}: give correction or unbiased, not both`);
  const correction = opts.correction ?? (opts.unbiased === false ? 0 : 1);
  if (!Number.isFinite(correction) || correction < 0) throw new Error(`${op}: correction must be a finite number ≥ 0, got ${correction}`);
  const dims = normDims(op, x.shape, dim);
  const l = dimsLayout(op, x.shape, dims);
  const shape = reducedShape(x.shape, dims, opts.keepdim ?? false);
  const out = Tensor.empty(shape, 'f32', x.rt);
  const m = Tensor.empty(shape, 'f32', x.rt);
  const std = op === 'std';
  varDims(x.rt, x.buffer, out.buffer, m.buffer, l, correction, std);
  return record(
    out,
    op,
    [x],
    (g) => {
      const gx = Tensor.empty(x.shape, 'f32', x.rt);
      varBackward(x.rt, x.buffer, out.buffer, m.buffer, g.buffer, gx.buffer, l, correction, std);
      return [gx];
    },
    [m],
  );
}

/**
 * Variance over `dim` (all when omitted), as torch.var: Σ (x − mean)² / max(0, N − correction), computed in two passes
 * (the mean, then the squared deviations). `correction` defaults to 1; `unbiased: false` means 0.
 */
export function variance(x: Tensor, dim?: Dims, opts: VarOptions = {}): Tensor {
  return varOrStd('var', x, dim, opts);
}

/** Standard deviation over `dim`, as torch.std: the square root of `var` (same options). Its gradient is 0 where it is 0. */
export function std(x: Tensor, dim?: Dims, opts: VarOptions = {}): Tensor {
  return varOrStd('std', x, dim, opts);
}

/**
 * log Σ exp(x) over `dim`, as torch.logsumexp: shifted by the max, so it does not overflow; a row of −inf gives −inf,
 * a +inf term +inf, a NaN NaN. The backward is softmax(x) · dy.
 */
export function logsumexp(x: Tensor, dim: Dims, keepdim = false): Tensor {
  requireF32('logsumexp', x);
  const dims = normDims('logsumexp', x.shape, dim);
  const l = dimsLayout('logsumexp', x.shape, dims);
  const out = Tensor.empty(reducedShape(x.shape, dims, keepdim), 'f32', x.rt);
  logsumexpDims(x.rt, x.buffer, out.buffer, l);
  return record(out, 'logsumexp', [x], (g) => {
    const gx = Tensor.empty(x.shape, 'f32', x.rt);
    logsumexpBackward(x.rt, x.buffer, out.buffer, g.buffer, gx.buffer, l);
    return [gx];
  });
}

/** [outer, n, inner] around one dim, or the flattened tensor (dim undefined). */
function rows(op: string, x: Tensor, dim: number | undefined, k: number): SelectShape {
  if (dim === undefined) return { outer: 1, n: x.size, inner: 1, k };
  const d = normDim(op, x.shape, dim);
  const shape = x.shape.length ? x.shape : [1];
  return { outer: shape.slice(0, d).reduce((p, s) => p * s, 1), n: shape[d], inner: shape.slice(d + 1).reduce((p, s) => p * s, 1), k };
}

/** values (f32) and indices (i32) of shape `shape`: the first k of each row in `order`; the values carry the gradient back to the picks. */
function selectOp(op: string, x: Tensor, s: SelectShape, order: SelectOrder, shape: Shape): ValuesIndices {
  const values = Tensor.empty(shape, 'f32', x.rt);
  const indices = Tensor.empty(shape, 'i32', x.rt);
  selectTop(x.rt, x.buffer, values.buffer, indices.buffer, s, order);
  // The backward keeps its own view of the indices, so that disposing the returned tensor does not free them.
  const picked = indices.view(shape);
  record(
    values,
    op,
    [x],
    (g) => {
      const gx = Tensor.empty(x.shape, 'f32', x.rt);
      selectBackward(x.rt, g.buffer, picked.buffer, gx.buffer, s);
      return [gx];
    },
    [picked],
  );
  return { values, indices };
}

/** The shape of max/min/argmax along `dim`, or of the flattened tensor's (dim undefined: [], or all ones with keepdim). */
function selectShape(op: string, x: Tensor, dim: number | undefined, keepdim: boolean): number[] {
  return reducedShape(x.shape, dim === undefined ? x.shape.map((_, i) => i) : [normDim(op, x.shape, dim)].filter((d) => d < x.shape.length), keepdim);
}

/** max or min of every element (0-d); the gradient is split evenly among the elements equal to it, as torch's. */
function extremeAll(op: 'max' | 'min', x: Tensor, order: SelectOrder): Tensor {
  const all = x.shape.map((_, i) => i);
  const l = dimsLayout(op, x.shape, all);
  const values = Tensor.empty([], 'f32', x.rt);
  const indices = Tensor.empty([], 'i32', x.rt);
  selectTop(x.rt, x.buffer, values.buffer, indices.buffer, rows(op, x, undefined, 1), order);
  indices.dispose();
  return record(values, op, [x], (g) => {
    const gx = Tensor.empty(x.shape, 'f32', x.rt);
    const count = Tensor.empty([], 'f32', x.rt);
    tiesBackward(x.rt, x.buffer, values.buffer, g.buffer, count.buffer, gx.buffer, l);
    count.dispose();
    return [gx];
  });
}

function maxOrMin(op: 'max' | 'min', x: Tensor, dim: number | undefined, keepdim: boolean): Tensor | ValuesIndices {
  requireF32(op, x);
  const order = op === 'max' ? MAX_ORDER : MIN_ORDER;
  if (dim === undefined) return extremeAll(op, x, order);
  return selectOp(op, x, rows(op, x, dim, 1), order, selectShape(op, x, dim, keepdim));
}

/**
 * max(x): the largest element (0-d), its gradient split evenly among the elements equal to it (torch's rule for
 * max() without dim). max(x, dim, keepdim): { values, indices } along dim, indices (i32) of the first occurrence,
 * the gradient to that index. NaN counts as the largest (it propagates), as in torch.
 */
export function max(x: Tensor): Tensor;
export function max(x: Tensor, dim: number, keepdim?: boolean): ValuesIndices;
export function max(x: Tensor, dim?: number, keepdim = false): Tensor | ValuesIndices {
  return maxOrMin('max', x, dim, keepdim);
}

/** min(x) and min(x, dim, keepdim), as max (NaN propagates: it counts as the smallest). */
export function min(x: Tensor): Tensor;
export function min(x: Tensor, dim: number, keepdim?: boolean): ValuesIndices;
export function min(x: Tensor, dim?: number, keepdim = false): Tensor | ValuesIndices {
  return maxOrMin('min', x, dim, keepdim);
}

function argOp(op: 'argmax' | 'argmin', x: Tensor, dim: number | undefined, keepdim: boolean): Tensor {
  requireF32(op, x);
  const shape = selectShape(op, x, dim, keepdim);
  const values = Tensor.empty(shape, 'f32', x.rt);
  const indices = Tensor.empty(shape, 'i32', x.rt);
  selectTop(x.rt, x.buffer, values.buffer, indices.buffer, rows(op, x, dim, 1), op === 'argmax' ? MAX_ORDER : MIN_ORDER);
  values.dispose();
  return indices;
}

/**
 * Index (i32) of the largest element along `dim`, or into the flattened tensor when dim is omitted; the first
 * occurrence of ties, NaN as the largest, as torch.argmax. Not differentiable.
 */
export function argmax(x: Tensor, dim?: number, keepdim = false): Tensor {
  return argOp('argmax', x, dim, keepdim);
}

/** Index (i32) of the smallest element along `dim` (or of the flattened tensor), as torch.argmin; NaN counts as the smallest. */
export function argmin(x: Tensor, dim?: number, keepdim = false): Tensor {
  return argOp('argmin', x, dim, keepdim);
}

/**
 * The k largest (or smallest) elements along `dim`, as torch.topk: { values, indices (i32) } of x's shape with dim
 * of size k, in order (largest first, or smallest first). Equal values come by lower index; NaN counts as larger
 * than every number. `sorted: false` is accepted and still returns them sorted. The gradient goes to the picks.
 */
export function topk(x: Tensor, k: number, dim = -1, largest = true, sorted = true): ValuesIndices {
  void sorted;
  requireF32('topk', x);
  const s = rows('topk', x, dim, k);
  if (!Number.isInteger(k) || k < 1 || k > s.n) {
    throw new Error(`topk: k ${k} is out of range for dim ${dim} of size ${s.n} in shape ${shapeStr(x.shape)} (expected 1 to ${s.n})`);
  }
  const d = normDim('topk', x.shape, dim);
  const shape = x.shape.map((size, i) => (i === d ? k : size));
  return selectOp('topk', x, s, largest ? MAX_ORDER : { largest: false, nanFirst: false }, shape);
}
