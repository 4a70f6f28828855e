/** Float64 references of the binary ops, from their declarations (kernels/elementwise/binary_ops.ts). Pure: no GPU. */
import { binarySpec, type BinaryName } from '../kernels/elementwise/binary_ops';

/** y = f(a, b), elementwise, in float64. */
export function binaryRef(name: BinaryName, a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const f = binarySpec(name).forward64;
  return Float64Array.from(a, (v, i) => f(v, b[i]));
}

/** [da, db] from a, b, y = f(a, b) and dy, elementwise, in float64 (as the GPU backward). */
export function binaryBackwardRef(name: BinaryName, a: ArrayLike<number>, b: ArrayLike<number>, dy: ArrayLike<number>): [Float64Array, Float64Array] {
  const s = binarySpec(name);
  const y = binaryRef(name, a, b);
  return [Float64Array.from(a, (v, i) => s.da64(v, b[i], y[i], dy[i])), Float64Array.from(a, (v, i) => s.db64(v, b[i], y[i], dy[i]))];
}
