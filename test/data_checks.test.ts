/**
 * The trainer never reports a number it did not measure, and bad data is named before training:
 * empty validation/test splits (issue 15.5), a last training batch of one image (15.6), and splits
 * whose files cannot be decoded (21.2). In-process, on synthetic images and a tiny model.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import type { GpuRuntime } from '../src/gpu/runtime';
import { MemoryStore } from '../src/train/io';
import { finalFeatureSide } from '../src/train/config';
import { DataError } from '../src/train/data/errors';
import { readSafetensorsMetadata } from '../src/nn/weights/safetensors';
import { TINY_CONFIG, defaultSplits, samples, tinyTrainer, type Splits } from './helpers/tiny-trainer';
import { useWording } from '../src/wording';

// The messages checked here are the command line's, so this file runs in the CLI's wording (the library's own
// wording, which names no flag, is checked in wording.test.ts).
useWording('flags');

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
  rt.poison = false;
});

const text = (store: MemoryStore, name: string) => new TextDecoder().decode(store.files.get(name)!);

async function runTiny(splits: Splits, cfg = TINY_CONFIG) {
  const store = new MemoryStore();
  const run = tinyTrainer(rt, store, cfg, splits);
  try {
    const summary = await run.trainer.run();
    return { store, summary: summary!, logs: run.logs, run };
  } finally {
    run.dispose();
  }
}

/** Run, expecting a DataError before any training step. */
async function expectRefused(splits: Splits, cfg = TINY_CONFIG): Promise<{ message: string; logs: string[] }> {
  const store = new MemoryStore();
  const run = tinyTrainer(rt, store, cfg, splits);
  try {
    const err = await run.trainer.run().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(run.trainSteps()).toBe(0);
    expect(store.files.size).toBe(0);
    return { message: (err as Error).message, logs: run.logs };
  } finally {
    run.dispose();
  }
}

describe('empty validation or test split (15.5)', () => {
  it('no validation split: all epochs run without early stopping, with a warning; no validation number anywhere', async () => {
    const s = defaultSplits();
    s.val = [];
    const cfg = { ...TINY_CONFIG, maxEpochs: 3, patience: 1 };
    const { store, summary, logs } = await runTiny(s, cfg);
    expect(logs.join('\n')).toMatch(/warning: the validation split is empty: there is no validation loss and no early stopping/);
    expect(summary.epochs_run).toBe(3); // patience 1 would have stopped a run with a made-up constant val loss at epoch 2
    expect(summary.stopped_early).toBe(false);
    expect(summary.best_val_loss).toBeNull();
    expect(summary.best_epoch).toBe(3);
    expect(summary.test_accuracy).not.toBeNull();
    const csv = text(store, 'metrics.csv').trim().split('\n');
    expect(csv.length).toBe(4);
    for (const row of csv.slice(1)) {
      const [, , trainLoss, , valLoss, valAcc] = row.split(',');
      expect(Number(trainLoss)).toBeGreaterThan(0);
      expect([valLoss, valAcc]).toEqual(['', '']);
    }
    const json = JSON.parse(text(store, 'summary.json'));
    expect(json.best_val_loss).toBeNull();
    const meta = readSafetensorsMetadata(store.files.get('best.safetensors')!, 'best');
    expect(meta.epoch).toBe('3');
    expect(meta.selected_by).toMatch(/last epoch \(no validation split\)/);
    expect(text(store, 'loss.svg')).not.toMatch(/>validation</);
    expect(text(store, 'report.html')).toMatch(/no validation split: weights of the last epoch, 3 of 3/);
  });

  it('no test split: no test accuracy or loss is reported (null), and the report says so', async () => {
    const s = defaultSplits();
    s.test = [];
    const { store, summary, logs } = await runTiny(s, { ...TINY_CONFIG, maxEpochs: 1 });
    expect(logs.join('\n')).toMatch(/warning: the test split is empty: no test accuracy or loss will be reported/);
    expect(summary.test_accuracy).toBeNull();
    expect(summary.test_loss).toBeNull();
    expect(summary.test_images).toBe(0);
    const json = JSON.parse(text(store, 'summary.json'));
    expect(json.test_accuracy).toBeNull();
    expect(json.test_loss).toBeNull();
    expect(Object.values(json.per_class_accuracy)).toEqual([null, null]);
    const html = text(store, 'report.html');
    expect(html).toMatch(/No test split: no test accuracy was measured/);
    expect(html).not.toMatch(/Test accuracy|0\.00%|every test image was classified correctly/);
    expect(summary.best_val_loss).not.toBeNull(); // validation still ran
  });
});

