/** scale, reductions and reshapes: each op's forward and backward side by side (the binary ops are in ops/binary.ts). */
import { Tensor, shapeStr, type Shape } from '../tensor';
import { record } from '../graph';
import { requireNonEmpty } from './check';
import { scale as scaleKernel } from '../../kernels/elementwise';
import { expandAxis, sumAxis } from '../../kernels/reduce';

// The binary ops moved to ops/binary.ts (broadcasting); re-exported for the files that import them from here.
export { binaryOp, add, sub, mul, maximum } from './binary';

/** s · x */
export function scale(x: Tensor, s: number): Tensor {
  requireNonEmpty('scale', { x });
  const out = Tensor.empty(x.shape, 'f32', x.rt);
  scaleKernel(x.rt, x.buffer, s, out.buffer, x.size);
  return record(out, 'scale', [x], (g) => [scale(g, s)]);
}

/** [outer, n, inner] around `axis`, with a negative axis counted from the end. */
function splitAt(shape: Shape, axis: number): [number, number, number, number] {
  const ax = axis < 0 ? axis + shape.length : axis;
  if (ax < 0 || ax >= shape.length) throw new Error(`axis ${axis} is out of range for shape ${shapeStr(shape)}`);
  const outer = shape.slice(0, ax).reduce((p, d) => p * d, 1);
  const inner = shape.slice(ax + 1).reduce((p, d) => p * d, 1);
  return [ax, outer, shape[ax], inner];
}

function reduceOp(name: string, x: Tensor, axis: number | undefined, mean: boolean): Tensor {
  requireNonEmpty(name, { x });
  const [ax, outer, n, inner] = axis === undefined ? [-1, 1, x.size, 1] : splitAt(x.shape, axis);
  const outShape = axis === undefined ? [] : x.shape.filter((_, i) => i !== ax);
  const k = mean ? 1 / Math.max(n, 1) : 1;
  const out = Tensor.empty(outShape, 'f32', x.rt);
  sumAxis(x.rt, x.buffer, out.buffer, outer, n, inner, k);
  return record(out, name, [x], (g) => {
    const gx = Tensor.empty(x.shape, 'f32', x.rt);
    expandAxis(x.rt, g.buffer, gx.buffer, outer, n, inner, k);
    return [gx];
  });
}

/** Sum of all elements (shape []), or over one axis (that axis removed). */
export function sum(x: Tensor, axis?: number): Tensor {
  return reduceOp('sum', x, axis, false);
}

/** Mean of all elements, or over one axis. */
export function mean(x: Tensor, axis?: number): Tensor {
  return reduceOp('mean', x, axis, true);
}

/** Same data, new shape (one dimension may be -1). Shares the storage. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const free = shape.indexOf(-1);
  let target = shape;
  if (free >= 0) {
    const known = shape.reduce((p, d, i) => (i === free ? p : p * d), 1);
    target = shape.map((d, i) => (i === free ? x.size / known : d));
  }
  if (target.reduce((p, d) => p * d, 1) !== x.size || target.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`reshape: cannot reshape ${shapeStr(x.shape)} (${x.size} elements) to ${shapeStr(shape)}`);
  }
  const out = x.view(target);
  return record(out, 'reshape', [x], (g) => [g.view(x.shape)]);
}

/** Collapse dimensions startDim.. into one (torch.flatten(x, startDim)). */
export function flatten(x: Tensor, startDim = 1): Tensor {
  const s = startDim < 0 ? startDim + x.shape.length : startDim;
  if (s < 0 || s >= Math.max(1, x.shape.length)) throw new Error(`flatten: startDim ${startDim} out of range for ${shapeStr(x.shape)}`);
  return reshape(x, [...x.shape.slice(0, s), x.shape.slice(s).reduce((p, d) => p * d, 1)]);
}
