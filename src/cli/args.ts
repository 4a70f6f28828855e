/** Command-line flags of dist/train.js: parsed with node:util's parseArgs, checked, with clear errors (exit code 2). */
import { parseArgs } from 'node:util';
import { ConfigError, DEMO_OVERRIDES, OPTIMIZERS, RECIPE_DEFAULTS, defaultWeightDecay, formatSetting, parseRange, parseTrainLayers, validateConfig, type OptimizerName, type SchedulerName, type TrainConfig } from '../train/config';
import { RESNET_LAYERS } from '../nn/resnet';
import { TUNE_CACHE_USAGE, type TuneCacheFlags, tuneCacheFlagError } from './tune';

export { DEMO_OVERRIDES };

export interface CliOptions {
  config: TrainConfig;
  data: string | null;
  weights: string | null;
  out: string;
  resume: boolean;
  /** Replace an earlier run's files in --out (without it, a run into a folder holding one is refused). */
  overwrite: boolean;
  help: boolean;
  /** Winograd output tile of the 3×3 convolutions' forward pass (see KernelConfig.winogradTile in kernels/config.ts). */
  winogradTile: 2 | 4;
  /** Tune the kernel choices of the training step before the first epoch (--tune). */
  tune: boolean;
  /** --tune-cache FILE and --no-tune-cache. */
  tuneCache: TuneCacheFlags;
  /** Flags the user gave explicitly (the demo only overrides the others). */
  given: Set<string>;
}

const NUMERIC: [string, keyof TrainConfig][] = [
  ['img-size', 'imgSize'],
  ['batch-size', 'batchSize'],
  ['lr', 'lr'],
  ['momentum', 'momentum'],
  ['weight-decay', 'weightDecay'],
  ['grad-clip', 'gradClip'],
  ['step-size', 'stepSize'],
  ['gamma', 'gamma'],
  ['warmup-epochs', 'warmupEpochs'],
  ['patience', 'patience'],
  ['min-delta', 'minDelta'],
  ['max-epochs', 'maxEpochs'],
  ['dropout', 'dropout'],
  ['label-smoothing', 'labelSmoothing'],
  ['seed', 'seed'],
];

