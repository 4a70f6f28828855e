/** Float64 reference of torch.optim.SGD's update (torch/optim/sgd.py, _single_tensor_sgd). */

export interface SgdRefOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

export class SgdRef {
  lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  /** Momentum buffers (null until the parameter's first step with momentum). */
  readonly buffers: (Float64Array | null)[];

  constructor(
    readonly params: Float64Array[],
    opts: SgdRefOptions,
  ) {
    this.lr = opts.lr;
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    this.buffers = params.map(() => null);
  }

  /** One step; a null gradient skips its parameter. */
  step(grads: (ArrayLike<number> | null)[]): void {
    this.params.forEach((p, i) => {
      const grad = grads[i];
      if (!grad) return;
      const d = Float64Array.from(grad);
      if (this.weightDecay !== 0) for (let k = 0; k < p.length; k++) d[k] += this.weightDecay * p[k];
      if (this.momentum !== 0) {
        let buf = this.buffers[i];
        if (!buf) buf = this.buffers[i] = Float64Array.from(d); // torch.clone(d_p).detach()
        else for (let k = 0; k < p.length; k++) buf[k] = this.momentum * buf[k] + (1 - this.dampening) * d[k];
        if (this.nesterov) for (let k = 0; k < p.length; k++) d[k] += this.momentum * buf[k];
        else d.set(buf);
      }
      for (let k = 0; k < p.length; k++) p[k] -= this.lr * d[k];
    });
  }
}
