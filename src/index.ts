/** The library entry: GPU runtime, tensors and autograd (more layers are exported as they land). */
export * from './gpu/index';
export * from './autograd/index';
export { smokeTest, type SmokeResult } from './smoke';
