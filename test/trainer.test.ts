/** The training loop in-process: resume equivalence (also mid-epoch), NaN detection, flat GPU memory. */
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { makeTinyDataset } from './helpers/tiny-dataset';
import type { GpuRuntime } from '../src/gpu/runtime';
import { resnet } from '../src/nn/resnet';
import { Trainer, type TrainerData, type Progress } from '../src/train/trainer';
import { MemoryStore } from '../src/train/io';
import { RECIPE_DEFAULTS, type TrainConfig } from '../src/train/config';
import { loadImageFolder, type ImageFolderDataset } from '../src/train/data/folder';
import { nodeFileLister, decodeImageFile } from '../src/train/data/fs.node';
import { InProcessDecoderPool } from '../src/train/data/decoder-pool';
import { DataLoader } from '../src/train/data/loader';
import { readSafetensors } from '../src/nn/weights/safetensors';
import { Tensor } from '../src/autograd/tensor';
import { ConfigError } from '../src/train/config';
import { TINY_CONFIG, defaultSplits, makeData as syntheticData } from './helpers/tiny-trainer';
import { DataLoader as Loader } from '../src/train/data/loader';
import { STANDARD_AUGMENTATION } from '../src/train/data/pipeline';

let rt: GpuRuntime;
let ds: ImageFolderDataset;
const config: TrainConfig = { ...RECIPE_DEFAULTS, arch: 'resnet18', imgSize: 32, batchSize: 4, lr: 0.01, maxEpochs: 2, seed: 3 };

beforeAll(async () => {
  rt = await testRuntime();
  rt.poison = false;
  ds = await loadImageFolder(nodeFileLister, await makeTinyDataset());
});

function makeData(): TrainerData {
  const pool = new InProcessDecoderPool(decodeImageFile);
  const mk = (samples: typeof ds.train, mode: 'train' | 'eval') => new DataLoader({ samples, pool, batchSize: config.batchSize, mode, imageSize: config.imgSize, seed: config.seed });
  return { classes: ds.classes, train: mk(ds.train, 'train'), val: mk(ds.val, 'eval'), test: mk(ds.test, 'eval') };
}

/** Train with `cfg` into `store`, stopping after `stopAfter` steps of this run (or never). */
async function train(store: MemoryStore, cfg: TrainConfig, opts: { resume?: boolean; stopAfter?: number } = {}) {
  const model = resnet(cfg.arch, { numClasses: 2, dropout: cfg.dropout, seed: cfg.seed });
  let steps = 0;
  const trainer = new Trainer(rt, model, makeData(), cfg, store, {
    progress: (p) => {
      if (p.phase === 'train') steps++;
    },
    shouldStop: () => opts.stopAfter !== undefined && steps >= opts.stopAfter,
  });
  if (opts.resume) expect(await trainer.resume()).toBe(true);
  const summary = await trainer.run();
  trainer.dispose();
  model.dispose();
  return summary;
}

function checkpointTensors(store: MemoryStore) {
  return readSafetensors(store.files.get('checkpoint.safetensors')!, 'checkpoint');
}

function expectSameTensors(a: ReturnType<typeof checkpointTensors>, b: ReturnType<typeof checkpointTensors>): void {
  const diffs: string[] = [];
  for (const [k, t] of a) {
    const u = b.get(k)!;
    let d = 0;
    for (let i = 0; i < t.data.length; i++) d = Math.max(d, Math.abs(Number(t.data[i]) - Number(u.data[i])));
    if (d > 0) diffs.push(`${k}: ${d}`);
  }
  expect(diffs).toEqual([]);
}

describe('trainer: interrupt and resume', () => {
  it('stopping mid-epoch and resuming gives the same weights, statistics and metrics as an uninterrupted run', async () => {
    const full = new MemoryStore();
    const s1 = await train(full, config);
    const split = new MemoryStore();
    expect(await train(split, config, { stopAfter: 4 })).toBeNull(); // epoch 2, after its first step
    const s2 = await train(split, config, { resume: true });
    expectSameTensors(checkpointTensors(full), checkpointTensors(split));
    const csv = (s: MemoryStore) => new TextDecoder().decode(s.files.get('metrics.csv')!).split('\n').map((l) => l.split(',').slice(0, 6).join(','));
    expect(csv(split)).toEqual(csv(full));
    expect(s2!.test_loss).toBe(s1!.test_loss);
  });
});