export const USAGE = `usage: node dist/train.js [--data DIR] [--weights FILE] [--out DIR] [--resume] [options]

Fine-tunes a torchvision ResNet on an ImageFolder dataset (DIR/{train,val,test}/CLASS/* or DIR/CLASS/*).
Without --data it trains on a built-in demo dataset (generated into .cache/ on first use).

  --data DIR            dataset folder
  --weights FILE        torchvision weights (.pth or .safetensors, torchvision key names)
  --out DIR             where metrics.csv, summary.json, best.safetensors and checkpoints go (default runs/<data name>)
  --resume              continue from the checkpoint in --out
  --overwrite           replace the earlier run in --out (without --resume or --overwrite, a run into a
                        folder that holds one is refused, so that nothing is lost)
  --arch NAME           resnet18 | resnet34 | resnet50 (default ${RECIPE_DEFAULTS.arch})
  --img-size N          crop size in pixels (default ${RECIPE_DEFAULTS.imgSize})
  --batch-size N        (default ${RECIPE_DEFAULTS.batchSize})
  --optimizer NAME      ${OPTIMIZERS.join(' | ')} (default ${RECIPE_DEFAULTS.optimizer}), torch.optim's
  --lr X                learning rate; with --scheduler onecycle its peak (default ${RECIPE_DEFAULTS.lr})
  --momentum X          SGD momentum (default ${RECIPE_DEFAULTS.momentum})
  --weight-decay X      (default ${RECIPE_DEFAULTS.weightDecay}; ${defaultWeightDecay('adamw')} with --optimizer adamw, decoupled)
  --grad-clip X         clip the gradients' global L2 norm to X before each step (default ${RECIPE_DEFAULTS.gradClip}: off)
  --scheduler NAME      step: StepLR per epoch (default); cosine: CosineAnnealingLR to 0 at --max-epochs,
                        per epoch; onecycle: OneCycleLR over every batch, peak --lr (cycles the momentum)
  --step-size N         StepLR period in epochs (default ${RECIPE_DEFAULTS.stepSize})
  --gamma X             StepLR factor (default ${RECIPE_DEFAULTS.gamma})
  --warmup-epochs N     linear warm-up from 0.01 x --lr over N epochs, then step or cosine (default ${RECIPE_DEFAULTS.warmupEpochs})
  --patience N          early stopping: epochs without a better validation loss (default ${RECIPE_DEFAULTS.patience})
  --min-delta X         early stopping: smallest improvement that counts (default ${RECIPE_DEFAULTS.minDelta})
  --max-epochs N        (default ${RECIPE_DEFAULTS.maxEpochs})
  --dropout P           dropout before the new fc layer (default ${RECIPE_DEFAULTS.dropout})
  --label-smoothing E   (default ${RECIPE_DEFAULTS.labelSmoothing})
  --split A,B,C         train,val,test fractions for a DIR/CLASS/* dataset (default ${RECIPE_DEFAULTS.split.join(',')})
  --seed N              seeds initialisation, shuffling, augmentation and dropout (default ${RECIPE_DEFAULTS.seed})
  --augment MODE        training augmentation: standard (RandomResizedCrop + horizontal flip, as below) or
                        none (the evaluation transform: resize + center crop) (default ${RECIPE_DEFAULTS.augment})
  --crop-scale A,B      RandomResizedCrop's area range, fractions of the image (default ${formatSetting(RECIPE_DEFAULTS.cropScale)})
  --crop-ratio A,B      RandomResizedCrop's aspect-ratio range, width/height, a/b allowed (default ${formatSetting(RECIPE_DEFAULTS.cropRatio, 'cropRatio')})
  --no-flip             no random horizontal flip in training (--flip: flip, the default)
  --freeze-backbone     train the fc head only: the same as --train-layers fc
  --train-layers LIST   the top-level layers that train, such as layer4,fc; the others are frozen
                        (of ${RESNET_LAYERS.join(', ')}; default ${RECIPE_DEFAULTS.trainLayers})
  --freeze-bn           every batch norm in eval mode while training: running statistics fixed, weight and bias
                        still trained where their layer is (without it, frozen layers' batch norm keeps
                        updating its running statistics, as in PyTorch with requires_grad=False)
  --precision P         f32 (default) or f16: mixed precision, as torch.autocast + GradScaler (activations
                        and conv/linear inputs in float16, float32 accumulation, weights, optimizer state and
                        loss in float32; steps whose gradients overflow are skipped). Needs the adapter's
                        shader-f16; without it the run says so and trains in float32
  --winograd-tile 2|4   output tile of the Winograd 3x3 convolutions' forward pass (the gradients always use 4):
                        2 rounds ~4x less but trains ~1.1x slower on a CPU adapter (default 4)
  --tune                before the first epoch, time every kernel candidate of the training step on this
                        adapter and keep the fastest in the tune cache (one line per choice)
${TUNE_CACHE_USAGE}
  --help                this text

Environment: WEBGPU_ADAPTER=<name> picks an adapter, WEBGPU_BACKEND=<vulkan|metal|d3d12> a Dawn backend.`;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function parseNumber(flag: string, raw: string): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(`--${flag} needs a number, got '${raw}'`);
  return v;
}

/** Boolean settings, each with a switch and its negation: --flip / --no-flip. */
const SWITCHES = ['flip', 'freeze-bn'] as const;

/** --crop-scale / --crop-ratio: two numbers (fractions a/b for the ratio). */
function parseCropRange(key: 'cropScale' | 'cropRatio', flag: string, raw: string): [number, number] {
  const range = parseRange(key, raw, (p) => parseNumber(flag, p));
  if (!range) throw new UsageError(`--${flag} needs two numbers min,max, got '${raw}'`);
  return range;
}

