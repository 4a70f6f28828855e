/**
 * The trainer with each optimizer × schedule of TrainConfig (optimizer, scheduler, warmupEpochs, gradClip):
 * it trains, the lr of each epoch (and of each batch, for onecycle) is the float64 reference's
 * (src/reference/lr_scheduler.ts), clipping bounds the update, an interrupted run resumes to bit-identical
 * weights and optimizer state, and a resume with other settings is refused. In-process, on synthetic images
 * and a tiny model (test/helpers/tiny-trainer.ts: 8 training images in batches of 4, 2 batches per epoch).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import type { GpuRuntime } from '../src/gpu/runtime';
import { MemoryStore } from '../src/train/io';
import { ResumeMismatchError, Trainer } from '../src/train/trainer';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../src/nn/weights/safetensors';
import type { NamedTensor } from '../src/nn/weights/types';
import { ConfigError, OPTIMIZERS, SCHEDULERS, validateConfig, type TrainConfig } from '../src/train/config';
import { WARMUP_START_FACTOR } from '../src/train/optim_setup';
import { oneCycleRef, scheduleRef } from '../src/reference/lr_scheduler';
import type { SchedulerSpec } from '../src/reference/optim_cases';
import { TINY_CONFIG, copyStore, defaultSplits, makeData, tinyModel, tinyTrainer } from './helpers/tiny-trainer';
import { useWording } from '../src/wording';

let rt: GpuRuntime;
/** Batches per epoch of defaultSplits() at TINY_CONFIG's batch size. */
const BATCHES = 2;

beforeAll(async () => {
  rt = await testRuntime();
  rt.poison = false;
});

const text = (s: MemoryStore, name: string) => new TextDecoder().decode(s.files.get(name)!);
const checkpoint = (s: MemoryStore) => readSafetensors(s.files.get('checkpoint.safetensors')!, 'checkpoint');

/** Train `cfg` into `store` (stopping after `stopAfter` steps, or resuming first); returns the trainer's history, its initial parameters and its logs. */
async function train(store: MemoryStore, cfg: TrainConfig, opts: { stopAfter?: number; resume?: boolean } = {}) {
  const run = tinyTrainer(rt, store, cfg, defaultSplits(), { stopAfter: opts.stopAfter });
  try {
    if (opts.resume) expect(await run.trainer.resume()).toBe(true);
    const initial = new Map<string, Float32Array>();
    for (const [name, p] of run.trainer.model.namedParameters()) initial.set(name, await p.toArray());
    const summary = await run.trainer.run();
    return { summary, history: [...run.trainer.history()], initial, logs: run.logs, optimizer: run.trainer.optimizer };
  } finally {
    run.dispose();
  }
}

/** The global L2 norm of the parameters' change: checkpoint's "model.<name>" against `initial`. */
function movement(store: MemoryStore, initial: Map<string, Float32Array>): number {
  const after = checkpoint(store);
  let sq = 0;
  for (const [name, before] of initial) {
    const now = after.get(`model.${name}`)!.data as Float32Array;
    for (let i = 0; i < before.length; i++) sq += (now[i] - before[i]) ** 2;
  }
  return Math.sqrt(sq);
}

/** The reference schedule the trainer should follow for `cfg` (per epoch; onecycle per batch). */
function referenceSpec(cfg: TrainConfig): SchedulerSpec {
  if (cfg.scheduler === 'onecycle') {
    const total = cfg.maxEpochs * BATCHES;
    return { kind: 'onecycle', maxLr: cfg.lr, totalSteps: total, pctStart: 0.3, annealStrategy: 'cos', divFactor: 25, finalDivFactor: 1e4, threePhase: false, cycleMomentum: true, baseMomentum: 0.85, maxMomentum: 0.95 };
  }
  const w = cfg.warmupEpochs;
  const main: SchedulerSpec = cfg.scheduler === 'cosine' ? { kind: 'cosine', tMax: cfg.maxEpochs - w, etaMin: 0 } : { kind: 'step', stepSize: cfg.stepSize, gamma: cfg.gamma };
  return w === 0 ? main : { kind: 'sequential', schedulers: [{ kind: 'linear', startFactor: WARMUP_START_FACTOR, endFactor: 1, totalIters: w }, main], milestones: [w] };
}

