/**
 * Float64 reference of batch norm over NCHW (torch.nn.functional.batch_norm), optionally followed by ReLU, or by
 * the add of a residual and ReLU (max(bn(x) + r, 0), a residual block's end).
 */

export type Nchw = readonly [number, number, number, number];

export interface BnRefOptions {
  training: boolean;
  momentum?: number;
  eps?: number;
  relu?: boolean;
  /** max(bn(x) + residual, 0) (implies the ReLU). */
  residual?: ArrayLike<number>;
}

export interface BnRefForward {
  y: Float64Array;
  /** The statistics used to normalise: batch (training) or running (eval). */
  mean: Float64Array;
  invstd: Float64Array;
  /** The running estimates after the call (updated in training mode). */
  runningMean: Float64Array;
  runningVar: Float64Array;
}

export interface BnRefGrads {
  dx: Float64Array;
  dweight: Float64Array;
  dbias: Float64Array;
  /** The residual's gradient (with o.residual): dy masked by y > 0. */
  dresidual: Float64Array;
}

const at = (s: Nchw, b: number, c: number, k: number) => (b * s[1] + c) * s[2] * s[3] + k;

export function batchNormRef(
  x: ArrayLike<number>,
  s: Nchw,
  runningMean: ArrayLike<number>,
  runningVar: ArrayLike<number>,
  weight: ArrayLike<number> | null,
  bias: ArrayLike<number> | null,
  o: BnRefOptions,
): BnRefForward {
  const [n, C, h, w] = s;
  const hw = h * w;
  const cnt = n * hw;
  const m = o.momentum ?? 0.1;
  const eps = o.eps ?? 1e-5;
  const mean = new Float64Array(C);
  const invstd = new Float64Array(C);
  const rm = Float64Array.from(runningMean);
  const rv = Float64Array.from(runningVar);
  for (let c = 0; c < C; c++) {
    if (o.training) {
      let sum = 0;
      for (let b = 0; b < n; b++) for (let k = 0; k < hw; k++) sum += x[at(s, b, c, k)];
      const mu = sum / cnt;
      let sq = 0;
      for (let b = 0; b < n; b++) for (let k = 0; k < hw; k++) sq += (x[at(s, b, c, k)] - mu) ** 2;
      mean[c] = mu;
      invstd[c] = 1 / Math.sqrt(sq / cnt + eps);
      rm[c] = (1 - m) * rm[c] + m * mu;
      rv[c] = (1 - m) * rv[c] + (m * sq) / (cnt - 1);
    } else {
      mean[c] = runningMean[c];
      invstd[c] = 1 / Math.sqrt(runningVar[c] + eps);
    }
  }
  const y = new Float64Array(n * C * hw);
  for (let b = 0; b < n; b++)
    for (let c = 0; c < C; c++)
      for (let k = 0; k < hw; k++) {
        const i = at(s, b, c, k);
        let v = (x[i] - mean[c]) * invstd[c] * (weight ? weight[c] : 1) + (bias ? bias[c] : 0);
        if (o.residual) v += o.residual[i];
        if (o.relu || o.residual) v = Math.max(v, 0);
        y[i] = v;
      }
  return { y, mean, invstd, runningMean: rm, runningVar: rv };
}

/**
 * Gradients of L = Σ dy·y. Training: through the batch statistics,
 * dx = w·invstd·(g − mean(g) − x̂·mean(g·x̂)); eval: dx = w·invstd·g. dweight = Σ g·x̂, dbias = Σ g,
 * with g = dy masked by y > 0 under ReLU (and the residual's gradient is g).
 */
export function batchNormBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  s: Nchw,
  fwd: BnRefForward,
  weight: ArrayLike<number> | null,
  o: BnRefOptions,
): BnRefGrads {
  const [n, C, h, w] = s;
  const hw = h * w;
  const cnt = n * hw;
  const dx = new Float64Array(n * C * hw);
  const dweight = new Float64Array(C);
  const dbias = new Float64Array(C);
  const g = (i: number) => ((o.relu || o.residual) && !(fwd.y[i] > 0) ? 0 : dy[i]);
  const dresidual = Float64Array.from({ length: n * C * hw }, (_, i) => g(i));
  const xh = (i: number, c: number) => (x[i] - fwd.mean[c]) * fwd.invstd[c];
  for (let c = 0; c < C; c++) {
    let sg = 0;
    let sgx = 0;
    for (let b = 0; b < n; b++)
      for (let k = 0; k < hw; k++) {
        const i = at(s, b, c, k);
        sg += g(i);
        sgx += g(i) * xh(i, c);
      }
    dbias[c] = sg;
    dweight[c] = sgx;
    const scale = (weight ? weight[c] : 1) * fwd.invstd[c];
    for (let b = 0; b < n; b++)
      for (let k = 0; k < hw; k++) {
        const i = at(s, b, c, k);
        dx[i] = o.training ? scale * (g(i) - sg / cnt - (xh(i, c) * sgx) / cnt) : scale * g(i);
      }
  }
  return { dx, dweight, dbias, dresidual };
}
