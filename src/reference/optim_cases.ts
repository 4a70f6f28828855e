/**
 * The cases of the optimizers, gradient clipping and schedulers, shared by test/optim.test.ts,
 * test/optim_parity.test.ts (and its PyTorch fixture, which receives them as JSON) and the gradient-check page.
 * Pure data and seeded generators: no GPU, no Node, no test framework.
 */
import { numel } from './cases';
import { randomArray } from './math';
import type { AdamRefOptions } from './adam';

// ---- Optimizer steps (Adam, AdamW, SGD with groups).

/** Parameter shapes: odd sizes (7, 39, 1, 165) take the scalar entries, 12 and 40 the vec4 twins. */
export const OPTIM_SHAPES = [[7], [13, 3], [1], [33, 5], [4, 3], [2, 2, 5, 2]];

/** The lr of each step (set between steps, as a scheduler would). */
export const OPTIM_LRS = [0.01, 0.01, 0.005, 0.02, 0.001, 0.01];

/** Adam / AdamW option combinations: defaults, weight decay, amsgrad, other betas and a large eps. */
export const ADAM_COMBOS: AdamRefOptions[] = [
  {},
  { weightDecay: 0 },
  { weightDecay: 0.05 },
  { amsgrad: true },
  { betas: [0.8, 0.99], eps: 1e-3, weightDecay: 0.1, amsgrad: true },
];

/** Seeded initial values of the OPTIM_SHAPES parameters. */
export function optimParams(seed: number): Float64Array[] {
  return OPTIM_SHAPES.map((s, i) => randomArray(numel(s), seed + i, -1, 1));
}

/**
 * Gradients for one step: parameter 2 has none on even steps, parameter 5 none on steps 1 and 2 (skipped: its
 * state and step count wait). Magnitudes vary by parameter, so that Adam's normalisation matters.
 */
export function optimStepGrads(step: number): (Float64Array | null)[] {
  return OPTIM_SHAPES.map((s, i) => {
    if ((i === 2 && step % 2 === 0) || (i === 5 && (step === 1 || step === 2))) return null;
    const scale = [1, 0.1, 2, 0.5, 3, 0.05][i];
    return randomArray(numel(s), 1000 * step + i + 77, -scale, scale);
  });
}

/**
 * Two parameter groups with their own hyperparameters: parameters 0–2 (lr 0.03, weight decay 0.1, amsgrad for
 * Adam; momentum 0.5 for SGD), parameters 3–5 with the options' values.
 */
export function optimGroups<T>(params: T[], kind: 'sgd' | 'adam'): ({ params: T[] } & Record<string, unknown>)[] {
  const first = kind === 'sgd' ? { lr: 0.03, weightDecay: 0.1, momentum: 0.5 } : { lr: 0.03, weightDecay: 0.1, amsgrad: true };
  return [{ params: params.slice(0, 3), ...first }, { params: params.slice(3) }];
}

/** clipGradNorm cases: [maxNorm, normType]; the gradients' norms are ~5–40, so the small maxNorms clip and 1e6 does not. */
export const CLIP_NORM_CASES: [number, number][] = [
  [1, 2],
  [0.5, 1],
  [0.3, 3],
  [0.2, Infinity],
  [1e6, 2],
];

/** clipGradValue cases. */
export const CLIP_VALUE_CASES = [0.5, 0.01, 100];

// ---- Schedulers.

/** A scheduler and its options, as our constructors take them (the PyTorch fixture translates the names). */
export type SchedulerSpec =
  | { kind: 'step'; stepSize: number; gamma: number }
  | { kind: 'multistep'; milestones: number[]; gamma: number }
  | { kind: 'exponential'; gamma: number }
  | { kind: 'cosine'; tMax: number; etaMin: number }
  | { kind: 'linear'; startFactor: number; endFactor: number; totalIters: number }
  | {
      kind: 'onecycle';
      maxLr: number | number[];
      totalSteps: number;
      pctStart: number;
      annealStrategy: 'cos' | 'linear';
      divFactor: number;
      finalDivFactor: number;
      threePhase: boolean;
      cycleMomentum: boolean;
      baseMomentum: number;
      maxMomentum: number;
    }
  | { kind: 'sequential'; schedulers: SchedulerSpec[]; milestones: number[] };

/** The groups' lrs of the schedule checks (two groups, so that each keeps its own scale). */
export const SCHEDULE_GROUP_LRS = [0.1, 0.01];
/** Steps of the schedule checks. */
export const SCHEDULE_STEPS = 100;

const onecycle = (over: Partial<Extract<SchedulerSpec, { kind: 'onecycle' }>>): SchedulerSpec => ({
  kind: 'onecycle',
  maxLr: [0.5, 0.05],
  totalSteps: SCHEDULE_STEPS,
  pctStart: 0.3,
  annealStrategy: 'cos',
  divFactor: 25,
  finalDivFactor: 1e4,
  threePhase: false,
  cycleMomentum: true,
  baseMomentum: 0.85,
  maxMomentum: 0.95,
  ...over,
});

