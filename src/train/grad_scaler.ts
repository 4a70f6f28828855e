/**
 * Dynamic loss scaling, as torch.cuda.amp.GradScaler (torch/amp/grad_scaler.py), for float16 training under
 * autocast(): the loss is multiplied by a scale before backward() so that small float16 gradients do not flush
 * to zero; before the optimizer steps, the float32 gradients of its parameters are divided by the scale on the
 * GPU while a flag there records whether any of them holds inf or NaN (kernels/amp). step() reads that flag
 * back (one 4-byte readback, as torch's step does with .item()) and skips the optimizer's step when it is set.
 * update() then backs the scale off (after a skipped step) or grows it (after growthInterval steps in a row
 * without inf/NaN). The scale and the growth tracker live on the CPU.
 *
 *   const scaler = new GradScaler();
 *   const loss = autocast(() => crossEntropy(model.forward(x), y));
 *   scaler.scale(loss).backward();
 *   scaler.unscale_(opt);            // optional: to clip the true gradients before the step
 *   await scaler.step(opt);          // opt.step() unless a gradient holds inf/NaN
 *   scaler.update();
 */
import { Tensor, shapeStr } from '../autograd/tensor';
import { toDtype } from '../autograd/ops/half';
import type { GpuRuntime } from '../gpu/runtime';
import { FOUND_INF_BYTES, clearFoundInf, unscaleGrads } from '../kernels/amp';

/** GradScaler's options (torch's defaults). */
export interface GradScalerOptions {
  /** The first scale (a float32 > 0; default 2^16). */
  initScale?: number;
  /** The scale's factor after growthInterval steps in a row without inf/NaN (> 1; default 2). */
  growthFactor?: number;
  /** The scale's factor after a step with inf/NaN gradients (in (0, 1); default 0.5). */
  backoffFactor?: number;
  /** Steps in a row without inf/NaN before the scale grows (an integer ≥ 1; default 2000). */
  growthInterval?: number;
  /** false: every method passes through (scale() returns the loss, step() just steps). Default true. */
  enabled?: boolean;
}

/** The layout of torch's GradScaler.state_dict() (JSON numbers, so a checkpoint stores it exactly). */
export interface GradScalerStateDict {
  scale: number;
  growth_factor: number;
  backoff_factor: number;
  growth_interval: number;
  _growth_tracker: number;
}

/** What GradScaler needs of an optimizer: its parameter groups and step() (SGD, Adam, AdamW). */
export interface ScalableOptimizer {
  readonly paramGroups: readonly { readonly params: readonly Tensor[] }[];
  step(): void;
}

/** Where one optimizer is in the current iteration (torch's OptState). */
interface OptimizerIteration {
  stage: 'unscaled' | 'stepped';
  /** Whether any parameter had a gradient when unscale_ ran (torch: found_inf_per_device is not empty). */
  checked: boolean;
  /** The flag read back by step(); null until then. */
  foundInf: boolean | null;
}

const STATE_KEYS = ['scale', 'growth_factor', 'backoff_factor', 'growth_interval', '_growth_tracker'] as const;

function checkScale(where: string, what: string, v: unknown): number {
  const f = typeof v === 'number' ? Math.fround(v) : NaN;
  if (!(f > 0) || !Number.isFinite(f)) throw new Error(`${where}: ${what} must be a number > 0 that is finite in float32, got ${String(v)}`);
  return f;
}

function checkGrowthFactor(where: string, v: unknown): number {
  if (typeof v !== 'number' || !(v > 1) || !Number.isFinite(v)) throw new Error(`${where}: growthFactor must be a finite number > 1, got ${String(v)}`);
  return v;
}

function checkBackoffFactor(where: string, v: unknown): number {
  if (typeof v !== 'number' || !(v > 0 && v < 1)) throw new Error(`${where}: backoffFactor must be a number in (0, 1), got ${String(v)}`);
  return v;
}

function checkGrowthInterval(where: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new Error(`${where}: growthInterval must be an integer ≥ 1, got ${String(v)}`);
  return v;
}

