/**
 * Learning-rate schedulers bound to an optimizer, as torch.optim.lr_scheduler's: each step() sets the lr of
 * every parameter group. The formulas are torch's chainable ones (each lr from the group's current lr), in
 * float64 and in torch's order of operations, so the values match torch's; step(epoch) uses torch's closed
 * forms where torch has one. Construction performs torch's initial step (lastEpoch 0).
 */
import { Optimizer, toSnake, type ParamGroup } from './optimizer';

/** A scheduler's state in torch's layout (snake_case): its settings, last_epoch, base_lrs, _last_lr and _step_count. */
export interface SchedulerStateDict {
  last_epoch: number;
  _last_lr: number[];
  base_lrs?: number[];
  _step_count?: number;
  [setting: string]: unknown;
}

/** The scheduler state of checkpoints written before schedulers were bound to the optimizer (StepLR only). */
export interface LegacySchedulerState {
  lastEpoch: number;
}

/** torch.optim.lr_scheduler.LRScheduler: binds to an optimizer, sets each group's initialLr (if unset) and steps. */
export abstract class LRScheduler {
  /** The number of step() calls since construction (torch's last_epoch; 0 after the constructor's initial step). */
  lastEpoch = -1;
  /** Each group's initialLr when the scheduler was made (torch's base_lrs). */
  baseLrs: number[];
  protected lastLr: number[] = [];
  protected stepCount = 0;
  /** The settings saved in the state dict (camelCase here, snake_case there). */
  protected abstract readonly settings: object;

  constructor(
    readonly optimizer: Optimizer,
    /** The scheduler's name in messages. */
    readonly name: string,
  ) {
    if (!(optimizer instanceof Optimizer)) throw new TypeError(`${name}: the first argument must be an optimizer (SGD, Adam, AdamW), got ${describe(optimizer)}`);
    for (const g of optimizer.paramGroups) g.initialLr ??= g.lr;
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr!);
  }

  /** The groups' lrs for the current lastEpoch, from their current lrs (torch's get_lr). */
  protected abstract computeLr(): number[];

  /** The groups' lrs for lastEpoch from the base lrs alone (torch's _get_closed_form_lr), where torch has one. */
  protected closedFormLr(): number[] | null {
    return null;
  }

  /** @internal torch's _initial_step: the step the constructor performs (SequentialLR repeats it). */
  initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  /**
   * Advance one epoch (or step, for per-iteration schedules) and set every group's lr. With `epoch` (torch's
   * deprecated form, used by SequentialLR at a milestone), jump to that epoch with the closed form.
   */
  step(epoch?: number): void {
    const [saved, savedCount] = [this.lastEpoch, this.stepCount];
    this.stepCount++;
    let values: number[];
    try {
      if (epoch === undefined) {
        this.lastEpoch++;
        values = this.computeLr();
      } else {
        this.lastEpoch = epoch;
        values = this.closedFormLr() ?? this.computeLr();
      }
    } catch (e) {
      [this.lastEpoch, this.stepCount] = [saved, savedCount];
      throw e;
    }
    this.apply(values);
  }

  protected apply(values: number[]): void {
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = values[i]));
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** The lrs the last step set, one per group (torch's get_last_lr()). */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  protected get groups(): ParamGroup[] {
    return this.optimizer.paramGroups;
  }

  /** The state in torch's layout: settings, base_lrs, last_epoch, _step_count, _last_lr. JSON-safe. */
  stateDict(): SchedulerStateDict {
    const out: SchedulerStateDict = { last_epoch: this.lastEpoch, _last_lr: [...this.lastLr], base_lrs: [...this.baseLrs], _step_count: this.stepCount };
    for (const [k, v] of Object.entries(this.settings)) out[toSnake(k)] = Array.isArray(v) ? [...(v as unknown[])] : v;
    return out;
  }

  /**
   * Restore a state from stateDict(). The optimizer's lrs are not changed (they are in the optimizer's own state
   * dict), except from a checkpoint written before schedulers were bound (`{ lastEpoch }`): the groups then get
   * the closed-form lr of that epoch, as the trainer set them then.
   */
  loadStateDict(sd: SchedulerStateDict | LegacySchedulerState): void {
    if (!sd || typeof sd !== 'object') throw new Error(`${this.name}.loadStateDict: expected a state object, got ${describe(sd)}`);
    if ('lastEpoch' in sd && !('last_epoch' in sd)) {
      if (!Number.isInteger(sd.lastEpoch) || sd.lastEpoch < 0) throw new Error(`${this.name}.loadStateDict: lastEpoch must be a whole number ≥ 0, got ${sd.lastEpoch}`);
      this.lastEpoch = sd.lastEpoch;
      this.stepCount = sd.lastEpoch + 1;
      const values = this.closedFormLr();
      if (!values) throw new Error(`${this.name}.loadStateDict: a state of the form { lastEpoch } has no lr for this scheduler`);
      this.apply(values);
      return;
    }
    const s = sd as SchedulerStateDict;
    if (!Number.isInteger(s.last_epoch)) throw new Error(`${this.name}.loadStateDict: last_epoch must be a whole number, got ${String(s.last_epoch)}`);
    const settings = this.settings as Record<string, unknown>;
    for (const k of Object.keys(settings)) {
      const v = s[toSnake(k)];
      if (v !== undefined) settings[k] = Array.isArray(v) ? [...(v as unknown[])] : v;
    }
    this.lastEpoch = s.last_epoch;
    if (Array.isArray(s.base_lrs)) this.baseLrs = [...s.base_lrs];
    if (Array.isArray(s._last_lr)) this.lastLr = [...s._last_lr];
    if (typeof s._step_count === 'number') this.stepCount = s._step_count;
  }
}

