/**
 * Any channel count (issue 16.3): TrainerData.channels (default 3) sets the images' channels, so that a
 * user's BatchSource of grayscale images trains a model whose first convolution takes 1 channel; a
 * mismatch with the model or with the batches' sizes is a DataError saying what to set. ResNet takes
 * `inChannels` (torchvision's key names unchanged).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { noGrad } from '../src/autograd/scope';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, Sequential } from '../src/nn/layers';
import { SeedSequence } from '../src/nn/init';
import { resnet18 } from '../src/nn/resnet';
import { MemoryStore } from '../src/train/io';
import { Trainer, type BatchSource, type TrainerData } from '../src/train/trainer';
import { DataError } from '../src/train/data/errors';
import type { Batch } from '../src/train/data/loader';
import { readSafetensors, readSafetensorsMetadata } from '../src/nn/weights/safetensors';
import { TINY_CONFIG } from './helpers/tiny-trainer';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
  rt.poison = false;
});

const cfg = { ...TINY_CONFIG, maxEpochs: 2 };
const SIZE = cfg.imgSize;

/**
 * `count` images of `channels` channels: class 0 dark, class 1 bright, with noise; in batches of 4.
 * `channels` is what the source really yields, whatever the trainer is told.
 */
class GraySource implements BatchSource {
  readonly samples: { label: number; path: string }[];
  readonly skippedFiles = 0;
  constructor(readonly count: number, readonly channels = 1, readonly tag = 'train') {
    this.samples = Array.from({ length: count }, (_, i) => ({ label: i % 2, path: `gray/${tag}/${i}` }));
  }
  get batchesPerEpoch() {
    return Math.ceil(this.count / 4);
  }
  async *epoch(epoch: number, startBatch = 0): AsyncIterable<Batch> {
    let h = 12345 + epoch;
    for (let b = startBatch; b * 4 < this.count; b++) {
      const idx = Array.from({ length: Math.min(4, this.count - b * 4) }, (_, k) => b * 4 + k);
      const per = this.channels * SIZE * SIZE;
      const images = new Float32Array(idx.length * per);
      idx.forEach((s, k) => {
        for (let j = 0; j < per; j++) {
          h = (Math.imul(h, 1103515245) + 12345) >>> 0;
          images[k * per + j] = (this.samples[s].label ? 1 : -1) + ((h >>> 16) / 65536 - 0.5);
        }
      });
      yield { images, labels: Int32Array.from(idx.map((s) => this.samples[s].label)), indices: idx };
    }
  }
}

function grayModel(inChannels: number) {
  const seeds = new SeedSequence(5);
  return new Sequential(new Conv2d(inChannels, 4, 3, { stride: 2, seeds }), new AdaptiveAvgPool2d(1), new BatchNorm2d(4), new Flatten(), new Linear(4, 2, seeds));
}

function grayData(channels: number | undefined, yields = 1): TrainerData {
  return { classes: ['dark', 'bright'], train: new GraySource(8, yields), val: new GraySource(4, yields, 'val'), test: new GraySource(4, yields, 'test'), channels };
}

