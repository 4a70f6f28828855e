/** The library entry: GPU runtime, tensors and autograd, nn modules and weights I/O, and the trainer. */
export * from './gpu/index';
export * from './autograd/index';
export * from './nn/index';
export { kernelConfig, setKernelConfig, withKernelConfig, setKernelChooser, defaultKernelConfig, type KernelConfig, type KernelChooser, type KernelChoice, type KernelSite } from './kernels/config';
export { hasF16 } from './kernels/cast';
export { SGD, type SGDOptions, type SGDStateDict } from './train/sgd';
export { StepLR } from './train/scheduler';

// ---- optimizers and schedulers
export { Optimizer, type ParamGroup, type ParamGroupSpec, type ParamsArg, type OptimizerStateDict, type StateValue } from './train/optimizer';
export type { SGDParamGroup } from './train/sgd';
export { Adam, AdamW, type AdamOptions, type AdamParamGroup } from './train/adam';
export { clipGradNorm, clipGradValue } from './train/clip';
export { GradScaler, type GradScalerOptions, type GradScalerStateDict, type ScalableOptimizer } from './train/grad_scaler';
export { LRScheduler, MultiStepLR, ExponentialLR, CosineAnnealingLR, OneCycleLR, LinearLR, SequentialLR, type SchedulerStateDict, type StepLROptions, type MultiStepLROptions, type ExponentialLROptions, type CosineAnnealingLROptions, type OneCycleLROptions, type LinearLROptions, type SequentialLROptions } from './train/scheduler';
export { OPTIMIZERS, SCHEDULERS, defaultWeightDecay, type OptimizerName, type SchedulerName } from './train/config';
export { buildOptimizer, buildScheduler, schedulerUnit, WARMUP_START_FACTOR } from './train/optim_setup';

// ---- nn modules beyond ResNet's
export { LayerNorm, type LayerNormOptions } from './nn/norm';
export { GELU, SiLU, Tanh, Sigmoid, LeakyReLU } from './nn/activations';
export { EarlyStopping } from './train/early_stopping';
export { Trainer, TrainingDivergedError, type TrainerData, type TrainerEvents, type Progress, type BatchSource } from './train/trainer';
export type { Summary } from './train/run_report';
export { RECIPE_DEFAULTS, validateConfig, augmentationOf, ConfigError, type TrainConfig } from './train/config';
export { MemoryStore, type OutputStore } from './train/io';
export { ConfusionMatrix } from './train/metrics';

// The data pipeline (platform-neutral parts; Node's file system, sharp decoding and worker threads are in
// 'webgpu-resnet/node'): ImageFolder listing and splits, the loader, transforms and decoders.
export { loadImageFolder, IMAGE_EXTENSIONS, isImageFileName, type FileLister, type DirEntry, type ImageFolderDataset, type ImageFolderOptions, type DatasetLayout } from './train/data/folder';
export { DataLoader, type Batch, type DataLoaderOptions } from './train/data/loader';
export { InProcessDecoderPool, decodeEach, type DecoderPool, type DecodeFn, type DecodeJob, type DecodedBatch, type DecodeFailure } from './train/data/decoder-pool';
export { transformSample, sampleLength, STANDARD_AUGMENTATION, type Augmentation, type TransformSpec, type TransformMode } from './train/data/pipeline';
export { stratifiedSplit, splitCounts, SPLIT_NAMES, DEFAULT_SPLIT_FRACTIONS, type Sample, type Splits, type SplitName, type SplitFractions } from './train/data/split';
export { IMAGENET_MEAN, IMAGENET_STD, randomResizedCrop, randomResizedCropParams, randomHorizontalFlip, resizedCrop, resizeShorterSide, centerCrop, centerCropBox, type CropBox } from './train/data/transforms';
export { createImage, cropImage, flipHorizontal, resizeBilinear, type RGBImage } from './train/data/image';
export { Rng, type RandomSource } from './train/data/rng';
export { DataError, ImageDecodeError } from './train/data/errors';
export { decodeBmp, isBmp } from './train/data/bmp';
export { decodeImageBlob, fileTreeDecoder } from './train/data/decode.browser';
export { FileTree, type PickedFile } from './train/data/files.browser';

// ---- kernel tuning (kernels/tune, train/tune.ts)
export { tuneModel, recordModelChoices } from './train/tune';
export { type Timer, type Measurement, type MeasureOptions, type Candidate, type TuneTarget, type TuneOptions, type AdapterKey, type TunedChoice, type TuneCacheEntry, type TuneCacheFile, type LoadedTuneCache, createTimer, measureAll, measureMs, recordChoices, tuneTargets, describeChoice, TuneTable, tableChooser, useTuneTable, readTuneCache, mergeTuneCache, tuneCacheText, kernelVersion, adapterKey } from './kernels/tune';
