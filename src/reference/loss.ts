/** Float64 reference of the softmax cross-entropy with label smoothing, PyTorch's definition. */

export type Reduction = 'mean' | 'sum' | 'none';

/** log Σ_c exp(x[row, c]), stable. */
function logSumExp(x: ArrayLike<number>, row: number, c: number): number {
  let m = -Infinity;
  for (let k = 0; k < c; k++) m = Math.max(m, x[row * c + k]);
  let s = 0;
  for (let k = 0; k < c; k++) s += Math.exp(x[row * c + k] - m);
  return m + Math.log(s);
}

/** Per-row losses: (1−ε)·(−log p[y]) + ε·mean_c(−log p[c]). */
export function crossEntropyRowsRef(logits: ArrayLike<number>, labels: ArrayLike<number>, n: number, c: number, smoothing = 0): Float64Array {
  const out = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    const lse = logSumExp(logits, r, c);
    let meanNegLogP = 0;
    for (let k = 0; k < c; k++) meanNegLogP += (lse - logits[r * c + k]) / c;
    const nll = lse - logits[r * c + labels[r]];
    out[r] = (1 - smoothing) * nll + smoothing * meanNegLogP;
  }
  return out;
}

/** The reduced loss: a number for 'mean' / 'sum', the per-row losses for 'none'. */
export function crossEntropyRef(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  n: number,
  c: number,
  smoothing = 0,
  reduction: Reduction = 'mean',
): number | Float64Array {
  const rows = crossEntropyRowsRef(logits, labels, n, c, smoothing);
  if (reduction === 'none') return rows;
  const total = rows.reduce((a, b) => a + b, 0);
  return reduction === 'mean' ? total / n : total;
}

/**
 * dL/dlogits for an upstream gradient `upstream` (a number for 'mean' / 'sum', one value per row for 'none'):
 * (softmax − ((1−ε)·onehot + ε/C)) · upstream (/N for the mean).
 */
export function crossEntropyBackwardRef(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  n: number,
  c: number,
  smoothing: number,
  reduction: Reduction,
  upstream: number | ArrayLike<number>,
): Float64Array {
  const dx = new Float64Array(n * c);
  for (let r = 0; r < n; r++) {
    const lse = logSumExp(logits, r, c);
    const g = typeof upstream === 'number' ? upstream / (reduction === 'mean' ? n : 1) : upstream[r];
    for (let k = 0; k < c; k++) {
      const p = Math.exp(logits[r * c + k] - lse);
      const t = smoothing / c + (k === labels[r] ? 1 - smoothing : 0);
      dx[r * c + k] = (p - t) * g;
    }
  }
  return dx;
}
