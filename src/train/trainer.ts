/**
 * The training loop (platform-neutral: Node CLI and the browser worker run this same code):
 *   train an epoch → validate → step the scheduler → check early stopping → write a checkpoint;
 * then evaluate the test set with the best weights and write the reports. The optimizer and the schedule
 * come from the config (optim_setup.ts); a per-batch schedule (onecycle) steps after every batch instead.
 *
 * Per step the CPU encodes forward, backward, the clipping and the update without waiting for the GPU; the only
 * readback is the step's loss and logits (for the progress bar and the training accuracy), awaited one
 * step later so that the GPU always has the next step queued.
 */
import { Tensor } from '../autograd/tensor';
import { autocast, noGrad, tidy } from '../autograd/scope';
import { hasF16 } from '../kernels/cast';
import { GradScaler, type GradScalerStateDict } from './grad_scaler';
import { checkLabels, crossEntropy } from '../autograd/ops/loss';
import type { GpuRuntime } from '../gpu/runtime';
import type { Module } from '../nn/module';
import { Conv2d, Dropout } from '../nn/layers';
import { loadStateDict } from '../nn/state';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../nn/weights/safetensors';
import { describeNonFinite, findNonFinite } from '../nn/finite';
import type { NamedTensor } from '../nn/weights/types';
import type { Batch } from './data/loader';
import type { LRScheduler, LegacySchedulerState, SchedulerStateDict } from './scheduler';
import type { Optimizer } from './optimizer';
import { clipGradNorm } from './clip';
import { buildOptimizer, buildScheduler, schedulerUnit } from './optim_setup';
import { EarlyStopping, type EarlyStoppingState } from './early_stopping';
import { ConfusionMatrix, argmaxRows, softmaxMax } from './metrics';
import type { EpochRow, StepRow } from './report';
import { buildSummary, writeEpochReports, writeFinalReports, writeStepsCsv, type Evaluation, type Summary } from './run_report';
import { checkpointTensors, decodeCheckpoint, encodeCheckpointTensors, modelPart, parseState } from './checkpoint';
import type { OutputStore } from './io';
import { ConfigError, FINE_TUNING_KEYS, type Precision, RECIPE_DEFAULTS, augmentationOf, finalFeatureSide, formatSetting, type OptimizerName, type SchedulerName, type TrainConfig } from './config';
import { freeze, setBatchNormEval, trainLayersProblem, type FreezeReport } from '../nn/freeze';
import type { Augmentation } from './data/pipeline';
import { DataError } from './data/errors';
import { phrase, setting, settingIs } from '../wording';
import { IMAGENET_MEAN, IMAGENET_STD } from './data/transforms';

/** What the trainer needs from a data loader (src/train/data/loader.ts provides it). */
export interface BatchSource {
  readonly batchesPerEpoch: number;
  readonly skippedFiles: number;
  /** Indices (into samples) of the files found undecodable so far: kept in checkpoints for an exact resume. */
  skippedIndices?(): number[];
  /**
   * On resume: leave out of the interrupted epoch's order the files that were known to be bad when it
   * started (`atEpochStart`), and from the next epoch on also those found later (`later`), exactly as the
   * uninterrupted run did.
   */
  restoreSkipped?(atEpochStart: readonly number[], later: readonly number[]): void;
  readonly samples: readonly unknown[];
  epoch(epoch: number, startBatch?: number): AsyncIterable<Batch>;
  /** Throw a DataError naming the folder and the skipped files when no image of the split decodes. */
  ensureReadable?(split: string): Promise<void>;
  /** What was skipped and why, for error messages. */
  skippedSummary?(): string;
  /** The normalisation the images get (default ImageNet's). */
  readonly mean?: readonly number[];
  readonly std?: readonly number[];
  /** The augmentation of its training batches (DataLoader's); when given, it must be the config's. */
  readonly augment?: Augmentation;
}

export interface TrainerData {
  classes: string[];
  train: BatchSource;
  val: BatchSource;
  test: BatchSource;
  /**
   * Channels per image in every batch (default 3, RGB; 1 for grayscale). A batch's `images` then holds
   * N × channels × imgSize × imgSize values, and the model's first convolution must take this many channels
   * (for a ResNet: resnet18({ inChannels: 1 })).
   */
  channels?: number;
}

export interface Progress {
  phase: 'train' | 'val' | 'test';
  epoch: number;
  done: number;
  total: number;
  /**
   * Training: the loss of batch `lossOf`. A step's loss is read back while the next step runs, so the event of
   * batch k carries batch k − 1's; the epoch's last batch waits for its own (nothing runs after it). Evaluation:
   * the mean loss of the `done` batches. null before the first is back.
   */
  loss: number | null;
  /** The batch (1-based, within the epoch) whose loss `loss` is: null with it. */
  lossOf: number | null;
  /**
   * Images per second over the batches whose results are back (training reads a step's loss one step late, while
   * the next step runs): null until the first is.
   */
  imagesPerSecond: number | null;
  /** Seconds left at that speed: null until it is known. */
  etaSeconds: number | null;
}

/** The pipelines of a phase's first step compiling before it runs (GpuRuntime.precompile): `done` of `total`. */
export interface CompileProgress {
  phase: Progress['phase'];
  done: number;
  total: number;
}

export interface TrainerEvents {
  log?(line: string): void;
  progress?(p: Progress): void;
  /**
   * While the pipelines of the run's first training step (or first evaluation) compile, before any of its work
   * runs: once the step is encoded (its set of new pipelines is then known), and as each one is compiled.
   * Without a new pipeline it is not called.
   */
  compileProgress?(p: CompileProgress): void;
  /** The compile is over (called after the last compileProgress): `pipelines` compiled in `seconds`. */
  compileEnd?(p: { phase: Progress['phase']; pipelines: number; seconds: number }): void;
  /** Called when a phase's progress is complete (to clear a progress bar). */
  phaseEnd?(phase: Progress['phase']): void;
  epochEnd?(row: EpochRow, history: EpochRow[]): void;
  /** Polled after every step: return true to save a checkpoint and stop (SIGINT, the page's Stop button). */
  shouldStop?(): boolean;
  /** Render an SVG document to PNG (Node: sharp); without it curves.png and confusion.png are not written. */
  renderPng?(svg: string): Promise<Uint8Array>;
  /** A small data: URL image of a dataset file, for report.html's misclassified examples. */
  thumbnail?(path: string): Promise<string>;
}

