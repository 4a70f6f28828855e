/** Float64 references for the activation functions (test code only). */

export function reluRef(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v) => (v > 0 ? v : 0));
}

/** dx = dy · [x > 0] (the gradient at exactly 0 is 0, as PyTorch). */
export function reluBackwardRef(x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v, i) => (v > 0 ? dy[i] : 0));
}