describe('Trainer takes any channel count (16.3)', () => {
  it('trains a 1-channel model on a 1-channel BatchSource (channels: 1)', async () => {
    const model = grayModel(1);
    const before = Float32Array.from(await model.parameters()[0].toArray());
    const store = new MemoryStore();
    const trainer = new Trainer(rt, model, grayData(1), cfg, store);
    try {
      const summary = await trainer.run();
      expect(summary).not.toBeNull();
      expect(summary!.epochs_run).toBe(2);
      expect(Number.isFinite(summary!.test_loss)).toBe(true);
      for (const r of trainer.history()) expect(Number.isFinite(r.train_loss)).toBe(true);
      // The first convolution's weights are [4, 1, 3, 3] and were trained.
      const best = readSafetensors(store.files.get('best.safetensors')!, 'best');
      const w = best.get('0.weight')!;
      expect(w.shape).toEqual([4, 1, 3, 3]);
      expect(Array.from(w.data as Float32Array)).not.toEqual(Array.from(before));
      // predict-side metadata: the channel count, and no RGB mean/std for a source that has none.
      const meta = readSafetensorsMetadata(store.files.get('best.safetensors')!, 'best');
      expect(meta.in_channels).toBe('1');
      expect(meta.mean).toBeUndefined();
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });

  it('a model whose first convolution takes 3 channels, with channels: 1, is refused before training', async () => {
    const model = grayModel(3);
    const trainer = new Trainer(rt, model, grayData(1), cfg, new MemoryStore());
    try {
      const err = await trainer.run().catch((e: Error) => e);
      expect(err).toBeInstanceOf(DataError);
      expect((err as Error).message).toMatch(/first convolution \(0\) takes 3 input channels, but the images have 1 \(TrainerData\.channels, default 3\)/);
      expect((err as Error).message).toMatch(/resnet18\(\{ inChannels: 1 \}\)/);
      expect(trainer.history()).toHaveLength(0);
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });

  it('batches whose size does not match the channel count are a DataError naming the count they hold', async () => {
    // The source yields 1-channel images but TrainerData.channels is left at its default (3), with a 3-channel model.
    const model = grayModel(3);
    const trainer = new Trainer(rt, model, grayData(undefined, 1), cfg, new MemoryStore());
    try {
      const err = await trainer.run().catch((e: Error) => e);
      expect(err).toBeInstanceOf(DataError);
      expect((err as Error).message).toMatch(/a training batch of 4 images holds 4096 values, but 4 × 3 channels × 32 × 32 = 12288 were expected \(1 channel per image: set TrainerData\.channels to 1\)/);
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });

  it('channels: 0 (or a fraction) is refused when the Trainer is made', () => {
    const model = grayModel(1);
    try {
      expect(() => new Trainer(rt, model, grayData(0), cfg, new MemoryStore())).toThrow(/TrainerData\.channels must be a whole number of channels per image, at least 1 .*got 0/);
      expect(() => new Trainer(rt, model, grayData(1.5), cfg, new MemoryStore())).toThrow(/got 1\.5/);
    } finally {
      model.dispose();
    }
  });
});

describe('ResNet inChannels (16.3)', () => {
  it("resnet18({ inChannels: 1 }): conv1 takes 1 channel, torchvision's key names, and a [2, 1, 32, 32] forward", async () => {
    const gray = resnet18({ numClasses: 2, inChannels: 1 });
    const rgb = resnet18({ numClasses: 2 });
    try {
      expect(gray.conv1.weight.shape).toEqual([64, 1, 7, 7]);
      expect(rgb.conv1.weight.shape).toEqual([64, 3, 7, 7]);
      const names = (m: typeof gray) => m.namedParameters().map(([n]) => n);
      expect(names(gray)).toEqual(names(rgb));
      // Every other parameter has the same shape as the RGB model's.
      const shapes = (m: typeof gray) => m.namedParameters().slice(1).map(([, t]) => t.shape.join('x'));
      expect(shapes(gray)).toEqual(shapes(rgb));
      gray.eval();
      const out = await noGrad(async () => {
        const x = Tensor.randn([2, 1, 32, 32], 1, 0, 1, rt);
        const y = gray.forward(x);
        const v = await y.toArray();
        x.dispose();
        y.dispose();
        return { shape: y.shape, v };
      });
      expect(out.shape).toEqual([2, 2]);
      for (const v of out.v) expect(Number.isFinite(v)).toBe(true);
      const wrong = Tensor.randn([2, 3, 32, 32], 1, 0, 1, rt);
      try {
        expect(() => gray.forward(wrong)).toThrow(/resnet18: expected input \[N, 1, H, W\], got \[2, 3, 32, 32\]/);
      } finally {
        wrong.dispose();
      }
      expect(() => resnet18({ inChannels: 0 })).toThrow(/inChannels must be a whole number of at least 1/);
    } finally {
      gray.dispose();
      rgb.dispose();
    }
  });
});
