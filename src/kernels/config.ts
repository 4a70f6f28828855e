/**
 * Kernel configuration: the kernel layer's algorithm and tile choices, kept per runtime (GpuRuntime knows no
 * kernel). Two parts:
 *   - KernelConfig: settings with per-runtime defaults derived from the adapter. Change them with
 *     setKernelConfig (returns a restore function) or, scoped, withKernelConfig (restores even on a throw).
 *   - choose(): the hook every heuristic choice goes through (a conv pass's algorithm and tile, a matmul's
 *     kernel, batch norm's reductions). It returns the heuristic's pick unless a KernelChooser is set for the
 *     runtime (setKernelChooser), which may pick any of the candidates per site and shape: the place where an
 *     autotuner plugs in.
 * Launchers read the configuration; autograd ops and modules do not (they pass facts, such as a forward pass
 * that no gradient will flow back through, and the kernel layer decides).
 */
import type { GpuRuntime } from '../gpu/runtime';

export interface KernelConfig {
  /**
   * Winograd's output tile in the forward pass of 3×3 stride-1 convolutions that will be differentiated:
   * 4 (F(4×4, 3×3)) or 2 (F(2×2, 3×3): rounds ~4× less, slower on a CPU adapter). train.js --winograd-tile.
   */
  winogradTile: 2 | 4;
  /** The same for the data and weight gradients (as exact with 4×4 tiles as with 2×2 there). */
  winogradBackwardTile: 2 | 4;
  /**
   * The forward tile where no gradient will flow back (evaluation, prediction): without a backward pass, a
   * ReLU decision flipped by rounding only moves an output by that rounding.
   */
  winogradInferenceTile: 2 | 4;
  /**
   * Winograd F(4×4) transforms read images whose rows are whole vec4 through vec4 views (the *_v4 entries of
   * conv/winograd4.wgsl); false: one float at a time, as for other images (tests compare both).
   */
  winogradVectorImages: boolean;
  /**
   * How batch norm's per-channel reductions run: 'tree', one workgroup per channel summing through
   * workgroup memory (GPUs), or 'serial', one thread per channel streaming through its planes without
   * barriers (CPU adapters).
   */
  channelReduction: 'tree' | 'serial';
  /**
   * Optimizers update several parameters a dispatch (kernels/sgd/multi.ts, kernels/adam/multi.ts; the same bits
   * as one dispatch each). It saves a dispatch per parameter, which counts on a GPU. On llvmpipe it runs as fast
   * as the per-tensor kernel; SwiftShader, which runs the per-slot branches and loops of the multi-tensor kernel
   * slowly, took 1.46× as long (a ResNet-18 step's update: 124 ms against 85 ms), so it is off there.
   */
  multiTensorUpdate: boolean;
  /**
   * In inference, a ResNet block's convolution and the batch norm after it (eval mode), with the residual and the
   * ReLU, run as one convolution that writes the final output (conv2dBatchNormEval, ops/conv.ts): the batch norm's
   * pass over the output is saved. false: the convolution, then the batch norm's kernel (tests compare both).
   */
  fuseConvBatchNorm: boolean;
}

/** The defaults for a runtime's adapter. */
export function defaultKernelConfig(rt: GpuRuntime): KernelConfig {
  return {
    winogradTile: 4,
    winogradBackwardTile: 4,
    winogradInferenceTile: 4,
    winogradVectorImages: true,
    channelReduction: rt.isSoftware ? 'serial' : 'tree',
    multiTensorUpdate: !rt.isSoftware || /llvmpipe|lavapipe/i.test(`${rt.adapter.name} ${rt.adapter.description}`),
    fuseConvBatchNorm: true,
  };
}

const ALLOWED: { [K in keyof KernelConfig]: readonly KernelConfig[K][] } = {
  winogradTile: [2, 4],
  winogradBackwardTile: [2, 4],
  winogradInferenceTile: [2, 4],
  winogradVectorImages: [true, false],
  channelReduction: ['tree', 'serial'],
  multiTensorUpdate: [true, false],
  fuseConvBatchNorm: [true, false],
};

