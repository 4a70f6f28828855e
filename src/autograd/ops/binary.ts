/**
 * The broadcasting binary ops (add, sub, mul, div, pow, maximum, minimum: kernels/elementwise/binary_ops.ts), where,
 * expand/broadcastTo and sumToShape: each op's forward and backward side by side. Shapes broadcast as PyTorch's
 * (aligned at the last dim; a size-1 or missing dim stretches), and a gradient is summed back to its input's shape.
 * Operands of one shape take the vec4 kernels of kernels/elementwise/binary_gen.ts (ResNet's residual add); others
 * the strided kernels of kernels/broadcast/; a number operand the scalar entries (no broadcasting machinery).
 */
import { Tensor, numel, shapeStr, type Shape } from '../tensor';
import { record } from '../graph';
import { requireNonEmpty } from './check';
import { hasHalf, inF32, promotedDtype } from './half';
import { binaryDispatch, isPassThrough } from '../../kernels/elementwise/binary_gen';
import { binarySpec, type BinaryName, type BinarySpec } from '../../kernels/elementwise/binary_ops';
import {
  broadcastBinary, broadcastShapes, expandShape, expandTo, reduceGroups, scalarBinary, stridedLayout, sumToShape as sumToShapeKernel, whereForward, whereGrad, type Condition,
} from '../../kernels/broadcast';

/** A tensor, or a number (a 0-d operand). */
export type Operand = Tensor | number;

function requireF32(op: string, tensors: Record<string, Tensor>): void {
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== 'f32') throw new Error(`${op}: ${name} ${shapeStr(t.shape)} is an ${t.dtype} tensor; ${op} takes float32 tensors`);
  }
}

/** g summed down to `shape` (to which it was broadcast): a new tensor, or g itself when nothing is summed. Not recorded. */
function reduceTo(g: Tensor, shape: Shape): Tensor {
  if (g.size === numel(shape)) return g; // the graph views it as the input's shape
  const out = Tensor.empty(shape, 'f32', g.rt);
  sumToShapeKernel(g.rt, g.buffer, g.shape, out.buffer, shape);
  return out;
}

/** Binary op `name` of a tensor t and a number s (side: which operand s is), through the scalar entries. */
function scalarOp(name: BinaryName, spec: BinarySpec, side: 'a' | 'b', s: number, t: Tensor): Tensor {
  const tv = side === 'a' ? 'b' : 'a';
  requireNonEmpty(name, { [tv]: t });
  requireF32(name, { [tv]: t });
  const out = Tensor.empty(t.shape, 'f32', t.rt);
  scalarBinary(t.rt, name, 'forward', side, s, { [tv]: t.buffer }, out.buffer, t.size);
  const dir = side === 'a' ? 'db' : 'da';
  return record(out, name, [t], (g) => {
    if (isPassThrough(spec, dir)) return [g];
    const gx = Tensor.empty(t.shape, 'f32', t.rt);
    scalarBinary(t.rt, name, dir, side, s, { [tv]: t.buffer, y: out.buffer, dy: g.buffer }, gx.buffer, t.size);
    return [gx];
  });
}

/**
 * The autograd op of a binary op declared in kernels/elementwise/binary_ops.ts: y = f(a, b) with a and b broadcast
 * together, either of them possibly a number. The backward computes da and db on the GPU from a, b, y and dy (a
 * gradient that is dy itself is passed on as is), summed over the dims its input was broadcast along.
 */