function describe(v: unknown): string {
  return v === null ? 'null' : typeof v === 'object' ? (v.constructor?.name ?? 'an object') : typeof v;
}

function positiveInteger(name: string, what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new Error(`${name}: ${what} must be a whole number ≥ 1, got ${String(v)}`);
  return v;
}

function finiteNumber(name: string, what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${name}: ${what} must be a finite number, got ${String(v)}`);
  return v;
}

/** Bisect right: how many of the sorted values are ≤ x. */
function countAtMost(sorted: readonly number[], x: number): number {
  let n = 0;
  while (n < sorted.length && sorted[n] <= x) n++;
  return n;
}

/** StepLR's options. */
export interface StepLROptions {
  /** Decay every stepSize epochs. */
  stepSize: number;
  /** Default 0.1. */
  gamma?: number;
}

/** torch.optim.lr_scheduler.StepLR: lr = initial lr · gamma^floor(epoch / stepSize). */
export class StepLR extends LRScheduler {
  protected readonly settings: Required<StepLROptions>;
  constructor(optimizer: Optimizer, opts: StepLROptions) {
    super(optimizer, 'StepLR');
    if (!(opts?.stepSize >= 1)) throw new Error(`StepLR: stepSize must be ≥ 1, got ${opts?.stepSize}`);
    this.settings = { stepSize: opts.stepSize, gamma: finiteNumber('StepLR', 'gamma', opts.gamma ?? 0.1) };
    this.initialStep();
  }
  protected computeLr(): number[] {
    const { stepSize, gamma } = this.settings;
    if (this.lastEpoch === 0 || this.lastEpoch % stepSize !== 0) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * gamma);
  }
  protected override closedFormLr(): number[] {
    const { stepSize, gamma } = this.settings;
    return this.baseLrs.map((b) => b * gamma ** Math.floor(this.lastEpoch / stepSize));
  }
}

/** MultiStepLR's options. */
export interface MultiStepLROptions {
  /** Epochs at which the lr is multiplied by gamma (increasing; a milestone listed twice multiplies twice). */
  milestones: readonly number[];
  /** Default 0.1. */
  gamma?: number;
}

/** torch.optim.lr_scheduler.MultiStepLR: lr = initial lr · gamma^(milestones passed). */
export class MultiStepLR extends LRScheduler {
  protected readonly settings: { milestones: number[]; gamma: number };
  constructor(optimizer: Optimizer, opts: MultiStepLROptions) {
    super(optimizer, 'MultiStepLR');
    const m = opts?.milestones;
    if (!Array.isArray(m) || !m.every((x) => Number.isInteger(x))) throw new Error(`MultiStepLR: milestones must be a list of whole numbers, got ${JSON.stringify(m)}`);
    if (m.some((x, i) => i > 0 && x < m[i - 1])) throw new Error(`MultiStepLR: milestones must be increasing, got ${JSON.stringify(m)}`);
    this.settings = { milestones: [...m], gamma: finiteNumber('MultiStepLR', 'gamma', opts.gamma ?? 0.1) };
    this.initialStep();
  }
  protected computeLr(): number[] {
    const { milestones, gamma } = this.settings;
    const count = milestones.filter((x) => x === this.lastEpoch).length;
    if (count === 0) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * gamma ** count);
  }
  protected override closedFormLr(): number[] {
    const { milestones, gamma } = this.settings;
    return this.baseLrs.map((b) => b * gamma ** countAtMost(milestones, this.lastEpoch));
  }
}

/** ExponentialLR's options. */
export interface ExponentialLROptions {
  /** The factor per epoch. */
  gamma: number;
}

/** torch.optim.lr_scheduler.ExponentialLR: lr = initial lr · gamma^epoch. */
export class ExponentialLR extends LRScheduler {
  protected readonly settings: ExponentialLROptions;
  constructor(optimizer: Optimizer, opts: ExponentialLROptions) {
    super(optimizer, 'ExponentialLR');
    this.settings = { gamma: finiteNumber('ExponentialLR', 'gamma', opts?.gamma) };
    this.initialStep();
  }
  protected computeLr(): number[] {
    if (this.lastEpoch === 0) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * this.settings.gamma);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.settings.gamma ** this.lastEpoch);
  }
}

/** CosineAnnealingLR's options. */
export interface CosineAnnealingLROptions {
  /** Epochs of a half cosine period. */
  tMax: number;
  /** The lowest lr; default 0. */
  etaMin?: number;
}

/**
 * torch.optim.lr_scheduler.CosineAnnealingLR: lr = etaMin + (initial lr − etaMin)·(1 + cos(π·epoch / tMax)) / 2,
 * computed as torch does, from the previous lr (which keeps changes made from outside), and rising again after tMax.
 */
export class CosineAnnealingLR extends LRScheduler {
  protected readonly settings: Required<CosineAnnealingLROptions>;
  constructor(optimizer: Optimizer, opts: CosineAnnealingLROptions) {
    super(optimizer, 'CosineAnnealingLR');
    this.settings = { tMax: positiveInteger('CosineAnnealingLR', 'tMax', opts?.tMax), etaMin: finiteNumber('CosineAnnealingLR', 'etaMin', opts.etaMin ?? 0) };
    this.initialStep();
  }
  protected computeLr(): number[] {
    const { tMax, etaMin } = this.settings;
    const e = this.lastEpoch;
    if (e === 0) return this.groups.map((g) => g.lr);
    if ((e - 1 - tMax) % (2 * tMax) === 0) return this.groups.map((g, i) => g.lr + ((this.baseLrs[i] - etaMin) * (1 - Math.cos(Math.PI / tMax))) / 2);
    return this.groups.map((g) => ((1 + Math.cos((Math.PI * e) / tMax)) / (1 + Math.cos((Math.PI * (e - 1)) / tMax))) * (g.lr - etaMin) + etaMin);
  }
  protected override closedFormLr(): number[] {
    const { tMax, etaMin } = this.settings;
    return this.baseLrs.map((b) => etaMin + ((b - etaMin) * (1 + Math.cos((Math.PI * this.lastEpoch) / tMax))) / 2);
  }
}

/** LinearLR's options. */
export interface LinearLROptions {
  /** The factor of the first epoch; default 1/3. */
  startFactor?: number;
  /** The factor from totalIters on; default 1. */
  endFactor?: number;
  /** Epochs of the linear change; default 5. */
  totalIters?: number;
}

/** torch.optim.lr_scheduler.LinearLR (warm-up): the factor goes linearly from startFactor to endFactor over totalIters epochs. */
export class LinearLR extends LRScheduler {
  protected readonly settings: Required<LinearLROptions>;
  constructor(optimizer: Optimizer, opts: LinearLROptions = {}) {
    super(optimizer, 'LinearLR');
    const startFactor = opts.startFactor ?? 1 / 3;
    const endFactor = opts.endFactor ?? 1;
    if (!(startFactor > 0 && startFactor <= 1)) throw new Error(`LinearLR: startFactor must be in (0, 1], got ${startFactor}`);
    if (!(endFactor >= 0 && endFactor <= 1)) throw new Error(`LinearLR: endFactor must be in [0, 1], got ${endFactor}`);
    this.settings = { startFactor, endFactor, totalIters: positiveInteger('LinearLR', 'totalIters', opts.totalIters ?? 5) };
    this.initialStep();
  }
  protected computeLr(): number[] {
    const { startFactor: s, endFactor: f, totalIters: n } = this.settings;
    const e = this.lastEpoch;
    if (e === 0) return this.groups.map((g) => g.lr * s);
    if (e > n) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * (1 + (f - s) / (n * s + (e - 1) * (f - s))));
  }
  protected override closedFormLr(): number[] {
    const { startFactor: s, endFactor: f, totalIters: n } = this.settings;
    return this.baseLrs.map((b) => b * (s + ((f - s) * Math.min(n, this.lastEpoch)) / n));
  }
}

/** OneCycleLR's options. */
export interface OneCycleLROptions {
  /** The peak lr: one for all groups or one per group. */
  maxLr: number | readonly number[];
  /** The schedule's length in steps; or give epochs and stepsPerEpoch. */
  totalSteps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  /** The share of the steps spent rising; default 0.3. */
  pctStart?: number;
  /** Default 'cos'. */
  annealStrategy?: 'cos' | 'linear';
  /** Cycle SGD's momentum or Adam's beta1 inversely to the lr; default true. */
  cycleMomentum?: boolean;
  /** Default 0.85 (one value or one per group). */
  baseMomentum?: number | readonly number[];
  /** Default 0.95 (one value or one per group). */
  maxMomentum?: number | readonly number[];
  /** initial lr = maxLr / divFactor; default 25. */
  divFactor?: number;
  /** min lr = initial lr / finalDivFactor; default 1e4. */
  finalDivFactor?: number;
  /** Fall back to the initial lr before annealing to the min lr (three phases); default false. */
  threePhase?: boolean;
}

type LrKey = 'initialLr' | 'maxLr' | 'minLr';
type MomentumKey = 'maxMomentum' | 'baseMomentum';
interface Phase {
  endStep: number;
  startLr: LrKey;
  endLr: LrKey;
  startMomentum: MomentumKey;
  endMomentum: MomentumKey;
}

/**
 * torch.optim.lr_scheduler.OneCycleLR, stepped once per batch: the lr rises from maxLr/divFactor to maxLr over
 * pctStart of the steps, then anneals to the min lr; the momentum (SGD) or beta1 (Adam) moves the other way.
 * Sets each group's initialLr, maxLr, minLr (and maxMomentum, baseMomentum), as torch does.
 */
export class OneCycleLR extends LRScheduler {
  protected readonly settings: { totalSteps: number; pctStart: number; annealStrategy: 'cos' | 'linear'; cycleMomentum: boolean; divFactor: number; finalDivFactor: number; threePhase: boolean };
  private readonly phases: Phase[];
  private readonly useBeta1: boolean;

  constructor(optimizer: Optimizer, opts: OneCycleLROptions) {
    super(optimizer, 'OneCycleLR');
    const n = 'OneCycleLR';
    let totalSteps: number;
    if (opts?.totalSteps !== undefined) totalSteps = positiveInteger(n, 'totalSteps', opts.totalSteps);
    else if (opts?.epochs !== undefined || opts?.stepsPerEpoch !== undefined) totalSteps = positiveInteger(n, 'epochs', opts.epochs) * positiveInteger(n, 'stepsPerEpoch', opts.stepsPerEpoch);
    else throw new Error('OneCycleLR: give either totalSteps or (epochs and stepsPerEpoch)');
    const pctStart = opts.pctStart ?? 0.3;
    if (!(pctStart >= 0 && pctStart <= 1)) throw new Error(`OneCycleLR: pctStart must be in [0, 1], got ${pctStart}`);
    const annealStrategy = opts.annealStrategy ?? 'cos';
    if (annealStrategy !== 'cos' && annealStrategy !== 'linear') throw new Error(`OneCycleLR: annealStrategy must be 'cos' or 'linear', got ${String(annealStrategy)}`);
    const divFactor = finiteNumber(n, 'divFactor', opts.divFactor ?? 25);
    const finalDivFactor = finiteNumber(n, 'finalDivFactor', opts.finalDivFactor ?? 1e4);
    const threePhase = opts.threePhase ?? false;
    const cycleMomentum = opts.cycleMomentum ?? true;
    this.settings = { totalSteps, pctStart, annealStrategy, cycleMomentum, divFactor, finalDivFactor, threePhase };
    const phase = (endStep: number, startLr: LrKey, endLr: LrKey, startMomentum: MomentumKey, endMomentum: MomentumKey): Phase => ({ endStep, startLr, endLr, startMomentum, endMomentum });
    this.phases = threePhase
      ? [
          phase(pctStart * totalSteps - 1, 'initialLr', 'maxLr', 'maxMomentum', 'baseMomentum'),
          phase(2 * pctStart * totalSteps - 2, 'maxLr', 'initialLr', 'baseMomentum', 'maxMomentum'),
          phase(totalSteps - 1, 'initialLr', 'minLr', 'maxMomentum', 'maxMomentum'),
        ]
      : [phase(pctStart * totalSteps - 1, 'initialLr', 'maxLr', 'maxMomentum', 'baseMomentum'), phase(totalSteps - 1, 'maxLr', 'minLr', 'baseMomentum', 'maxMomentum')];

    const groups = optimizer.paramGroups;
    const perGroup = (what: string, v: number | readonly number[]): number[] => {
      const list = typeof v === 'number' ? groups.map(() => v) : [...v];
      if (list.length !== groups.length) throw new Error(`OneCycleLR: expected ${groups.length} values for ${what} (one per param group), got ${list.length}`);
      list.forEach((x) => finiteNumber(n, what, x));
      return list;
    };
    const maxLrs = perGroup('maxLr', opts.maxLr);
    groups.forEach((g, i) => {
      g.initialLr = maxLrs[i] / divFactor;
      g.maxLr = maxLrs[i];
      g.minLr = g.initialLr / finalDivFactor;
    });
    this.baseLrs = groups.map((g) => g.initialLr!);
    this.useBeta1 = 'betas' in optimizer.defaults;
    if (cycleMomentum) {
      if (!('momentum' in optimizer.defaults) && !this.useBeta1) throw new Error(`OneCycleLR: cycleMomentum needs an optimizer with a momentum or betas (${optimizer.name} has neither)`);
      const maxM = perGroup('maxMomentum', opts.maxMomentum ?? 0.95);
      const baseM = perGroup('baseMomentum', opts.baseMomentum ?? 0.85);
      groups.forEach((g, i) => {
        this.setMomentum(g, maxM[i]);
        g.maxMomentum = maxM[i];
        g.baseMomentum = baseM[i];
      });
    }
    this.initialStep();
  }

  private setMomentum(g: ParamGroup, m: number): void {
    if (this.useBeta1) g.betas = [m, g.betas![1]];
    else g.momentum = m;
  }

  private anneal(start: number, end: number, pct: number): number {
    if (this.settings.annealStrategy === 'linear') return (end - start) * pct + start;
    const cosOut = Math.cos(Math.PI * pct) + 1;
    return end + ((start - end) / 2.0) * cosOut;
  }

  protected computeLr(): number[] {
    const step = this.lastEpoch;
    const { totalSteps, cycleMomentum } = this.settings;
    if (step > totalSteps) throw new Error(`OneCycleLR: tried to step ${step + 1} times; the schedule has totalSteps ${totalSteps}`);
    return this.groups.map((g) => {
      let start = 0;
      for (let i = 0; i < this.phases.length; i++) {
        const ph = this.phases[i];
        if (step <= ph.endStep || i === this.phases.length - 1) {
          const pct = (step - start) / (ph.endStep - start);
          const lr = this.anneal(g[ph.startLr]!, g[ph.endLr]!, pct);
          if (cycleMomentum) this.setMomentum(g, this.anneal(g[ph.startMomentum]!, g[ph.endMomentum]!, pct));
          return lr;
        }
        start = ph.endStep;
      }
      throw new Error('OneCycleLR: no phase'); // unreachable: the last phase always matches
    });
  }
}

/** SequentialLR's options. */
export interface SequentialLROptions {
  /** The schedulers, all bound to the same optimizer, in the order they run. */
  schedulers: readonly LRScheduler[];
  /** The epochs at which the next scheduler takes over (one fewer than schedulers). */
  milestones: readonly number[];
}

/** torch.optim.lr_scheduler.SequentialLR: runs its schedulers one after the other, switching at the milestones (e.g. LinearLR warm-up, then cosine). */
export class SequentialLR extends LRScheduler {
  protected readonly settings: { milestones: number[] };
  private readonly schedulers: LRScheduler[];

  constructor(optimizer: Optimizer, opts: SequentialLROptions) {
    super(optimizer, 'SequentialLR');
    const { schedulers, milestones } = opts ?? ({} as SequentialLROptions);
    if (!Array.isArray(schedulers) || schedulers.length === 0) throw new Error('SequentialLR: schedulers must be a non-empty list');
    schedulers.forEach((s, i) => {
      if (!(s instanceof LRScheduler)) throw new Error(`SequentialLR: schedulers[${i}] is not a scheduler`);
      if (s.optimizer !== optimizer) throw new Error(`SequentialLR: schedulers[${i}] (${s.name}) is bound to another optimizer than the one given`);
    });
    if (!Array.isArray(milestones) || milestones.length !== schedulers.length - 1) {
      throw new Error(`SequentialLR: expected ${schedulers.length - 1} milestones (one fewer than the ${schedulers.length} schedulers), got ${JSON.stringify(milestones)}`);
    }
    this.schedulers = [...schedulers];
    this.settings = { milestones: [...milestones] };
    this.lastEpoch = 0;
    for (const g of optimizer.paramGroups) g.lr = g.initialLr!;
    for (const s of this.schedulers) s.lastEpoch -= 1;
    this.schedulers[0].initialStep();
    this.lastLr = this.schedulers[0].getLastLr();
  }

  protected computeLr(): number[] {
    throw new Error('SequentialLR: the lr comes from its schedulers'); // step() is overridden
  }

  override step(): void {
    this.lastEpoch++;
    const { milestones } = this.settings;
    const idx = countAtMost(milestones, this.lastEpoch);
    const s = this.schedulers[idx];
    if (idx > 0 && milestones[idx - 1] === this.lastEpoch) s.step(0);
    else s.step();
    this.lastLr = s.getLastLr();
  }

  /** torch's layout: last_epoch, _last_lr, _milestones and each scheduler's state in _schedulers. */
  override stateDict(): SchedulerStateDict {
    return { last_epoch: this.lastEpoch, _last_lr: [...this.lastLr], _milestones: [...this.settings.milestones], _schedulers: this.schedulers.map((s) => s.stateDict()) };
  }

  override loadStateDict(sd: SchedulerStateDict | LegacySchedulerState): void {
    const s = sd as SchedulerStateDict;
    const inner = s?._schedulers;
    if (!Array.isArray(inner) || inner.length !== this.schedulers.length) {
      throw new Error(`SequentialLR.loadStateDict: expected the states of ${this.schedulers.length} schedulers in _schedulers, got ${Array.isArray(inner) ? inner.length : 'none'}`);
    }
    if (!Number.isInteger(s.last_epoch)) throw new Error(`SequentialLR.loadStateDict: last_epoch must be a whole number, got ${String(s.last_epoch)}`);
    this.lastEpoch = s.last_epoch;
    if (Array.isArray(s._last_lr)) this.lastLr = [...(s._last_lr as number[])];
    if (Array.isArray(s._milestones)) this.settings.milestones = [...(s._milestones as number[])];
    this.schedulers.forEach((x, i) => x.loadStateDict(inner[i] as SchedulerStateDict));
  }
}
