/**
 * A trainer on synthetic data, fast enough for many small runs in one test file: images are made in
 * memory from their path (no files), and the model is a few layers whose batch norm sees 1×1 maps, so
 * that a training batch of one image fails in batch norm exactly as ResNet's layer4 does at 32 px.
 */
import type { GpuRuntime } from '../../src/gpu/runtime';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, Sequential } from '../../src/nn/layers';
import { SeedSequence } from '../../src/nn/init';
import type { Module } from '../../src/nn/module';
import { Trainer, type BatchSource, type TrainerData, type TrainerEvents } from '../../src/train/trainer';
import { MemoryStore } from '../../src/train/io';
import { RECIPE_DEFAULTS, augmentationOf, type TrainConfig } from '../../src/train/config';
import { InProcessDecoderPool } from '../../src/train/data/decoder-pool';
import { DataLoader } from '../../src/train/data/loader';
import { ImageDecodeError } from '../../src/train/data/errors';
import type { RGBImage } from '../../src/train/data/image';
import type { Sample } from '../../src/train/data/split';

export const TINY_CONFIG: TrainConfig = { ...RECIPE_DEFAULTS, arch: 'resnet18', imgSize: 32, batchSize: 4, lr: 0.05, maxEpochs: 2, seed: 3, patience: 5 };

/** Paths "mem/<split>/<class>/<i>.png"; a path containing "bad" cannot be decoded. */
export function samples(split: string, classes: string[], perClass: number, bad = 0): Sample[] {
  return classes.flatMap((c, label) => Array.from({ length: perClass }, (_, i) => ({ path: `mem/${split}/${c}/${i < bad ? 'bad' : ''}${i}.png`, label })));
}

/** A 40×36 image whose colour depends on its class folder and whose noise depends on the path. */
export async function decodeSynthetic(path: string): Promise<RGBImage> {
  if (path.includes('bad')) throw new ImageDecodeError(path, 'not an image (synthetic corrupt file)');
  let h = 2166136261;
  for (let i = 0; i < path.length; i++) h = Math.imul(h ^ path.charCodeAt(i), 16777619) >>> 0;
  const red = path.includes('/red/');
  const width = 40;
  const height = 36;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    h = Math.imul(h ^ (h >>> 15), 2246822507) >>> 0;
    const n = (h & 63) - 32;
    data[i * 3] = (red ? 200 : 40) + n;
    data[i * 3 + 1] = 60 + n;
    data[i * 3 + 2] = (red ? 40 : 200) + n;
  }
  return { width, height, data };
}

export function tinyModel(seed = 1): Module {
  const seeds = new SeedSequence(seed);
  return new Sequential(new Conv2d(3, 4, 3, { stride: 2, seeds }), new AdaptiveAvgPool2d(1), new BatchNorm2d(4), new Flatten(), new Linear(4, 2, seeds));
}

/** Wraps a loader and records the sample indices of every training batch served. */
export class RecordingSource implements BatchSource {
  readonly served: { epoch: number; indices: number[] }[] = [];
  constructor(readonly inner: DataLoader) {}
  get batchesPerEpoch() {
    return this.inner.batchesPerEpoch;
  }
  get skippedFiles() {
    return this.inner.skippedFiles;
  }
  get samples() {
    return this.inner.samples;
  }
  get mean() {
    return this.inner.mean;
  }
  get std() {
    return this.inner.std;
  }
  get augment() {
    return this.inner.augment;
  }
  ensureReadable(split: string) {
    return this.inner.ensureReadable(split);
  }
  skippedSummary() {
    return this.inner.skippedSummary();
  }
  skippedIndices() {
    return this.inner.skippedIndices();
  }
  restoreSkipped(atEpochStart: readonly number[], later: readonly number[]) {
    this.inner.restoreSkipped(atEpochStart, later);
  }
  async *epoch(epoch: number, startBatch = 0) {
    for await (const b of this.inner.epoch(epoch, startBatch)) {
      this.served.push({ epoch, indices: [...b.indices] });
      yield b;
    }
  }
}

export interface Splits {
  classes: string[];
  train: Sample[];
  val: Sample[];
  test: Sample[];
}

export function defaultSplits(): Splits {
  const classes = ['blue', 'red'];
  return { classes, train: samples('train', classes, 4), val: samples('val', classes, 2), test: samples('test', classes, 2) };
}

export function makeData(s: Splits, cfg: TrainConfig, logs: string[] = []): TrainerData & { train: RecordingSource } {
  const pool = new InProcessDecoderPool(decodeSynthetic);
  const mk = (list: Sample[], mode: 'train' | 'eval') =>
    new DataLoader({ samples: list, pool, batchSize: cfg.batchSize, mode, imageSize: cfg.imgSize, seed: cfg.seed, augment: augmentationOf(cfg), onWarning: (m) => logs.push(m) });
  return { classes: s.classes, train: new RecordingSource(mk(s.train, 'train')), val: mk(s.val, 'eval'), test: mk(s.test, 'eval') };
}

export interface TinyRun {
  trainer: Trainer;
  data: ReturnType<typeof makeData>;
  logs: string[];
  trainSteps: () => number;
  dispose(): void;
}

/** A trainer over `splits` into `store`; stops after `stopAfter` training steps of this run when given. */
export function tinyTrainer(rt: GpuRuntime, store: MemoryStore, cfg: TrainConfig, splits: Splits, opts: { stopAfter?: number; events?: TrainerEvents } = {}): TinyRun {
  const logs: string[] = [];
  const data = makeData(splits, cfg, logs);
  const model = tinyModel();
  let steps = 0;
  const trainer = new Trainer(rt, model, data, cfg, store, {
    log: (l) => logs.push(l),
    progress: (p) => {
      if (p.phase === 'train') steps++;
    },
    shouldStop: () => opts.stopAfter !== undefined && steps >= opts.stopAfter,
    ...opts.events,
  });
  return {
    trainer,
    data,
    logs,
    trainSteps: () => steps,
    dispose() {
      trainer.dispose();
      model.dispose();
    },
  };
}

/** A copy of a store's files (to resume the same checkpoint more than once). */
export function copyStore(s: MemoryStore): MemoryStore {
  const c = new MemoryStore();
  for (const [k, v] of s.files) c.files.set(k, v.slice());
  return c;
}