/**
 * torch.cuda.amp.GradScaler: `scale(loss)`, `unscale_(opt)`, `await step(opt)`, `update()` once per iteration
 * (see the file's comment). Several optimizers may share one scaler: call unscale_/step for each, then update()
 * once; a step with inf/NaN in any of them backs the scale off.
 */
export class GradScaler {
  private scaleValue: number;
  private growthFactor: number;
  private backoffFactor: number;
  private growthInterval: number;
  private growthTracker = 0;
  private readonly enabled: boolean;
  /** This iteration's progress per optimizer (torch's _per_optimizer_states), cleared by update(). */
  private iteration = new Map<ScalableOptimizer, OptimizerIteration>();
  /** Each optimizer's found-inf flag (one u32 on the GPU), kept across iterations and cleared on the GPU. */
  private flags = new Map<ScalableOptimizer, { rt: GpuRuntime; buffer: GPUBuffer }>();

  constructor(opts: GradScalerOptions = {}) {
    const where = 'GradScaler';
    if (opts === null || typeof opts !== 'object') throw new Error(`${where}: the options must be an object, got ${String(opts)}`);
    if (opts.enabled !== undefined && typeof opts.enabled !== 'boolean') throw new Error(`${where}: enabled must be true or false, got ${String(opts.enabled)}`);
    this.enabled = opts.enabled ?? true;
    this.scaleValue = checkScale(where, 'initScale', opts.initScale ?? 2 ** 16);
    this.growthFactor = checkGrowthFactor(where, opts.growthFactor ?? 2);
    this.backoffFactor = checkBackoffFactor(where, opts.backoffFactor ?? 0.5);
    this.growthInterval = checkGrowthInterval(where, opts.growthInterval ?? 2000);
  }

  /** Whether scaling is on (torch's is_enabled()). */
  isEnabled(): boolean {
    return this.enabled;
  }

  /** The current scale (a float32 value); 1 when disabled (torch's get_scale()). */
  getScale(): number {
    return this.enabled ? this.scaleValue : 1;
  }

  /** Successful steps in a row since the scale last changed (torch's _growth_tracker); 0 when disabled. */
  getGrowthTracker(): number {
    return this.enabled ? this.growthTracker : 0;
  }

  getGrowthFactor(): number {
    return this.growthFactor;
  }

  setGrowthFactor(v: number): void {
    this.growthFactor = checkGrowthFactor('GradScaler.setGrowthFactor', v);
  }

  getBackoffFactor(): number {
    return this.backoffFactor;
  }

  setBackoffFactor(v: number): void {
    this.backoffFactor = checkBackoffFactor('GradScaler.setBackoffFactor', v);
  }

  getGrowthInterval(): number {
    return this.growthInterval;
  }

  setGrowthInterval(v: number): void {
    this.growthInterval = checkGrowthInterval('GradScaler.setGrowthInterval', v);
  }

  /**
   * loss · scale, a new differentiable tensor (call backward() on it). A float16 loss is widened to float32
   * first. Disabled: the loss itself.
   */
  scale(loss: Tensor): Tensor {
    if (!this.enabled) return loss;
    if (!(loss instanceof Tensor)) throw new Error('GradScaler.scale: the loss must be a Tensor');
    if (loss.dtype === 'i32') throw new Error(`GradScaler.scale: the loss ${shapeStr(loss.shape)} is int32; scale a float32 loss`);
    return toDtype(loss, 'f32').scale(this.scaleValue);
  }

