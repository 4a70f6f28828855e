export { Tensor, Storage, numel, shapeStr, type DType, type Shape } from './tensor';
export { tidy, keep, noGrad, isGradEnabled } from './scope';
export { backward, record, GradNode, type BackwardFn } from './graph';
export { add, sub, mul, scale, sum, mean, reshape, flatten } from './ops/basic';
