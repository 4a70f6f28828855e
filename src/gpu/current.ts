/** The runtime that tensors are created on. Set once at start-up by the entry point. */
import type { GpuRuntime } from './runtime';
import { GpuError } from './errors';

let current: GpuRuntime | null = null;

export function setRuntime(rt: GpuRuntime | null): void {
  current = rt;
}

export function getRuntime(): GpuRuntime {
  if (!current) throw new GpuError('No GPU runtime: call `await initGpu()` first (Dawn in Node, navigator.gpu in a browser; or pass a GPU object: `await initGpu({ gpu })`).');
  return current;
}

export function hasRuntime(): boolean {
  return current !== null;
}
