/** Activation functions: the unary ops declared in kernels/elementwise/unary_ops.ts (forward and backward there). */
import type { Tensor } from '../tensor';
import { unaryOp } from './unary';

/**
 * max(x, 0), elementwise (NaN stays NaN, −0 stays −0). The gradient is dy·[x > 0] (0 at exactly 0, as PyTorch),
 * from the output (y > 0 ⇔ x > 0), as PyTorch's threshold_backward.
 */
export const relu = unaryOp('relu');

/** 1 / (1 + exp(−x)), elementwise, computed without overflow. The gradient is dy·y·(1 − y). */
export const sigmoid = unaryOp('sigmoid');

/** tanh(x), elementwise, saturating to ±1 at large |x| (no overflow). The gradient is dy·(1 − y²). */
export const tanh = unaryOp('tanh');

/** x·sigmoid(x) (F.silu, also called swish), elementwise, without overflow. */
export const silu = unaryOp('silu');

/** F.gelu's options: `approximate` 'none' (the default: the exact erf form) or 'tanh'. */
export interface GeluOptions {
  approximate?: 'none' | 'tanh';
}

const geluExact = unaryOp('gelu');
const geluTanh = unaryOp('geluTanh');

/**
 * F.gelu: x·Φ(x) = x·(1 + erf(x/√2))/2 with `approximate: 'none'` (the default), or PyTorch's tanh approximation
 * x·(1 + tanh(√(2/π)(x + 0.044715x³)))/2 with `approximate: 'tanh'`. Elementwise; forward and gradient as PyTorch's.
 */
export function gelu(x: Tensor, options: GeluOptions = {}): Tensor {
  const a = options.approximate ?? 'none';
  if (a === 'none') return geluExact(x);
  if (a === 'tanh') return geluTanh(x);
  throw new Error(`gelu: approximate must be 'none' or 'tanh', got ${JSON.stringify(a)}`);
}

/** F.leakyRelu's options. */
export interface LeakyReluOptions {
  negativeSlope?: number;
}

/**
 * F.leakyRelu: x where x > 0, else negativeSlope·x (default 0.01), elementwise; the slope as a number or
 * `{ negativeSlope }`. The gradient is dy where x > 0, else negativeSlope·dy (at 0 too), as PyTorch.
 */
export function leakyRelu(x: Tensor, negativeSlope: number | LeakyReluOptions = 0.01): Tensor {
  const slope = typeof negativeSlope === 'number' ? negativeSlope : (negativeSlope.negativeSlope ?? 0.01);
  if (typeof slope !== 'number' || Number.isNaN(slope)) throw new Error(`leakyRelu: negativeSlope must be a number, got ${String(slope)}`);
  return unaryOp('leakyRelu', { negativeSlope: slope })(x);
}