const configs = new WeakMap<GpuRuntime, KernelConfig>();

/** The runtime's kernel configuration (its adapter's defaults until changed). */
export function kernelConfig(rt: GpuRuntime): Readonly<KernelConfig> {
  let c = configs.get(rt);
  if (!c) configs.set(rt, (c = defaultKernelConfig(rt)));
  return c;
}

/**
 * Change some settings of a runtime's kernel configuration. Returns a function that puts back the values these
 * settings had before. An unknown setting or a value outside its choices throws, changing nothing.
 */
export function setKernelConfig(rt: GpuRuntime, patch: Partial<KernelConfig>): () => void {
  const c = kernelConfig(rt) as KernelConfig;
  for (const [k, v] of Object.entries(patch)) {
    if (!(k in ALLOWED)) throw new Error(`kernel configuration: unknown setting '${k}' (settings: ${Object.keys(ALLOWED).join(', ')})`);
    const allowed = ALLOWED[k as keyof KernelConfig] as readonly unknown[];
    if (!allowed.includes(v)) throw new Error(`kernel configuration: ${k} must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${JSON.stringify(v)}`);
  }
  const before: Partial<KernelConfig> = {};
  for (const k of Object.keys(patch) as (keyof KernelConfig)[]) (before as Record<string, unknown>)[k] = c[k];
  Object.assign(c, patch);
  return () => {
    Object.assign(c, before);
  };
}

/**
 * Run fn with some settings changed, and restore them afterwards, also when fn throws; when fn returns a
 * promise, once it settles.
 */
export function withKernelConfig<T>(rt: GpuRuntime, patch: Partial<KernelConfig>, fn: () => T): T {
  const restore = setKernelConfig(rt, patch);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    restore();
    throw e;
  }
  if (result instanceof Promise) return result.finally(restore) as T;
  restore();
  return result;
}

// ---------------------------------------------------------------- choices

/** The places where the kernel layer chooses between implementations. */
export type KernelSite = 'conv2d.forward' | 'conv2d.data' | 'conv2d.weight' | 'matmul' | 'batchnorm.reduce';

/** One choice: the implementations that can run this call, and the heuristic's pick among them. */
export interface KernelChoice<T> {
  site: KernelSite;
  /** The shape of the call, as the site names it (conv2d: '8x64x56x56->64 k3x3 s1 p1'; matmul: 'MxNxK'). */
  shape: string;
  candidates: readonly T[];
  heuristic: T;
}

/** Picks one of choice.candidates, or returns undefined to keep the heuristic's pick. */
export type KernelChooser = <T>(rt: GpuRuntime, choice: KernelChoice<T>) => T | undefined;

const choosers = new WeakMap<GpuRuntime, KernelChooser>();

/** Route a runtime's kernel choices through `chooser` (null: the heuristics alone). Returns a restore function. */
export function setKernelChooser(rt: GpuRuntime, chooser: KernelChooser | null): () => void {
  const before = choosers.get(rt);
  if (chooser) choosers.set(rt, chooser);
  else choosers.delete(rt);
  return () => {
    if (before) choosers.set(rt, before);
    else choosers.delete(rt);
  };
}

/** The implementation to run at `site` for `shape`: the chooser's pick if one is set and picks, else `heuristic`. */
export function choose<T>(rt: GpuRuntime, site: KernelSite, shape: string, candidates: readonly T[], heuristic: T): T {
  const chooser = choosers.get(rt);
  if (!chooser) return heuristic;
  const pick = chooser(rt, { site, shape, candidates, heuristic });
  if (pick === undefined) return heuristic;
  if (!candidates.includes(pick)) throw new Error(`kernel choice at ${site} [${shape}]: the chooser picked ${JSON.stringify(pick)}, which is not one of ${candidates.map((c) => JSON.stringify(c)).join(', ')}`);
  return pick;
}
