/**
 * Float64 reference of dynamic loss scaling (torch.cuda.amp.GradScaler, torch/amp/grad_scaler.py): the
 * unscale-and-check of one gradient (_amp_foreach_non_finite_check_and_unscale_) and the scale's state machine
 * (_amp_update_scale_). torch keeps the scale in a float32 tensor, so the reference rounds it to float32
 * (Math.fround) where torch stores it; everything else is float64.
 */

export interface GradScalerRefOptions {
  initScale?: number;
  growthFactor?: number;
  backoffFactor?: number;
  growthInterval?: number;
}

/** The float32 that torch's unscale multiplies by: 1/scale in float64, rounded to float32 (inv_scale = scale.double().reciprocal().float()). */
export function invScaleRef(scale: number): number {
  return Math.fround(1 / scale);
}

/** IEEE NaN or ±inf (float64 test of a float32 value). */
const nonFinite = (v: number) => !Number.isFinite(v);

/**
 * One gradient unscaled: each value times invScaleRef(scale), rounded to float32 (one float32 multiplication), and
 * whether any input or result is NaN or ±inf.
 */
export function unscaleRef(grad: ArrayLike<number>, scale: number): { out: Float64Array; foundInf: boolean } {
  const inv = invScaleRef(scale);
  const out = new Float64Array(grad.length);
  let foundInf = false;
  for (let i = 0; i < grad.length; i++) {
    const g = Math.fround(grad[i]);
    out[i] = Math.fround(g * inv);
    if (nonFinite(g) || nonFinite(out[i])) foundInf = true;
  }
  return { out, foundInf };
}

/** The scaler's state after each update. */
export interface ScalerRefStep {
  /** The scale the step's loss was multiplied by. */
  scale: number;
  /** Whether the optimizer stepped (no inf/NaN found). */
  stepped: boolean;
  /** The scale and growth tracker after update(). */
  scaleAfter: number;
  trackerAfter: number;
}

/** GradScaler's scale and growth tracker, advanced by one found-inf boolean per step. */
export class GradScalerRef {
  scale: number;
  tracker = 0;
  readonly growthFactor: number;
  readonly backoffFactor: number;
  readonly growthInterval: number;
  /** How many steps were skipped and taken so far. */
  skipped = 0;
  taken = 0;

  constructor(o: GradScalerRefOptions = {}) {
    this.scale = Math.fround(o.initScale ?? 2 ** 16);
    this.growthFactor = o.growthFactor ?? 2;
    this.backoffFactor = o.backoffFactor ?? 0.5;
    this.growthInterval = o.growthInterval ?? 2000;
  }

  /** One step and update(): skipped when foundInf; then the scale backs off, or grows after growthInterval steps without inf. */
  step(foundInf: boolean): ScalerRefStep {
    const scale = this.scale;
    if (foundInf) {
      this.skipped++;
      this.scale = Math.fround(this.scale * this.backoffFactor);
      this.tracker = 0;
    } else {
      this.taken++;
      const successful = this.tracker + 1;
      if (successful === this.growthInterval) {
        const grown = Math.fround(this.scale * this.growthFactor);
        if (Number.isFinite(grown)) this.scale = grown; // never grown to inf
        this.tracker = 0;
      } else {
        this.tracker = successful;
      }
    }
    return { scale, stepped: !foundInf, scaleAfter: this.scale, trackerAfter: this.tracker };
  }

  /** Every step of a sequence of found-inf booleans. */
  run(foundInfs: readonly boolean[]): ScalerRefStep[] {
    return foundInfs.map((f) => this.step(f));
  }
}