export function binaryOp(name: BinaryName): (a: Operand, b: Operand) => Tensor {
  const spec = binarySpec(name);
  const op = (a: Operand, b: Operand): Tensor => {
    const ta = typeof a === 'number' ? null : a;
    const tb = typeof b === 'number' ? null : b;
    if (hasHalf([ta, tb])) {
      // float16 operands: computed in float32, stored in float16 unless the other operand is float32 (ops/half.ts)
      const ins = [ta, tb].filter((t): t is Tensor => t !== null);
      return inF32(name, ins, { out: promotedDtype(ins), savesOutput: true }, (w) => {
        let k = 0;
        const wa = typeof a === 'number' ? a : w[k++]!;
        const wb = typeof b === 'number' ? b : w[k++]!;
        return op(wa, wb);
      });
    }
    if (typeof a === 'number') {
      if (typeof b === 'number') throw new Error(`${name}: a (${a}) and b (${b}) are both numbers; give at least one tensor`);
      return scalarOp(name, spec, 'a', a, b);
    }
    if (typeof b === 'number') return scalarOp(name, spec, 'b', b, a);
    requireNonEmpty(name, { a, b });
    requireF32(name, { a, b });
    const same = a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
    const shape = same ? a.shape : broadcastShapes(name, { a: a.shape, b: b.shape });
    const n = numel(shape);
    const rt = a.rt;
    if (a.size === n && b.size === n) {
      // One layout: the vec4 elementwise kernels.
      const out = Tensor.empty(shape, 'f32', rt);
      binaryDispatch(rt, name, 'forward', { a: a.buffer, b: b.buffer }, out.buffer, n);
      return record(out, name, [a, b], (g) =>
        (['da', 'db'] as const).map((dir, k) => {
          if (!(k ? b : a).requiresGrad) return null;
          if (isPassThrough(spec, dir)) return g;
          const gx = Tensor.empty(shape, 'f32', rt);
          binaryDispatch(rt, name, dir, { a: a.buffer, b: b.buffer, y: out.buffer, dy: g.buffer }, gx.buffer, n);
          return gx;
        }),
      );
    }
    const layout = stridedLayout(name, shape, [a.shape, b.shape]);
    const out = Tensor.empty(shape, 'f32', rt);
    broadcastBinary(rt, name, 'forward', layout, { a, b }, out.buffer);
    return record(out, name, [a, b], (g) =>
      (['da', 'db'] as const).map((dir, k) => {
        const x = k ? b : a;
        if (!x.requiresGrad) return null;
        let term = g;
        if (!isPassThrough(spec, dir)) {
          term = Tensor.empty(shape, 'f32', rt);
          broadcastBinary(rt, name, dir, layout, { a, b, y: out, dy: g }, term.buffer);
        }
        return reduceTo(term, x.shape);
      }),
    );
  };
  return op;
}

/** a + b, broadcasting (either may be a number), as torch.add. Also the residual add of ResNet (same shapes: vec4 kernel). */
export const add = binaryOp('add');

/** a − b, broadcasting (either may be a number), as torch.sub. */
export const sub = binaryOp('sub');

/** a · b, elementwise, broadcasting (either may be a number), as torch.mul. */
export const mul = binaryOp('mul');

/** a / b, elementwise, broadcasting (either may be a number), as torch.div (true division). */
export const div = binaryOp('div');

/**
 * a^b, elementwise, broadcasting (either may be a number), as torch.pow: C's special cases (0^0 = 1, 1^NaN = 1,
 * a negative base with a non-integer exponent is NaN). The gradients are torch's: 0 where b = 0, else dy·b·a^(b−1);
 * and 0 where a = 0 and b ≥ 0, else dy·y·log(a). pow(x, 2) runs one elementwise kernel (the exponent is a uniform).
 */
export const pow = binaryOp('pow');

/**
 * max(a, b), elementwise, broadcasting, as torch.maximum: NaN if either is NaN. The gradient goes to the larger
 * input; at a tie, dy/2 to each.
 */
export const maximum = binaryOp('maximum');

/** min(a, b), elementwise, broadcasting, as torch.minimum: NaN if either is NaN; at a tie, dy/2 to each. */
export const minimum = binaryOp('minimum');

