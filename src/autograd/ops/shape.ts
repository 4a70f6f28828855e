/**
 * Shape ops, each forward and backward side by side. Tensors are always contiguous here: ops that change the
 * layout (permute, transpose, narrow, slice, cat, stack, gather, indexSelect) copy into a new tensor on the GPU
 * (kernels/shape); ops that keep it (contiguous, squeeze, unsqueeze, unflatten, and reshape in ops/basic.ts)
 * return a view sharing the storage, tracked by autograd. Negative dims count from the end, as in torch. The
 * copying ops take f32 and i32 tensors (gradients flow to f32 ones); index inputs are i32 tensors.
 */
import { Tensor, shapeStr, type Shape } from '../tensor';
import { record } from '../graph';
import { requireNonEmpty } from './check';
import { contiguousStrides, fitIndexGeometry, fitView, indexBackward, indexForward, stridedGather, stridedScatter, type IndexGeometry, type StridedView } from '../../kernels/shape';

const prod = (a: readonly number[]) => a.reduce((p, d) => p * d, 1);

/**
 * `dim` of a tensor of `shape` as an index in [0, ndim + extra) (extra = 1: the position of a new dim, as
 * unsqueeze and stack take). Negative dims count from the end.
 */
function normDim(op: string, dim: number, shape: Shape, extra = 0): number {
  const n = shape.length + extra;
  if (!Number.isInteger(dim) || dim < -n || dim >= n) {
    const range = n === 0 ? 'it has no dims' : `expected an integer in [${-n}, ${n - 1}]`;
    throw new Error(`${op}: dim ${dim} is out of range for shape ${shapeStr(shape)} (${range})`);
  }
  return dim < 0 ? dim + n : dim;
}

function requireInteger(op: string, what: string, v: number): void {
  if (!Number.isInteger(v)) throw new Error(`${op}: ${what} must be an integer, got ${v}`);
}

function requireIndex(op: string, index: Tensor): void {
  if (index.dtype !== 'i32') throw new Error(`${op}: index must be an 'i32' tensor, got '${index.dtype}' ${shapeStr(index.shape)}`);
}

/** A view of x's storage with another shape, tracked by autograd (the gradient is the upstream one, reshaped). */
function viewOp(op: string, x: Tensor, shape: Shape): Tensor {
  requireNonEmpty(op, { x });
  const out = x.view(shape);
  return record(out, op, [x], (g) => [g.view(x.shape)]);
}

/**
 * `x` read through a strided view of its storage (a copy of `view.sizes`): the forward of permute, transpose,
 * narrow and slice. The backward writes the gradient back through the same view into dx, zero-filled first
 * unless the view covers every element of x.
 */
function viewCopy(op: string, x: Tensor, view: StridedView, coversX: boolean): Tensor {
  fitView(op, view);
  const out = Tensor.empty(view.sizes, x.dtype, x.rt);
  stridedGather(x.rt, x.buffer, out.buffer, view, op);
  return record(out, op, [x], (g) => {
    const gx = coversX ? Tensor.empty(x.shape, 'f32', x.rt) : Tensor.zeros(x.shape, x.rt);
    stridedScatter(x.rt, g.buffer, gx.buffer, view, `${op}.backward`);
    return [gx];
  });
}

function permuteAs(op: string, x: Tensor, p: readonly number[]): Tensor {
  requireNonEmpty(op, { x });
  const st = contiguousStrides(x.shape);
  return viewCopy(op, x, { offset: 0, sizes: p.map((d) => x.shape[d]), strides: p.map((d) => st[d]) }, true);
}

