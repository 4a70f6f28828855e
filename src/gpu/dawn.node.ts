/** Node's side of the device seam: a `GPU` object from Dawn (npm `webgpu`). Shared code reaches it only by a dynamic import (src/gpu/init.ts). */
// Node modules are imported dynamically so that the browser bundle, which never calls nodeGPU(), loads.

export interface NodeGpuOptions {
  /** Dawn backend: vulkan, metal, d3d12 … (default: Dawn's choice). Also WEBGPU_BACKEND. */
  backend?: string;
  /** Adapter name to pick, as Dawn spells it (e.g. "llvmpipe", "SwiftShader"). Also WEBGPU_ADAPTER. */
  adapter?: string;
  /** Extra Dawn toggles, e.g. ['disable_robustness']. Also WEBGPU_DAWN_FEATURES (comma separated). */
  dawnFeatures?: string[];
}

/**
 * What nodeGPU() changes in the process, so that releaseNodeGlobals() can undo it when the last runtime made
 * through it is destroyed:
 * - Dawn's WebGPU globals (GPUBufferUsage, GPUMapMode, …) are copied onto globalThis, as a browser has them;
 * - setImmediate/clearImmediate are wrapped so that Dawn's promise ticks run on a timer (throttleDawnTicks);
 * - XDG_RUNTIME_DIR is set to a private temporary folder when unset (the Vulkan loader warns without it).
 */
let users = 0;
let undo: (() => void) | null = null;

export async function nodeGPU(opts: NodeGpuOptions = {}): Promise<GPU> {
  const [{ mkdtempSync, rmSync }, { tmpdir }, { join }] = await Promise.all([import('node:fs'), import('node:os'), import('node:path')]);
  const { create, globals } = await import('webgpu');
  if (users++ === 0) {
    const g = globalThis as Record<string, unknown>;
    const added = Object.keys(globals).filter((k) => !(k in g));
    const [setImmediateReal, clearImmediateReal] = [g.setImmediate, g.clearImmediate];
    let xdg: string | null = null;
    // The Vulkan loader warns when XDG_RUNTIME_DIR is missing; give it a private one.
    if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = xdg = mkdtempSync(join(tmpdir(), 'xdg-'));
    Object.assign(globalThis, globals);
    throttleDawnTicks();
    undo = () => {
      for (const k of added) delete g[k];
      g.setImmediate = setImmediateReal;
      g.clearImmediate = clearImmediateReal;
      delete g.__dawnTicksThrottled;
      if (xdg) {
        delete process.env.XDG_RUNTIME_DIR;
        rmSync(xdg, { recursive: true, force: true });
      }
    };
  }
  const backend = opts.backend ?? process.env.WEBGPU_BACKEND;
  const adapter = opts.adapter ?? process.env.WEBGPU_ADAPTER;
  const features = opts.dawnFeatures ?? (process.env.WEBGPU_DAWN_FEATURES ? process.env.WEBGPU_DAWN_FEATURES.split(',') : []);
  const args: string[] = [];
  if (backend) args.push(`backend=${backend}`);
  if (adapter) args.push(`adapter=${adapter}`);
  if (features.length) args.push(`enable-dawn-features=${features.join(',')}`);
  return create(args) as unknown as GPU;
}

/**
 * Devices that compile at once in GpuRuntime.precompile() on a driver that compiles at the first dispatch
 * (RuntimeOptions.compileDevices): one per core, at most 4; 1 when Mesa's shader cache is off
 * (MESA_SHADER_CACHE_DISABLE), since the cache carries the helper devices' results to the runtime's device.
 */
export async function compileDevices(): Promise<number> {
  if (/^(1|true|yes)$/i.test(process.env.MESA_SHADER_CACHE_DISABLE ?? '')) return 1;
  const os = await import('node:os');
  return Math.max(1, Math.min(4, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length));
}

/** Undo nodeGPU()'s changes to the process once every runtime that used them is destroyed. */
export function releaseNodeGlobals(): void {
  if (users === 0) return;
  if (--users === 0 && undo) {
    undo();
    undo = null;
  }
}

/**
 * How often (ms) dawn.node's ticks run while a GPU promise is pending. dawn.node moves its promises
 * (mapAsync, onSubmittedWorkDone, …) forward by calling `setImmediate(tick)` again from every tick for as long
 * as any is pending: a busy loop that holds one CPU core for the whole of every wait on the GPU. On a CPU
 * adapter that core is one the shaders run on: on 2 cores with lavapipe a 1024³ matmul took 63.7 ms with
 * the loop running and under 37.7 ms without it. A tick every millisecond adds at most that much to a wait.
 * (Dawn's src/dawn/node/binding/AsyncRunner.cpp; reported upstream as dawn-gpu/node-webgpu issue 17.)
 */
export const DAWN_TICK_MS = 1;

/**
 * How dawn.node's ticks run: 'timer' (every DAWN_TICK_MS; the default, and what initGpu keeps for CPU
 * adapters, whose shaders need every core) or 'immediate' (back to back, as dawn.node does by itself: the
 * lowest latency, for a GPU, at the cost of a busy core during each wait). initGpu sets it from the adapter.
 */
let tickMode: 'timer' | 'immediate' = 'timer';

export function setDawnTicks(mode: 'timer' | 'immediate'): void {
  tickMode = mode;
}

/** Timers standing in for immediates (see throttleDawnTicks): clearImmediate must clear them as timers. */
const tickTimers = new WeakSet<object>();

/**
 * Run dawn.node's ticks on a DAWN_TICK_MS timer instead of as immediates. Its ticks are native functions
 * without a name (the global setImmediate is looked up on every tick); every other callback goes to the real
 * setImmediate, and clearImmediate clears either kind.
 */
function throttleDawnTicks(): void {
  const g = globalThis as typeof globalThis & { __dawnTicksThrottled?: boolean };
  if (g.__dawnTicksThrottled) return;
  g.__dawnTicksThrottled = true;
  const setImmediateReal = g.setImmediate;
  const clearImmediateReal = g.clearImmediate;
  const isDawnTick = (fn: unknown) => typeof fn === 'function' && fn.name === '' && Function.prototype.toString.call(fn).includes('[native code]');
  const setImmediateThrottled = function (this: unknown, fn: (...a: unknown[]) => void, ...args: unknown[]) {
    if (tickMode === 'immediate' || !isDawnTick(fn)) return setImmediateReal(fn, ...args);
    const timer = setTimeout(fn, DAWN_TICK_MS, ...args);
    tickTimers.add(timer);
    return timer;
  };
  // Keep setImmediate's own properties (util.promisify.custom).
  Object.defineProperties(setImmediateThrottled, Object.getOwnPropertyDescriptors(setImmediateReal));
  g.setImmediate = setImmediateThrottled as unknown as typeof setImmediate;
  g.clearImmediate = ((handle: unknown) => {
    if (handle && typeof handle === 'object' && tickTimers.has(handle)) clearTimeout(handle as ReturnType<typeof setTimeout>);
    else clearImmediateReal(handle as ReturnType<typeof setImmediate>);
  }) as typeof clearImmediate;
}
