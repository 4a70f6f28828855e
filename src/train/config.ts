import { setting, settingIs, wording, type Wording } from '../wording';
import { augmentationProblem, type Augmentation } from './data/pipeline';
import { RESNET_LAYERS } from '../nn/resnet';

/** The optimizers a TrainConfig may name. */
export const OPTIMIZERS = ['sgd', 'adam', 'adamw'] as const;
/** 'sgd' | 'adam' | 'adamw'. */
export type OptimizerName = (typeof OPTIMIZERS)[number];
/** The learning-rate schedules a TrainConfig may name. */
export const SCHEDULERS = ['step', 'cosine', 'onecycle'] as const;
/** 'step' | 'cosine' | 'onecycle'. */
export type SchedulerName = (typeof SCHEDULERS)[number];

/** The arithmetic precisions a TrainConfig may name. */
export const PRECISIONS = ['f32', 'f16'] as const;
/** 'f32' (the recipe), or 'f16': autocast with dynamic loss scaling where the adapter has shader-f16. */
export type Precision = (typeof PRECISIONS)[number];

/** The training configuration: the recipe's values are the defaults (shared by the CLI and the page). */
export interface TrainConfig {
  arch: string;
  imgSize: number;
  batchSize: number;
  /** 'sgd' (the recipe), 'adam' or 'adamw' (torch.optim's); `momentum` is SGD's only. */
  optimizer: OptimizerName;
  /** The learning rate; with 'onecycle', the schedule's peak (maxLr). */
  lr: number;
  momentum: number;
  /** The recipe's is 0 for every optimizer; the CLI and the page use AdamW's 1e-2 (defaultWeightDecay) when 'adamw' is picked without a value. */
  weightDecay: number;
  /** The largest global L2 norm of the gradients (clipGradNorm after backward, before the step); 0: no clipping. */
  gradClip: number;
  /** 'step' (StepLR, per epoch: the recipe), 'cosine' (CosineAnnealingLR to 0 at maxEpochs, per epoch) or 'onecycle' (OneCycleLR over every batch of maxEpochs, per batch). */
  scheduler: SchedulerName;
  stepSize: number;
  gamma: number;
  /** Epochs of linear warm-up before 'step' or 'cosine' (LinearLR from 0.01·lr, per epoch, then the schedule via SequentialLR); 0: none. */
  warmupEpochs: number;
  patience: number;
  minDelta: number;
  maxEpochs: number;
  dropout: number;
  labelSmoothing: number;
  seed: number;
  /** Fractions for a DIR/CLASS/* dataset without train/val/test folders. */
  split: [number, number, number];
  // ---- fine-tuning controls: augmentation and frozen layers
  /** The training augmentation: 'standard' (RandomResizedCrop with cropScale and cropRatio, then flip), or 'none' (the eval transform: Resize + CenterCrop). */
  augment: 'standard' | 'none';
  /** RandomResizedCrop's area range, as fractions of the image (0 < min ≤ max ≤ 1). */
  cropScale: [number, number];
  /** RandomResizedCrop's aspect-ratio range, width / height (0 < min ≤ max). */
  cropRatio: [number, number];
  /** RandomHorizontalFlip (p = 0.5) in training. */
  flip: boolean;
  /** The model's top-level layers that train ('all', or e.g. ['layer4', 'fc']; ['fc'] trains the head alone): the others are frozen. */
  trainLayers: 'all' | string[];
  /** Every batch norm runs in eval mode while training: running statistics fixed, weight and bias still trained where their layer is. */
  freezeBn: boolean;
  /**
   * 'f32', or 'f16': torch.autocast + GradScaler semantics (activations and conv/linear inputs in float16 with
   * float32 accumulation; weights, optimizer state, batch-norm statistics and the loss in float32; a step whose
   * gradients overflow is skipped). On an adapter without shader-f16 the run says so once and trains in float32.
   */
  precision: Precision;
}

export const RECIPE_DEFAULTS: TrainConfig = {
  arch: 'resnet34',
  imgSize: 224,
  batchSize: 32,
  lr: 0.001,
  optimizer: 'sgd',
  momentum: 0.9,
  weightDecay: 0,
  gradClip: 0,
  scheduler: 'step',
  stepSize: 3,
  gamma: 0.9,
  warmupEpochs: 0,
  patience: 5,
  minDelta: 0,
  maxEpochs: 100,
  dropout: 0.5,
  labelSmoothing: 0,
  seed: 0,
  split: [0.5, 0.25, 0.25],
  augment: 'standard',
  cropScale: [0.08, 1],
  cropRatio: [3 / 4, 4 / 3],
  flip: true,
  trainLayers: 'all',
  freezeBn: false,
  precision: 'f32',
};