describe('a training batch of one image (15.6)', () => {
  it('the last feature side of a ResNet input matches torchvision (224 → 7, 32 → 1, 33 → 2, 64 → 2)', () => {
    expect([224, 32, 33, 64, 65].map(finalFeatureSide)).toEqual([7, 1, 2, 2, 3]);
  });

  it('9 images with --batch-size 4 at 32 px: the 1-image batch is dropped with a one-line note, training completes', async () => {
    const s = defaultSplits();
    s.train = [...samples('train', ['blue'], 5), ...samples('train', ['red'], 4).map((x) => ({ ...x, label: 1 }))];
    const { summary, logs, run } = await runTiny(s, { ...TINY_CONFIG, maxEpochs: 1 });
    expect(summary.epochs_run).toBe(1);
    const notes = logs.filter((l) => /1 image/.test(l));
    expect(notes.length).toBe(1);
    expect(notes[0]).toMatch(/note: the last batch of each epoch would hold 1 image \(9 images, --batch-size 4\).*dropped \(as drop_last would\)/);
    const served = run.data.train.served.flatMap((b) => b.indices);
    expect(served.length).toBe(9); // the loader serves all 9; the trainer trains on 8
    expect(summary.train_images_per_second).toBeGreaterThan(0);
  });

  it('--batch-size 1 at 32 px, or a training split of one image, is refused before training with a hint', async () => {
    const one = await expectRefused(defaultSplits(), { ...TINY_CONFIG, batchSize: 1 });
    expect(one.message).toMatch(/--batch-size 1 cannot train: at --img-size 32 the last feature maps are 1×1.*Use --batch-size 2 or more, or an --img-size above 32/);
    // A library user is told the config fields (the CLI's wording is this file's).
    const was = useWording('fields');
    try {
      const lib = await expectRefused(defaultSplits(), { ...TINY_CONFIG, batchSize: 1 });
      expect(lib.message).toMatch(/batchSize 1 cannot train: at imgSize 32 the last feature maps are 1×1.*Use batchSize 2 or more, or an imgSize above 32/);
      expect(lib.message).not.toMatch(/--[a-z]/);
    } finally {
      useWording(was);
    }
    const s = defaultSplits();
    s.train = samples('train', ['blue'], 1);
    const single = await expectRefused(s);
    expect(single.message).toMatch(/the training split has only 1 usable image/);
  });
});

describe('splits whose files cannot be decoded (21.2)', () => {
  it('a training split of corrupt files is an error before training that names the folder, the count and the reason', async () => {
    const s = defaultSplits();
    s.train = samples('train', s.classes, 3, 3);
    const { message, logs } = await expectRefused(s);
    expect(message).toMatch(/the training split has no image that can be decoded: all 6 files in "mem\/train" were skipped as undecodable \(6 × not an image \(synthetic corrupt file\)/);
    expect(logs.filter((l) => /^warning: skipping mem\/train/.test(l)).length).toBe(6);
  });

  it('a validation or test split of corrupt files is named the same way before training', async () => {
    for (const split of ['val', 'test'] as const) {
      const s = defaultSplits();
      s[split] = samples(split, s.classes, 2, 2);
      const { message } = await expectRefused(s);
      expect(message).toMatch(new RegExp(`the ${split === 'val' ? 'validation' : 'test'} split has no image that can be decoded: all 4 files in "mem/${split}"`));
    }
  });

  it('a split with some corrupt files trains on the rest and counts them', async () => {
    const s = defaultSplits();
    s.train = samples('train', s.classes, 4, 1);
    const { summary } = await runTiny(s, { ...TINY_CONFIG, maxEpochs: 1 });
    expect(summary.skipped_files).toBe(2);
    expect(summary.epochs_run).toBe(1);
  });
});
