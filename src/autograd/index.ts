export { Tensor, Storage, numel, shapeStr, type DType, type Shape } from './tensor';
export { tidy, keep, noGrad, isGradEnabled } from './scope';
export { backward, record, GradNode, type BackwardFn } from './graph';
export * as F from './functional';
export * from './functional';
