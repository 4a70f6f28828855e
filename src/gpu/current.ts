/** The runtime that tensors are created on. Set once at start-up by the entry point. */
import type { GpuRuntime } from './runtime';
import { GpuError } from './errors';

let current: GpuRuntime | null = null;

export function setRuntime(rt: GpuRuntime | null): void {
  current = rt;
}

export function getRuntime(): GpuRuntime {
  if (!current) throw new GpuError('No GPU runtime: call initGpu() (Node) or initGpu(navigator.gpu) (browser) first.');
  return current;
}

export function hasRuntime(): boolean {
  return current !== null;
}