/**
 * The run diverged: a NaN/Inf loss, or NaN/Inf in a parameter, a batch-norm statistic or a momentum buffer
 * (checked whenever the weights are read back for a checkpoint). `lastGood` says what the store still holds,
 * checked after the fact: a checkpoint is called good only when it was read back and every tensor is finite.
 */
export class TrainingDivergedError extends Error {
  constructor(what: string, lastGood: string) {
    super(`training diverged: ${what}. ${lastGood}`);
    this.name = 'TrainingDivergedError';
  }
}

/** Thrown inside the loop; run() turns it into a TrainingDivergedError once the store is checked. */
class Divergence extends Error {}
/** A refused resume: the checkpoint does not belong to this run (its message names both values). */
export class ResumeMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResumeMismatchError';
  }
}

/** What a checkpoint must agree with to be resumed by a run. */
export interface RunIdentity {
  classes: string[];
  arch: string;
  imgSize: number;
  batchSize: number;
  seed: number;
  /** Training files (relative to their common folder, with labels): their count and a 53-bit hash. */
  trainFiles: number;
  trainHash: string;
  // Fine-tuning controls (absent in checkpoints written before them: the recipe's values).
  augment?: TrainConfig['augment'];
  cropScale?: TrainConfig['cropScale'];
  cropRatio?: TrainConfig['cropRatio'];
  flip?: boolean;
  trainLayers?: TrainConfig['trainLayers'];
  freezeBn?: boolean;
  /** The optimizer, schedule, clipping and warm-up (absent in checkpoints written before they could be chosen: SGD, StepLR, none, 0). */
  optimizer?: OptimizerName;
  scheduler?: SchedulerName;
  gradClip?: number;
  warmupEpochs?: number;
  /** The epochs the run was set to (a 'onecycle' schedule's length depends on them). */
  maxEpochs?: number;
  /** The precision it trained in (after the shader-f16 fallback); absent in checkpoints written before f16: 'f32'. */
  precision?: Precision;
}

/** cyrb53: a 53-bit string hash (platform-neutral; not cryptographic, only to tell file lists apart). */
function hash53(s: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, '0');
}

/** The run's identity: config values that a checkpoint depends on, and the training file list. */
export function runIdentity(config: TrainConfig, data: TrainerData): RunIdentity {
  const samples = data.train.samples as { path?: string; label?: number }[];
  const paths = samples.map((s, i) => s.path ?? String(i));
  const dir = paths.length ? commonPrefixDir(paths) : '';
  const list = samples.map((s, i) => `${s.label ?? ''}\t${paths[i].slice(dir.length)}`).join('\n');
  return {
    classes: [...data.classes],
    arch: config.arch,
    imgSize: config.imgSize,
    batchSize: config.batchSize,
    seed: config.seed,
    trainFiles: samples.length,
    trainHash: hash53(list),
    augment: config.augment,
    cropScale: config.cropScale,
    cropRatio: config.cropRatio,
    flip: config.flip,
    trainLayers: config.trainLayers,
    freezeBn: config.freezeBn,
    optimizer: config.optimizer,
    scheduler: config.scheduler,
    gradClip: config.gradClip,
    warmupEpochs: config.warmupEpochs,
    maxEpochs: config.maxEpochs,
  };
}

function commonPrefixDir(paths: string[]): string {
  let prefix = paths[0].slice(0, paths[0].lastIndexOf('/') + 1);
  for (const p of paths) while (!p.startsWith(prefix)) prefix = prefix.slice(0, prefix.slice(0, -1).lastIndexOf('/') + 1);
  return prefix;
}

/** The trainer's resumable state (saved in the checkpoint's metadata). */
interface TrainerState {
  /** The epoch in progress (1-based) and how many of its batches are done; step 0 = epoch not started. */
  epoch: number;
  step: number;
  /**
   * The epoch so far; `lr`: the learning rate of its last trained batch (absent in earlier checkpoints);
   * `overflowSkipped`: its steps skipped by the loss scaler (float16 gradients with inf or NaN).
   */
  partial: { lossSum: number; correct: number; seen: number; seconds: number; lr?: number; overflowSkipped?: number };
  history: EpochRow[];
  /** Per trained batch: [epoch - 1 + batch / batches per epoch, loss], for the loss chart. */
  stepLosses: [number, number][];
  /**
   * Per trained batch, steps.csv's rows: [step, epoch, loss, lr, images/s]. Kept in the checkpoint, so that
   * a resumed run keeps the rows of its checkpointed part and rewrites steps.csv without duplicates.
   * Absent in checkpoints written before steps.csv.
   */
  steps?: StepRow[];
  /** The loss scaler's state dict (torch's keys) in a float16 run; absent in float32 runs and earlier checkpoints. */
  gradScaler?: GradScalerStateDict;
  /** The scheduler's state dict; { lastEpoch } in checkpoints written before schedulers were bound to the optimizer. */
  scheduler: SchedulerStateDict | LegacySchedulerState;
  early: EarlyStoppingState;
  dropoutCalls: Record<string, number>;
  imagesTrained: number;
  trainSeconds: number;
  /** What the checkpoint belongs to (absent in checkpoints written before these checks). */
  run?: RunIdentity;
  /**
   * Undecodable training files (sample indices): known when the epoch in progress started, and known at
   * the checkpoint. A resume leaves them out as the uninterrupted run did, so it serves the same images.
   */
  skipped?: { atEpochStart: number[]; now: number[] };
}

/**
 * The loss scaling of a mixed-precision step (GradScaler, grad_scaler.ts): scale the loss before backward,
 * unscale the gradients on the GPU (recording whether any is inf or NaN), then step unless one was.
 */
export interface LossScaler {
  scale(loss: Tensor): Tensor;
  unscale_(optimizer: Optimizer): void;
  step(optimizer: Optimizer): Promise<boolean>;
  update(): void;
}