/** The lr the trainer should log for epoch `epoch` (1-based): that of the epoch's last batch. */
function expectedEpochLr(cfg: TrainConfig, epoch: number): number {
  const spec = referenceSpec(cfg);
  return cfg.scheduler === 'onecycle' ? oneCycleRef(spec as Extract<SchedulerSpec, { kind: 'onecycle' }>, epoch * BATCHES - 1).lr : scheduleRef(spec, cfg.lr, epoch - 1);
}

const closeRel = (a: number, b: number) => Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(b), 1e-30);

describe('trainer: each optimizer × scheduler', () => {
  const cases = OPTIMIZERS.flatMap((optimizer) => SCHEDULERS.map((scheduler) => [optimizer, scheduler] as const));
  it.each(cases)('%s + %s: trains (finite losses, the weights move) with the reference lr of every epoch and batch', async (optimizer, scheduler) => {
    // Warm-up before step and cosine; StepLR halving every 2 epochs so that 4 epochs show a decay after it.
    const cfg: TrainConfig = { ...TINY_CONFIG, optimizer, scheduler, maxEpochs: 4, stepSize: 2, gamma: 0.5, warmupEpochs: scheduler === 'onecycle' ? 0 : 1, weightDecay: optimizer === 'adamw' ? 0.01 : 0 };
    const store = new MemoryStore();
    const { history, initial } = await train(store, cfg);
    expect(history.map((r) => r.epoch)).toEqual([1, 2, 3, 4]);
    for (const r of history) expect(Number.isFinite(r.train_loss) && Number.isFinite(r.val_loss!)).toBe(true);
    expect(movement(store, initial)).toBeGreaterThan(1e-4);
    const lrs = history.map((r) => r.lr);
    const want = history.map((r) => expectedEpochLr(cfg, r.epoch));
    expect(lrs.every((lr, i) => closeRel(lr, want[i])), `${lrs} vs ${want}`).toBe(true);
    // steps.csv: every batch's lr (6 significant digits there).
    const rows = text(store, 'steps.csv').trim().split('\n').slice(1).map((l) => l.split(',').map(Number));
    expect(rows).toHaveLength(cfg.maxEpochs * BATCHES);
    const spec = referenceSpec(cfg);
    rows.forEach(([step, epoch, , lr]) => {
      const ref = scheduler === 'onecycle' ? oneCycleRef(spec as Extract<SchedulerSpec, { kind: 'onecycle' }>, step - 1).lr : scheduleRef(spec, cfg.lr, epoch - 1);
      expect(Math.abs(lr - ref)).toBeLessThanOrEqual(5e-6 * ref);
    });
    if (scheduler === 'step') [WARMUP_START_FACTOR, 1, 1, 0.5].forEach((f, i) => expect(lrs[i]).toBeCloseTo(cfg.lr * f, 15));
    if (scheduler === 'cosine') expect(lrs[lrs.length - 1]).toBeLessThan(cfg.lr / 2);
  }, 120_000);

  it('the recipe (sgd + step, no warm-up) logs the StepLR sequence 1, 1, 1, 0.9', async () => {
    const { history } = await train(new MemoryStore(), { ...TINY_CONFIG, maxEpochs: 4 });
    expect(history.map((r) => r.lr)).toEqual([1, 1, 1, 0.9].map((f) => TINY_CONFIG.lr * f));
  }, 60_000);

  it('gradClip bounds the update (and without it the same run moves further than the bound)', async () => {
    // SGD with momentum 0.9: each buffer has norm ≤ 10·maxNorm, so the parameters move ≤ steps · lr · 10 · maxNorm.
    const maxNorm = 1e-3;
    const cfg: TrainConfig = { ...TINY_CONFIG, maxEpochs: 2, gradClip: maxNorm };
    const bound = cfg.maxEpochs * BATCHES * cfg.lr * 10 * maxNorm;
    const clipped = new MemoryStore();
    const a = await train(clipped, cfg);
    expect(movement(clipped, a.initial)).toBeLessThanOrEqual(bound * (1 + 1e-4));
    const free = new MemoryStore();
    const b = await train(free, { ...cfg, gradClip: 0 });
    expect(movement(free, b.initial)).toBeGreaterThan(2 * bound);
  }, 60_000);
});

