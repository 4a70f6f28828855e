/** The functional API, named as torch.nn.functional (camelCase). */
export { conv2d } from './ops/conv';
export { linear, matmul } from './ops/linear';
export { batchNorm, batchNormRelu } from './ops/batchnorm';
export { maxPool2d, adaptiveAvgPool2d } from './ops/pool';
export { relu, sigmoid } from './ops/activation';
export { dropout, dropoutWithMask } from './ops/dropout';
export { crossEntropy, type CrossEntropyOptions } from './ops/loss';
export { scale, reshape, flatten } from './ops/basic';

// ---- unary elementwise (ops/unary.ts)
export { exp, log, sqrt, rsqrt, abs, neg, clamp, type ClampOptions } from './ops/unary';
export { tanh, gelu, silu, leakyRelu, type GeluOptions, type LeakyReluOptions } from './ops/activation';

// ---- broadcasting binary (ops/binary.ts)
export { add, sub, mul, div, pow, maximum, minimum, where, expand, broadcastTo, type Operand } from './ops/binary';

// ---- reductions (ops/reduce.ts)
export { sum, mean, max, min, argmax, argmin, variance, variance as var, std, logsumexp, topk, type Dims, type ValuesIndices, type VarOptions } from './ops/reduce';

// ---- shape (ops/shape.ts)
export { transpose, permute, contiguous, narrow, slice, cat, stack, gather, indexSelect, squeeze, unsqueeze, unflatten } from './ops/shape';

// ---- nn (ops/nn.ts)
export { softmax, logSoftmax, layerNorm, mseLoss, binaryCrossEntropyWithLogits, nllLoss, type LossOptions, type LossReduction, type BceWithLogitsOptions, type NllLossOptions } from './ops/nn';