/**
 * cond ? a : b, elementwise, with cond, a and b broadcast together, as torch.where. cond is a float32 or int32 tensor,
 * true where nonzero (−0 is false; NaN is true); a and b may be numbers. The gradient of a is dy where cond (summed to
 * a's shape), of b dy elsewhere; cond gets none.
 */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  const rt = cond.rt;
  const ta = typeof a === 'number' ? Tensor.full([], a, rt) : a;
  const tb = typeof b === 'number' ? Tensor.full([], b, rt) : b;
  try {
    requireNonEmpty('where', { cond, a: ta, b: tb });
    requireF32('where', { a: ta, b: tb });
    const shape = broadcastShapes('where', { cond: cond.shape, a: ta.shape, b: tb.shape });
    const layout = stridedLayout('where', shape, [ta.shape, tb.shape, cond.shape]);
    const condition = (): Condition => ({ buffer: cond.buffer, size: cond.size, int: cond.dtype === 'i32' });
    const out = Tensor.empty(shape, 'f32', rt);
    whereForward(rt, condition(), ta, tb, layout, out.buffer);
    const sides = ([[a, 'a'], [b, 'b']] as const).filter((s): s is [Tensor, 'a' | 'b'] => typeof s[0] !== 'number');
    return record(out, 'where', [cond, ...sides.map(([t]) => t)], (g) => [
      null,
      ...sides.map(([t, side]) => {
        if (!t.requiresGrad) return null;
        const term = Tensor.empty(shape, 'f32', rt);
        whereGrad(rt, side, condition(), g.buffer, layout, term.buffer);
        return reduceTo(term, t.shape);
      }),
    ]);
  } finally {
    if (ta !== a) ta.dispose();
    if (tb !== b) tb.dispose();
  }
}

function expandOp(op: string, x: Tensor, shape: Shape): Tensor {
  requireNonEmpty(op, { x });
  requireF32(op, { x }); // the kernel moves f32 values; an int32 bit pattern could be a NaN that a GPU canonicalises
  const target = expandShape(op, x.shape, shape);
  if (numel(target) === 0) throw new Error(`${op}: cannot expand ${shapeStr(x.shape)} to ${shapeStr(shape)}: the result would be empty (0 elements)`);
  if (numel(target) === x.size) return record(x.view(target), op, [x], (g) => [g]);
  const out = Tensor.empty(target, 'f32', x.rt);
  expandTo(x.rt, x, stridedLayout(op, target, [x.shape]), out.buffer);
  return record(out, op, [x], (g) => [reduceTo(g, x.shape)]);
}

/**
 * x broadcast to `shape`, as torch.Tensor.expand: new leading dims, and size-1 dims stretched; −1 keeps a dim. The
 * result is a contiguous copy (tensors here are always contiguous); the gradient is summed back to x's shape.
 */
export function expand(x: Tensor, shape: Shape): Tensor {
  return expandOp('expand', x, shape);
}

/** x broadcast to `shape`, as torch.broadcast_to (expand's rules). */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  return expandOp('broadcastTo', x, shape);
}

/**
 * x summed down to `shape`, which must broadcast to x's shape (torch.Tensor.sum_to_size): the sum over the dims where
 * `shape` is 1 or missing, the gradient of broadcasting. Its backward is expand.
 */
export function sumToShape(x: Tensor, shape: Shape): Tensor {
  requireNonEmpty('sumToShape', { x });
  requireF32('sumToShape', { x });
  reduceGroups('sumToShape', x.shape, shape); // checks the shapes before anything is allocated
  const out = Tensor.empty(shape, 'f32', x.rt);
  sumToShapeKernel(x.rt, x.buffer, x.shape, out.buffer, shape);
  return record(out, 'sumToShape', [x], (g) => {
    // Leading 1s beyond x's rank are dropped, so that the gradient expands to x's shape.
    const lead = Math.max(0, g.shape.length - x.shape.length);
    return [expand(lead ? g.view(g.shape.slice(lead)) : g, x.shape)];
  });
}