/** Mixed precision for trainStep: the forward under autocast (float16), and the loss scaler. */
export interface StepPrecision {
  autocast: boolean;
  scaler?: LossScaler | null;
}

/**
 * One training step: forward, cross-entropy, backward, gradient clipping (when `gradClip` > 0: the gradients'
 * global L2 norm scaled down to at most gradClip, on the GPU) and the update, all encoded without waiting for
 * the GPU. Every temporary is freed; the caller owns (and disposes) the returned loss and logits.
 *
 * With `precision.autocast` the forward runs under autocast (float16 activations; the loss is float32). With a
 * scaler, the loss is scaled before backward, the gradients are unscaled (and clipped) on the GPU, and the
 * update waits for the one read that says whether they are finite: `stepped` resolves to whether the
 * optimizer stepped (false: skipped, the gradients overflowed), after the scaler's update. Await it before the
 * next step.
 */
export function trainStep(
  model: Module,
  optimizer: Optimizer,
  x: Tensor,
  y: Tensor,
  labelSmoothing = 0,
  gradClip = 0,
  precision: StepPrecision = { autocast: false },
): { loss: Tensor; logits: Tensor; stepped: Promise<boolean> | null } {
  optimizer.zeroGrad();
  const scaler = precision.scaler ?? null;
  const out = tidy(() => {
    const logits = autocast(() => model.forward(x), { enabled: precision.autocast });
    const loss = crossEntropy(logits, y, { labelSmoothing });
    (scaler ? scaler.scale(loss) : loss).backward();
    return { loss: loss.detach(), logits: logits.detach() };
  });
  if (scaler) scaler.unscale_(optimizer);
  // The norm stays on the GPU (the scaling kernel reads it there): nothing is read back.
  if (gradClip > 0) clipGradNorm(optimizer.params, gradClip).dispose();
  if (!scaler) {
    optimizer.step();
    return { ...out, stepped: null };
  }
  const stepped = scaler.step(optimizer).then((ok) => {
    scaler.update();
    return ok;
  });
  return { ...out, stepped };
}

const CHECKPOINT = 'checkpoint.safetensors';
const BEST = 'best.safetensors';

export class Trainer {
  /** The optimizer config.optimizer names (buildOptimizer). */
  readonly optimizer: Optimizer;
  /** The schedule config.scheduler names (buildScheduler), stepped per epoch, or per batch for 'onecycle'. */
  readonly scheduler: LRScheduler;
  readonly early: EarlyStopping;
  private state: TrainerState;
  private bestWeights: Map<string, NamedTensor> | null = null;
  /** Channels per image (TrainerData.channels, default 3). */
  readonly channels: number;
  /** A one-image training batch cannot go through batch norm (the last feature maps are 1×1): such batches are dropped. */
  private readonly dropOneImageBatches: boolean;
  private droppedNoted = false;
  /** The parameters config.trainLayers trains and freezes (null: 'all', the model's own requiresGrad is kept). */
  readonly frozen: FreezeReport | null = null;
  /** The precision the run trains and evaluates in: config.precision, or 'f32' where the adapter lacks shader-f16. */
  readonly precision: Precision;
  /** The dynamic loss scaler of a float16 run (null in float32). */
  readonly scaler: GradScaler | null;
  /** Whether the first training step, and the first evaluation, have compiled their pipelines (precompile). */
  private compiled = { train: false, eval: false };

  constructor(
    readonly rt: GpuRuntime,
    readonly model: Module,
    readonly data: TrainerData,
    readonly config: TrainConfig,
    readonly store: OutputStore,
    readonly events: TrainerEvents = {},
  ) {
    this.channels = data.channels ?? 3;
    if (!Number.isInteger(this.channels) || this.channels < 1) {
      throw new DataError(`TrainerData.channels must be a whole number of channels per image, at least 1 (3 for RGB, 1 for grayscale); got ${data.channels}.`);
    }
    this.frozen = this.applyFineTuning();
    this.precision = config.precision === 'f16' && !hasF16(rt) ? 'f32' : config.precision;
    this.scaler = this.precision === 'f16' ? new GradScaler() : null;
    this.optimizer = buildOptimizer(model.parameters(), config);
    this.scheduler = buildScheduler(this.optimizer, config, data.train.batchesPerEpoch);
    this.early = new EarlyStopping(config.patience, config.minDelta);
    this.state = {
      epoch: 1,
      step: 0,
      partial: { lossSum: 0, correct: 0, seen: 0, seconds: 0 },
      history: [],
      stepLosses: [],
      steps: [],
      scheduler: this.scheduler.stateDict(),
      early: this.early.stateDict(),
      dropoutCalls: {},
      imagesTrained: 0,
      trainSeconds: 0,
      run: { ...runIdentity(config, data), precision: this.precision },
    };
    this.dropOneImageBatches = finalFeatureSide(config.imgSize) === 1;
  }

  /**
   * config.trainLayers: freeze every parameter outside those layers (before the optimizer is built); and the
   * training loader's augmentation must be the config's, so that the checkpoint records what was trained with.
   */
  private applyFineTuning(): FreezeReport | null {
    const c = this.config;
    const given = this.data.train.augment;
    const want = augmentationOf(c);
    if (given && JSON.stringify(given) !== JSON.stringify(want)) {
      const show = (a: Augmentation) => `${a.kind}, scale ${a.scale.join(',')}, ratio ${a.ratio.join(',')}, flip ${a.flip}`;
      throw new ConfigError(
        `the training loader augments with (${show(given)}) but the config asks for (${show(want)}, from ${(['augment', 'cropScale', 'cropRatio', 'flip'] as const).map((k) => setting(k)).join(', ')}): ` +
          'build the training DataLoader with augment: augmentationOf(config)',
      );
    }
    if (c.trainLayers === 'all') return null;
    const problem = trainLayersProblem(this.model, c.trainLayers);
    if (problem) throw new ConfigError(`${setting('trainLayers')} ${problem}`, 'trainLayers', problem);
    const r = freeze(this.model, { trainLayers: c.trainLayers });
    const m = (n: number) => (n < 1e6 ? String(n) : `${(n / 1e6).toFixed(2)} M`);
    this.log(`fine-tuning: training ${c.trainLayers.join(', ')} (${m(r.trainableValues)} of ${m(r.trainableValues + r.frozenValues)} parameters); the other layers are frozen`);
    return r;
  }