/** torch.permute(x, dims): out.shape[i] = x.shape[dims[i]] (a copy). dims names every dim once; negative dims count from the end. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  if (dims.length !== x.shape.length) {
    throw new Error(`permute: dims [${dims.join(', ')}] must name each of the ${x.shape.length} dims of ${shapeStr(x.shape)} once`);
  }
  const p = dims.map((d) => normDim('permute', d, x.shape));
  if (new Set(p).size !== p.length) throw new Error(`permute: dims [${dims.join(', ')}] name a dim of ${shapeStr(x.shape)} twice`);
  return permuteAs('permute', x, p);
}

/** torch.transpose(x, dim0, dim1): dims dim0 and dim1 swapped (a copy). */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const a = normDim('transpose', dim0, x.shape);
  const b = normDim('transpose', dim1, x.shape);
  const p = x.shape.map((_, i) => (i === a ? b : i === b ? a : i));
  return permuteAs('transpose', x, p);
}

/**
 * x.contiguous(): x itself as a new tensor. Tensors are always contiguous in this engine, so this is a view
 * sharing x's storage (no copy), tracked by autograd; it exists so that torch code calling it runs unchanged.
 */
export function contiguous(x: Tensor): Tensor {
  return viewOp('contiguous', x, x.shape);
}

/** The elements start, start + step, … (length of them) along dim `d`, copied. */
function sliceAs(op: string, x: Tensor, d: number, start: number, length: number, step: number): Tensor {
  requireNonEmpty(op, { x });
  const st = contiguousStrides(x.shape);
  const sizes = x.shape.map((n, i) => (i === d ? length : n));
  const strides = st.map((s, i) => (i === d ? s * step : s));
  return viewCopy(op, x, { offset: start * st[d], sizes, strides }, length === x.shape[d]);
}

/**
 * torch.narrow(x, dim, start, length): elements start … start + length − 1 along dim (a copy). A negative start
 * counts from the end; the range must lie inside the dim and hold at least one element.
 */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normDim('narrow', dim, x.shape);
  requireInteger('narrow', 'start', start);
  requireInteger('narrow', 'length', length);
  const n = x.shape[d];
  const s = start < 0 ? start + n : start;
  if (s < 0 || s > n || length < 1 || s + length > n) {
    throw new Error(`narrow: start ${start}, length ${length} is not a non-empty range inside dim ${dim} (size ${n}) of ${shapeStr(x.shape)}`);
  }
  return sliceAs('narrow', x, d, s, length, 1);
}

/**
 * x[..., start:end:step, ...] along dim, as Python slicing (a copy): start defaults to 0 and end to the dim's size,
 * negative bounds count from the end, bounds past either end are clamped. step is a positive integer (as in torch).
 * A slice with no element is an error (no op takes an empty tensor).
 */
export function slice(x: Tensor, dim: number, start?: number, end?: number, step = 1): Tensor {
  const d = normDim('slice', dim, x.shape);
  if (!Number.isInteger(step) || step < 1) throw new Error(`slice: step must be a positive integer, got ${step}`);
  if (start !== undefined) requireInteger('slice', 'start', start);
  if (end !== undefined) requireInteger('slice', 'end', end);
  const n = x.shape[d];
  const bound = (b: number | undefined, dflt: number) => (b === undefined ? dflt : b < 0 ? Math.max(b + n, 0) : Math.min(b, n));
  const s = bound(start, 0);
  const e = bound(end, n);
  const length = e > s ? Math.ceil((e - s) / step) : 0;
  if (length === 0) {
    throw new Error(`slice: [${start ?? ''}:${end ?? ''}:${step}] of dim ${dim} (size ${n}) of ${shapeStr(x.shape)} selects no element; no op accepts an empty tensor`);
  }
  return sliceAs('slice', x, d, s, length, step);
}

/**
 * Tensors laid side by side along dim d of outShape (sizes[k] of it each): each input is written into its block
 * of the output; the backward reads each input's block of the gradient back out.
 */
function joinAlong(op: string, tensors: readonly Tensor[], outShape: Shape, d: number, sizes: readonly number[]): Tensor {
  const { rt, dtype } = tensors[0];
  const inner = prod(outShape.slice(d + 1));
  const rowLength = outShape[d] * inner;
  const outer = prod(outShape.slice(0, d));
  let at = 0;
  const views: StridedView[] = sizes.map((n) => {
    const v = { offset: at * inner, sizes: [outer, n * inner], strides: [rowLength, 1] };
    at += n;
    return v;
  });
  const out = Tensor.empty(outShape, dtype, rt);
  tensors.forEach((t, k) => stridedScatter(rt, t.buffer, out.buffer, views[k], op));
  return record(out, op, [...tensors], (g) =>
    tensors.map((t, k) => {
      if (!t.requiresGrad) return null;
      const gt = Tensor.empty(t.shape, 'f32', rt);
      stridedGather(rt, g.buffer, gt.buffer, views[k], `${op}.backward`);
      return gt;
    }),
  );
}

