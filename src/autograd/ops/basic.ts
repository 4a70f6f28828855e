/** scale and reshapes: each op's forward and backward side by side (binary ops are in ops/binary.ts, reductions in ops/reduce.ts). */
import { Tensor, shapeStr, type Shape } from '../tensor';
import { record } from '../graph';
import { requireNonEmpty } from './check';
import { scale as scaleKernel } from '../../kernels/elementwise';

// The binary ops moved to ops/binary.ts (broadcasting); re-exported for the files that import them from here.
export { binaryOp, add, sub, mul, maximum } from './binary';

/** s · x */
export function scale(x: Tensor, s: number): Tensor {
  requireNonEmpty('scale', { x });
  const out = Tensor.empty(x.shape, 'f32', x.rt);
  scaleKernel(x.rt, x.buffer, s, out.buffer, x.size);
  return record(out, 'scale', [x], (g) => [scale(g, s)]);
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
