/** The unary elementwise ops of kernels/elementwise/unary_ops.ts as autograd ops: forward dispatch, backward via record. */
import { Tensor, shapeStr } from '../tensor';
import { record } from '../graph';
import { requireNonEmpty } from './check';
import { inF32 } from './half';
import { unaryBackward, unaryForward } from '../../kernels/elementwise/unary_gen';
import type { UnaryName, UnaryParams } from '../../kernels/elementwise/unary_ops';

/**
 * The autograd op of a declared unary op: y = f(x); the backward computes dx from x, y and dy on the GPU.
 * `params` overrides the op's declared parameter defaults by name (leakyRelu's negativeSlope, clamp's min, max).
 */
export function unaryOp(name: UnaryName, params?: UnaryParams): (x: Tensor) => Tensor {
  const op = (x: Tensor): Tensor => {
    // float16: computed in float32, stored in float16 (ops/half.ts)
    if (x.dtype === 'f16') return inF32(name, [x], { out: 'f16', savesOutput: true }, ([xi]) => op(xi!));
    requireNonEmpty(name, { x });
    if (x.dtype !== 'f32') throw new Error(`${name}: x must be an 'f32' tensor, got '${x.dtype}'`);
    const y = Tensor.empty(x.shape, 'f32', x.rt);
    unaryForward(x.rt, name, x.buffer, y.buffer, x.size, params);
    return record(y, name, [x], (g) => {
      const gx = Tensor.empty(x.shape, 'f32', x.rt);
      unaryBackward(x.rt, name, { x: x.buffer, y: y.buffer, dy: g.buffer }, gx.buffer, x.size, params);
      return [gx];
    });
  };
  return op;
}

/** e^x, elementwise (torch.exp). The gradient is dy·y. */
export const exp = unaryOp('exp');

/** The natural logarithm, elementwise (torch.log): −inf at 0, NaN below 0. The gradient is dy / x. */
export const log = unaryOp('log');

/** The square root, elementwise (torch.sqrt): NaN below 0. The gradient is dy / (2y). */
export const sqrt = unaryOp('sqrt');

/** 1 / √x, elementwise (torch.rsqrt): inf at 0, NaN below 0. The gradient is −dy·y³ / 2. */
export const rsqrt = unaryOp('rsqrt');

/** |x|, elementwise (torch.abs). The gradient is dy·sign(x), 0 at 0. */
export const abs = unaryOp('abs');

/** −x, elementwise (torch.neg). */
export const neg = unaryOp('neg');

/** Bounds of clamp: either may be omitted (undefined or null), not both. */
export interface ClampOptions {
  min?: number | null;
  max?: number | null;
}

/**
 * torch.clamp: min(max(x, min), max), elementwise, with either bound omitted (undefined or null), not both; the
 * bounds as numbers, `clamp(x, min, max)`, or as an options object, `clamp(x, { min, max })`. NaN stays NaN;
 * min > max gives max everywhere, as PyTorch. The gradient is dy where min ≤ x ≤ max (inclusive), else 0.
 */
export function clamp(x: Tensor, min?: number | null | ClampOptions, max?: number | null): Tensor {
  let o: ClampOptions = { min: min as number | null | undefined, max };
  if (min !== null && typeof min === 'object') {
    if (max !== undefined) throw new Error('clamp: give max in the options object, not as a third argument');
    o = min;
  }
  const lo = clampBound(o.min, 'min');
  const hi = clampBound(o.max, 'max');
  if (lo === undefined && hi === undefined) throw new Error(`clamp: at least one of min and max must be given (x ${shapeStr(x.shape)})`);
  return unaryOp('clamp', { min: lo ?? -Infinity, max: hi ?? Infinity })(x);
}

function clampBound(b: unknown, which: 'min' | 'max'): number | undefined {
  if (b === undefined || b === null) return undefined;
  if (typeof b !== 'number') throw new Error(`clamp: ${which} must be a number, got ${typeof b} (tensor bounds are not supported)`);
  return b;
}