/** Checks shared by cat and stack: a non-empty list of non-empty tensors of one dtype. */
function checkList(op: string, tensors: readonly Tensor[]): Tensor {
  if (tensors.length === 0) throw new Error(`${op}: expects a non-empty list of tensors`);
  tensors.forEach((t, k) => {
    requireNonEmpty(op, { [`tensors[${k}]`]: t });
    if (t.dtype !== tensors[0].dtype) throw new Error(`${op}: tensors[${k}] is '${t.dtype}' but tensors[0] is '${tensors[0].dtype}'`);
  });
  return tensors[0];
}

/** torch.cat(tensors, dim): the tensors joined along dim; their shapes must agree off dim. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  const first = checkList('cat', tensors);
  const d = normDim('cat', dim, first.shape);
  tensors.forEach((t, k) => {
    if (t.shape.length !== first.shape.length || t.shape.some((n, i) => i !== d && n !== first.shape[i])) {
      throw new Error(`cat: tensors[${k}] ${shapeStr(t.shape)} does not match tensors[0] ${shapeStr(first.shape)} in the dims other than dim ${dim}`);
    }
  });
  const sizes = tensors.map((t) => t.shape[d]);
  const outShape = first.shape.map((n, i) => (i === d ? sizes.reduce((a, b) => a + b, 0) : n));
  return joinAlong('cat', tensors, outShape, d, sizes);
}

/** torch.stack(tensors, dim): same-shape tensors joined along a new dim (dim in [−ndim − 1, ndim]). */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  const first = checkList('stack', tensors);
  const d = normDim('stack', dim, first.shape, 1);
  tensors.forEach((t, k) => {
    if (shapeStr(t.shape) !== shapeStr(first.shape)) throw new Error(`stack: tensors[${k}] ${shapeStr(t.shape)} differs from tensors[0] ${shapeStr(first.shape)}`);
  });
  const outShape = [...first.shape.slice(0, d), tensors.length, ...first.shape.slice(d)];
  return joinAlong('stack', tensors, outShape, d, tensors.map(() => 1));
}

/** x indexed along geometry.dim by an i32 index (gather, indexSelect); the backward index-adds into dx. */
function indexOp(op: string, x: Tensor, index: Tensor, outShape: Shape, geometry: IndexGeometry): Tensor {
  fitIndexGeometry(op, geometry);
  const out = Tensor.empty(outShape, x.dtype, x.rt);
  indexForward(x.rt, x.buffer, index.buffer, out.buffer, geometry, op);
  return record(out, op, [x, index], (g) => {
    const gx = Tensor.empty(x.shape, 'f32', x.rt);
    indexBackward(x.rt, g.buffer, index.buffer, gx.buffer, geometry, `${op}.backward`);
    return [gx, null];
  });
}

/**
 * torch.gather(x, dim, index): out has index's shape, out[i][j][k] = x[index[i][j][k]][j][k] for dim 0 (and so on).
 * index is an 'i32' tensor with x's number of dims and index.size(d) ≤ x.size(d) for d ≠ dim. The GPU cannot
 * throw: an index outside [0, x.size(dim)) gives 0 and passes no gradient (torch raises). The backward sums
 * repeated indices in a fixed order (deterministic), one thread per x element looping over index.size(dim) entries.
 */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  requireNonEmpty('gather', { x, index });
  requireIndex('gather', index);
  const d = normDim('gather', dim, x.shape);
  if (index.shape.length !== x.shape.length) {
    throw new Error(`gather: index ${shapeStr(index.shape)} must have as many dims as x ${shapeStr(x.shape)}`);
  }
  index.shape.forEach((n, i) => {
    if (i !== d && n > x.shape[i]) throw new Error(`gather: index ${shapeStr(index.shape)} is larger than x ${shapeStr(x.shape)} in dim ${i} (only dim ${dim} may be larger)`);
  });
  return indexOp('gather', x, index, index.shape, { dim: d, xSizes: x.shape, outSizes: index.shape, indexStrides: contiguousStrides(index.shape) });
}

