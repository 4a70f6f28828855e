/**
 * steps.csv (issue 16.6): one row per training batch (step, epoch, loss, lr, images_per_second), written
 * with each checkpoint; a resumed run keeps the checkpointed rows and never duplicates one. In-process, on
 * synthetic images and a tiny model (TINY_CONFIG: 8 training images in batches of 4, 2 epochs: 4 steps).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import type { GpuRuntime } from '../src/gpu/runtime';
import { MemoryStore } from '../src/train/io';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../src/nn/weights/safetensors';
import { parseState, stringifyState } from '../src/train/checkpoint';
import { STEPS_COLUMNS } from '../src/train/report';
import { TINY_CONFIG, defaultSplits, tinyTrainer } from './helpers/tiny-trainer';

let rt: GpuRuntime;
/** An uninterrupted run, and one stopped after 3 steps (2 of epoch 1, 1 of epoch 2). */
let full: MemoryStore;
let stopped: MemoryStore;

const text = (s: MemoryStore, name: string) => new TextDecoder().decode(s.files.get(name)!);
const copy = (s: MemoryStore) => {
  const c = new MemoryStore();
  for (const [k, v] of s.files) c.files.set(k, v.slice());
  return c;
};
/** steps.csv as rows of numbers (after checking the header). */
function stepRows(s: MemoryStore): number[][] {
  const lines = text(s, 'steps.csv').trim().split('\n');
  expect(lines[0]).toBe(STEPS_COLUMNS.join(','));
  expect(lines[0]).toBe('step,epoch,loss,lr,images_per_second');
  return lines.slice(1).map((l) => l.split(',').map(Number));
}

async function runTo(store: MemoryStore, opts: { stopAfter?: number; resume?: boolean } = {}) {
  const run = tinyTrainer(rt, store, TINY_CONFIG, defaultSplits(), { stopAfter: opts.stopAfter });
  try {
    if (opts.resume) expect(await run.trainer.resume()).toBe(true);
    const summary = await run.trainer.run();
    return { summary, logs: run.logs };
  } finally {
    run.dispose();
  }
}

beforeAll(async () => {
  rt = await testRuntime();
  rt.poison = false;
  full = new MemoryStore();
  expect((await runTo(full)).summary).not.toBeNull();
  stopped = new MemoryStore();
  expect((await runTo(stopped, { stopAfter: 3 })).summary).toBeNull();
});

describe('steps.csv (16.6)', () => {
  it('has one row per training batch: step 1..4, its epoch, lr and a positive images/s', () => {
    const rows = stepRows(full);
    expect(rows.map((r) => r[0])).toEqual([1, 2, 3, 4]);
    expect(rows.map((r) => r[1])).toEqual([1, 1, 2, 2]);
    for (const r of rows) {
      expect(r).toHaveLength(5);
      expect(Number.isFinite(r[2]) && r[2] > 0).toBe(true);
      expect(Number.isFinite(r[4]) && r[4] > 0).toBe(true);
    }
  });

  it("agrees with metrics.csv: each epoch's lr, and its train loss as the mean of its batches' losses", () => {
    const rows = stepRows(full);
    const metrics = text(full, 'metrics.csv').trim().split('\n');
    const cols = metrics[0].split(',');
    for (const line of metrics.slice(1)) {
      const m = Object.fromEntries(line.split(',').map((v, i) => [cols[i], Number(v)]));
      const mine = rows.filter((r) => r[1] === m.epoch);
      expect(mine).toHaveLength(2);
      for (const r of mine) expect(r[3]).toBeCloseTo(m.lr, 12);
      // Batches of 4 images each: the epoch's loss is the plain mean of its batch losses (6 significant digits).
      const mean = mine.reduce((a, r) => a + r[2], 0) / mine.length;
      expect(Math.abs(mean - m.train_loss)).toBeLessThan(1e-5 * Math.abs(m.train_loss));
    }
  });

  it('a stopped run wrote the rows of its checkpoint (3 steps)', () => {
    expect(stepRows(stopped).map((r) => r[0])).toEqual([1, 2, 3]);
  });

  it('a resumed run keeps the checkpointed rows, adds the rest once, and matches the uninterrupted run', async () => {
    const store = copy(stopped);
    // A steps.csv ahead of the checkpoint (as a diverged run leaves it): the resumed run rewrites it from the checkpoint.
    store.files.set('steps.csv', new TextEncoder().encode(text(stopped, 'steps.csv') + '4,2,9.99,0.05,1\n5,3,9.99,0.05,1\n'));
    expect((await runTo(store, { resume: true })).summary).not.toBeNull();
    const rows = stepRows(store);
    expect(rows.map((r) => r[0])).toEqual([1, 2, 3, 4]);
    expect(rows.slice(0, 3)).toEqual(stepRows(stopped));
    // Resuming is exact (trainer.test.ts): the same batch losses, epochs and lr as without the stop.
    const want = stepRows(full);
    expect(rows.map((r) => r.slice(0, 4))).toEqual(want.map((r) => r.slice(0, 4)));
    expect(rows.some((r) => r[2] === 9.99)).toBe(false);
  });

  it('resuming a checkpoint written before steps.csv numbers the new rows after the checkpointed steps, with a note', async () => {
    const store = copy(stopped);
    const bytes = store.files.get('checkpoint.safetensors')!;
    const meta = readSafetensorsMetadata(bytes, 'checkpoint');
    const state = parseState<Record<string, unknown>>(meta.trainer);
    delete state.steps;
    store.files.set('checkpoint.safetensors', writeSafetensors(readSafetensors(bytes, 'checkpoint'), { ...meta, trainer: stringifyState(state) }));
    const { summary, logs } = await runTo(store, { resume: true });
    expect(summary).not.toBeNull();
    expect(logs.join('\n')).toMatch(/written before steps\.csv existed: steps\.csv starts at this run's first step \(4\)/);
    expect(stepRows(store).map((r) => r[0])).toEqual([4]);
  });
});
