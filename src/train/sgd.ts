/**
 * torch.optim.SGD on the GPU: in-place updates with momentum, dampening, weight decay and Nesterov exactly as
 * PyTorch defines them, per parameter group. A group's parameters are updated several a dispatch (the multi-tensor
 * kernel, kernels/sgd/multi.ts), with the results of one update kernel per parameter (kernels/sgd/sgd.wgsl). The
 * learning rate and the other hyperparameters travel in the kernel's uniform, so a scheduler may change them
 * between steps.
 */
import type { Tensor } from '../autograd/tensor';
import { sgdUpdate, sgdUpdateMany, type SgdSlot } from '../kernels/sgd';
import { Optimizer, type OptimizerStateDict, type ParamGroup, type ParamUpdate, type ParamsArg, type StateValue } from './optimizer';

/** SGD's options (torch's defaults; `lr` is required, as in torch). */
export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** An SGD parameter group. */
export interface SGDParamGroup extends ParamGroup {
  momentum: number;
  dampening: number;
  nesterov: boolean;
}

/** The layout of PyTorch's SGD.state_dict(), with our tensors. */
export interface SGDStateDict extends OptimizerStateDict {
  /** Keyed by the parameter's index across groups; only parameters that have taken a momentum step. */
  state: Record<number, { momentum_buffer: StateValue } & Record<string, StateValue>>;
}

/** torch.optim.SGD: `new SGD(params, { lr, momentum = 0, dampening = 0, weightDecay = 0, nesterov = false })`. */
export class SGD extends Optimizer<SGDParamGroup> {
  /** `params`: tensors (one group) or groups `{ params, lr?, momentum?, … }` whose missing hyperparameters come from `opts`. */
  constructor(params: ParamsArg<SGDParamGroup>, opts: SGDOptions) {
    const defaults = { lr: opts.lr, momentum: opts.momentum ?? 0, dampening: opts.dampening ?? 0, weightDecay: opts.weightDecay ?? 0, nesterov: opts.nesterov ?? false };
    super('SGD', params, defaults, { tensors: ['momentum_buffer'], scalars: [] });
  }

  /** The checks of torch.optim.SGD's constructor. */
  protected validateGroup(h: Omit<SGDParamGroup, 'params'>): void {
    if (!(h.lr >= 0)) throw new Error(`SGD: invalid learning rate ${h.lr}`);
    if (!(h.momentum >= 0)) throw new Error(`SGD: invalid momentum value ${h.momentum}`);
    if (!(h.weightDecay >= 0)) throw new Error(`SGD: invalid weight_decay value ${h.weightDecay}`);
    if (!Number.isFinite(h.dampening)) throw new Error(`SGD: invalid dampening value ${h.dampening}`);
    if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) throw new Error('SGD: Nesterov momentum requires a momentum and zero dampening');
  }

  /** The first group's momentum. */
  get momentum(): number {
    return this.paramGroups[0].momentum;
  }

  /** One parameter's update by the per-tensor kernel (the multi-tensor path, `updateGroup`, gives the same bits). */
  protected update(g: SGDParamGroup, p: Tensor, grad: Tensor, s: Record<string, Tensor | number>): void {
    const slot = this.slot(g, p, grad, s);
    sgdUpdate(p.rt, slot.param, slot.grad, slot.buf, slot.n, g, slot.first);
  }

  protected override updateGroup(g: SGDParamGroup, items: readonly ParamUpdate[]): void {
    sgdUpdateMany(items[0].p.rt, items.map((it) => this.slot(g, it.p, it.grad, it.state)), g);
  }

  /** The kernel's view of one parameter's update; creates its momentum buffer on its first momentum step. */
  private slot(g: SGDParamGroup, p: Tensor, grad: Tensor, s: Record<string, Tensor | number>): SgdSlot {
    let buf = s.momentum_buffer as Tensor | undefined;
    const first = g.momentum !== 0 && !buf;
    if (first) buf = s.momentum_buffer = this.stateTensor(p, false); // set to g by the kernel's first step
    return { param: p.buffer, grad: grad.buffer, buf: g.momentum !== 0 ? buf!.buffer : null, n: p.size, first };
  }

  override stateDict(): SGDStateDict {
    return super.stateDict() as SGDStateDict;
  }
}