  /**
   * Divide the gradients of the optimizer's parameters by the scale, in place on the GPU, and record on the GPU
   * whether any holds inf or NaN (no readback). At most once per optimizer between update()s, before step();
   * call it to work on the true gradients (clipGradNorm) before step(). Disabled: nothing.
   */
  unscale_(optimizer: ScalableOptimizer): void {
    if (!this.enabled) return;
    const where = 'GradScaler.unscale_';
    const state = this.iteration.get(optimizer);
    if (state?.stage === 'unscaled') throw new Error(`${where}: unscale_() has already been called on this optimizer since the last update()`);
    if (state?.stage === 'stepped') throw new Error(`${where}: unscale_() is being called after step(); call update() first`);
    const grads = this.gradsOf(where, optimizer);
    if (grads.length > 0) {
      const rt = grads[0].rt;
      const flag = this.flagFor(optimizer, rt);
      clearFoundInf(rt, flag);
      const inv = Math.fround(1 / this.scaleValue); // torch: scale.double().reciprocal().float()
      unscaleGrads(rt, grads.map((g) => ({ buffer: g.buffer, n: g.size })), inv, flag);
    }
    this.iteration.set(optimizer, { stage: 'unscaled', checked: grads.length > 0, foundInf: null });
  }

  /**
   * Unscale the gradients (unless unscale_ already did this iteration), read the found-inf flag back, and call
   * optimizer.step() only if every gradient is finite. Resolves to whether the optimizer stepped. Once per
   * optimizer between update()s. Disabled: optimizer.step(), resolving to true.
   */
  async step(optimizer: ScalableOptimizer): Promise<boolean> {
    if (!this.enabled) {
      optimizer.step();
      return true;
    }
    const where = 'GradScaler.step';
    if (this.iteration.get(optimizer)?.stage === 'stepped') throw new Error(`${where}: step() has already been called since the last update()`);
    if (!this.iteration.has(optimizer)) this.unscale_(optimizer);
    const state = this.iteration.get(optimizer)!;
    if (!state.checked) {
      throw new Error(`${where}: no parameter of the optimizer has a gradient, so no inf/NaN check was recorded; call backward() on scaler.scale(loss) before step()`);
    }
    state.stage = 'stepped';
    const flag = this.flags.get(optimizer)!;
    const bits = new Uint32Array(await flag.rt.read(flag.buffer, FOUND_INF_BYTES, 0, 'gradScaler.step (found inf)'));
    state.foundInf = bits[0] !== 0;
    if (!state.foundInf) optimizer.step();
    return !state.foundInf;
  }

  /**
   * Adjust the scale for the next iteration (torch's _amp_update_scale_): after a step with inf/NaN, scale ·=
   * backoffFactor and the tracker restarts; else the tracker counts up, and when it reaches growthInterval the
   * scale ·= growthFactor (unless that overflows float32) and the tracker restarts. `newScale` sets the scale
   * instead (the tracker is kept). Call once per iteration, after step(). Disabled: nothing.
   */
  update(newScale?: number): void {
    if (!this.enabled) return;
    const where = 'GradScaler.update';
    if (newScale !== undefined) {
      this.scaleValue = checkScale(where, 'newScale', newScale);
    } else {
      const states = [...this.iteration.values()];
      if (states.some((s) => s.stage === 'unscaled' && s.checked)) {
        throw new Error(`${where}: unscale_() was called on an optimizer whose step() was not; await scaler.step(optimizer) before update() (it reads the inf/NaN check), or pass update(newScale)`);
      }
      if (states.some((s) => s.stage === 'stepped' && s.foundInf === null)) throw new Error(`${where}: step() has not finished; await it before update()`);
      const recorded = states.filter((s) => s.foundInf !== null);
      if (recorded.length === 0) throw new Error(`${where}: no inf/NaN checks were recorded before update(); call scaler.step(optimizer) first`);
      const foundInf = recorded.some((s) => s.foundInf);
      if (foundInf) {
        this.scaleValue = Math.fround(this.scaleValue * this.backoffFactor);
        this.growthTracker = 0;
      } else {
        const successful = this.growthTracker + 1;
        if (successful === this.growthInterval) {
          const grown = Math.fround(this.scaleValue * this.growthFactor);
          if (Number.isFinite(grown)) this.scaleValue = grown; // the scale never grows to inf
          this.growthTracker = 0;
        } else {
          this.growthTracker = successful;
        }
      }
    }
    this.iteration = new Map();
  }