/** The fine-tuning flags into `config` (their ranges are checked by validateConfig); contradictions are usage errors. */
function parseFineTuning(values: Record<string, string | boolean | undefined>, config: TrainConfig): void {
  for (const flag of SWITCHES) {
    if (values[flag] && values[`no-${flag}`]) throw new UsageError(`--${flag} and --no-${flag} exclude each other`);
  }
  if (typeof values.augment === 'string') {
    if (values.augment !== 'standard' && values.augment !== 'none') throw new UsageError(`--augment must be standard or none, got '${values.augment}'`);
    config.augment = values.augment;
  }
  if (config.augment === 'none') {
    const moot = ['crop-scale', 'crop-ratio', 'flip', 'no-flip'].filter((f) => values[f] !== undefined);
    if (moot.length) throw new UsageError(`--${moot[0]} has no effect with --augment none (no random crop, no flip)`);
  }
  if (typeof values['crop-scale'] === 'string') config.cropScale = parseCropRange('cropScale', 'crop-scale', values['crop-scale']);
  if (typeof values['crop-ratio'] === 'string') config.cropRatio = parseCropRange('cropRatio', 'crop-ratio', values['crop-ratio']);
  if (values['no-flip']) config.flip = false;
  if (values['freeze-bn']) config.freezeBn = true;
  if (typeof values.precision === 'string') {
    if (values.precision !== 'f32' && values.precision !== 'f16') throw new UsageError(`--precision must be f32 or f16, got '${values.precision}'`);
    config.precision = values.precision;
  }
  const layers = values['train-layers'];
  if (typeof layers === 'string') {
    const parsed = parseTrainLayers(layers);
    if (parsed.problem) throw new UsageError(`--train-layers: ${parsed.problem}`);
    config.trainLayers = parsed.layers;
  }
  if (values['freeze-backbone']) {
    if (typeof layers === 'string' && layers.trim() !== 'fc') throw new UsageError(`--freeze-backbone trains fc alone, which contradicts --train-layers ${layers}: give one of them`);
    config.trainLayers = ['fc'];
  }
}

/** --optimizer and --scheduler (checked by validateConfig), and AdamW's default weight decay when --weight-decay is not given. */
function applyOptimizationFlags(config: TrainConfig, values: Record<string, string | boolean | undefined>, given: Set<string>): void {
  if (typeof values.optimizer === 'string') config.optimizer = values.optimizer as OptimizerName;
  if (typeof values.scheduler === 'string') config.scheduler = values.scheduler as SchedulerName;
  if (!given.has('weight-decay')) config.weightDecay = defaultWeightDecay(config.optimizer);
}

/** Refuse flags that the chosen optimizer or schedule would silently ignore. */
function refuseIgnoredFlags(config: TrainConfig, given: Set<string>): void {
  if (given.has('momentum') && config.optimizer !== 'sgd') throw new UsageError(`--momentum is SGD's: --optimizer ${config.optimizer} has none (it uses torch's betas 0.9, 0.999)`);
  if (given.has('momentum') && config.scheduler === 'onecycle') throw new UsageError('--momentum has no effect with --scheduler onecycle, which cycles the momentum between 0.85 and 0.95');
  for (const flag of ['step-size', 'gamma']) {
    if (given.has(flag) && config.scheduler !== 'step') throw new UsageError(`--${flag} is StepLR's: --scheduler ${config.scheduler} does not use it`);
  }
}

/** One line on the optimization the run uses: "optimizer adamw (lr 0.001, weight decay 0.01), schedule cosine per epoch after 1 warm-up epoch, gradients clipped to norm 1". */
export function describeOptimization(c: TrainConfig): string {
  const opt = `optimizer ${c.optimizer} (lr ${c.lr}${c.optimizer === 'sgd' && c.scheduler !== 'onecycle' ? `, momentum ${c.momentum}` : ''}, weight decay ${c.weightDecay})`;
  const what = c.scheduler === 'step' ? `step (x${c.gamma} every ${c.stepSize} epochs)` : c.scheduler === 'cosine' ? 'cosine per epoch' : `onecycle per batch (peak ${c.lr})`;
  const warm = c.warmupEpochs ? ` after ${c.warmupEpochs} warm-up epoch${c.warmupEpochs === 1 ? '' : 's'}` : '';
  return `${opt}, schedule ${what}${warm}, ${c.gradClip ? `gradients clipped to norm ${c.gradClip}` : 'no gradient clipping'}`;
}