/** The settings that the training data and the trained parameters depend on beyond the recipe's numbers (a resume must keep them). */
export const FINE_TUNING_KEYS = ['augment', 'cropScale', 'cropRatio', 'flip', 'trainLayers', 'freezeBn'] as const satisfies readonly (keyof TrainConfig)[];

/** The training loader's augmentation for a config: DataLoader({ …, augment: augmentationOf(config) }). */
export function augmentationOf(c: TrainConfig): Augmentation {
  return { kind: c.augment, scale: c.cropScale, ratio: c.cropRatio, flip: c.flip };
}

/**
 * A setting's value as messages, the CLI and the page write it: lists joined by commas (0.08,1; layer4,fc);
 * cropRatio as fractions where exact (3/4,4/3).
 */
export function formatSetting(value: TrainConfig[keyof TrainConfig], key?: keyof TrainConfig): string {
  if (!Array.isArray(value)) return String(value);
  return value.map((v) => (key === 'cropRatio' && typeof v === 'number' ? fraction(v) : v)).join(',');
}

/**
 * A cropScale or cropRatio as typed, `min,max` (cropRatio also takes fractions: 3/4,4/3), each number read by
 * `num` (the CLI's and the page's parsers); null when it is not two parts.
 */
export function parseRange(key: 'cropScale' | 'cropRatio', raw: string, num: (part: string) => number): [number, number] | null {
  const parts = raw.split(',').map((p) => {
    const f = key === 'cropRatio' ? /^([^/]+)\/([^/]+)$/.exec(p.trim()) : null;
    return f ? num(f[1].trim()) / num(f[2].trim()) : num(p.trim());
  });
  return parts.length === 2 ? [parts[0], parts[1]] : null;
}

/** trainLayers as typed for a ResNet: 'all', or layer names separated by commas; `problem` names the first unknown one. */
export function parseTrainLayers(raw: string): { layers: TrainConfig['trainLayers']; problem: string | null } {
  if (raw.trim() === 'all') return { layers: 'all', problem: null };
  const layers = raw.split(',').map((n) => n.trim());
  const unknown = layers.find((n) => !(RESNET_LAYERS as readonly string[]).includes(n));
  const problem = unknown === undefined ? null : `'${unknown}' is not a layer of a ResNet with parameters; name some of ${RESNET_LAYERS.join(', ')}, or all`;
  return { layers, problem };
}

/** A number as a fraction p/q with q ≤ 12 when it is one exactly (3/4, 4/3), else as itself (0.08). */
function fraction(v: number): string {
  for (let q = 2; q <= 12; q++) {
    const p = Math.round(v * q);
    if (p / q === v && p % q !== 0) return `${p}/${q}`;
  }
  return String(v);
}

/** The demo's settings (the CLI without a data folder, and the page's built-in demo): small enough to finish in a few minutes on a software adapter. */
export const DEMO_OVERRIDES: Partial<TrainConfig> = { imgSize: 64, batchSize: 16, maxEpochs: 5 };

