/** Normalisation modules beyond batch norm, with torch.nn's names, arguments and parameter names. */
import { Tensor } from '../autograd/tensor';
import { layerNorm } from '../autograd/ops/nn';
import { Module } from './module';

/** Options of LayerNorm (torch.nn.LayerNorm's keyword arguments, camelCase). */
export interface LayerNormOptions {
  /** Added to the variance. Default 1e-5. */
  eps?: number;
  /** Learn a weight (and a bias, unless `bias` is false) of the normalized shape. Default true. */
  elementwiseAffine?: boolean;
  /** With elementwiseAffine, also learn a bias. Default true. */
  bias?: boolean;
}

/**
 * torch.nn.LayerNorm(normalizedShape, eps, elementwise_affine, bias): normalises over the last dims given by
 * normalizedShape. The parameters are named weight (initialised to 1) and bias (0), so state dicts use torch's keys.
 */
export class LayerNorm extends Module {
  readonly normalizedShape: readonly number[];
  readonly eps: number;
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  constructor(normalizedShape: number | readonly number[], opts: LayerNormOptions = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (this.normalizedShape.length === 0 || this.normalizedShape.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new Error(`LayerNorm: normalizedShape must be one or more positive integers, got [${this.normalizedShape.join(', ')}]`);
    }
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.elementwiseAffine ?? true;
    this.weight = affine ? this.registerParameter('weight', Tensor.ones(this.normalizedShape)) : null;
    this.bias = affine && (opts.bias ?? true) ? this.registerParameter('bias', Tensor.zeros(this.normalizedShape)) : null;
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }
}
