/**
 * The trainer's optimizer and learning-rate schedule, built from a TrainConfig (its optimizer, lr, momentum,
 * weightDecay, scheduler, stepSize, gamma, warmupEpochs and maxEpochs). The recipe's defaults give SGD and
 * StepLR, as before these settings existed, so that its checkpoints resume unchanged.
 */
import type { Tensor } from '../autograd/tensor';
import { ConfigError, OPTIMIZERS, SCHEDULERS, notOneOf, type TrainConfig } from './config';
import { setting } from '../wording';
import type { Optimizer } from './optimizer';
import { SGD } from './sgd';
import { Adam, AdamW } from './adam';
import { CosineAnnealingLR, LinearLR, OneCycleLR, SequentialLR, StepLR, type LRScheduler } from './scheduler';

/** The warm-up's first factor (its first epoch trains at 0.01·lr), as torchvision's reference scripts' lr_warmup_decay. */
export const WARMUP_START_FACTOR = 0.01;

/** Throw when a config that validateConfig did not check (the Trainer takes it as given) names an unknown optimizer or schedule. */
function checkChoice(key: 'optimizer' | 'scheduler', names: readonly string[], value: unknown): void {
  const problem = notOneOf(names, value);
  if (problem) throw new ConfigError(`${setting(key)} ${problem}`, key, problem);
}

/** The optimizer `c.optimizer` over `params`: SGD with lr, momentum and weightDecay; Adam or AdamW with lr and weightDecay (torch's betas and eps). */
export function buildOptimizer(params: Tensor[], c: TrainConfig): Optimizer {
  checkChoice('optimizer', OPTIMIZERS, c.optimizer);
  switch (c.optimizer) {
    case 'sgd':
      return new SGD(params, { lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay });
    case 'adam':
      return new Adam(params, { lr: c.lr, weightDecay: c.weightDecay });
    case 'adamw':
      return new AdamW(params, { lr: c.lr, weightDecay: c.weightDecay });
  }
}

/** When the trainer steps the schedule: after every batch ('onecycle') or after every epoch (the others). */
export function schedulerUnit(c: TrainConfig): 'batch' | 'epoch' {
  return c.scheduler === 'onecycle' ? 'batch' : 'epoch';
}

/**
 * The schedule `c.scheduler`, bound to `optimizer` (which must be fresh: the schedulers record its lr):
 * - 'step': StepLR(stepSize, gamma), per epoch;
 * - 'cosine': CosineAnnealingLR over the epochs after the warm-up (tMax = maxEpochs − warmupEpochs, etaMin 0), per epoch;
 * - 'onecycle': OneCycleLR with maxLr = lr over maxEpochs × `batchesPerEpoch` steps (torch's other defaults,
 *   momentum or beta1 cycled between 0.85 and 0.95), per batch.
 * With warmupEpochs > 0 ('step' and 'cosine'), LinearLR from WARMUP_START_FACTOR to 1 over those epochs comes
 * first, then the schedule, through SequentialLR.
 */
export function buildScheduler(optimizer: Optimizer, c: TrainConfig, batchesPerEpoch: number): LRScheduler {
  checkChoice('scheduler', SCHEDULERS, c.scheduler);
  if (c.scheduler === 'onecycle') return new OneCycleLR(optimizer, { maxLr: c.lr, totalSteps: c.maxEpochs * Math.max(1, batchesPerEpoch) });
  const w = c.warmupEpochs;
  const warmup = w > 0 ? new LinearLR(optimizer, { startFactor: WARMUP_START_FACTOR, endFactor: 1, totalIters: w }) : null;
  const main = c.scheduler === 'cosine' ? new CosineAnnealingLR(optimizer, { tMax: c.maxEpochs - w, etaMin: 0 }) : new StepLR(optimizer, { stepSize: c.stepSize, gamma: c.gamma });
  return warmup ? new SequentialLR(optimizer, { schedulers: [warmup, main], milestones: [w] }) : main;
}
