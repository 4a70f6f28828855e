/** Activation functions: the unary ops declared in kernels/elementwise/unary_ops.ts (forward and backward there). */
import { unaryOp } from './unary';

/**
 * max(x, 0), elementwise (NaN stays NaN, −0 stays −0). The gradient is dy·[x > 0] (0 at exactly 0, as PyTorch),
 * from the output (y > 0 ⇔ x > 0), as PyTorch's threshold_backward.
 */
export const relu = unaryOp('relu');

/** 1 / (1 + exp(−x)), elementwise, computed without overflow. The gradient is dy·y·(1 − y). */
export const sigmoid = unaryOp('sigmoid');
