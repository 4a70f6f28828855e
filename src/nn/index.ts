export { Module, ScalarState, type StateValue } from './module';
export { summary, type ModelSummary, type SummaryRow } from './summary';
export { Conv2d, BatchNorm2d, ReLU, MaxPool2d, AdaptiveAvgPool2d, Linear, Dropout, Flatten, Sequential } from './layers';
export { ResNet, BasicBlock, Bottleneck, resnet, resnet18, resnet34, resnet50, ARCH_NAMES, RESNET_LAYERS, type ResNetOptions } from './resnet';
export { loadStateDict, checkStateDict, exportStateDict, StateDictError, type LoadReport } from './state';
export { loadPretrained, type PretrainedReport } from './pretrained';
export { SeedSequence, manualSeed } from './init';
export { readWeights, readPth, readSafetensors, readSafetensorsMetadata, writeSafetensors, WeightsFormatError, type NamedTensor, type DType as WeightsDType } from './weights/index';
export { freeze, setBatchNormEval, layerNames, type FreezeOptions, type FreezeReport } from './freeze';