  /** The metadata best.safetensors and the checkpoint carry, so that predict.js preprocesses as in training. */
  private modelMetadata(): Record<string, string> {
    const rgb = this.channels === 3;
    const meta: Record<string, string> = { arch: this.config.arch, classes: JSON.stringify(this.data.classes), img_size: String(this.config.imgSize) };
    // ImageNet's mean and std are RGB's: for other channel counts only the source's own are recorded.
    const mean = this.data.train.mean ?? (rgb ? IMAGENET_MEAN : undefined);
    const std = this.data.train.std ?? (rgb ? IMAGENET_STD : undefined);
    if (mean) meta.mean = JSON.stringify([...mean]);
    if (std) meta.std = JSON.stringify([...std]);
    if (!rgb) meta.in_channels = String(this.channels);
    return meta;
  }

  /**
   * For the first step of its kind (training, or evaluation): compile every pipeline that the work encoded until
   * its readback needs, in parallel, before any of it runs (GpuRuntime.precompile), reporting the progress.
   * Returns encode()'s value, and the compile (resolved once it is over and the step's work is submitted;
   * null after the first step).
   */
  private compileFirst<T>(kind: 'train' | 'eval', phase: Progress['phase'], encode: () => T): { value: T; compile: Promise<{ pipelines: number; seconds: number }> | null } {
    if (this.compiled[kind]) return { value: encode(), compile: null };
    this.compiled[kind] = true;
    const compile = this.rt
      .precompile((done, total) => this.events.compileProgress?.({ phase, done, total }))
      .then((r) => {
        if (r.pipelines > 0) this.events.compileEnd?.({ phase, ...r });
        return r;
      });
    try {
      return { value: encode(), compile };
    } catch (e) {
      compile.catch(() => undefined);
      this.rt.endPrecompile();
      throw e;
    }
  }

  /** The model's first convolution (in registration order), whose input channels the images must match. */
  private firstConv(): [string, Conv2d] | null {
    for (const [name, m] of this.model.namedModules()) if (m instanceof Conv2d) return [name || 'the model', m];
    return null;
  }

  /** A batch's images as an [n, channels, size, size] tensor, after checking that they hold that many values. */
  private imagesTensor(images: Float32Array, n: number, split: string): Tensor {
    const s = this.config.imgSize;
    const want = n * this.channels * s * s;
    if (images.length !== want) {
      const perImage = images.length / (n * s * s);
      const hint = Number.isInteger(perImage) && perImage >= 1 ? ` (${perImage} channel${perImage === 1 ? '' : 's'} per image: set TrainerData.channels to ${perImage})` : '';
      throw new DataError(
        `a ${split} batch of ${n} images holds ${images.length} values, but ${n} × ${this.channels} channels × ${s} × ${s} = ${want} were expected${hint}. ` +
          `Make TrainerData.channels (now ${this.channels}) the images' channel count and config.imgSize (now ${s}) their side.`,
      );
    }
    return Tensor.fromArray(images, [n, this.channels, s, s], 'f32', this.rt);
  }

  /**
   * Refuse a checkpoint of another run: other classes, architecture, image size, seed or training files,
   * or a batch size that cannot continue the interrupted epoch at the same image.
   */
  private checkResumable(saved: TrainerState, source: string): void {
    const was = saved.run;
    if (!was) {
      this.log(`warning: ${source} was written before checkpoints recorded their run; its classes and data cannot be checked`);
      return;
    }
    const now = runIdentity(this.config, this.data);
    const refuse = (what: string) => {
      throw new ResumeMismatchError(`cannot resume from ${source}: ${what}. Resume with the checkpoint's settings and data, or ${phrase('newRunElsewhere')}.`);
    };
    if (JSON.stringify(was.classes) !== JSON.stringify(now.classes)) {
      refuse(`it was trained on the classes [${was.classes.join(', ')}] but this dataset has [${now.classes.join(', ')}]`);
    }
    if (was.arch !== now.arch) refuse(`it holds a ${was.arch} but this run asks for ${settingIs('arch', now.arch)}`);
    if (was.imgSize !== now.imgSize) refuse(`it was trained at ${settingIs('imgSize', was.imgSize)} but this run has ${settingIs('imgSize', now.imgSize)}`);
    if (was.seed !== now.seed) refuse(`it was trained with ${settingIs('seed', was.seed)} (which fixes the shuffling and augmentation) but this run has ${settingIs('seed', now.seed)}`);
    for (const key of FINE_TUNING_KEYS) {
      const before = formatSetting(was[key] ?? RECIPE_DEFAULTS[key], key);
      const after = formatSetting(now[key] ?? RECIPE_DEFAULTS[key], key);
      const show = (v: string) => (typeof RECIPE_DEFAULTS[key] === 'boolean' ? settingIs(key, v === 'true') : settingIs(key, v));
      if (before !== after) refuse(`it was trained with ${show(before)} but this run has ${show(after)}`);
    }
    if (was.trainHash !== now.trainHash) {
      refuse(`its training split had ${was.trainFiles} files (list hash ${was.trainHash}) but this run's has ${now.trainFiles} (hash ${now.trainHash}): the data or the ${setting('split')} differs`);
    }
    this.checkOptimization(was, now, refuse);
    now.precision = this.precision;
    const wasPrecision = was.precision ?? 'f32';
    if (wasPrecision !== this.precision) {
      this.log(`note: ${source} was trained in ${wasPrecision}; this run continues in ${this.precision}${wasPrecision === 'f16' ? ' (its loss scale is not used)' : ' (the loss scale starts afresh)'}`);
    }
    if (was.batchSize !== now.batchSize) {
      const done = saved.step * was.batchSize;
      if (done % now.batchSize !== 0) {
        refuse(
          `it stopped after ${saved.step} batches of ${was.batchSize} images (${done} images) into epoch ${saved.epoch}, ` +
            `which is not a whole number of batches of ${now.batchSize} (${settingIs('batchSize', now.batchSize)}); resume with ${settingIs('batchSize', was.batchSize)}`,
        );
      }
      if (saved.step > 0) this.log(`note: ${settingIs('batchSize', now.batchSize)} instead of the checkpoint's ${was.batchSize}: continuing epoch ${saved.epoch} after its first ${done} images`);
      else this.log(`note: ${settingIs('batchSize', now.batchSize)} instead of the checkpoint's ${was.batchSize}, from epoch ${saved.epoch} on`);
      saved.step = done / now.batchSize;
    }
    saved.run = now;
  }

