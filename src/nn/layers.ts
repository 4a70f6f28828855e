/** The layers ResNet is made of, with torch.nn's names, arguments and parameter names. */
import { Tensor } from '../autograd/tensor';
import { type BatchNormEval, conv2d, conv2dBatchNormEval, conv2dBatchNormFuses } from '../autograd/ops/conv';
import { batchNorm, batchNormAddRelu, batchNormRelu } from '../autograd/ops/batchnorm';
import { maxPool2d, adaptiveAvgPool2d } from '../autograd/ops/pool';
import { linear } from '../autograd/ops/linear';
import { relu } from '../autograd/ops/activation';
import { dropout } from '../autograd/ops/dropout';
import { flatten } from '../autograd/ops/basic';
import { Module, ScalarState } from './module';
import { SeedSequence, defaultSeeds, kaimingNormalFanOut, linearDefault } from './init';

export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    readonly opts: { stride?: number; padding?: number; bias?: boolean; seeds?: SeedSequence } = {},
  ) {
    super();
    this.weight = this.registerParameter('weight', kaimingNormalFanOut([outChannels, inChannels, kernelSize, kernelSize], opts.seeds ?? defaultSeeds()));
    this.bias = opts.bias ? this.registerParameter('bias', Tensor.zeros([outChannels])) : null;
  }
  /** The stride and padding conv2d takes. */
  get convOptions(): { stride: number; padding: number } {
    return { stride: this.opts.stride ?? 1, padding: this.opts.padding ?? 0 };
  }
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.convOptions);
  }
}

export class BatchNorm2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: ScalarState;
  constructor(
    readonly numFeatures: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
  ) {
    super();
    this.weight = this.registerParameter('weight', Tensor.ones([numFeatures]));
    this.bias = this.registerParameter('bias', Tensor.zeros([numFeatures]));
    this.runningMean = this.registerBuffer('running_mean', Tensor.zeros([numFeatures]));
    this.runningVar = this.registerBuffer('running_var', Tensor.ones([numFeatures]));
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', new ScalarState(0));
  }
  forward(x: Tensor): Tensor {
    if (this.training) this.numBatchesTracked.value++;
    return batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, this.training, this.momentum, this.eps);
  }
  /** relu(bn(x)) in one fused kernel. */
  forwardRelu(x: Tensor): Tensor {
    if (this.training) this.numBatchesTracked.value++;
    return batchNormRelu(x, this.runningMean, this.runningVar, this.weight, this.bias, this.training, this.momentum, this.eps);
  }
  /** relu(bn(x) + residual) in one fused kernel (the end of a residual block). */
  forwardAddRelu(x: Tensor, residual: Tensor): Tensor {
    if (this.training) this.numBatchesTracked.value++;
    return batchNormAddRelu(x, residual, this.runningMean, this.runningVar, this.weight, this.bias, this.training, this.momentum, this.eps);
  }
}

/**
 * bn(conv(x)), + residual, then ReLU (relu; always with a residual): the convolutions of a ResNet block. In
 * inference (bn in eval mode, and conv2dBatchNormFuses: no gradient recorded, float32, a fusing algorithm) one
 * convolution with the batch norm folded in writes the result (conv2dBatchNormEval); else the convolution, then
 * the batch norm's kernel (fused with the ReLU and the residual). Modules whose forward methods were replaced
 * (summary()'s hooks, a subclass, a user's patch) are always called, unfused.
 */
export function convBatchNorm(conv: Conv2d, bn: BatchNorm2d, x: Tensor, relu: boolean, residual: Tensor | null = null): Tensor {
  if (residual && !relu) throw new Error('convBatchNorm: a residual comes with the ReLU (the end of a residual block)');
  const state: BatchNormEval = { runningMean: bn.runningMean, runningVar: bn.runningVar, weight: bn.weight, bias: bn.bias, eps: bn.eps };
  const own = conv.forward === Conv2d.prototype.forward && bn.forward === BatchNorm2d.prototype.forward && bn.forwardRelu === BatchNorm2d.prototype.forwardRelu && bn.forwardAddRelu === BatchNorm2d.prototype.forwardAddRelu;
  if (own && !bn.training && conv2dBatchNormFuses(x, conv.weight, conv.bias, state, residual, conv.convOptions)) {
    return conv2dBatchNormEval(x, conv.weight, conv.bias, state, residual, relu, conv.convOptions);
  }
  const y = conv.forward(x);
  if (residual) return bn.forwardAddRelu(y, residual);
  return relu ? bn.forwardRelu(y) : bn.forward(y);
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

export class MaxPool2d extends Module {
  constructor(readonly kernelSize: number, readonly stride = kernelSize, readonly padding = 0) {
    super();
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, { kernelSize: this.kernelSize, stride: this.stride, padding: this.padding });
  }
}

export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: number | [number, number]) {
    super();
  }
  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, seeds: SeedSequence = defaultSeeds(), bias = true) {
    super();
    this.weight = this.registerParameter('weight', linearDefault([outFeatures, inFeatures], inFeatures, seeds));
    this.bias = bias ? this.registerParameter('bias', linearDefault([outFeatures], inFeatures, seeds)) : null;
  }
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

/**
 * Dropout with a seeded mask drawn on the GPU. Each training-mode call uses a new seed from its own
 * sequence; `calls` is saved in checkpoints so that a resumed run draws the same masks.
 */
export class Dropout extends Module {
  calls = 0;
  constructor(readonly p = 0.5, readonly seed = 0) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`Dropout: p must be in [0, 1], got ${p}`);
  }
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return dropout(x, this.p, false, 0);
    const s = new SeedSequence(this.seed ^ Math.imul(++this.calls, 0x2545f491));
    return dropout(x, this.p, true, s.next());
  }
}

export class Flatten extends Module {
  forward(x: Tensor): Tensor {
    return flatten(x, 1);
  }
}

/** Children named "0", "1", … as torch.nn.Sequential names them. */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.layers) y = m.forward(y);
    return y;
  }
}
