/**
 * torch.optim.SGD on the GPU: one in-place update kernel per parameter (kernels/sgd/sgd.wgsl), with momentum,
 * dampening, weight decay and Nesterov exactly as PyTorch defines them. The learning rate and the other
 * hyperparameters travel in the kernel's uniform, so a scheduler may change `lr` between steps freely.
 */
import { Tensor, shapeStr } from '../autograd/tensor';
import { keep } from '../autograd/scope';
import { sgdUpdate, type SgdHyper } from '../kernels/sgd';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** The layout of PyTorch's optimizer.state_dict() (one param group), with our tensors. */
export interface SGDStateDict {
  /** Keyed by the parameter's index in the constructor's list; only parameters that have taken a momentum step. */
  state: Record<number, { momentum_buffer: Tensor | Float32Array | null }>;
  param_groups: {
    lr: number;
    momentum: number;
    dampening: number;
    weight_decay: number;
    nesterov: boolean;
    params: number[];
  }[];
}

export class SGD {
  readonly params: readonly Tensor[];
  private hyper: SgdHyper;
  /** Momentum buffers by parameter index; created (kept, outside any scope) on a parameter's first step. */
  private buffers: (Tensor | null)[];

  constructor(params: Tensor[], opts: SGDOptions) {
    const h: SgdHyper = {
      lr: opts.lr,
      momentum: opts.momentum ?? 0,
      dampening: opts.dampening ?? 0,
      weightDecay: opts.weightDecay ?? 0,
      nesterov: opts.nesterov ?? false,
    };
    SGD.validate(h);
    if (params.length === 0) {
      throw new Error('SGD: the parameter list is empty. If it comes from model.parameters(), register the layers and tensors with registerModule() / registerParameter() in the module constructors.');
    }
    if (new Set(params).size !== params.length) throw new Error('SGD: a parameter appears twice in the list');
    for (const p of params) {
      if (p.dtype !== 'f32') throw new Error(`SGD: parameter${p.name ? ` '${p.name}'` : ''} ${shapeStr(p.shape)} is not float32`);
    }
    this.params = [...params];
    this.hyper = h;
    this.buffers = params.map(() => null);
  }

  /** The checks of torch.optim.SGD's constructor. */
  private static validate(h: SgdHyper): void {
    if (!(h.lr >= 0)) throw new Error(`SGD: invalid learning rate ${h.lr}`);
    if (!(h.momentum >= 0)) throw new Error(`SGD: invalid momentum value ${h.momentum}`);
    if (!(h.weightDecay >= 0)) throw new Error(`SGD: invalid weight_decay value ${h.weightDecay}`);
    if (!Number.isFinite(h.dampening)) throw new Error(`SGD: invalid dampening value ${h.dampening}`);
    if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) throw new Error('SGD: Nesterov momentum requires a momentum and zero dampening');
  }

  get lr(): number {
    return this.hyper.lr;
  }

  set lr(value: number) {
    if (!(value >= 0)) throw new Error(`SGD: invalid learning rate ${value}`);
    this.hyper.lr = value;
  }

  get momentum(): number {
    return this.hyper.momentum;
  }

  /** Update every parameter that has a gradient (the others are skipped, as in PyTorch). Only encodes GPU work. */
  step(): void {
    this.params.forEach((p, i) => {
      const g = p.grad;
      if (!g) return;
      if (g.size !== p.size) throw new Error(`SGD: the gradient ${shapeStr(g.shape)} of parameter ${i}${p.name ? ` '${p.name}'` : ''} does not match ${shapeStr(p.shape)}`);
      let buf = this.buffers[i];
      const first = this.hyper.momentum !== 0 && !buf;
      if (first) buf = this.buffers[i] = keep(Tensor.empty(p.shape, 'f32', p.rt));
      sgdUpdate(p.rt, p.buffer, g.buffer, buf?.buffer ?? null, p.size, this.hyper, first);
    });
  }

  /** Drop every gradient (PyTorch's zero_grad(set_to_none=True)): the next backward() allocates fresh ones. */
  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /**
   * The momentum buffers and hyperparameters, laid out like PyTorch's optimizer.state_dict(). The tensors are
   * the optimizer's own (not copies): read them, do not dispose them.
   */
  stateDict(): SGDStateDict {
    const state: SGDStateDict['state'] = {};
    this.buffers.forEach((b, i) => {
      if (b) state[i] = { momentum_buffer: b };
    });
    const h = this.hyper;
    return {
      state,
      param_groups: [
        { lr: h.lr, momentum: h.momentum, dampening: h.dampening, weight_decay: h.weightDecay, nesterov: h.nesterov, params: this.params.map((_, i) => i) },
      ],
    };
  }

  /**
   * Restore the hyperparameters (lr included, as PyTorch does) and copy the momentum buffers, given as
   * tensors or float32 arrays, into the optimizer's own buffers. A parameter without a buffer in `sd`
   * starts afresh (its next step initialises its buffer).
   */
  loadStateDict(sd: SGDStateDict): void {
    const group = sd.param_groups?.[0];
    if (!group || sd.param_groups.length !== 1) throw new Error('SGD.loadStateDict: expected exactly one param group');
    if (group.params.length !== this.params.length) {
      throw new Error(`SGD.loadStateDict: the state has ${group.params.length} parameters, this optimizer ${this.params.length}`);
    }
    const h: SgdHyper = { lr: group.lr, momentum: group.momentum, dampening: group.dampening, weightDecay: group.weight_decay, nesterov: group.nesterov };
    SGD.validate(h);
    const incoming = this.params.map((p, i) => {
      const b = sd.state[group.params[i]]?.momentum_buffer ?? null;
      const n = b instanceof Tensor ? b.size : b?.length;
      if (b && n !== p.size) throw new Error(`SGD.loadStateDict: momentum buffer ${i} has ${n} values, the parameter ${shapeStr(p.shape)} ${p.size}`);
      return b;
    });
    const fresh = incoming.map((b, i) => {
      if (!b) return null;
      const p = this.params[i];
      const t = keep(Tensor.empty(p.shape, 'f32', p.rt));
      if (b instanceof Tensor) p.rt.copy(b.buffer, 0, t.buffer, 0, p.size * 4, 'sgd.loadStateDict');
      else p.rt.write(t.buffer, b);
      return t;
    });
    this.disposeBuffers();
    this.buffers = fresh;
    this.hyper = h;
  }

  private disposeBuffers(): void {
    for (const b of this.buffers) b?.dispose();
    this.buffers = this.params.map(() => null);
  }

  /** Free the momentum buffers. */
  dispose(): void {
    this.disposeBuffers();
  }
}
