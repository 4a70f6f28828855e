/**
 * --resume checks the checkpoint against the run (issue 15.8): other class names, architecture, image
 * size, seed or training files are refused before the weights load, with a message naming both values;
 * another batch size continues at the same image when the images done fill whole new batches, and is
 * refused (naming both sizes) when they do not. In-process, on synthetic images and a tiny model.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import type { GpuRuntime } from '../src/gpu/runtime';
import { MemoryStore } from '../src/train/io';
import { ResumeMismatchError } from '../src/train/trainer';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../src/nn/weights/safetensors';
import type { TrainConfig } from '../src/train/config';
import { TINY_CONFIG, defaultSplits, samples, tinyTrainer, type Splits } from './helpers/tiny-trainer';
import { useWording } from '../src/wording';

// The messages checked here are the command line's, so this file runs in the CLI's wording (the library's own
// wording, which names no flag, is checked in wording.test.ts).
useWording('flags');

let rt: GpuRuntime;
/** A checkpoint of TINY_CONFIG (batch 4, 8 training images) stopped after 1 batch of epoch 2 (4 images). */
let stopped: MemoryStore;

const copy = (s: MemoryStore) => {
  const c = new MemoryStore();
  for (const [k, v] of s.files) c.files.set(k, v.slice());
  return c;
};

beforeAll(async () => {
  rt = await testRuntime();
  rt.poison = false;
  stopped = new MemoryStore();
  const run = tinyTrainer(rt, stopped, TINY_CONFIG, defaultSplits(), { stopAfter: 3 }); // 2 steps of epoch 1, 1 of epoch 2
  expect(await run.trainer.run()).toBeNull();
  run.dispose();
});

/** Resume the stopped run with `cfg` and `splits`; returns the error, or null when it resumed. */
async function tryResume(cfg: TrainConfig, splits: Splits): Promise<Error | null> {
  const store = copy(stopped);
  const run = tinyTrainer(rt, store, cfg, splits);
  try {
    await run.trainer.resume();
    return null;
  } catch (e) {
    return e as Error;
  } finally {
    run.dispose();
  }
}

