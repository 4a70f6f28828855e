/** Float64 reference of torch.optim.SGD's update (torch/optim/sgd.py, _single_tensor_sgd), with parameter groups. */

export interface SgdRefOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** A reference parameter group as given to a constructor: its arrays, and hyperparameters that differ from the options. */
export type RefGroupSpec<O> = { params: Float64Array[] } & Partial<O>;

/** The groups of a reference optimizer: a flat list is one group; each group's missing hyperparameters come from `defaults`. */
export function refGroups<O extends object>(params: Float64Array[] | RefGroupSpec<O>[], defaults: Required<O>): ({ params: Float64Array[] } & Required<O>)[] {
  const specs = params.every((p) => p instanceof Float64Array) ? [{ params: params as Float64Array[] } as RefGroupSpec<O>] : (params as RefGroupSpec<O>[]);
  return specs.map((s) => {
    const g = { ...defaults } as Record<string, unknown>;
    for (const [k, v] of Object.entries(s)) if (v !== undefined) g[k] = v;
    return g as { params: Float64Array[] } & Required<O>;
  });
}

/** SGD in float64, step by step, with torch's order of operations. */
export class SgdRef {
  readonly groups: ({ params: Float64Array[] } & Required<SgdRefOptions>)[];
  /** Every parameter, group after group. */
  readonly params: Float64Array[];
  /** Momentum buffers by parameter index (null until the parameter's first step with momentum). */
  readonly buffers: (Float64Array | null)[];

  constructor(params: Float64Array[] | RefGroupSpec<SgdRefOptions>[], opts: SgdRefOptions) {
    this.groups = refGroups<SgdRefOptions>(params, { lr: opts.lr, momentum: opts.momentum ?? 0, dampening: opts.dampening ?? 0, weightDecay: opts.weightDecay ?? 0, nesterov: opts.nesterov ?? false });
    this.params = this.groups.flatMap((g) => g.params);
    this.buffers = this.params.map(() => null);
  }

  /** The first group's lr; setting it sets every group's. */
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
      for (const p of h.params) {
        const grad = grads[++i];
        if (!grad) continue;
        const d = Float64Array.from(grad);
        if (h.weightDecay !== 0) for (let k = 0; k < p.length; k++) d[k] += h.weightDecay * p[k];
        if (h.momentum !== 0) {
          let buf = this.buffers[i];
          if (!buf) buf = this.buffers[i] = Float64Array.from(d); // torch.clone(d_p).detach()
          else for (let k = 0; k < p.length; k++) buf[k] = h.momentum * buf[k] + (1 - h.dampening) * d[k];
          if (h.nesterov) for (let k = 0; k < p.length; k++) d[k] += h.momentum * buf[k];
          else d.set(buf);
        }
        for (let k = 0; k < p.length; k++) p[k] -= h.lr * d[k];
      }
    }
  }
}
