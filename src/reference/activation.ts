/** Float64 references for the activation functions, with PyTorch's non-finite semantics (from reference/unary.ts). */
import { unaryBackwardRef, unaryRef } from './unary';

/** max(x, 0) as PyTorch: NaN stays NaN, −0 stays −0. */
export function reluRef(x: ArrayLike<number>): Float64Array {
  return unaryRef('relu', x);
}

/** dx = dy, or 0 where relu(x) ≤ 0 (PyTorch's threshold_backward): 0 at exactly 0, dy at NaN. */
export function reluBackwardRef(x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return unaryBackwardRef('relu', x, dy);
}
