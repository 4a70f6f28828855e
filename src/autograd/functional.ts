/** The functional API, named as torch.nn.functional (camelCase). */
export { conv2d } from './ops/conv';
export { linear, matmul } from './ops/linear';
export { batchNorm, batchNormRelu } from './ops/batchnorm';
export { maxPool2d, adaptiveAvgPool2d } from './ops/pool';
export { relu, sigmoid } from './ops/activation';
export { dropout, dropoutWithMask } from './ops/dropout';
export { crossEntropy, type CrossEntropyOptions } from './ops/loss';
export { scale, sum, mean, reshape, flatten } from './ops/basic';

// ---- unary elementwise (ops/unary.ts)

// ---- broadcasting binary (ops/binary.ts)
export { add, sub, mul, div, pow, maximum, minimum, where, expand, broadcastTo, type Operand } from './ops/binary';

// ---- reductions (ops/reduce.ts)

// ---- shape (ops/shape.ts)

// ---- nn (ops/nn.ts)