  /**
   * Refuse another optimizer, schedule, clipping or warm-up than the checkpoint's (its optimizer and scheduler
   * state belong to them); and, for 'onecycle', other epochs or batch size (its length in steps is fixed).
   */
  private checkOptimization(was: RunIdentity, now: RunIdentity, refuse: (what: string) => never): void {
    // Checkpoints written before these settings existed were trained with the recipe's.
    const before: Required<Pick<RunIdentity, 'optimizer' | 'scheduler' | 'gradClip' | 'warmupEpochs'>> = { optimizer: 'sgd', scheduler: 'step', gradClip: 0, warmupEpochs: 0 };
    for (const key of ['optimizer', 'scheduler', 'gradClip', 'warmupEpochs'] as const) {
      const old = was[key] ?? before[key];
      if (old !== now[key]) refuse(`it was trained with ${settingIs(key, old)} but this run has ${settingIs(key, now[key]!)}`);
    }
    if (now.scheduler === 'cosine' && was.maxEpochs !== undefined && was.maxEpochs !== now.maxEpochs) {
      this.log(`note: ${settingIs('maxEpochs', now.maxEpochs!)} instead of the checkpoint's ${was.maxEpochs}: the cosine schedule keeps the checkpoint's length (it reaches 0 after epoch ${was.maxEpochs})`);
    }
    if (now.scheduler !== 'onecycle') return;
    if (was.maxEpochs !== undefined && was.maxEpochs !== now.maxEpochs) {
      refuse(`its onecycle schedule spans ${settingIs('maxEpochs', was.maxEpochs)} but this run has ${settingIs('maxEpochs', now.maxEpochs!)}; resume with ${settingIs('maxEpochs', was.maxEpochs)}`);
    }
    if (was.batchSize !== now.batchSize) {
      refuse(`its onecycle schedule counts batches of ${settingIs('batchSize', was.batchSize)} but this run has ${settingIs('batchSize', now.batchSize)}; resume with ${settingIs('batchSize', was.batchSize)}`);
    }
  }

  /**
   * Before any training: every non-empty split must have a decodable image, a training batch must be
   * able to hold 2 images where batch norm needs them, and an empty validation or test split is said
   * out loud (no metric is then reported for it).
   */
  private async checkData(): Promise<void> {
    const { train, val, test } = this.data;
    if (train.samples.length === 0) throw new DataError('the training split is empty: give the dataset at least one training image per class.');
    await train.ensureReadable?.('training');
    await val.ensureReadable?.('validation');
    await test.ensureReadable?.('test');
    const conv = this.firstConv();
    if (conv && conv[1].inChannels !== this.channels) {
      throw new DataError(
        `the model's first convolution (${conv[0]}) takes ${conv[1].inChannels} input channels, but the images have ${this.channels} (TrainerData.channels, default 3). ` +
          `Set TrainerData.channels to the images' channel count, or build the model for it (a ResNet: resnet18({ inChannels: ${this.channels} })).`,
      );
    }
    const c = this.config;
    if (this.dropOneImageBatches) {
      const why = `at ${settingIs('imgSize', c.imgSize)} the last feature maps are 1×1, and batch norm in training needs at least 2 images per batch`;
      if (c.batchSize === 1) throw new DataError(`${settingIs('batchSize', 1)} cannot train: ${why}. Use ${settingIs('batchSize', 2)} or more, or an ${setting('imgSize')} above 32.`);
      const usable = train.samples.length - train.skippedFiles;
      if (usable === 1) throw new DataError(`the training split has only 1 usable image: ${why}. Add training images (or give training a larger ${setting('split')} share).`);
      if (usable % c.batchSize === 1) {
        this.log(`note: the last batch of each epoch would hold 1 image (${usable} images, ${settingIs('batchSize', c.batchSize)}); ${why}, so it is dropped (as drop_last would). A ${setting('batchSize')} that leaves 0 or ≥ 2 images over keeps it.`);
        this.droppedNoted = true;
      }
    }
    if (val.samples.length === 0) {
      this.log(
        `warning: the validation split is empty: there is no validation loss and no early stopping; all ${setting('maxEpochs')} epochs run ` +
          `and best.safetensors holds the last epoch's weights. Give validation a share of ${setting('split')} (or a val/ folder) to select the best epoch.`,
      );
    }
    if (test.samples.length === 0) this.log('warning: the test split is empty: no test accuracy or loss will be reported.');
  }

  private log(line: string): void {
    this.events.log?.(line);
  }

  private dropouts(): [string, Dropout][] {
    return [...this.model.namedModules()].filter((e): e is [string, Dropout] => e[1] instanceof Dropout);
  }

