/**
 * Float64 references of the nn ops (PyTorch's definitions): softmax and log-softmax along an axis, layer norm,
 * and the mse, binary cross-entropy with logits and negative log-likelihood losses, each with its backward.
 */
import type { Reduction } from './loss';

/** An [outer, n, inner] view around one axis: the axis has length n and stride inner. */
export interface AxisLayout {
  outer: number;
  n: number;
  inner: number;
}

/** [outer, n, inner] around `dim` of `shape` (a negative dim counts from the end). */
export function axisLayout(shape: readonly number[], dim: number): AxisLayout {
  const ax = dim < 0 ? dim + shape.length : dim;
  const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  return { outer: prod(shape.slice(0, ax)), n: shape[ax], inner: prod(shape.slice(ax + 1)) };
}

/** Calls f(indices of one row along the axis) for every row. */
function eachRow(l: AxisLayout, f: (idx: number[]) => void): void {
  for (let o = 0; o < l.outer; o++) {
    for (let i = 0; i < l.inner; i++) f(Array.from({ length: l.n }, (_, k) => (o * l.n + k) * l.inner + i));
  }
}

/** softmax (or log-softmax when `log`) along the axis: stable, with the row max subtracted; an all −∞ row gives NaN. */
export function softmaxRef(x: ArrayLike<number>, l: AxisLayout, log: boolean): Float64Array {
  const y = new Float64Array(x.length);
  eachRow(l, (idx) => {
    const m = Math.max(...idx.map((j) => x[j]));
    const s = idx.reduce((acc, j) => acc + Math.exp(x[j] - m), 0);
    for (const j of idx) y[j] = s === 0 ? NaN : log ? x[j] - m - Math.log(s) : Math.exp(x[j] - m) / s;
  });
  return y;
}

/** dx of softmax (y·(dy − Σ dy·y)) or log-softmax (dy − softmax·Σ dy) for upstream dy. */
export function softmaxBackwardRef(x: ArrayLike<number>, dy: ArrayLike<number>, l: AxisLayout, log: boolean): Float64Array {
  const p = softmaxRef(x, l, false);
  const dx = new Float64Array(x.length);
  eachRow(l, (idx) => {
    const dot = idx.reduce((acc, j) => acc + dy[j] * (log ? 1 : p[j]), 0);
    for (const j of idx) dx[j] = log ? dy[j] - p[j] * dot : p[j] * (dy[j] - dot);
  });
  return dx;
}

/** Per row of d elements: mean, rstd = 1/sqrt(biased var + eps). */
function rowStats(x: ArrayLike<number>, r: number, d: number, eps: number): [number, number] {
  let mean = 0;
  for (let c = 0; c < d; c++) mean += x[r * d + c] / d;
  let v = 0;
  for (let c = 0; c < d; c++) v += (x[r * d + c] - mean) ** 2 / d;
  return [mean, 1 / Math.sqrt(v + eps)];
}

/** torch.nn.functional.layer_norm over rows of d elements: (x − mean)·rstd·weight + bias (weight, bias optional, [d]). */
export function layerNormRef(x: ArrayLike<number>, rows: number, d: number, weight: ArrayLike<number> | null, bias: ArrayLike<number> | null, eps: number): Float64Array {
  const y = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    const [mean, rstd] = rowStats(x, r, d, eps);
    for (let c = 0; c < d; c++) y[r * d + c] = (x[r * d + c] - mean) * rstd * (weight ? weight[c] : 1) + (bias ? bias[c] : 0);
  }
  return y;
}

/** Gradients of Σ dy·layerNorm(x): dx, dweight = Σ_rows dy·xhat, dbias = Σ_rows dy. */
export function layerNormBackwardRef(
  x: ArrayLike<number>,
  rows: number,
  d: number,
  weight: ArrayLike<number> | null,
  dy: ArrayLike<number>,
  eps: number,
): { dx: Float64Array; dweight: Float64Array; dbias: Float64Array } {
  const dx = new Float64Array(rows * d);
  const dweight = new Float64Array(d);
  const dbias = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const [mean, rstd] = rowStats(x, r, d, eps);
    const xhat = Array.from({ length: d }, (_, c) => (x[r * d + c] - mean) * rstd);
    const g = Array.from({ length: d }, (_, c) => dy[r * d + c] * (weight ? weight[c] : 1));
    const sg = g.reduce((a, b) => a + b, 0) / d;
    const sgx = g.reduce((a, b, c) => a + b * xhat[c], 0) / d;
    for (let c = 0; c < d; c++) {
      dx[r * d + c] = rstd * (g[c] - sg - xhat[c] * sgx);
      dweight[c] += dy[r * d + c] * xhat[c];
      dbias[c] += dy[r * d + c];
    }
  }
  return { dx, dweight, dbias };
}

/** A per-element loss reduced: a number for 'mean' (over `count`, default its length) and 'sum', the losses for 'none'. */
export function reduceLossRef(per: Float64Array, reduction: Reduction, count = per.length): number | Float64Array {
  if (reduction === 'none') return per;
  const s = per.reduce((a, b) => a + b, 0);
  return reduction === 'mean' ? s / count : s;
}

/** The gradient factor of element i for an upstream gradient (a number for a reduced loss, one per element for 'none'). */
function upstreamAt(upstream: number | ArrayLike<number>, reduction: Reduction, n: number): (i: number) => number {
  return typeof upstream === 'number' ? () => upstream / (reduction === 'mean' ? n : 1) : (i) => upstream[i];
}

