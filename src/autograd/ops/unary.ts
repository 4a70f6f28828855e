/** The unary elementwise ops of kernels/elementwise/unary_ops.ts as autograd ops: forward dispatch, backward via record. */
import { Tensor } from '../tensor';
import { record } from '../graph';
import { requireNonEmpty } from './check';
import { unaryBackward, unaryForward } from '../../kernels/elementwise/unary_gen';
import type { UnaryName } from '../../kernels/elementwise/unary_ops';

/** The autograd op of a declared unary op: y = f(x); the backward computes dx from x, y and dy on the GPU. */
export function unaryOp(name: UnaryName): (x: Tensor) => Tensor {
  return (x: Tensor): Tensor => {
    requireNonEmpty(name, { x });
    const y = Tensor.empty(x.shape, 'f32', x.rt);
    unaryForward(x.rt, name, x.buffer, y.buffer, x.size);
    return record(y, name, [x], (g) => {
      const gx = Tensor.empty(x.shape, 'f32', x.rt);
      unaryBackward(x.rt, name, { x: x.buffer, y: y.buffer, dy: g.buffer }, gx.buffer, x.size);
      return [gx];
    });
  };
}
