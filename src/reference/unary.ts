/** Float64 references of the unary ops, from their declarations (kernels/elementwise/unary_ops.ts). Pure: no GPU. */
import { unarySpec, type UnaryName } from '../kernels/elementwise/unary_ops';

/** y = f(x), elementwise, in float64. */
export function unaryRef(name: UnaryName, x: ArrayLike<number>): Float64Array {
  const f = unarySpec(name).forward64;
  return Float64Array.from(x, (v) => f(v));
}

/** dx = f'(x)·dy, elementwise, in float64 (from x, y = f(x) and dy, as the GPU backward). */
export function unaryBackwardRef(name: UnaryName, x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  const s = unarySpec(name);
  return Float64Array.from(x, (v, i) => s.backward64(v, s.forward64(v), dy[i]));
}
