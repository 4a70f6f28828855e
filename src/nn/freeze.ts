/**
 * Fine-tuning helpers: train only some top-level layers of a model (torch's `requires_grad = False` on the
 * others), and run batch norm on its running statistics while training (frozen batch norm).
 */
import { setting } from '../wording';
import { BatchNorm2d } from './layers';
import type { Module } from './module';

export interface FreezeOptions {
  /**
   * Names of the model's top-level children whose parameters train (a ResNet's conv1, bn1, layer1 … layer4,
   * fc); every other parameter is frozen. 'all' unfreezes every parameter.
   */
  trainLayers: readonly string[] | 'all';
}

export interface FreezeReport {
  /** state_dict names of the parameters that train, and of the frozen ones. */
  trainable: string[];
  frozen: string[];
  /** Values in each group. */
  trainableValues: number;
  frozenValues: number;
}

/**
 * The names trainLayers takes: the top-level children of `model` that hold parameters (and the model's own
 * parameters, by name), in state_dict order.
 */
export function layerNames(model: Module): string[] {
  return [...new Set(model.namedParameters().map(([key]) => key.split('.')[0]))];
}

/** What is wrong with `trainLayers` for `model` ("names 'layer5', which is not …"), or null. */
export function trainLayersProblem(model: Module, trainLayers: FreezeOptions['trainLayers']): string | null {
  if (trainLayers === 'all') return null;
  const names = layerNames(model);
  if (trainLayers.length === 0) return `must name at least one layer to train (of ${names.join(', ')}), or be 'all'`;
  const unknown = trainLayers.find((n) => !names.includes(n));
  if (unknown !== undefined) return `names '${unknown}', which is not a top-level layer with parameters of this model; its layers are ${names.join(', ')}`;
  return null;
}

/**
 * Freeze every parameter outside `trainLayers` (requiresGrad false) and unfreeze those inside, as a torch user
 * writes `for p in model.parameters(): p.requires_grad = False` then `for p in model.fc.parameters(): p.requires_grad = True`.
 * Frozen parameters get no gradient: their ops skip the weight-gradient kernels, and a layer whose input needs
 * no gradient skips its input-gradient kernel too, so the backward pass stops at the first trained layer.
 * Batch norm in frozen layers keeps its mode (train(): batch statistics and running-estimate updates, as in torch);
 * setBatchNormEval() fixes it. Throws naming `trainLayers` for a name that is not a top-level child with parameters.
 */
export function freeze(model: Module, opts: FreezeOptions): FreezeReport {
  const problem = trainLayersProblem(model, opts.trainLayers);
  if (problem) throw new Error(`${setting('trainLayers')} ${problem}`);
  const wanted = new Set(opts.trainLayers === 'all' ? layerNames(model) : opts.trainLayers);
  const report: FreezeReport = { trainable: [], frozen: [], trainableValues: 0, frozenValues: 0 };
  for (const [key, p] of model.namedParameters()) {
    const on = wanted.has(key.split('.')[0]);
    p.requiresGrad = on;
    if (on) {
      report.trainable.push(key);
      report.trainableValues += p.size;
    } else {
      report.frozen.push(key);
      report.frozenValues += p.size;
    }
  }
  return report;
}

/**
 * Put every BatchNorm2d of `model` in eval mode (running statistics, not updated), whatever the rest's mode:
 * frozen batch norm, as torch users do with `m.eval()` for each BatchNorm2d after `model.train()`. Its
 * weight and bias still train unless frozen (eval-mode batch norm is differentiable). Call it after every
 * model.train(). Returns how many modules it set.
 */
export function setBatchNormEval(model: Module): number {
  let n = 0;
  for (const [, m] of model.namedModules()) {
    if (m instanceof BatchNorm2d) {
      m.training = false;
      n++;
    }
  }
  return n;
}