/** torch.nn.functional.mse_loss: (a − b)², reduced. */
export function mseLossRef(a: ArrayLike<number>, b: ArrayLike<number>, reduction: Reduction): number | Float64Array {
  return reduceLossRef(Float64Array.from(a, (v, i) => (v - b[i]) ** 2), reduction);
}

/** Gradients of mse_loss for an upstream gradient: da = 2(a − b)·g, db = −da. */
export function mseLossBackwardRef(a: ArrayLike<number>, b: ArrayLike<number>, reduction: Reduction, upstream: number | ArrayLike<number>): { da: Float64Array; db: Float64Array } {
  const g = upstreamAt(upstream, reduction, a.length);
  const da = Float64Array.from(a, (v, i) => 2 * (v - b[i]) * g(i));
  return { da, db: da.map((v) => -v) };
}

/** The optional factors of the binary cross-entropy, each broadcast over x as v[i % v.length]. */
export interface BceRefOptions {
  weight?: ArrayLike<number> | null;
  posWeight?: ArrayLike<number> | null;
}

const at = (v: ArrayLike<number> | null | undefined, i: number) => (v ? v[i % v.length] : 1);
const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/**
 * torch.nn.functional.binary_cross_entropy_with_logits: w·((1 − t)·x + lw·log(1 + exp(−x))), lw = 1 + (p − 1)·t,
 * in a form without cancellation at large |x|: w·((x ≥ 0 ? (1 − t)·x : −p·t·x) + lw·log1p(exp(−|x|))).
 */
export function bceWithLogitsRef(x: ArrayLike<number>, t: ArrayLike<number>, opts: BceRefOptions, reduction: Reduction): number | Float64Array {
  const per = Float64Array.from(x, (v, i) => {
    const p = at(opts.posWeight, i);
    const lw = 1 + (p - 1) * t[i];
    return at(opts.weight, i) * ((v >= 0 ? (1 - t[i]) * v : -p * t[i] * v) + lw * Math.log1p(Math.exp(-Math.abs(v))));
  });
  return reduceLossRef(per, reduction);
}

/** Gradients of the binary cross-entropy with logits: dx = w·g·((1 − t) − lw·σ(−x)), dt = w·g·((p − 1)·softplus(−x) − x). */
export function bceWithLogitsBackwardRef(
  x: ArrayLike<number>,
  t: ArrayLike<number>,
  opts: BceRefOptions,
  reduction: Reduction,
  upstream: number | ArrayLike<number>,
): { dx: Float64Array; dt: Float64Array } {
  const g = upstreamAt(upstream, reduction, x.length);
  const dx = new Float64Array(x.length);
  const dt = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const p = at(opts.posWeight, i);
    const lw = 1 + (p - 1) * t[i];
    const w = at(opts.weight, i) * g(i);
    dx[i] = w * (x[i] >= 0 ? 1 - t[i] - lw * sigmoid(-x[i]) : lw * sigmoid(x[i]) - p * t[i]);
    const softplusNeg = Math.log1p(Math.exp(-Math.abs(x[i]))) + Math.max(-x[i], 0);
    dt[i] = w * ((p - 1) * softplusNeg - x[i]);
  }
  return { dx, dt };
}

/** logp viewed as [N, C, S] (S = d1·d2·…, 1 for [N, C]) and targets [N, S]. */
export interface NllRefLayout {
  n: number;
  classes: number;
  inner: number;
}

export interface NllRefOptions {
  ignoreIndex?: number;
  weight?: ArrayLike<number> | null;
}

/** The weight of each target: w[t], 0 for ignore_index. */
function nllWeights(target: ArrayLike<number>, opts: NllRefOptions): Float64Array {
  const ignore = opts.ignoreIndex ?? -100;
  return Float64Array.from(target, (t) => (t === ignore ? 0 : opts.weight ? opts.weight[t] : 1));
}

/** torch.nn.functional.nll_loss: −w[t]·logp[n, t, s]; 'mean' divides by Σ w[t] over the targets not ignored. */
export function nllLossRef(logp: ArrayLike<number>, target: ArrayLike<number>, l: NllRefLayout, opts: NllRefOptions, reduction: Reduction): number | Float64Array {
  const w = nllWeights(target, opts);
  const per = Float64Array.from(target, (t, m) => (w[m] === 0 ? 0 : -w[m] * logp[(Math.floor(m / l.inner) * l.classes + t) * l.inner + (m % l.inner)]));
  if (reduction !== 'mean') return reduceLossRef(per, reduction);
  return per.reduce((a, b) => a + b, 0) / w.reduce((a, b) => a + b, 0);
}

/** dlogp of nll_loss for an upstream gradient: −w[t]·g at each target's class (/Σ w for the mean), 0 elsewhere. */
export function nllLossBackwardRef(
  logp: ArrayLike<number>,
  target: ArrayLike<number>,
  l: NllRefLayout,
  opts: NllRefOptions,
  reduction: Reduction,
  upstream: number | ArrayLike<number>,
): Float64Array {
  const w = nllWeights(target, opts);
  const total = reduction === 'mean' ? w.reduce((a, b) => a + b, 0) : 1;
  const dx = new Float64Array(logp.length);
  for (let m = 0; m < target.length; m++) {
    if (w[m] === 0) continue;
    const g = typeof upstream === 'number' ? upstream / total : upstream[m];
    dx[(Math.floor(m / l.inner) * l.classes + target[m]) * l.inner + (m % l.inner)] = -w[m] * g;
  }
  return dx;
}
