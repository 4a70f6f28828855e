/** Elementwise arithmetic and reshapes (the reductions are in reduce.ts): each op's forward and backward side by side. */
import { Tensor, shapeStr, type Shape } from '../tensor';
import { record } from '../graph';
import { requireNonEmpty } from './check';
import { scale as scaleKernel } from '../../kernels/elementwise';
import { binaryDispatch, isPassThrough } from '../../kernels/elementwise/binary_gen';
import { binarySpec, type BinaryName } from '../../kernels/elementwise/binary_ops';

function sameShape(op: string, a: Tensor, b: Tensor): void {
  requireNonEmpty(op, { a, b });
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${op}: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} differ (broadcasting is not supported)`);
  }
}

/**
 * The autograd op of a binary op declared in kernels/elementwise/binary_ops.ts (same shapes): y = f(a, b); the
 * backward computes da and db on the GPU from a, b, y and dy (a gradient that is dy itself is passed on as is).
 */
export function binaryOp(name: BinaryName): (a: Tensor, b: Tensor) => Tensor {
  const spec = binarySpec(name);
  return (a: Tensor, b: Tensor): Tensor => {
    sameShape(name, a, b);
    const out = Tensor.empty(a.shape, 'f32', a.rt);
    binaryDispatch(a.rt, name, 'forward', { a: a.buffer, b: b.buffer }, out.buffer, a.size);
    return record(out, name, [a, b], (g) =>
      (['da', 'db'] as const).map((dir) => {
        if (isPassThrough(spec, dir)) return g;
        const gx = Tensor.empty(a.shape, 'f32', a.rt);
        binaryDispatch(a.rt, name, dir, { a: a.buffer, b: b.buffer, y: out.buffer, dy: g.buffer }, gx.buffer, a.size);
        return gx;
      }),
    );
  };
}

/** a + b (same shapes). Also the residual add of ResNet. */
export const add = binaryOp('add');

/** a − b (same shapes). */
export const sub = binaryOp('sub');

/** a · b, elementwise (same shapes). */
export const mul = binaryOp('mul');

/**
 * max(a, b), elementwise (same shapes), as torch.maximum: NaN if either is NaN. The gradient goes to the larger
 * input; at a tie, dy/2 to each.
 */
export const maximum = binaryOp('maximum');

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