  /**
   * torch's state_dict(): { scale, growth_factor, backoff_factor, growth_interval, _growth_tracker }, plain
   * numbers (JSON keeps them exactly). Disabled: {} (as torch).
   */
  stateDict(): GradScalerStateDict | Record<string, never> {
    if (!this.enabled) return {};
    return {
      scale: this.scaleValue,
      growth_factor: this.growthFactor,
      backoff_factor: this.backoffFactor,
      growth_interval: this.growthInterval,
      _growth_tracker: this.growthTracker,
    };
  }

  /** Restore a stateDict() (all five keys, checked; nothing changes when it is refused). Disabled: nothing (as torch). */
  loadStateDict(sd: GradScalerStateDict | Record<string, never>): void {
    if (!this.enabled) return;
    const where = 'GradScaler.loadStateDict';
    if (sd === null || typeof sd !== 'object') throw new Error(`${where}: the state dict must be an object, got ${String(sd)}`);
    const keys = Object.keys(sd);
    if (keys.length === 0) throw new Error(`${where}: the state dict is empty, possibly because it was saved from a disabled GradScaler`);
    const unknown = keys.filter((k) => !(STATE_KEYS as readonly string[]).includes(k));
    if (unknown.length) throw new Error(`${where}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (expected ${STATE_KEYS.join(', ')}; a state dict of something else?)`);
    const missing = STATE_KEYS.filter((k) => !(k in sd));
    if (missing.length) throw new Error(`${where}: the state dict has no ${missing.join(', ')}`);
    const s = sd as GradScalerStateDict;
    const scale = checkScale(where, 'scale', s.scale);
    const growthFactor = checkGrowthFactor(where, s.growth_factor);
    const backoffFactor = checkBackoffFactor(where, s.backoff_factor);
    const growthInterval = checkGrowthInterval(where, s.growth_interval);
    const tracker = s._growth_tracker;
    if (typeof tracker !== 'number' || !Number.isSafeInteger(tracker) || tracker < 0) throw new Error(`${where}: _growth_tracker must be an integer ≥ 0, got ${String(tracker)}`);
    this.scaleValue = scale;
    this.growthFactor = growthFactor;
    this.backoffFactor = backoffFactor;
    this.growthInterval = growthInterval;
    this.growthTracker = tracker;
  }

  /** Give the found-inf flags back to their runtimes' pools. The scaler can still be used (new flags are made). */
  dispose(): void {
    for (const f of this.flags.values()) f.rt.release(f.buffer);
    this.flags.clear();
    this.iteration = new Map();
  }

  /** The float32 gradients of the optimizer's parameters (those that have one); throws on any other dtype. */
  private gradsOf(where: string, optimizer: ScalableOptimizer): Tensor[] {
    if (!optimizer || !Array.isArray(optimizer.paramGroups)) throw new Error(`${where}: expected an optimizer (SGD, Adam, AdamW) with paramGroups`);
    const grads: Tensor[] = [];
    let i = 0;
    for (const g of optimizer.paramGroups) {
      for (const p of g.params) {
        const index = i++;
        const grad = p.grad;
        if (!grad) continue;
        if (grad.dtype !== 'f32') {
          throw new Error(
            `${where}: the gradient of parameter ${index}${p.name ? ` '${p.name}'` : ''} ${shapeStr(p.shape)} is ${grad.dtype}; GradScaler unscales float32 gradients only (torch: "Attempting to unscale FP16 gradients"). Keep the parameters in float32 and run the forward pass under autocast().`,
          );
        }
        grads.push(grad);
      }
    }
    const rt = grads[0]?.rt;
    if (grads.some((g) => g.rt !== rt)) throw new Error(`${where}: the optimizer's gradients live on more than one GPU runtime`);
    return grads;
  }

  private flagFor(optimizer: ScalableOptimizer, rt: GpuRuntime): GPUBuffer {
    let f = this.flags.get(optimizer);
    if (f && f.rt !== rt) {
      f.rt.release(f.buffer);
      f = undefined;
    }
    if (!f) this.flags.set(optimizer, (f = { rt, buffer: rt.alloc(FOUND_INF_BYTES) }));
    return f.buffer;
  }
}
