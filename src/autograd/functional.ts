/** The functional API, named as torch.nn.functional (camelCase). */
export { conv2d } from './ops/conv';
export { linear, matmul } from './ops/linear';
export { batchNorm, batchNormRelu } from './ops/batchnorm';
export { maxPool2d, adaptiveAvgPool2d } from './ops/pool';
export { relu, sigmoid } from './ops/activation';
export { dropout, dropoutWithMask } from './ops/dropout';
export { crossEntropy, type CrossEntropyOptions } from './ops/loss';
export { add, sub, mul, maximum, scale, sum, mean, reshape, flatten } from './ops/basic';

// ---- unary elementwise (ops/unary.ts)
export { exp, log, sqrt, rsqrt, abs, neg, clamp, type ClampOptions } from './ops/unary';
export { tanh, gelu, silu, leakyRelu, type GeluOptions, type LeakyReluOptions } from './ops/activation';

// ---- broadcasting binary (ops/binary.ts)

// ---- reductions (ops/reduce.ts)

// ---- shape (ops/shape.ts)

// ---- nn (ops/nn.ts)