  /** Restore from the last checkpoint in the store. Returns false when there is none. */
  async resume(): Promise<boolean> {
    const bytes = await this.store.read(CHECKPOINT);
    if (!bytes) return false;
    const source = this.store.describe(CHECKPOINT);
    // The run's identity is checked before the weights are loaded, so that a mismatch names its real cause.
    const meta = readSafetensorsMetadata(bytes, source);
    let saved: TrainerState | null = null;
    try {
      saved = meta.trainer ? (JSON.parse(meta.trainer) as TrainerState) : null;
    } catch {
      saved = null;
    }
    if (saved) this.checkResumable(saved, source);
    const st = decodeCheckpoint<TrainerState>(bytes, source, this.model, this.optimizer);
    if (saved) Object.assign(st, { step: saved.step, run: saved.run });
    if (!Array.isArray(st.steps)) {
      st.steps = [];
      this.log(`note: ${source} was written before steps.csv existed: steps.csv starts at this run's first step (${st.stepLosses.length + 1})`);
    }
    this.state = st;
    if (st.skipped) {
      // At an epoch boundary (step 0) everything known is left out from the next epoch on.
      const { atEpochStart, now } = st.skipped;
      this.data.train.restoreSkipped?.(st.step > 0 ? atEpochStart : now, st.step > 0 ? now : []);
    }
    this.scheduler.loadStateDict(st.scheduler);
    this.early.loadStateDict(st.early);
    if (this.scaler && st.gradScaler && (saved?.run?.precision ?? 'f32') === 'f16') this.scaler.loadStateDict(st.gradScaler);
    for (const [name, d] of this.dropouts()) d.calls = st.dropoutCalls[name] ?? 0;
    const best = await this.store.read(BEST);
    if (best) this.bestWeights = readSafetensors(best, this.store.describe(BEST));
    this.log(`resumed from ${this.store.describe(CHECKPOINT)}: epoch ${st.epoch}, ${st.step} of its batches done`);
    return true;
  }

  /** The model's and optimizer's tensors, read back; a NaN or Inf in any of them is a divergence (nothing is written). */
  private async finiteCheckpointTensors(when: string): Promise<Map<string, NamedTensor>> {
    const tensors = await checkpointTensors(this.model, this.optimizer);
    const bad = findNonFinite(tensors);
    if (bad.length) {
      throw new Divergence(`${when}, ${bad.length} of ${tensors.size} tensors of the model (parameters, batch-norm statistics) and optimizer hold NaN or Inf: ${describeNonFinite(bad)}`);
    }
    return tensors;
  }

  private async saveCheckpoint(tensors?: Map<string, NamedTensor>): Promise<void> {
    tensors ??= await this.finiteCheckpointTensors(`at epoch ${this.state.epoch}, step ${this.state.step}`);
    this.state.scheduler = this.scheduler.stateDict();
    this.state.early = this.early.stateDict();
    if (this.scaler) this.state.gradScaler = this.scaler.stateDict() as GradScalerStateDict;
    else delete this.state.gradScaler;
    this.state.dropoutCalls = Object.fromEntries(this.dropouts().map(([n, d]) => [n, d.calls]));
    if (this.state.skipped) this.state.skipped.now = this.data.train.skippedIndices?.() ?? [];
    await this.store.write(CHECKPOINT, encodeCheckpointTensors(tensors, this.optimizer, this.state, this.modelMetadata()));
    // After the checkpoint, from the same state: a resumed run keeps these rows and rewrites the file from them.
    await this.writeSteps();
  }

  /** steps.csv: one row per trained batch so far (written at each checkpoint, i.e. each epoch end or stop). */
  private async writeSteps(): Promise<void> {
    await writeStepsCsv(this.store, this.state.steps ?? []);
  }

  /** What the store's checkpoint is worth after a divergence: read back and checked, never assumed. */
  private async lastGoodCheckpoint(): Promise<string> {
    const name = this.store.describe(CHECKPOINT);
    const lower = phrase('restartLowerLr');
    let bytes: Uint8Array | null;
    try {
      bytes = await this.store.read(CHECKPOINT);
    } catch (e) {
      return `${name} could not be read back (${(e as Error).message}): do not count on it; ${lower}.`;
    }
    if (!bytes) return `No checkpoint was written before this (the run diverged before the end of its first epoch): ${lower}.`;
    try {
      const tensors = readSafetensors(bytes, name);
      const bad = findNonFinite(tensors);
      if (bad.length) return `${name} is not a good checkpoint: ${bad.length} of ${tensors.size} tensors in it hold NaN or Inf (${describeNonFinite(bad, 4)}); do not resume from it: ${lower}.`;
      const st = parseState<TrainerState>(readSafetensorsMetadata(bytes, name).trainer ?? '{}');
      const when = st.step ? `epoch ${st.epoch} after ${st.step} batches` : `the end of epoch ${st.epoch - 1}`;
      return `The last good checkpoint (${name}) is kept: it is from ${when}, and every tensor in it was read back and is finite; ${phrase('lowerLrOrResume')}.`;
    } catch (e) {
      return `${name} could not be read back (${(e as Error).message}): do not count on it; ${lower}.`;
    }
  }

  /**
   * Run (or continue) training, then test with the best weights. Returns null when stopped by
   * shouldStop() before the end: the checkpoint then holds everything needed to resume.
   */
  async run(): Promise<Summary | null> {
    try {
      return await this.runEpochs();
    } catch (e) {
      if (e instanceof Divergence) {
        // The steps up to the divergence, to see how the loss got there (a resume rewrites the file from its checkpoint).
        await this.writeSteps().catch(() => undefined);
        throw new TrainingDivergedError(e.message, await this.lastGoodCheckpoint());
      }
      throw e;
    }
  }