describe('--resume checks the checkpoint against the run (15.8)', () => {
  it('the same settings and data resume', async () => {
    expect(await tryResume(TINY_CONFIG, defaultSplits())).toBeNull();
  });

  it.each<[string, Partial<TrainConfig>, (s: Splits) => void, RegExp]>([
    ['other class names', {}, (s) => (s.classes = ['blue', 'green']), /trained on the classes \[blue, red\] but this dataset has \[blue, green\]/],
    ['another --arch', { arch: 'resnet34' }, () => {}, /it holds a resnet18 but this run asks for --arch resnet34/],
    ['another --img-size', { imgSize: 48 }, () => {}, /trained at --img-size 32 but this run has --img-size 48/],
    ['another --seed', { seed: 4 }, () => {}, /trained with --seed 3 .* but this run has --seed 4/],
    ['other training files', {}, (s) => (s.train = s.train.slice(1)), /its training split had 8 files \(list hash [0-9a-f]+\) but this run's has 7 \(hash [0-9a-f]+\)/],
    ['renamed training files, same count', {}, (s) => (s.train = s.train.map((x) => ({ ...x, path: x.path.replace('/0.png', '/9.png') }))), /had 8 files .* but this run's has 8/],
    ['a batch size that splits the images done', { batchSize: 3 }, () => {}, /stopped after 1 batches of 4 images \(4 images\) into epoch 2, which is not a whole number of batches of 3 \(--batch-size 3\); resume with --batch-size 4/],
    ['another --crop-scale', { cropScale: [0.5, 1] }, () => {}, /it was trained with --crop-scale 0\.08,1 but this run has --crop-scale 0\.5,1/],
    ['another --crop-ratio', { cropRatio: [1, 1] }, () => {}, /it was trained with --crop-ratio 3\/4,4\/3 but this run has --crop-ratio 1,1/],
    ['--no-flip', { flip: false }, () => {}, /it was trained with --flip but this run has --no-flip/],
    ['--augment none', { augment: 'none' }, () => {}, /it was trained with --augment standard but this run has --augment none/],
    ['other --train-layers', { trainLayers: ['4'] }, () => {}, /it was trained with --train-layers all but this run has --train-layers 4/],
    ['--freeze-bn', { freezeBn: true }, () => {}, /it was trained with --no-freeze-bn but this run has --freeze-bn/],
  ])('%s: refused, naming both values, before any weight is loaded', async (_, change, edit, message) => {
    const splits = defaultSplits();
    edit(splits);
    const err = await tryResume({ ...TINY_CONFIG, ...change }, splits);
    expect(err).toBeInstanceOf(ResumeMismatchError);
    expect(err!.message).toMatch(message);
    expect(err!.message).toMatch(/^cannot resume from checkpoint\.safetensors: /);
  });

  it("a library user (the library's default wording) is told the config fields, not the CLI's flags", async () => {
    const was = useWording('fields');
    try {
      const err = await tryResume({ ...TINY_CONFIG, imgSize: 48 }, defaultSplits());
      expect(err).toBeInstanceOf(ResumeMismatchError);
      expect(err!.message).toMatch(/trained at imgSize 32 but this run has imgSize 48\. Resume with the checkpoint's settings and data, or start a new run with another output store\.$/);
      expect(err!.message).not.toMatch(/--[a-z]/);
    } finally {
      useWording(was);
    }
  });

  it("a checkpoint written before the fine-tuning settings resumes as the recipe's (augment standard, flip, all layers), and is refused otherwise", async () => {
    const old = copy(stopped);
    const bytes = old.files.get('checkpoint.safetensors')!;
    const meta = readSafetensorsMetadata(bytes, 'checkpoint');
    const state = JSON.parse(meta.trainer);
    for (const k of ['augment', 'cropScale', 'cropRatio', 'flip', 'trainLayers', 'freezeBn']) {
      expect(state.run).toHaveProperty(k);
      delete state.run[k];
    }
    old.files.set('checkpoint.safetensors', writeSafetensors(readSafetensors(bytes, 'checkpoint'), { ...meta, trainer: JSON.stringify(state) }));
    const resume = async (cfg: TrainConfig) => {
      const run = tinyTrainer(rt, copy(old), cfg, defaultSplits());
      try {
        await run.trainer.resume();
        return null;
      } catch (e) {
        return (e as Error).message;
      } finally {
        run.dispose();
      }
    };
    expect(await resume(TINY_CONFIG)).toBeNull();
    expect(await resume({ ...TINY_CONFIG, flip: false })).toMatch(/it was trained with --flip but this run has --no-flip/);
  });

  it('the same files under another root folder resume (the hash is of paths relative to the split folder)', async () => {
    const splits = defaultSplits();
    splits.train = splits.train.map((x) => ({ ...x, path: `moved/${x.path}` }));
    expect(await tryResume(TINY_CONFIG, splits)).toBeNull();
  });

  it('another batch size that divides the images done continues the epoch at the same image: none skipped, none repeated', async () => {
    const store = copy(stopped);
    const cfg = { ...TINY_CONFIG, batchSize: 2 };
    const run = tinyTrainer(rt, store, cfg, defaultSplits());
    await run.trainer.resume();
    expect(run.logs.join('\n')).toMatch(/note: --batch-size 2 instead of the checkpoint's 4: continuing epoch 2 after its first 4 images/);
    await run.trainer.run();
    // The images of epoch 2 served before the stop (first 4 of its order) and after the resume.
    const after = run.data.train.served.filter((b) => b.epoch === 2).flatMap((b) => b.indices);
    run.dispose();
    const reference = tinyTrainer(rt, new MemoryStore(), TINY_CONFIG, defaultSplits(), { stopAfter: 3 });
    await reference.trainer.run();
    const before = reference.data.train.served.filter((b) => b.epoch === 2).flatMap((b) => b.indices);
    const order = (reference.data.train.inner as { epochOrder(e: number): number[] }).epochOrder(2);
    reference.dispose();
    expect(before).toEqual(order.slice(0, 4));
    expect(after).toEqual(order.slice(4));
  });

  it('best.safetensors and the checkpoint record arch, classes, image size and normalisation for predict.js', () => {
    for (const name of ['best.safetensors', 'checkpoint.safetensors']) {
      const meta = readSafetensorsMetadata(stopped.files.get(name)!, name);
      expect(meta.arch).toBe('resnet18');
      expect(JSON.parse(meta.classes)).toEqual(['blue', 'red']);
      expect(meta.img_size).toBe('32');
      expect(JSON.parse(meta.mean)).toEqual([0.485, 0.456, 0.406]);
      expect(JSON.parse(meta.std)).toEqual([0.229, 0.224, 0.225]);
    }
  });
});


describe('a resume serves the same images when some files cannot be decoded', () => {
  // 10 training files, 2 undecodable: blue/bad0 (the first in sample order: found before training) and
  // red/bad0 (found while epoch 1 is served). The uninterrupted run leaves each out from the epoch after
  // the one it was found in; a resumed run must serve exactly the same batches.
  const splits = (): Splits => {
    const s = defaultSplits();
    return { ...s, train: samples('train', s.classes, 5, 1) };
  };
  const cfg = { ...TINY_CONFIG, maxEpochs: 3 };
  const served = (run: ReturnType<typeof tinyTrainer>, from: number) =>
    run.data.train.served.filter((b) => b.epoch >= from).map((b) => `${b.epoch}:${b.indices.join(',')}`);

  it.each([
    ['in epoch 1, after red/bad0 was found', 2],
    ['at the end of epoch 1', 3],
    ['in epoch 2', 4],
  ])('stopped %s', async (_what, stopAfter) => {
    const reference = tinyTrainer(rt, new MemoryStore(), cfg, splits());
    await reference.trainer.run();
    const all = served(reference, 1);
    reference.dispose();

    const store = new MemoryStore();
    const first = tinyTrainer(rt, store, cfg, splits(), { stopAfter });
    expect(await first.trainer.run()).toBeNull();
    const before = served(first, 1);
    expect(first.data.train.skippedFiles).toBe(2);
    first.dispose();
    const second = tinyTrainer(rt, store, cfg, splits());
    expect(await second.trainer.resume()).toBe(true);
    await second.trainer.run();
    const after = served(second, 1);
    second.dispose();
    // What was served before the stop, then after the resume, is the uninterrupted run's sequence of batches.
    expect([...before, ...after]).toEqual(all);
  });
});
