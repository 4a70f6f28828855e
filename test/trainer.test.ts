/** The training loop in-process: resume equivalence (also mid-epoch), NaN detection, flat GPU memory. */
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { makeTinyDataset } from './helpers/tiny-dataset';
import type { GpuRuntime } from '../src/gpu/runtime';
import { resnet } from '../src/nn/resnet';
import { Trainer, type TrainerData } from '../src/train/trainer';
import { MemoryStore } from '../src/train/io';
import { RECIPE_DEFAULTS, type TrainConfig } from '../src/train/config';
import { loadImageFolder, type ImageFolderDataset } from '../src/train/data/folder';
import { nodeFileLister, decodeImageFile } from '../src/train/data/fs.node';
import { InProcessDecoderPool } from '../src/train/data/decoder-pool';
import { DataLoader } from '../src/train/data/loader';
import { readSafetensors } from '../src/nn/weights/safetensors';

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