/**
 * torch.index_select(x, dim, index): the entries index[0], index[1], … of x along dim (index: a 1-D 'i32' tensor;
 * repeats allowed). As in gather, an index outside [0, x.size(dim)) gives 0 and no gradient; the backward
 * (index-add) is deterministic, one thread per x element looping over the index.
 */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  requireNonEmpty('indexSelect', { x, index });
  requireIndex('indexSelect', index);
  if (index.shape.length > 1) throw new Error(`indexSelect: index must be 1-D, got ${shapeStr(index.shape)}`);
  const d = normDim('indexSelect', dim, x.shape);
  const outShape = x.shape.map((n, i) => (i === d ? index.size : n));
  return indexOp('indexSelect', x, index, outShape, { dim: d, xSizes: x.shape, outSizes: outShape, indexStrides: x.shape.map((_, i) => (i === d ? 1 : 0)) });
}

/**
 * torch.squeeze(x, dim?): without dim, every size-1 dim removed; with a dim or a list of dims, those of them that
 * have size 1 (others are kept, as in torch). A view sharing x's storage.
 */
export function squeeze(x: Tensor, dim?: number | readonly number[]): Tensor {
  let drop: number[];
  if (dim === undefined) drop = x.shape.map((_, i) => i);
  else {
    drop = (typeof dim === 'number' ? [dim] : dim).map((d) => normDim('squeeze', d, x.shape));
    if (new Set(drop).size !== drop.length) throw new Error(`squeeze: dims [${(dim as readonly number[]).join(', ')}] name a dim of ${shapeStr(x.shape)} twice`);
  }
  return viewOp('squeeze', x, x.shape.filter((n, i) => !(n === 1 && drop.includes(i))));
}

/** torch.unsqueeze(x, dim): a size-1 dim inserted at dim (in [−ndim − 1, ndim]). A view sharing x's storage. */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normDim('unsqueeze', dim, x.shape, 1);
  return viewOp('unsqueeze', x, [...x.shape.slice(0, d), 1, ...x.shape.slice(d)]);
}

/**
 * torch.unflatten(x, dim, sizes): dim split into `sizes` (one of them may be −1; their product is x.size(dim)).
 * A view sharing x's storage.
 */
export function unflatten(x: Tensor, dim: number, sizes: readonly number[]): Tensor {
  const d = normDim('unflatten', dim, x.shape);
  const n = x.shape[d];
  const free = sizes.indexOf(-1);
  const known = prod(sizes.filter((_, i) => i !== free));
  const target = sizes.map((s, i) => (i === free ? n / known : s));
  const bad = sizes.length === 0 || sizes.some((s, i) => i !== free && (!Number.isInteger(s) || s < 0)) || sizes.lastIndexOf(-1) !== free || prod(target) !== n || !target.every(Number.isInteger);
  if (bad) throw new Error(`unflatten: sizes [${sizes.join(', ')}] do not split dim ${dim} (size ${n}) of ${shapeStr(x.shape)}`);
  return viewOp('unflatten', x, [...x.shape.slice(0, d), ...target, ...x.shape.slice(d + 1)]);
}

/** x.t(): a 2-D tensor transposed (a copy); a tensor of 0 or 1 dims is returned as a view, as in torch. */
export function t(x: Tensor): Tensor {
  if (x.shape.length > 2) throw new Error(`t: expects a tensor of at most 2 dims, got ${shapeStr(x.shape)}; use transpose(x, dim0, dim1)`);
  return x.shape.length === 2 ? transpose(x, 0, 1) : viewOp('t', x, x.shape);
}
