/**
 * Float64 references of torch.optim.Adam and AdamW (torch/optim/adam.py and adamw.py, _single_tensor_*), with
 * parameter groups, and of torch.nn.utils.clip_grad_norm_ / clip_grad_value_.
 */
import { refGroups, type RefGroupSpec } from './sgd';

/** The reference's options (as Adam's and AdamW's). */
export interface AdamRefOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
}

/** One parameter's state: its step count and moments (maxExpAvgSq only with amsgrad). */
export interface AdamRefState {
  step: number;
  expAvg: Float64Array;
  expAvgSq: Float64Array;
  maxExpAvgSq: Float64Array | null;
}

/** Adam / AdamW in float64, step by step, with torch's order of operations. */
export class AdamRef {
  readonly groups: ({ params: Float64Array[] } & Required<AdamRefOptions>)[];
  /** Every parameter, group after group. */
  readonly params: Float64Array[];
  /** State by parameter index (null before its first step). */
  readonly state: (AdamRefState | null)[];

  /** `decoupled`: AdamW (p ← p·(1 − lr·wd)); else Adam (wd·p added to the gradient). */
  constructor(
    params: Float64Array[] | RefGroupSpec<AdamRefOptions>[],
    opts: AdamRefOptions,
    readonly decoupled = false,
  ) {
    const defaults = { lr: opts.lr ?? 1e-3, betas: opts.betas ?? ([0.9, 0.999] as const), eps: opts.eps ?? 1e-8, weightDecay: opts.weightDecay ?? (decoupled ? 1e-2 : 0), amsgrad: opts.amsgrad ?? false };
    this.groups = refGroups<AdamRefOptions>(params, defaults);
    this.params = this.groups.flatMap((g) => g.params);
    this.state = this.params.map(() => null);
  }

  get lr(): number {
    return this.groups[0].lr;
  }

  set lr(v: number) {
    for (const g of this.groups) g.lr = v;
  }

  /** One step; grads by parameter index across groups; a null gradient skips its parameter. */
  step(grads: (ArrayLike<number> | null)[]): void {
    let i = -1;
    for (const h of this.groups) {
      const [beta1, beta2] = h.betas;
      for (const p of h.params) {
        const grad = grads[++i];
        if (!grad) continue;
        const n = p.length;
        const s = (this.state[i] ??= { step: 0, expAvg: new Float64Array(n), expAvgSq: new Float64Array(n), maxExpAvgSq: null });
        if (h.amsgrad) s.maxExpAvgSq ??= new Float64Array(n);
        s.step++;
        const bc1 = 1 - beta1 ** s.step;
        const bc2 = 1 - beta2 ** s.step;
        const stepSize = h.lr / bc1;
        for (let k = 0; k < n; k++) {
          let g = grad[k];
          if (this.decoupled) p[k] *= 1 - h.lr * h.weightDecay;
          else if (h.weightDecay !== 0) g += h.weightDecay * p[k];
          s.expAvg[k] = beta1 * s.expAvg[k] + (1 - beta1) * g;
          s.expAvgSq[k] = beta2 * s.expAvgSq[k] + (1 - beta2) * g * g;
          let v = s.expAvgSq[k];
          if (s.maxExpAvgSq && h.amsgrad) v = s.maxExpAvgSq[k] = Math.max(s.maxExpAvgSq[k], v);
          p[k] -= (stepSize * s.expAvg[k]) / (Math.sqrt(v) / Math.sqrt(bc2) + h.eps);
        }
      }
    }
  }
}

/** The total p-norm of the gradients as one vector (p = Infinity: the largest |g|); null gradients are skipped. */
export function gradNormRef(grads: (ArrayLike<number> | null)[], p: number): number {
  let acc = 0;
  for (const g of grads) {
    if (!g) continue;
    for (let k = 0; k < g.length; k++) {
      const a = Math.abs(g[k]);
      acc = p === Infinity ? (Number.isNaN(a) || Number.isNaN(acc) ? NaN : Math.max(acc, a)) : acc + a ** p;
    }
  }
  return p === Infinity ? acc : acc ** (1 / p);
}

/** clip_grad_norm_: scales the gradients in place by min(1, maxNorm / (norm + 1e-6)); returns the norm before. */
export function clipGradNormRef(grads: (Float64Array | null)[], maxNorm: number, p = 2): number {
  const norm = gradNormRef(grads, p);
  const coef = Math.min(1, maxNorm / (norm + 1e-6));
  for (const g of grads) if (g) for (let k = 0; k < g.length; k++) g[k] *= coef; // Math.min keeps NaN
  return norm;
}

/** clip_grad_value_: clamps the gradients in place to [−c, c] (NaN stays NaN). */
export function clipGradValueRef(grads: (Float64Array | null)[], c: number): void {
  for (const g of grads) if (g) for (let k = 0; k < g.length; k++) g[k] = Number.isNaN(g[k]) ? NaN : Math.min(c, Math.max(-c, g[k]));
}
