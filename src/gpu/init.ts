/** Start-up: find a `GPU` object for this platform, create the runtime and make it current. */
import { FEATURES_WANTED, GpuRuntime, type RuntimeOptions } from './runtime';
import { setRuntime } from './current';
import { NoAdapterError } from './errors';

export interface InitOptions extends RuntimeOptions {
  /** A `GPU` object to use (default: navigator.gpu in a browser, Dawn from npm `webgpu` in Node). */
  gpu?: GPU;
}

export async function initGpu(opts: InitOptions = {}): Promise<GpuRuntime> {
  let gpu = opts.gpu ?? (globalThis.navigator as Navigator | undefined)?.gpu;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  let dawn: typeof import('./dawn.node') | null = null;
  if (!gpu && isNode) {
    try {
      dawn = await import('./dawn.node');
      gpu = await dawn.nodeGPU();
    } catch (e) {
      dawn?.releaseNodeGlobals();
      throw new NoAdapterError(`could not load Dawn from the npm package 'webgpu': ${(e as Error).message}`);
    }
  }
  if (!gpu) throw new NoAdapterError('navigator.gpu is missing: this browser has no WebGPU');
  const adapterName = opts.adapterName ?? (isNode ? process.env.WEBGPU_ADAPTER : undefined);
  // WEBGPU_DISABLE_FEATURES=shader-f16 (comma separated): a device without those optional features, as on an
  // adapter that lacks them (the tests of the no-shader-f16 fallback use it).
  const disabled = isNode ? (process.env.WEBGPU_DISABLE_FEATURES ?? '').split(',').map((f) => f.trim()).filter((f) => f) : [];
  const features = opts.features ?? (disabled.length ? FEATURES_WANTED.filter((f) => !disabled.includes(f)) : undefined);
  let rt: GpuRuntime;
  try {
    rt = await GpuRuntime.create(gpu, { ...opts, adapterName, features, compileDevices: opts.compileDevices ?? (await dawn?.compileDevices()) });
  } catch (e) {
    dawn?.releaseNodeGlobals();
    throw e;
  }
  // Destroying the runtime undoes what nodeGPU() changed in the process (see src/gpu/dawn.node.ts).
  if (dawn) rt.onDestroy(() => dawn!.releaseNodeGlobals());
  // Dawn in Node: its promise ticks on a timer for a CPU adapter (a busy wait would take a core from the
  // shaders), back to back for a GPU (see src/gpu/dawn.node.ts).
  dawn?.setDawnTicks(rt.isSoftware ? 'timer' : 'immediate');
  setRuntime(rt);
  return rt;
}