export class ConfigError extends Error {
  /**
   * `key`: the setting that is wrong, and `problem` what is wrong with it ("must be > 0, got 0"); the message
   * is the setting's name followed by the problem.
   */
  constructor(
    message: string,
    readonly key: keyof TrainConfig | null = null,
    readonly problem: string = message,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Rule = { int?: boolean; min?: number; max?: number; minExclusive?: boolean };
const RULES: Partial<Record<keyof TrainConfig, Rule>> = {
  imgSize: { int: true, min: 32, max: 1024 },
  batchSize: { int: true, min: 1, max: 4096 },
  lr: { min: 0, minExclusive: true },
  momentum: { min: 0, max: 1 },
  weightDecay: { min: 0 },
  gradClip: { min: 0 },
  stepSize: { int: true, min: 1 },
  gamma: { min: 0, max: 1, minExclusive: true },
  warmupEpochs: { int: true, min: 0 },
  patience: { int: true, min: 1 },
  minDelta: { min: 0 },
  maxEpochs: { int: true, min: 1 },
  dropout: { min: 0, max: 1 },
  labelSmoothing: { min: 0, max: 1 },
  seed: { int: true, min: 0, max: 2 ** 32 - 1 },
};

/**
 * Check every field (numeric ranges, the optimizer and scheduler names, the warm-up against the schedule);
 * throws one ConfigError naming the setting and what is allowed. The setting is named in the wording in use
 * (src/wording.ts), or in `names`: as the config field (`imgSize`), the CLI flag (`--img-size`) or the page's
 * field (`img-size`).
 */
export function validateConfig(c: TrainConfig, names: Wording = wording()): TrainConfig {
  const fail = (key: keyof TrainConfig, problem: string) => new ConfigError(`${setting(key, names)} ${problem}`, key, problem);
  for (const [key, rule] of Object.entries(RULES) as [keyof TrainConfig, Rule][]) {
    const v = c[key] as number;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw fail(key, `must be a number, got ${String(v)}`);
    if (rule.int && !Number.isInteger(v)) throw fail(key, `must be an integer, got ${v}`);
    if (rule.min !== undefined && (rule.minExclusive ? v <= rule.min : v < rule.min)) {
      throw fail(key, `must be ${rule.minExclusive ? '>' : '≥'} ${rule.min}, got ${v}`);
    }
    if (rule.max !== undefined && v > rule.max) throw fail(key, `must be ≤ ${rule.max}, got ${v}`);
  }
  checkOptimization(c, fail, names);
  const s = c.split;
  if (s.length !== 3 || s.some((f) => !(f >= 0)) || Math.abs(s[0] + s[1] + s[2] - 1) > 1e-6 || s[0] === 0) {
    throw fail('split', `must be three fractions train,val,test that sum to 1 (train > 0), got ${s.join(',')}`);
  }
  validateFineTuning(c, fail);
  return c;
}

const AUGMENTATION_KEYS: Record<keyof Augmentation, keyof TrainConfig> = { kind: 'augment', scale: 'cropScale', ratio: 'cropRatio', flip: 'flip' };

function validateFineTuning(c: TrainConfig, fail: (key: keyof TrainConfig, problem: string) => ConfigError): void {
  const bad = augmentationProblem(augmentationOf(c));
  if (bad) throw fail(AUGMENTATION_KEYS[bad.field], bad.problem);
  const layers = c.trainLayers;
  if (layers !== 'all') {
    const names = Array.isArray(layers) ? layers : [];
    if (!Array.isArray(layers) || names.length === 0 || names.some((n) => typeof n !== 'string' || !/^[A-Za-z0-9_]+$/.test(n))) {
      throw fail('trainLayers', `must be 'all' or top-level layer names separated by commas (such as layer4,fc), got ${formatSetting(layers)}`);
    }
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice) throw fail('trainLayers', `names ${twice} twice`);
  }
  if (typeof c.freezeBn !== 'boolean') throw fail('freezeBn', `must be true or false, got ${String(c.freezeBn)}`);
  const precision = notOneOf(PRECISIONS, c.precision);
  if (precision) throw fail('precision', precision);
}

/** A saved config (the page's run.json) completed with the recipe's values for the settings added since it was saved. */
export function withRecipeDefaults(saved: Partial<TrainConfig>): TrainConfig {
  return { ...RECIPE_DEFAULTS, ...saved };
}

/** The weight decay the CLI and the page give `optimizer` when the user gives none: AdamW's torch default 1e-2, else the recipe's 0. */
export function defaultWeightDecay(optimizer: OptimizerName): number {
  return optimizer === 'adamw' ? 1e-2 : RECIPE_DEFAULTS.weightDecay;
}

/** What is wrong with `value` when it is not one of `names` ("must be one of sgd, adam, adamw, got 'x'"), else null. */
export function notOneOf(names: readonly string[], value: unknown): string | null {
  return (names as readonly unknown[]).includes(value) ? null : `must be one of ${names.join(', ')}, got '${String(value)}'`;
}

/** Check the optimizer and schedule settings together (the numeric ranges are checked by RULES). */
function checkOptimization(c: TrainConfig, fail: (key: keyof TrainConfig, problem: string) => ConfigError, names: Wording): void {
  for (const [key, list] of [['optimizer', OPTIMIZERS], ['scheduler', SCHEDULERS]] as const) {
    const problem = notOneOf(list, c[key]);
    if (problem) throw fail(key, problem);
  }
  if (c.warmupEpochs > 0 && c.scheduler === 'onecycle') {
    throw fail('warmupEpochs', `must be 0 with ${settingIs('scheduler', 'onecycle', names)} (its first 30% of the steps are its own warm-up), got ${c.warmupEpochs}`);
  }
  if (c.warmupEpochs > 0 && c.warmupEpochs >= c.maxEpochs) {
    throw fail('warmupEpochs', `must be less than ${settingIs('maxEpochs', c.maxEpochs, names)} (the warm-up leads into the schedule), got ${c.warmupEpochs}`);
  }
}

/**
 * The side of a ResNet's last feature maps for a square input (conv1 7×7 s2 p3, maxpool 3×3 s2 p1, then
 * three 3×3 s2 p1 stages): ceil(size / 32). At 1, batch norm in training sees one value per channel
 * per image, so a training batch needs at least 2 images.
 */
export function finalFeatureSide(imgSize: number): number {
  let s = Math.floor((imgSize + 2 * 3 - 7) / 2) + 1;
  for (let i = 0; i < 4; i++) s = Math.floor((s + 2 - 3) / 2) + 1;
  return s;
}
