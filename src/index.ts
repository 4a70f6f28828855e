/** The library entry: GPU runtime, tensors and autograd, nn modules and weights I/O, and the trainer. */
export * from './gpu/index';
export * from './autograd/index';
export * from './nn/index';
export { SGD, type SGDOptions, type SGDStateDict } from './train/sgd';
export { StepLR } from './train/scheduler';
export { EarlyStopping } from './train/early_stopping';
export { Trainer, TrainingDivergedError, type TrainerData, type TrainerEvents, type Summary, type Progress, type BatchSource } from './train/trainer';
export { RECIPE_DEFAULTS, validateConfig, ConfigError, type TrainConfig } from './train/config';
export { MemoryStore, type OutputStore } from './train/io';
export { ConfusionMatrix } from './train/metrics';
export { smokeTest, type SmokeResult } from './smoke';