describe('trainer: interrupt and resume with other optimizers and schedules', () => {
  /** Bit-identical tensors (model and optimizer state). */
  function expectSameTensors(a: Map<string, NamedTensor>, b: Map<string, NamedTensor>): void {
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    const diffs: string[] = [];
    for (const [k, t] of a) {
      const u = b.get(k)!;
      for (let i = 0; i < t.data.length; i++) {
        if (!Object.is(Number(t.data[i]), Number(u.data[i]))) {
          diffs.push(k);
          break;
        }
      }
    }
    expect(diffs).toEqual([]);
  }

  // Every optimizer × schedule; among them adam + cosine + warm-up and adamw + onecycle + clipping.
  const cases = OPTIMIZERS.flatMap((optimizer) =>
    SCHEDULERS.map((scheduler): [string, Partial<TrainConfig>, string[]] => {
      const change: Partial<TrainConfig> = { optimizer, scheduler, warmupEpochs: scheduler !== 'onecycle' && optimizer !== 'sgd' ? 1 : 0, gradClip: optimizer === 'adamw' ? 0.5 : 0, weightDecay: optimizer === 'adamw' ? 0.01 : 0 };
      const name = `${optimizer} + ${scheduler}${change.warmupEpochs ? ' + 1 warm-up epoch' : ''}${change.gradClip ? ' + clip' : ''}`;
      return [name, change, optimizer === 'sgd' ? [] : ['exp_avg', 'exp_avg_sq']];
    }),
  );
  it.each(cases)('%s: stopped mid-epoch and resumed, the same weights, optimizer state, lrs and metrics as an uninterrupted run', async (_, change, stateNames) => {
    const cfg: TrainConfig = { ...TINY_CONFIG, maxEpochs: 3, ...change };
    const full = new MemoryStore();
    const a = await train(full, cfg);
    const split = new MemoryStore();
    expect((await train(split, cfg, { stopAfter: 3 })).summary).toBeNull(); // epoch 2 after its first batch
    const b = await train(split, cfg, { resume: true });
    const tensors = checkpoint(full);
    for (const n of stateNames) expect([...tensors.keys()].some((k) => k.endsWith(`.${n}`)), n).toBe(true);
    expectSameTensors(tensors, checkpoint(split));
    expect(readSafetensorsMetadata(split.files.get('checkpoint.safetensors')!, 'c').optimizer).toBe(readSafetensorsMetadata(full.files.get('checkpoint.safetensors')!, 'c').optimizer);
    expect(text(split, 'metrics.csv').split('\n').map((l) => l.split(',').slice(0, 6).join(','))).toEqual(text(full, 'metrics.csv').split('\n').map((l) => l.split(',').slice(0, 6).join(',')));
    expect(b.summary!.test_loss).toBe(a.summary!.test_loss);
    // The hyperparameters a schedule moves (lr; onecycle's beta1) end where the uninterrupted run's did.
    const hypers = (g: object) => Object.fromEntries(Object.entries(g).filter(([k]) => k !== 'params'));
    expect(hypers(b.optimizer.paramGroups[0])).toEqual(hypers(a.optimizer.paramGroups[0]));
  }, 120_000);
});

