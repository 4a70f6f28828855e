/** Builds our optimizers and schedulers from the case tables' specs (src/reference/optim_cases.ts). */
import type { Tensor } from '../../src/autograd/tensor';
import type { Optimizer } from '../../src/train/optimizer';
import { SGD } from '../../src/train/sgd';
import { Adam, AdamW } from '../../src/train/adam';
import { CosineAnnealingLR, ExponentialLR, LinearLR, MultiStepLR, OneCycleLR, SequentialLR, StepLR, type LRScheduler } from '../../src/train/scheduler';
import type { SchedulerSpec } from '../../src/reference/optim_cases';

/** Our scheduler for a spec, bound to `opt`. */
export function makeScheduler(opt: Optimizer, spec: SchedulerSpec): LRScheduler {
  switch (spec.kind) {
    case 'step':
      return new StepLR(opt, spec);
    case 'multistep':
      return new MultiStepLR(opt, spec);
    case 'exponential':
      return new ExponentialLR(opt, spec);
    case 'cosine':
      return new CosineAnnealingLR(opt, spec);
    case 'linear':
      return new LinearLR(opt, spec);
    case 'onecycle':
      return new OneCycleLR(opt, spec);
    case 'sequential':
      return new SequentialLR(opt, { schedulers: spec.schedulers.map((s) => makeScheduler(opt, s)), milestones: spec.milestones });
  }
}

/** An optimizer of kind `kind` over groups given as `{ params, ...hyperparameters }`. */
export function makeOptimizer(kind: 'sgd' | 'adam' | 'adamw', groups: ({ params: Tensor[] } & Record<string, unknown>)[], options: Record<string, unknown>): Optimizer {
  // The specs are data (JSON-like), so their types are checked by the optimizers at run time.
  const g = groups as never;
  const o = options as never;
  return kind === 'sgd' ? new SGD(g, o) : kind === 'adam' ? new Adam(g, o) : new AdamW(g, o);
}
