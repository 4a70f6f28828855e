export { GpuRuntime, type RuntimeOptions, type DispatchSpec, type Binding, type AdapterDescription, type PrecompileResult } from './runtime';
export { BufferPool, sizeClass, type PoolStats } from './pool';
export { GpuError, GpuOpError, DeviceLostError, NoAdapterError } from './errors';
export { browserGPU } from './navigator.browser';
export { setRuntime, getRuntime, hasRuntime } from './current';
export { initGpu, type InitOptions } from './init';