describe('trainer: a resume with other optimization settings is refused', () => {
  let stopped: MemoryStore;
  const cfg: TrainConfig = { ...TINY_CONFIG, optimizer: 'adamw', scheduler: 'onecycle', gradClip: 1, weightDecay: 0.01, maxEpochs: 3 };

  beforeAll(async () => {
    stopped = new MemoryStore();
    expect((await train(stopped, cfg, { stopAfter: 3 })).summary).toBeNull();
  }, 60_000);

  async function tryResume(store: MemoryStore, c: TrainConfig): Promise<Error | null> {
    const run = tinyTrainer(rt, copyStore(store), c, defaultSplits());
    try {
      await run.trainer.resume();
      return null;
    } catch (e) {
      return e as Error;
    } finally {
      run.dispose();
    }
  }

  it.each<[string, Partial<TrainConfig>, RegExp]>([
    ['another optimizer', { optimizer: 'adam' }, /it was trained with --optimizer adamw but this run has --optimizer adam/],
    ['another scheduler', { scheduler: 'cosine' }, /it was trained with --scheduler onecycle but this run has --scheduler cosine/],
    ['another grad clip', { gradClip: 0 }, /it was trained with --grad-clip 1 but this run has --grad-clip 0/],
    ['other epochs (onecycle)', { maxEpochs: 4 }, /its onecycle schedule spans --max-epochs 3 but this run has --max-epochs 4; resume with --max-epochs 3/],
    ['another batch size (onecycle)', { batchSize: 2 }, /its onecycle schedule counts batches of --batch-size 4 but this run has --batch-size 2/],
  ])('%s: refused, naming both values', async (_, change, message) => {
    const was = useWording('flags');
    try {
      const err = await tryResume(stopped, { ...cfg, ...change });
      expect(err).toBeInstanceOf(ResumeMismatchError);
      expect(err!.message).toMatch(message);
    } finally {
      useWording(was);
    }
  });

  it('the same settings resume; the library wording names the fields', async () => {
    expect(await tryResume(stopped, cfg)).toBeNull();
    const err = await tryResume(stopped, { ...cfg, warmupEpochs: 0, scheduler: 'step' });
    expect(err!.message).toMatch(/it was trained with scheduler onecycle but this run has scheduler step/);
  });

  it('a checkpoint written before these settings (SGD + StepLR, no record of them) resumes with the recipe, and is refused for adam', async () => {
    const old = new MemoryStore();
    expect((await train(old, TINY_CONFIG, { stopAfter: 3 })).summary).toBeNull();
    // Remove what older checkpoints did not record: the run's optimization settings and the epoch's lr.
    const bytes = old.files.get('checkpoint.safetensors')!;
    const meta = readSafetensorsMetadata(bytes, 'c');
    const trainer = JSON.parse(meta.trainer);
    for (const k of ['optimizer', 'scheduler', 'gradClip', 'warmupEpochs', 'maxEpochs']) delete trainer.run[k];
    delete trainer.partial.lr;
    old.files.set('checkpoint.safetensors', writeSafetensors(readSafetensors(bytes, 'c'), { ...meta, trainer: JSON.stringify(trainer) }));
    expect(await tryResume(old, TINY_CONFIG)).toBeNull();
    const was = useWording('flags');
    try {
      expect((await tryResume(old, { ...TINY_CONFIG, optimizer: 'adam' }))!.message).toMatch(/it was trained with --optimizer sgd but this run has --optimizer adam/);
    } finally {
      useWording(was);
    }
  }, 60_000);
});

describe('TrainConfig: optimization settings are checked', () => {
  it.each<[Partial<TrainConfig>, string]>([
    [{ optimizer: 'rmsprop' as never }, "optimizer must be one of sgd, adam, adamw, got 'rmsprop'"],
    [{ scheduler: 'plateau' as never }, "scheduler must be one of step, cosine, onecycle, got 'plateau'"],
    [{ gradClip: -1 }, 'gradClip must be ≥ 0, got -1'],
    [{ warmupEpochs: 1.5 }, 'warmupEpochs must be an integer, got 1.5'],
    [{ scheduler: 'onecycle', warmupEpochs: 2 }, 'warmupEpochs must be 0 with scheduler onecycle (its first 30% of the steps are its own warm-up), got 2'],
    [{ maxEpochs: 3, warmupEpochs: 3 }, 'warmupEpochs must be less than maxEpochs 3 (the warm-up leads into the schedule), got 3'],
  ])('%j: %s', (change, message) => {
    let err: ConfigError | null = null;
    try {
      validateConfig({ ...TINY_CONFIG, ...change });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.message).toBe(message);
    expect(err!.key).toBe(message.split(' ')[0]);
  });
});

describe('Trainer: a config without a known optimizer or schedule', () => {
  it.each<[Partial<TrainConfig>, RegExp]>([
    [{ optimizer: undefined as never }, /^optimizer must be one of sgd, adam, adamw, got 'undefined'$/],
    [{ scheduler: 'linear' as never }, /^scheduler must be one of step, cosine, onecycle, got 'linear'$/],
  ])('%j is refused by the constructor, naming the field', (change, message) => {
    const cfg = { ...TINY_CONFIG, ...change };
    const model = tinyModel();
    try {
      expect(() => new Trainer(rt, model, makeData(defaultSplits(), cfg), cfg, new MemoryStore())).toThrow(message);
    } finally {
      model.dispose();
    }
  });
});
