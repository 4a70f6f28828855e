export { Tensor, Storage, numel, shapeStr, type DType, type Shape } from './tensor';
export { tidy, keep, noGrad, isGradEnabled, autocast, getAutocastDtype } from './scope';
export { backward, record, releaseGraph, GradNode, type BackwardFn, type BackwardOptions } from './graph';
export * as F from './functional';
export * from './functional';