describe('trainer: fine-tuning controls (trainLayers, freezeBn)', () => {
  /** Every state_dict value of a model as numbers. */
  async function values(m: ReturnType<typeof resnet>): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    for (const [k, v] of m.stateDict()) out.set(k, v instanceof Tensor ? Array.from(await v.toArray()) : [v.value]);
    return out;
  }

  /** One epoch of a resnet18 at 32 px on synthetic images with `change`: the keys whose values changed. */
  async function changedKeys(change: Partial<TrainConfig>): Promise<{ changed: string[]; logs: string[]; all: string[] }> {
    const cfg: TrainConfig = { ...TINY_CONFIG, maxEpochs: 1, ...change };
    const model = resnet(cfg.arch, { numClasses: 2, dropout: cfg.dropout, seed: cfg.seed });
    const before = await values(model);
    const logs: string[] = [];
    const trainer = new Trainer(rt, model, syntheticData(defaultSplits(), cfg), cfg, new MemoryStore(), { log: (l) => logs.push(l) });
    await trainer.run();
    const after = await values(model);
    trainer.dispose();
    model.dispose();
    const changed = [...before].filter(([k, v]) => after.get(k)!.some((x, i) => x !== v[i])).map(([k]) => k);
    return { changed, logs, all: [...before.keys()] };
  }

  it("trainLayers ['fc'] (a frozen backbone) changes fc alone; the backbone's batch norm, in train mode, still updates its running statistics", async () => {
    const { changed, logs } = await changedKeys({ trainLayers: ['fc'] });
    const params = changed.filter((k) => !/running_|num_batches/.test(k));
    expect(params).toEqual(['fc.1.weight', 'fc.1.bias']);
    expect(changed).toContain('layer1.0.bn1.running_mean');
    expect(logs.join('\n')).toMatch(/fine-tuning: training fc \(1026 of 11\.18 M parameters\); the other layers are frozen/);
  });

  it("trainLayers ['layer4', 'fc'] with freezeBn: layer4 and fc train (layer4's batch norm weights too, through eval-mode batch norm), no running statistic moves", async () => {
    const { changed, all } = await changedKeys({ trainLayers: ['layer4', 'fc'], freezeBn: true });
    const trained = all.filter((k) => (k.startsWith('layer4.') || k.startsWith('fc.')) && !/running_|num_batches/.test(k));
    expect(changed.sort()).toEqual(trained.sort());
    expect(changed).toContain('layer4.1.bn2.weight');
  });

  it('a layer the model does not have is a ConfigError naming trainLayers; a loader that augments otherwise than the config is refused', async () => {
    const model = resnet('resnet18', { numClasses: 2, seed: 3 });
    const data = syntheticData(defaultSplits(), TINY_CONFIG);
    expect(() => new Trainer(rt, model, data, { ...TINY_CONFIG, trainLayers: ['layer5'] }, new MemoryStore())).toThrowError(ConfigError);
    expect(() => new Trainer(rt, model, data, { ...TINY_CONFIG, trainLayers: ['layer5'] }, new MemoryStore())).toThrowError(/^trainLayers names 'layer5', which is not a top-level layer with parameters of this model; its layers are conv1, bn1, layer1, layer2, layer3, layer4, fc$/);
    expect(() => new Trainer(rt, model, data, { ...TINY_CONFIG, flip: false }, new MemoryStore())).toThrowError(/the training loader augments with \(standard, .*flip true\) but the config asks for \(standard, .*flip false, from augment, cropScale, cropRatio, flip\): build the training DataLoader with augment: augmentationOf\(config\)/);
    const plain = new Loader({ samples: [], pool: new InProcessDecoderPool(decodeImageFile), batchSize: 2, mode: 'train' });
    expect(plain.augment).toEqual(STANDARD_AUGMENTATION);
    model.dispose();
  });
});

describe('trainer: progress events', () => {
  it('report only what is back from the GPU: no speed or loss before the first step\'s, one event per batch, the last with its own loss', async () => {
    const store = new MemoryStore();
    const model = resnet(config.arch, { numClasses: 2, dropout: config.dropout, seed: config.seed });
    const events: Progress[] = [];
    const trainer = new Trainer(rt, model, makeData(), config, store, { progress: (p) => p.phase === 'train' && events.push(p) });
    await trainer.run();
    trainer.dispose();
    model.dispose();
    // steps.csv: the run's step, epoch and loss of every batch.
    const rows = new TextDecoder().decode(store.files.get('steps.csv')!).trim().split('\n').slice(1).map((l) => l.split(',').map(Number));
    const total = events[0].total;
    expect(rows.length).toBe(config.maxEpochs * total);
    for (let epoch = 1; epoch <= config.maxEpochs; epoch++) {
      const ev = events.filter((e) => e.epoch === epoch);
      // One event per batch as it is sent to the GPU, with the batch before's numbers; the last with its own.
      expect(total).toBeGreaterThan(2);
      expect(ev.map((e) => e.done)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      expect(ev.map((e) => e.lossOf)).toEqual([null, ...Array.from({ length: total - 2 }, (_, i) => i + 1), total]);
      expect([ev[0].loss, ev[0].imagesPerSecond, ev[0].etaSeconds]).toEqual([null, null, null]);
      const losses = rows.filter((r) => r[1] === epoch).map((r) => r[2]);
      for (const e of ev.slice(1)) {
        expect(e.loss).toBeCloseTo(losses[e.lossOf! - 1], 5);
        expect(e.imagesPerSecond).toBeGreaterThan(0);
        expect(e.etaSeconds).toBeGreaterThanOrEqual(0);
      }
      expect(ev[ev.length - 1].etaSeconds).toBe(0);
    }
  });
});