/** The schedules checked over SCHEDULE_STEPS steps, against the float64 closed forms and against PyTorch. */
export const SCHEDULE_CASES: { name: string; optimizer: 'sgd' | 'adam'; spec: SchedulerSpec }[] = [
  { name: 'step', optimizer: 'sgd', spec: { kind: 'step', stepSize: 7, gamma: 0.5 } },
  { name: 'multistep (a milestone listed twice)', optimizer: 'sgd', spec: { kind: 'multistep', milestones: [10, 30, 30, 60], gamma: 0.5 } },
  { name: 'exponential', optimizer: 'sgd', spec: { kind: 'exponential', gamma: 0.97 } },
  { name: 'cosine (three half periods)', optimizer: 'sgd', spec: { kind: 'cosine', tMax: 30, etaMin: 1e-3 } },
  { name: 'cosine to 0', optimizer: 'sgd', spec: { kind: 'cosine', tMax: 100, etaMin: 0 } },
  { name: 'linear', optimizer: 'sgd', spec: { kind: 'linear', startFactor: 0.2, endFactor: 0.9, totalIters: 20 } },
  { name: 'onecycle, SGD momentum', optimizer: 'sgd', spec: onecycle({}) },
  { name: 'onecycle, Adam beta1, three phases, linear', optimizer: 'adam', spec: onecycle({ threePhase: true, annealStrategy: 'linear', pctStart: 0.25 }) },
  {
    name: 'sequential: linear warm-up, then cosine',
    optimizer: 'sgd',
    spec: { kind: 'sequential', schedulers: [{ kind: 'linear', startFactor: 0.1, endFactor: 1, totalIters: 10 }, { kind: 'cosine', tMax: 90, etaMin: 0 }], milestones: [10] },
  },
];

// ---- PyTorch parity: a tiny network trained for PARITY.steps steps.

/** Linear(inF, hidden) → relu → Linear(hidden, classes), batches of `batch`, cycled in order. */
export const PARITY = { inF: 5, hidden: 7, classes: 3, batch: 6, batches: 4, steps: 20 } as const;

/** The network's initial weights (torch's layout: weight [out, in]). */
export function parityWeights(): { w1: Float64Array; b1: Float64Array; w2: Float64Array; b2: Float64Array } {
  const { inF, hidden, classes } = PARITY;
  const s1 = 1 / Math.sqrt(inF);
  const s2 = 1 / Math.sqrt(hidden);
  return { w1: randomArray(hidden * inF, 901, -s1, s1), b1: randomArray(hidden, 902, -s1, s1), w2: randomArray(classes * hidden, 903, -s2, s2), b2: randomArray(classes, 904, -s2, s2) };
}

/** The batches: inputs [batches][batch · inF] and labels [batches][batch]. */
export function parityBatches(): { inputs: Float64Array[]; labels: number[][] } {
  const { inF, batch, batches, classes } = PARITY;
  const inputs = Array.from({ length: batches }, (_, b) => randomArray(batch * inF, 950 + b, -2, 2));
  const labels = Array.from({ length: batches }, (_, b) => Array.from({ length: batch }, (_, i) => (3 * b + 2 * i + (i >> 1)) % classes));
  return { inputs, labels };
}

/** An optimizer of the parity runs: group 0 is the first Linear (its own hyperparameters), group 1 the second. */
export interface ParityOptimizer {
  name: string;
  kind: 'sgd' | 'adam' | 'adamw';
  options: Record<string, unknown>;
  group0: Record<string, unknown>;
  /** Applied after backward, before the step. */
  clip: { maxNorm: number; normType: number } | { value: number } | null;
}

export const PARITY_OPTIMIZERS: ParityOptimizer[] = [
  { name: 'sgd', kind: 'sgd', options: { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 }, group0: { lr: 0.05, weightDecay: 0 }, clip: { maxNorm: 0.4, normType: 2 } },
  { name: 'adam', kind: 'adam', options: { lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-3 }, group0: { lr: 0.005, amsgrad: true }, clip: null },
  { name: 'adamw', kind: 'adamw', options: { lr: 0.01, weightDecay: 0.05 }, group0: { weightDecay: 0.2 }, clip: { value: 0.1 } },
];

/** The schedules of the parity runs, stepped once per training step; `lrs` are the groups' initial lrs. */
export const PARITY_SCHEDULES: { name: string; spec: (lrs: number[]) => SchedulerSpec }[] = [
  { name: 'step', spec: () => ({ kind: 'step', stepSize: 5, gamma: 0.5 }) },
  { name: 'multistep', spec: () => ({ kind: 'multistep', milestones: [3, 8, 14], gamma: 0.3 }) },
  { name: 'exponential', spec: () => ({ kind: 'exponential', gamma: 0.9 }) },
  { name: 'cosine', spec: () => ({ kind: 'cosine', tMax: PARITY.steps, etaMin: 1e-4 }) },
  {
    name: 'onecycle',
    spec: (lrs) => ({ kind: 'onecycle', maxLr: lrs.map((l) => 4 * l), totalSteps: PARITY.steps, pctStart: 0.3, annealStrategy: 'cos', divFactor: 25, finalDivFactor: 1e4, threePhase: false, cycleMomentum: true, baseMomentum: 0.85, maxMomentum: 0.95 }),
  },
  {
    name: 'warmup+cosine',
    spec: () => ({ kind: 'sequential', schedulers: [{ kind: 'linear', startFactor: 0.1, endFactor: 1, totalIters: 5 }, { kind: 'cosine', tMax: PARITY.steps - 5, etaMin: 0 }], milestones: [5] }),
  },
];