  private async runEpochs(): Promise<Summary | null> {
    const c = this.config;
    await this.checkData();
    if (c.precision === 'f16' && this.precision === 'f32') {
      this.log(`warning: this adapter (${this.rt.adapter.name}) has no shader-f16, so ${settingIs('precision', 'f16')} cannot run on it: training in float32 instead`);
    }
    const hasVal = this.data.val.samples.length > 0;
    while (this.state.epoch <= c.maxEpochs && !this.early.shouldStop) {
      const epoch = this.state.epoch;
      if (!(await this.trainEpoch(epoch))) return this.stopped();
      const p = this.state.partial;
      if (p.seen === 0) {
        throw new DataError(`no training image could be used in epoch ${epoch}: ${this.data.train.skippedSummary?.() ?? `${this.data.train.skippedFiles} files were skipped`}.`);
      }
      if (p.overflowSkipped) {
        this.log(
          `note: epoch ${epoch}: ${p.overflowSkipped} step${p.overflowSkipped === 1 ? '' : 's'} skipped because float16 gradients overflowed (inf or NaN); the loss scale is now ${this.scaler?.getScale()}`,
        );
      }
      const val = hasVal ? await this.evaluate(this.data.val, 'val', epoch) : null;
      const row: EpochRow = {
        epoch,
        lr: p.lr ?? this.optimizer.lr,
        train_loss: p.lossSum / p.seen,
        train_acc: p.correct / p.seen,
        val_loss: val ? val.loss : null,
        val_acc: val ? val.matrix.accuracy : null,
        seconds: p.seconds,
      };
      // The one readback of the weights per epoch, checked for NaN/Inf before anything is written from it.
      const tensors = await this.finiteCheckpointTensors(`after epoch ${epoch}`);
      this.state.history.push(row);
      if (schedulerUnit(c) === 'epoch') this.scheduler.step();
      // Without a validation split every epoch is "the best so far": best.safetensors holds the last one.
      if (val ? this.early.update(epoch, val.loss) : ((this.early.bestEpoch = epoch), true)) {
        this.bestWeights = modelPart(tensors);
        await this.store.write(BEST, writeSafetensors(this.bestWeights, { ...this.modelMetadata(), epoch: String(epoch), selected_by: val ? 'validation loss' : 'last epoch (no validation split)' }));
      }
      this.state.epoch = epoch + 1;
      this.state.step = 0;
      this.state.partial = { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
      await this.saveCheckpoint(tensors);
      await this.writeReports();
      this.events.epochEnd?.(row, this.state.history);
      const more = this.state.epoch <= c.maxEpochs && !this.early.shouldStop;
      if (more && this.events.shouldStop?.()) return this.stopped();
    }
    return this.finish(this.early.shouldStop);
  }

  private stopped(): null {
    this.log(`stopped: ${this.store.describe(CHECKPOINT)} holds the progress; ${phrase('continueRun')}`);
    return null;
  }

  /** One training epoch from state.step; returns false when asked to stop (after saving a checkpoint). */
  private async trainEpoch(epoch: number): Promise<boolean> {
    const { model, optimizer, config: c, rt } = this;
    const loader = this.data.train;
    const total = loader.batchesPerEpoch;
    const p = this.state.partial;
    model.train();
    if (c.freezeBn) setBatchNormEval(model);
    const t0 = performance.now() - p.seconds * 1000;
    let imagesThisRun = 0;
    let runStart = performance.now();
    let pending: Promise<void> | null = null;
    let lastLoss: number | null = null;
    // When the previous step's numbers came back: a step's images/s is its batch over the time since then.
    let lastDone = runStart;
    // The steps (and their images) of this run whose numbers are back, and the last of them: the progress's speed.
    let stepsDone = 0;
    let imagesDone = 0;
    let lastStepDone = this.state.step;
    /** What the progress events say of the steps whose numbers are back: the last loss, and the speed. */
    const known = (): Pick<Progress, 'loss' | 'lossOf' | 'imagesPerSecond' | 'etaSeconds'> => {
      if (stepsDone === 0) return { loss: null, lossOf: null, imagesPerSecond: null, etaSeconds: null };
      const seconds = Math.max((lastDone - runStart) / 1000, 1e-9);
      return { loss: lastLoss, lossOf: lastStepDone, imagesPerSecond: imagesDone / seconds, etaSeconds: (total - lastStepDone) * (seconds / stepsDone) };
    };
    const perBatch = schedulerUnit(c) === 'batch';
    const steps = (this.state.steps ??= []);
    let step = this.state.step;
    if (step === 0 || !this.state.skipped) {
      const known = loader.skippedIndices?.() ?? [];
      this.state.skipped = { atEpochStart: known, now: known };
    }
    for await (const batch of loader.epoch(epoch, step)) {
      const n = batch.labels.length;
      const thisStep = ++step;
      if (n === 1 && this.dropOneImageBatches) {
        if (!this.droppedNoted) this.log(`note: dropped a training batch of 1 image in epoch ${epoch} (batch norm in training needs at least 2 at ${settingIs('imgSize', c.imgSize)})`);
        this.droppedNoted = true;
        continue;
      }
      checkLabels(batch.labels, this.data.classes.length, `training batch ${thisStep}`); // on the CPU: no GPU sync
      const x = this.imagesTensor(batch.images, n, 'training');
      const y = Tensor.fromArray(batch.labels, [n], 'i32', rt);
      // The lr this batch trains with (a per-batch schedule moves it after every step).
      const lr = optimizer.lr;
      p.lr = lr;
      const {
        value: { loss, logits, stepped },
        compile,
      } = this.compileFirst('train', 'train', () => trainStep(model, optimizer, x, y, c.labelSmoothing, c.gradClip, { autocast: this.precision === 'f16', scaler: this.scaler }));
      // float16: the update waits for the one read that says whether the gradients are finite (as torch's GradScaler)
      if (stepped && !(await stepped)) p.overflowSkipped = (p.overflowSkipped ?? 0) + 1;
      if (perBatch) this.scheduler.step();
      const reads = Promise.all([loss.toArray(), logits.toArray()]);
      // When the previous step's loss diverges below, this step's read is abandoned: it must not become an
      // unhandled rejection once the runtime is destroyed (Node would end with a stack trace, not our message).
      reads.catch(() => undefined);
      for (const t of [x, y, loss, logits]) t.dispose();
      if (compile) {
        // The speed leaves out the one-off compile (its line reports that time).
        const { seconds } = await compile;
        runStart += seconds * 1000;
        lastDone += seconds * 1000;
      }
      // Wait for the previous step's numbers while this step runs on the GPU.
      if (pending) await pending;
      pending = reads.then(([l, lg]) => {
        const v = l[0];
        if (!Number.isFinite(v)) {
          const hint = this.precision === 'f16' ? ` (in float16: an activation overflowed float16's range of ±65504; ${settingIs('precision', 'f32')} avoids that)` : '';
          throw new Divergence(`the loss is ${v} at epoch ${epoch}, step ${thisStep}${hint}`);
        }
        lastLoss = v;
        p.lossSum += v * n;
        const pred = argmaxRows(lg, n, lg.length / n);
        for (let i = 0; i < n; i++) if (pred[i] === batch.labels[i]) p.correct++;
        p.seen += n;
        this.state.stepLosses.push([epoch - 1 + thisStep / total, v]);
        const now = performance.now();
        const ips = n / Math.max((now - lastDone) / 1000, 1e-9);
        lastDone = now;
        stepsDone++;
        imagesDone += n;
        lastStepDone = thisStep;
        // The step's number counts trained batches over the whole run (stepLosses holds one entry per batch).
        steps.push([this.state.stepLosses.length, epoch, Number(v.toPrecision(6)), lr, Number(ips.toPrecision(4))]);
      });
      // A divergence is rethrown by the `await pending` below; until then it must not count as unhandled
      // (the loader may wait on decoding for a whole event-loop turn, and Node would end the process).
      pending.catch(() => undefined);
      imagesThisRun += n;
      // The epoch's last step: its own numbers (the phase waits for them anyway).
      if (thisStep === total) await pending;
      this.events.progress?.({ phase: 'train', epoch, done: thisStep, total, ...known() });
      if (this.events.shouldStop?.() && thisStep < total) {
        await pending;
        p.seconds = (performance.now() - t0) / 1000;
        this.state.step = thisStep;
        this.state.imagesTrained += imagesThisRun;
        this.state.trainSeconds += (performance.now() - runStart) / 1000;
        this.events.phaseEnd?.('train');
        await this.saveCheckpoint();
        return false;
      }
    }
    if (pending) await pending;
    this.events.phaseEnd?.('train');
    p.seconds = (performance.now() - t0) / 1000;
    this.state.imagesTrained += imagesThisRun;
    this.state.trainSeconds += (performance.now() - runStart) / 1000;
    return true;
  }

  /** Loss and confusion matrix over a whole split, in eval mode and without a graph. */
  async evaluate(source: BatchSource, phase: 'val' | 'test', epoch: number): Promise<Evaluation> {
    const { model, config: c, rt } = this;
    model.eval();
    const matrix = new ConfusionMatrix(this.data.classes.length);
    const predictions = new Int32Array(source.samples.length).fill(-1);
    const confidence = new Float32Array(source.samples.length);
    let lossSum = 0;
    let seen = 0;
    const total = source.batchesPerEpoch;
    let start = performance.now();
    let done = 0;
    // The weights do not change during the loop: what is derived from them (Winograd's transformed filters, the
    // folded batch norms) is made for the first batch and kept (GpuRuntime.derived; a write would remake it).
    await rt.derived.scope(async () => {
      for await (const batch of source.epoch(0)) {
        const n = batch.labels.length;
        checkLabels(batch.labels, this.data.classes.length, `evaluation batch ${done + 1}`);
        const { value: pending, compile } = this.compileFirst('eval', phase, () =>
          noGrad(() => {
            const x = this.imagesTensor(batch.images, n, phase === 'val' ? 'validation' : 'test');
            const y = Tensor.fromArray(batch.labels, [n], 'i32', rt);
            const out = tidy(() => {
              const logits = autocast(() => model.forward(x), { enabled: this.precision === 'f16' });
              return { loss: crossEntropy(logits, y, { reduction: 'sum' }), logits };
            });
            const reads = Promise.all([out.loss.toArray(), out.logits.toArray()]);
            for (const t of [x, y, out.loss, out.logits]) t.dispose();
            return reads;
          }),
        );
        if (compile) {
          pending.catch(() => undefined); // awaited below, after the compile's own error
          start += (await compile).seconds * 1000;
        }
        const [l, lg] = await pending;
        const pred = argmaxRows(lg, n, lg.length / n);
        matrix.add(batch.labels, pred);
        const conf = softmaxMax(lg, n, lg.length / n);
        batch.indices.forEach((idx, i) => {
          predictions[idx] = pred[i];
          confidence[idx] = conf[i];
        });
        lossSum += l[0];
        seen += n;
        done++;
        const elapsed = (performance.now() - start) / 1000;
        this.events.progress?.({ phase, epoch, done, total, loss: lossSum / seen, lossOf: done, imagesPerSecond: seen / elapsed, etaSeconds: (total - done) * (elapsed / done) });
      }
    });
    this.events.phaseEnd?.(phase);
    model.train();
    if (seen === 0 && source.samples.length > 0) {
      throw new DataError(`no ${phase === 'val' ? 'validation' : 'test'} image could be decoded: ${source.skippedSummary?.() ?? `${source.skippedFiles} files were skipped`}.`);
    }
    const loss = lossSum / Math.max(1, seen);
    if (!Number.isFinite(loss)) this.log(`warning: the ${phase} loss is ${loss} at epoch ${epoch}`);
    return { loss, matrix, predictions, confidence };
  }

  private async writeReports(): Promise<void> {
    await writeEpochReports(this.store, this.state, this.events);
  }

  private async finish(stoppedEarly: boolean): Promise<Summary> {
    const hasVal = this.data.val.samples.length > 0;
    if (this.bestWeights && hasVal) {
      loadStateDict(this.model, this.bestWeights, { source: this.store.describe(BEST) });
      this.log(`restored the best weights (epoch ${this.early.bestEpoch}, val loss ${this.early.best.toFixed(4)})`);
    }
    const test = await this.evaluate(this.data.test, 'test', this.state.epoch);
    const { train, val, test: testSplit } = this.data;
    const summary = buildSummary(test, {
      classes: this.data.classes,
      testSamples: testSplit.samples as { label?: number; path?: string }[],
      hasTest: testSplit.samples.length > 0,
      best: hasVal ? { epoch: this.early.bestEpoch, valLoss: this.early.best } : null,
      epochsRun: this.state.history.length,
      stoppedEarly,
      adapter: this.rt.adapter.name,
      precision: this.precision,
      trainImagesPerSecond: this.state.imagesTrained / Math.max(1e-9, this.state.trainSeconds),
      skippedFiles: train.skippedFiles + val.skippedFiles + testSplit.skippedFiles,
      config: this.config,
    });
    await writeFinalReports(this.store, summary, this.state, this.events);
    return summary;
  }

  /** The per-epoch metrics so far. */
  history(): readonly EpochRow[] {
    return this.state.history;
  }

  dispose(): void {
    this.optimizer.dispose();
    this.scaler?.dispose();
  }
}
