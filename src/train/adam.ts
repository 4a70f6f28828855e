/**
 * torch.optim.Adam and torch.optim.AdamW on the GPU: a fused in-place update of each parameter (kernels/adam/adam.wgsl;
 * a group's parameters several a dispatch through the multi-tensor kernel, kernels/adam/multi.ts, with the same bits) with the moments, bias corrections from the parameter's own step count, eps outside
 * the square root, and optional amsgrad. Adam adds weightDecay·p to the gradient (L2); AdamW decays the
 * parameter itself, p ← p·(1 − lr·weightDecay). Hyperparameters travel in the uniform: a scheduler may change
 * them between steps.
 */
import type { Tensor } from '../autograd/tensor';
import { adamUpdate, adamUpdateMany, type AdamGroupHyper, type AdamSlot } from '../kernels/adam';
import { Optimizer, type ParamGroup, type ParamUpdate, type ParamsArg } from './optimizer';

/** Adam's and AdamW's options. */
export interface AdamOptions {
  /** Default 1e-3. */
  lr?: number;
  /** (beta1, beta2), default (0.9, 0.999). */
  betas?: readonly [number, number];
  /** Added to the denominator, outside the square root; default 1e-8. */
  eps?: number;
  /** Adam: default 0 (an L2 term added to the gradient); AdamW: default 1e-2 (decoupled). */
  weightDecay?: number;
  /** Normalise by the running maximum of the second moment; default false. */
  amsgrad?: boolean;
}

/** An Adam / AdamW parameter group. */
export interface AdamParamGroup extends ParamGroup {
  betas: [number, number];
  eps: number;
  amsgrad: boolean;
}

const STATE_KEYS = { tensors: ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'], scalars: ['step'] } as const;

/** What Adam and AdamW share; they differ in the weight decay (`decoupled`) and its default. */
export abstract class AdamBase extends Optimizer<AdamParamGroup> {
  /** AdamW's decoupled decay (true) or Adam's L2 term (false). */
  protected abstract readonly decoupled: boolean;

  protected constructor(name: string, params: ParamsArg<AdamParamGroup>, opts: AdamOptions, weightDecay: number) {
    const betas = opts.betas ?? [0.9, 0.999];
    const defaults = { lr: opts.lr ?? 1e-3, betas: [betas[0], betas[1]] as [number, number], eps: opts.eps ?? 1e-8, weightDecay: opts.weightDecay ?? weightDecay, amsgrad: opts.amsgrad ?? false };
    super(name, params, defaults, STATE_KEYS);
  }

  /** The checks of torch.optim.Adam's constructor. */
  protected validateGroup(h: Omit<AdamParamGroup, 'params'>): void {
    const n = this.name;
    if (!(h.lr >= 0)) throw new Error(`${n}: invalid learning rate ${h.lr}`);
    if (!(h.eps >= 0)) throw new Error(`${n}: invalid epsilon value ${h.eps}`);
    if (!Array.isArray(h.betas) || h.betas.length !== 2) throw new Error(`${n}: betas must be a pair [beta1, beta2], got ${JSON.stringify(h.betas)}`);
    h.betas.forEach((b, i) => {
      if (!(b >= 0 && b < 1)) throw new Error(`${n}: invalid beta parameter at index ${i}: ${b} (must be in [0, 1))`);
    });
    if (!(h.weightDecay >= 0)) throw new Error(`${n}: invalid weight_decay value ${h.weightDecay}`);
    if (typeof h.amsgrad !== 'boolean') throw new Error(`${n}: amsgrad must be true or false, got ${String(h.amsgrad)}`);
  }

  /** One parameter's update by the per-tensor kernel (the multi-tensor path, `updateGroup`, gives the same bits). */
  protected update(g: AdamParamGroup, p: Tensor, grad: Tensor, s: Record<string, Tensor | number>): void {
    const slot = this.slot(g, p, grad, s);
    adamUpdate(p.rt, slot.param, slot.grad, slot.state, slot.n, { ...this.hyper(g), step: slot.step });
  }

  protected override updateGroup(g: AdamParamGroup, items: readonly ParamUpdate[]): void {
    adamUpdateMany(items[0].p.rt, items.map((it) => this.slot(g, it.p, it.grad, it.state)), this.hyper(g));
  }

  private hyper(g: AdamParamGroup): AdamGroupHyper {
    return { lr: g.lr, betas: g.betas, eps: g.eps, weightDecay: g.weightDecay, decoupled: this.decoupled };
  }

  /** The kernel's view of one parameter's update: creates its moments on its first step and counts the step. */
  private slot(g: AdamParamGroup, p: Tensor, grad: Tensor, s: Record<string, Tensor | number>): AdamSlot {
    s.exp_avg ??= this.stateTensor(p, true);
    s.exp_avg_sq ??= this.stateTensor(p, true);
    if (g.amsgrad) s.max_exp_avg_sq ??= this.stateTensor(p, true);
    const step = ((s.step as number | undefined) ?? 0) + 1;
    s.step = step;
    const state = { expAvg: (s.exp_avg as Tensor).buffer, expAvgSq: (s.exp_avg_sq as Tensor).buffer, maxExpAvgSq: g.amsgrad ? (s.max_exp_avg_sq as Tensor).buffer : null };
    return { param: p.buffer, grad: grad.buffer, state, n: p.size, step };
  }
}

/** torch.optim.Adam: `new Adam(params, { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0, amsgrad = false })`. */
export class Adam extends AdamBase {
  protected readonly decoupled = false;
  /** `params`: tensors (one group) or groups `{ params, lr?, betas?, … }` whose missing hyperparameters come from `opts`. */
  constructor(params: ParamsArg<AdamParamGroup>, opts: AdamOptions = {}) {
    super('Adam', params, opts, 0);
  }
}

/** torch.optim.AdamW: `new AdamW(params, { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 1e-2, amsgrad = false })`. */
export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  /** `params`: tensors (one group) or groups `{ params, lr?, weightDecay?, … }` whose missing hyperparameters come from `opts`. */
  constructor(params: ParamsArg<AdamParamGroup>, opts: AdamOptions = {}) {
    super('AdamW', params, opts, 1e-2);
  }
}