export function parseCli(argv: string[]): CliOptions {
  const options: Record<string, { type: 'string' | 'boolean' }> = {
    data: { type: 'string' },
    weights: { type: 'string' },
    out: { type: 'string' },
    resume: { type: 'boolean' },
    overwrite: { type: 'boolean' },
    help: { type: 'boolean' },
    arch: { type: 'string' },
    optimizer: { type: 'string' },
    scheduler: { type: 'string' },
    precision: { type: 'string' },
    split: { type: 'string' },
    'winograd-tile': { type: 'string' },
    augment: { type: 'string' },
    'crop-scale': { type: 'string' },
    'crop-ratio': { type: 'string' },
    'train-layers': { type: 'string' },
    'freeze-backbone': { type: 'boolean' },
    tune: { type: 'boolean' },
    'tune-cache': { type: 'string' },
    'no-tune-cache': { type: 'boolean' },
  };
  for (const flag of SWITCHES) options[flag] = options[`no-${flag}`] = { type: 'boolean' };
  for (const [flag] of NUMERIC) options[flag] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
  const given = new Set(Object.keys(values));
  const demo = values.data === undefined;
  const config: TrainConfig = { ...RECIPE_DEFAULTS, split: [...RECIPE_DEFAULTS.split] as [number, number, number] };
  if (demo) for (const [k, v] of Object.entries(DEMO_OVERRIDES)) (config as unknown as Record<string, unknown>)[k] = v;
  for (const [flag, key] of NUMERIC) {
    const raw = values[flag];
    if (typeof raw === 'string') (config as unknown as Record<string, number>)[key] = parseNumber(flag, raw);
  }
  if (typeof values.arch === 'string') config.arch = values.arch;
  if (!['resnet18', 'resnet34', 'resnet50'].includes(config.arch)) throw new UsageError(`--arch must be resnet18, resnet34 or resnet50, got '${config.arch}'`);
  applyOptimizationFlags(config, values, given);
  if (typeof values.split === 'string') {
    const parts = values.split.split(',').map((s) => parseNumber('split', s));
    if (parts.length !== 3) throw new UsageError(`--split needs three fractions train,val,test, got '${values.split}'`);
    config.split = parts as [number, number, number];
  }
  parseFineTuning(values, config);
  try {
    validateConfig(config, 'flags');
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
  refuseIgnoredFlags(config, given);
  if (values.resume === true && values.overwrite === true) {
    throw new UsageError('--resume and --overwrite exclude each other: --resume continues the run in --out, --overwrite replaces it');
  }
  const tuneCache = { file: typeof values['tune-cache'] === 'string' ? values['tune-cache'] : null, disabled: values['no-tune-cache'] === true };
  const tuneError = tuneCacheFlagError(tuneCache);
  if (tuneError) throw new UsageError(tuneError);
  const tile = values['winograd-tile'] ?? '4';
  if (tile !== '2' && tile !== '4') throw new UsageError(`--winograd-tile must be 2 or 4, got '${tile}'`);
  const data = typeof values.data === 'string' ? values.data : null;
  const name = data ? data.replace(/\/+$/, '').split('/').pop() || 'data' : 'demo';
  return {
    config,
    data,
    weights: typeof values.weights === 'string' ? values.weights : null,
    out: typeof values.out === 'string' ? values.out : `runs/${name}`,
    resume: values.resume === true,
    overwrite: values.overwrite === true,
    help: values.help === true,
    winogradTile: tile === '2' ? 2 : 4,
    tune: values.tune === true,
    tuneCache,
    given,
  };
}
