/**
 * Float64 references of the binary ops (from their declarations, kernels/elementwise/binary_ops.ts), with PyTorch's
 * broadcasting, and of where, expand and sumToShape. Pure: no GPU. The broadcast index is computed naively, element by
 * element (unravel the output index, read dim by dim), independently of the kernels' merged strided layout.
 */
import { binarySpec, type BinaryName } from '../kernels/elementwise/binary_ops';
import { broadcastShapes } from '../kernels/broadcast/layout';

type Shape = readonly number[];
const numel = (s: Shape) => s.reduce((p, d) => p * d, 1);

/** y = f(a, b), elementwise (same lengths), in float64. */
export function binaryRef(name: BinaryName, a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const f = binarySpec(name).forward64;
  return Float64Array.from(a, (v, i) => f(v, b[i]));
}

/** [da, db] from a, b, y = f(a, b) and dy, elementwise (same lengths), in float64 (as the GPU backward). */
export function binaryBackwardRef(name: BinaryName, a: ArrayLike<number>, b: ArrayLike<number>, dy: ArrayLike<number>): [Float64Array, Float64Array] {
  const s = binarySpec(name);
  const y = binaryRef(name, a, b);
  return [Float64Array.from(a, (v, i) => s.da64(v, b[i], y[i], dy[i])), Float64Array.from(a, (v, i) => s.db64(v, b[i], y[i], dy[i]))];
}

/** For each element of `out` (row-major), the flat index of the element of a tensor of `shape` broadcast to `out` that it reads. */
export function broadcastIndex(shape: Shape, out: Shape): Int32Array {
  const lead = out.length - shape.length;
  return Int32Array.from({ length: numel(out) }, (_, i) => {
    let r = i;
    let j = 0;
    let stride = 1;
    for (let d = out.length - 1; d >= 0; d--) {
      const c = r % out[d];
      r = Math.floor(r / out[d]);
      if (d < lead) continue;
      const size = shape[d - lead];
      if (size !== 1) j += c * stride;
      stride *= size;
    }
    return j;
  });
}

/** x of `shape` broadcast to `out` (expand), copied. */
export function broadcastRef(x: ArrayLike<number>, shape: Shape, out: Shape): Float64Array {
  return Float64Array.from(broadcastIndex(shape, out), (j) => x[j]);
}

/** x of shape `from` summed down to `to` (which broadcasts to `from`): each element adds into the one it was broadcast from. */
export function sumToShapeRef(x: ArrayLike<number>, from: Shape, to: Shape): Float64Array {
  const out = new Float64Array(numel(to));
  broadcastIndex(to, from).forEach((j, i) => (out[j] += x[i]));
  return out;
}

/** y = f(a, b) with a of shape sa and b of shape sb broadcast together, and y's shape. */
export function binaryBroadcastRef(name: BinaryName, a: ArrayLike<number>, sa: Shape, b: ArrayLike<number>, sb: Shape): { y: Float64Array; shape: number[] } {
  const shape = broadcastShapes(name, { a: sa, b: sb });
  const f = binarySpec(name).forward64;
  const [ia, ib] = [broadcastIndex(sa, shape), broadcastIndex(sb, shape)];
  return { y: Float64Array.from(ia, (j, i) => f(a[j], b[ib[i]])), shape };
}

/** [da, db] of the broadcast op (shapes sa and sb) for upstream dy: the elementwise gradients summed back to each shape. */
export function binaryBroadcastBackwardRef(name: BinaryName, a: ArrayLike<number>, sa: Shape, b: ArrayLike<number>, sb: Shape, dy: ArrayLike<number>): [Float64Array, Float64Array] {
  const s = binarySpec(name);
  const { y, shape } = binaryBroadcastRef(name, a, sa, b, sb);
  const [ia, ib] = [broadcastIndex(sa, shape), broadcastIndex(sb, shape)];
  const da = Float64Array.from(ia, (j, i) => s.da64(a[j], b[ib[i]], y[i], dy[i]));
  const db = Float64Array.from(ia, (j, i) => s.db64(a[j], b[ib[i]], y[i], dy[i]));
  return [sumToShapeRef(da, shape, sa), sumToShapeRef(db, shape, sb)];
}

/** where(cond, a, b) with cond (true where nonzero), a and b broadcast together, and its shape. */
export function whereRef(c: ArrayLike<number>, sc: Shape, a: ArrayLike<number>, sa: Shape, b: ArrayLike<number>, sb: Shape): { y: Float64Array; shape: number[] } {
  const shape = broadcastShapes('where', { cond: sc, a: sa, b: sb });
  const [ic, ia, ib] = [broadcastIndex(sc, shape), broadcastIndex(sa, shape), broadcastIndex(sb, shape)];
  return { y: Float64Array.from(ic, (k, i) => (c[k] !== 0 ? a[ia[i]] : b[ib[i]])), shape };
}

/** [da, db] of where for upstream dy: dy where cond (summed to a's shape), dy elsewhere (summed to b's). */
export function whereBackwardRef(c: ArrayLike<number>, sc: Shape, sa: Shape, sb: Shape, dy: ArrayLike<number>): [Float64Array, Float64Array] {
  const shape = broadcastShapes('where', { cond: sc, a: sa, b: sb });
  const on = Array.from(broadcastIndex(sc, shape), (k) => c[k] !== 0);
  return [sumToShapeRef(Float64Array.from(on, (t, i) => (t ? dy[i] : 0)), shape, sa), sumToShapeRef(Float64Array.from(on, (t, i) => (t ? 0 : dy[i])), shape, sb)];
}
