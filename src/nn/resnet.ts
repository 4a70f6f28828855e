/**
 * torchvision's ResNet (resnet18, resnet34, resnet50) with identical module and parameter names, so that
 * torchvision's state_dict loads key for key. The recipe's head replaces fc by Sequential(Dropout, Linear).
 */
import type { Tensor } from '../autograd/tensor';
import { Module } from './module';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, Sequential, convBatchNorm } from './layers';
import { SeedSequence } from './init';

interface Block extends Module {
  readonly expansionOut: number;
}

/** A block's shortcut: x, or its downsample (a 1×1 convolution and a batch norm, as torchvision builds it). */
function shortcut(downsample: Sequential | null, x: Tensor): Tensor {
  if (!downsample) return x;
  const [conv, bn] = downsample.layers;
  if (downsample.layers.length === 2 && conv instanceof Conv2d && bn instanceof BatchNorm2d) return convBatchNorm(conv, bn, x, false);
  return downsample.forward(x);
}

export class BasicBlock extends Module implements Block {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Sequential | null;
  readonly expansionOut: number;
  constructor(inplanes: number, planes: number, stride: number, downsample: Sequential | null, seeds: SeedSequence) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(inplanes, planes, 3, { stride, padding: 1, seeds }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', new Conv2d(planes, planes, 3, { stride: 1, padding: 1, seeds }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.downsample = downsample ? this.registerModule('downsample', downsample) : null;
    this.expansionOut = planes;
  }
  forward(x: Tensor): Tensor {
    const identity = shortcut(this.downsample, x);
    const h = convBatchNorm(this.conv1, this.bn1, x, true);
    return convBatchNorm(this.conv2, this.bn2, h, true, identity);
  }
}

export class Bottleneck extends Module implements Block {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly downsample: Sequential | null;
  readonly expansionOut: number;
  constructor(inplanes: number, planes: number, stride: number, downsample: Sequential | null, seeds: SeedSequence) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(inplanes, planes, 1, { seeds }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', new Conv2d(planes, planes, 3, { stride, padding: 1, seeds }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.conv3 = this.registerModule('conv3', new Conv2d(planes, planes * 4, 1, { seeds }));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(planes * 4));
    this.downsample = downsample ? this.registerModule('downsample', downsample) : null;
    this.expansionOut = planes * 4;
  }
  forward(x: Tensor): Tensor {
    const identity = shortcut(this.downsample, x);
    const h1 = convBatchNorm(this.conv1, this.bn1, x, true);
    const h2 = convBatchNorm(this.conv2, this.bn2, h1, true);
    return convBatchNorm(this.conv3, this.bn3, h2, true, identity);
  }
}

type BlockKind = typeof BasicBlock | typeof Bottleneck;

export interface ResNetOptions {
  numClasses?: number;
  /** When set, fc = Sequential(Dropout(p), Linear(features, numClasses)) as in the recipe (keys fc.1.*). */
  dropout?: number;
  seed?: number;
  /** Channels of the input images (default 3, RGB; 1 for grayscale): conv1's in-channels. Key names are unchanged. */
  inChannels?: number;
}

export class ResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly maxpool: MaxPool2d;
  readonly layers: Sequential[];
  readonly avgpool: AdaptiveAvgPool2d;
  readonly flatten = new Flatten();
  readonly fc: Module;
  readonly numClasses: number;
  readonly featureDim: number;
  readonly inChannels: number;

  constructor(readonly arch: string, block: BlockKind, counts: number[], opts: ResNetOptions = {}) {
    super();
    const seeds = new SeedSequence(opts.seed ?? 0);
    this.numClasses = opts.numClasses ?? 1000;
    this.inChannels = opts.inChannels ?? 3;
    if (!Number.isInteger(this.inChannels) || this.inChannels < 1) throw new Error(`${arch}: inChannels must be a whole number of at least 1 (3 for RGB, 1 for grayscale); got ${opts.inChannels}`);
    this.conv1 = this.registerModule('conv1', new Conv2d(this.inChannels, 64, 7, { stride: 2, padding: 3, seeds }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(64));
    this.maxpool = this.registerModule('maxpool', new MaxPool2d(3, 2, 1));
    let inplanes = 64;
    this.layers = [64, 128, 256, 512].map((planes, i) => {
      const stride = i === 0 ? 1 : 2;
      const blocks: Module[] = [];
      for (let b = 0; b < counts[i]; b++) {
        const s = b === 0 ? stride : 1;
        let down: Sequential | null = null;
        if (b === 0 && (s !== 1 || inplanes !== planes * block.expansion)) {
          down = new Sequential(new Conv2d(inplanes, planes * block.expansion, 1, { stride: s, seeds }), new BatchNorm2d(planes * block.expansion));
        }
        blocks.push(new block(inplanes, planes, s, down, seeds));
        inplanes = planes * block.expansion;
      }
      return this.registerModule(`layer${i + 1}`, new Sequential(...blocks));
    });
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    this.featureDim = inplanes;
    const fcLinear = new Linear(inplanes, this.numClasses, seeds);
    this.fc = this.registerModule('fc', opts.dropout !== undefined ? new Sequential(new Dropout(opts.dropout, seeds.next()), fcLinear) : fcLinear);
    this.nameTensors();
  }

  forward(x: Tensor): Tensor {
    if (x.shape.length !== 4 || x.shape[1] !== this.inChannels) throw new Error(`${this.arch}: expected input [N, ${this.inChannels}, H, W], got [${x.shape.join(', ')}]`);
    let h = this.maxpool.forward(convBatchNorm(this.conv1, this.bn1, x, true));
    for (const layer of this.layers) h = layer.forward(h);
    return this.fc.forward(this.flatten.forward(this.avgpool.forward(h)));
  }
}

const ARCHS: Record<string, [BlockKind, number[]]> = {
  resnet18: [BasicBlock, [2, 2, 2, 2]],
  resnet34: [BasicBlock, [3, 4, 6, 3]],
  resnet50: [Bottleneck, [3, 4, 6, 3]],
};

export const ARCH_NAMES = Object.keys(ARCHS);

/** The top-level layers of every ResNet here that hold parameters, in order (the names TrainConfig.trainLayers takes). */
export const RESNET_LAYERS = ['conv1', 'bn1', 'layer1', 'layer2', 'layer3', 'layer4', 'fc'] as const;

export function resnet(arch: string, opts: ResNetOptions = {}): ResNet {
  const a = ARCHS[arch];
  if (!a) throw new Error(`unknown architecture '${arch}': choose one of ${ARCH_NAMES.join(', ')}`);
  return new ResNet(arch, a[0], a[1], opts);
}

export const resnet18 = (opts?: ResNetOptions) => resnet('resnet18', opts);
export const resnet34 = (opts?: ResNetOptions) => resnet('resnet34', opts);
export const resnet50 = (opts?: ResNetOptions) => resnet('resnet50', opts);
