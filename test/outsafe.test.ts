/**
 * Nothing a user does loses their work or shows them a false number (issue 15, items 1–4, 9, 10):
 * NaN/Inf weights are refused on load and never written; non-finite metrics survive a checkpoint; an
 * earlier run in --out is never overwritten by accident; the output folder is checked before any GPU
 * work; one run per folder (a lock, stale after kill -9); no partial temporary files are left behind.
 * The tests that run the command line (train.js, predict.js, convert.js from the build) are in
 * test/dist/outsafe_cli.test.ts; the helpers both use are in helpers/outsafe.ts.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { testRuntime } from './helpers/gpu';
import { allFinite, canMount, deadPid, withTmpfs } from './helpers/outsafe';
import { GpuRuntime } from '../src/gpu/runtime';
import { setRuntime } from '../src/gpu/current';
import { Tensor } from '../src/autograd/tensor';
import { Module } from '../src/nn/module';
import { BatchNorm2d, Conv2d, Linear, Sequential, AdaptiveAvgPool2d, Flatten, ReLU } from '../src/nn/layers';
import { SeedSequence } from '../src/nn/init';
import { loadStateDict } from '../src/nn/state';
import { countNonFinite, NonFiniteWeightsError } from '../src/nn/finite';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../src/nn/weights/safetensors';
import type { NamedTensor } from '../src/nn/weights/types';
import { Trainer, TrainingDivergedError, type BatchSource } from '../src/train/trainer';
import { MemoryStore, OutputError } from '../src/train/io';
import { FolderStore, nodeFs, type FsLayer } from '../src/train/store.node';
import { metricsCsv, type EpochRow } from '../src/train/report';
import { parseState, stringifyState } from '../src/train/checkpoint';
import { RECIPE_DEFAULTS } from '../src/train/config';
import type { Batch } from '../src/train/data/loader';
import { useWording } from '../src/wording';

// The messages checked here are the command line's, so this file runs in the CLI's wording (the library's own
// wording, which names no flag, is checked in wording.test.ts).
useWording('flags');

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
  rt.poison = false;
});

class TinyNet extends Module {
  readonly body: Sequential;
  constructor(classes = 3) {
    super();
    const seeds = new SeedSequence(1);
    this.body = this.registerModule('body', new Sequential(new Conv2d(3, 4, 3, { padding: 1, seeds }), new BatchNorm2d(4), new ReLU(), new AdaptiveAvgPool2d(1), new Flatten(), new Linear(4, classes, seeds)));
  }
  forward(x: Tensor): Tensor {
    return this.body.forward(x);
  }
}

function source(batches: number, n: number, size: number): BatchSource {
  return {
    batchesPerEpoch: batches,
    skippedFiles: 0,
    samples: new Array(batches * n).fill(null).map((_, i) => ({ label: i % 3 })),
    async *epoch(epoch: number, start = 0): AsyncGenerator<Batch> {
      for (let b = start; b < batches; b++) {
        const images = Float32Array.from({ length: n * 3 * size * size }, (_, i) => Math.sin(i * 0.37 + b + epoch));
        yield { images, labels: Int32Array.from({ length: n }, (_, i) => (b * n + i) % 3), indices: Array.from({ length: n }, (_, i) => b * n + i) };
      }
    },
  };
}

const config = { ...RECIPE_DEFAULTS, arch: 'tiny', imgSize: 8, batchSize: 4, lr: 0.01, maxEpochs: 3, patience: 10 };
const data = () => ({ classes: ['a', 'b', 'c'], train: source(2, 4, 8), val: source(1, 4, 8), test: source(1, 4, 8) });

describe('outsafe: NaN/Inf weights (item 1)', () => {
  it('countNonFinite counts NaN, +Inf and -Inf and nothing else', () => {
    expect(countNonFinite(Float32Array.of(1, NaN, -0, Infinity, 3e38, -Infinity, NaN, 1e-45))).toEqual({ nan: 2, posInf: 1, negInf: 1 });
    expect(countNonFinite(BigInt64Array.of(1n, 2n))).toEqual({ nan: 0, posInf: 0, negInf: 0 });
  });

  it('loading weights with NaN/Inf is refused, naming every such tensor, and nothing is written', async () => {
    const m = new TinyNet();
    const before = m.stateDict().get('body.0.weight') as Tensor;
    const sd = new Map<string, NamedTensor>();
    for (const [k, v] of m.stateDict()) {
      sd.set(k, v instanceof Tensor ? { dtype: 'F32', shape: [...v.shape], data: new Float32Array(v.size).fill(0.5) } : { dtype: 'I64', shape: [], data: BigInt64Array.of(0n) });
    }
    (sd.get('body.0.weight')!.data as Float32Array)[3] = NaN;
    (sd.get('body.1.running_var')!.data as Float32Array)[1] = Infinity;
    const original = await before.toArray();
    let err: Error | null = null;
    try {
      loadStateDict(m, sd, { source: 'bad.safetensors' });
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(NonFiniteWeightsError);
    expect(err!.message).toMatch(/^bad\.safetensors: 2 of \d+ tensors hold NaN or Inf values: body\.0\.weight \(1 NaN of 108\), body\.1\.running_var \(1 \+Inf of 4\)/);
    expect(Array.from(await before.toArray())).toEqual(Array.from(original));
    m.dispose();
  });

  /** Write NaN into a BN running statistic at (epoch, step): train mode uses batch statistics, so the loss stays finite. */
  function poisonRunningMean(model: TinyNet, epoch: number, atStep: number) {
    let e = 1;
    let s = 0;
    return {
      shouldStop: () => {
        s++;
        if (e === epoch && s === atStep) {
          const rm = model.body.layers[1].stateDict().get('running_mean') as Tensor;
          rt.write(rm.buffer, Float32Array.of(0, NaN, 0, 0));
        }
        return false;
      },
      epochEnd: () => {
        e++;
        s = 0;
      },
    };
  }

  it('NaN in a BN running statistic with a finite loss stops the run; checkpoint and best stay finite and the kept one is named', async () => {
    const store = new MemoryStore();
    const model = new TinyNet();
    const trainer = new Trainer(rt, model, data(), config, store, poisonRunningMean(model, 2, 1));
    const err = await trainer.run().then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect(err!.message).toMatch(/after epoch 2, 1 of \d+ tensors of the model \(parameters, batch-norm statistics\) and optimizer hold NaN or Inf: model\.body\.1\.running_mean \(1 NaN of 4\)/);
    expect(err!.message).toMatch(/The last good checkpoint \(checkpoint\.safetensors\) is kept: it is from the end of epoch 1, and every tensor in it was read back and is finite/);
    const ckpt = store.files.get('checkpoint.safetensors')!;
    expect(parseState<{ epoch: number }>(readSafetensorsMetadata(ckpt, 'c').trainer).epoch).toBe(2);
    expect(allFinite(ckpt)).toBe(true);
    expect(allFinite(store.files.get('best.safetensors')!)).toBe(true);
    trainer.dispose();
    model.dispose();
  });

  it('diverging in the first epoch writes no checkpoint or best file, and says that none is kept', async () => {
    const store = new MemoryStore();
    const model = new TinyNet();
    const trainer = new Trainer(rt, model, data(), config, store, poisonRunningMean(model, 1, 1));
    const err = await trainer.run().then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect(err!.message).toMatch(/after epoch 1, .*running_mean/);
    expect(err!.message).toMatch(/No checkpoint was written before this/);
    expect(err!.message).not.toMatch(/last good checkpoint/);
    expect([...store.files.keys()].filter((k) => k.endsWith('.safetensors'))).toEqual([]);
    trainer.dispose();
    model.dispose();
  });

  it('"the last good checkpoint" is read back and checked: a non-finite one is not called good', async () => {
    const store = new MemoryStore();
    const model = new TinyNet();
    const poison = poisonRunningMean(model, 2, 1);
    const trainer = new Trainer(rt, model, data(), config, store, {
      ...poison,
      shouldStop: () => {
        // The stored checkpoint is damaged (e.g. written by an older version) while epoch 2 runs.
        const c = store.files.get('checkpoint.safetensors');
        if (c) {
          const t = readSafetensors(c, 'c');
          (t.get('model.body.0.weight')!.data as Float32Array)[0] = NaN;
          store.files.set('checkpoint.safetensors', writeSafetensors(t, readSafetensorsMetadata(c, 'c')));
        }
        return poison.shouldStop();
      },
    });
    const err = await trainer.run().then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect(err!.message).toMatch(/checkpoint\.safetensors is not a good checkpoint: 1 of \d+ tensors in it hold NaN or Inf \(model\.body\.0\.weight/);
    expect(err!.message).not.toMatch(/last good checkpoint/);
    trainer.dispose();
    model.dispose();
  });

  it('a NaN loss while the loader waits on decoding is one TrainingDivergedError, not an unhandled rejection', async () => {
    const slow = source(3, 4, 8);
    const poisoned: BatchSource = {
      ...slow,
      async *epoch(epoch: number, start = 0) {
        for await (const b of slow.epoch(epoch, start)) {
          await new Promise((r) => setTimeout(r, 30)); // a decode that takes a turn of the event loop
          if (b.indices[0] === 4) b.images.fill(NaN);
          yield b;
        }
      },
    };
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    const store = new MemoryStore();
    const model = new TinyNet();
    const trainer = new Trainer(rt, model, { ...data(), train: poisoned }, config, store);
    const err = await trainer.run().then(() => null, (e: Error) => e);
    await new Promise((r) => setTimeout(r, 50));
    process.off('unhandledRejection', onUnhandled);
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect(err!.message).toMatch(/the loss is NaN at epoch 1, step 2\. No checkpoint was written before this/);
    expect(unhandled).toEqual([]);
    trainer.dispose();
    model.dispose();
  });

  it('the read of the step after a divergence is abandoned: no unhandled rejection when the runtime is destroyed at once', async () => {
    // As the CLI does: the run fails, its finally destroys the runtime while step 3's read is still in flight.
    const own = await GpuRuntime.create(rt.gpu);
    setRuntime(own);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const src = source(6, 4, 8);
      const poisoned: BatchSource = {
        ...src,
        async *epoch(epoch: number, start = 0) {
          for await (const b of src.epoch(epoch, start)) {
            if (b.indices[0] === 4) b.images.fill(NaN); // step 2's loss is NaN; it is seen while step 3 runs
            yield b;
          }
        },
      };
      const model = new TinyNet();
      const trainer = new Trainer(own, model, { ...data(), train: poisoned }, config, new MemoryStore());
      const err = await trainer.run().then(() => null, (e: Error) => e);
      own.destroy();
      await new Promise((r) => setTimeout(r, 200));
      expect(err).toBeInstanceOf(TrainingDivergedError);
      expect(err!.message).toMatch(/the loss is NaN at epoch 1, step 2\./);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      setRuntime(rt);
    }
    expect(unhandled).toEqual([]);
  });

  it('--resume from a checkpoint holding NaN is refused, naming the tensor', async () => {
    const store = new MemoryStore();
    const model = new TinyNet();
    const trainer = new Trainer(rt, model, data(), { ...config, maxEpochs: 1 }, store);
    await trainer.run();
    const t = readSafetensors(store.files.get('checkpoint.safetensors')!, 'c');
    (t.get('optim.0')!.data as Float32Array)[2] = Infinity;
    store.files.set('checkpoint.safetensors', writeSafetensors(t, readSafetensorsMetadata(store.files.get('checkpoint.safetensors')!, 'c')));
    const again = new Trainer(rt, model, data(), config, store);
    await expect(again.resume()).rejects.toThrowError(/checkpoint\.safetensors: 1 of \d+ tensors hold NaN or Inf values: optim\.0 \(1 \+Inf/);
    trainer.dispose();
    again.dispose();
    model.dispose();
  });
});

describe('outsafe: non-finite metrics (item 2)', () => {
  it('NaN and ±Inf survive the checkpoint JSON; metrics.csv writes nan/inf (and null, a value not measured, as an empty field)', () => {
    const st = { a: NaN, b: [Infinity, -Infinity, 1.5], c: { $number: 'x' }, name: 'NaN' };
    const back = parseState<typeof st>(stringifyState(st));
    expect(back.a).toBeNaN();
    expect(back.b).toEqual([Infinity, -Infinity, 1.5]);
    expect(back.c).toEqual({ $number: 'x' });
    expect(back.name).toBe('NaN');
    const row = (v: number | null): EpochRow => ({ epoch: 1, lr: 0.01, train_loss: 0.5, train_acc: 0.25, val_loss: v as number, val_acc: 0, seconds: 2 });
    const lines = metricsCsv([row(NaN), row(Infinity), row(-Infinity), row(null)]).trim().split('\n').slice(1);
    expect(lines.map((l) => l.split(',')[4])).toEqual(['nan', 'inf', '-inf', '']);
  });

  it('resuming after an epoch whose validation loss was Infinity works, and metrics.csv keeps it', async () => {
    const store = new MemoryStore();
    const model = new TinyNet();
    let epochs = 0;
    const first = new Trainer(rt, model, data(), { ...config, maxEpochs: 2 }, store, { epochEnd: () => epochs++, shouldStop: () => epochs === 1 });
    const evaluate = first.evaluate.bind(first);
    first.evaluate = async (...a: Parameters<Trainer['evaluate']>) => {
      const r = await evaluate(...a);
      return a[1] === 'val' ? { ...r, loss: Infinity } : r;
    };
    expect(await first.run()).toBeNull(); // stopped after epoch 1, its checkpoint written
    first.dispose();
    model.dispose();
    const csv1 = new TextDecoder().decode(store.files.get('metrics.csv')!);
    expect(csv1.trim().split('\n')[1].split(',')[4]).toBe('inf');

    const model2 = new TinyNet();
    const second = new Trainer(rt, model2, data(), { ...config, maxEpochs: 2 }, store);
    expect(await second.resume()).toBe(true);
    expect(second.history()[0].val_loss).toBe(Infinity);
    const summary = await second.run();
    expect(summary).not.toBeNull();
    const rows = new TextDecoder().decode(store.files.get('metrics.csv')!).trim().split('\n');
    expect(rows.length).toBe(3);
    expect(rows[1].split(',')[4]).toBe('inf');
    expect(Number(rows[2].split(',')[4])).toBeGreaterThan(0); // epoch 2's real, finite validation loss
    expect(summary!.best_epoch).toBe(2);
    second.dispose();
    model2.dispose();
  });
});

/** node:fs with injected failures: `fail(op, path)` returns an errno code to throw, or null. */
function faultyFs(fail: (op: string, path: string) => string | null): FsLayer {
  const err = (code: string, op: string, path: string) => Object.assign(new Error(`${code}: ${op} '${path}'`), { code });
  const wrap =
    <A extends unknown[], R>(op: string, f: (p: string, ...a: A) => Promise<R>) =>
    async (p: string, ...a: A): Promise<R> => {
      const code = fail(op, p);
      if (code) throw err(code, op, p);
      return f(p, ...a);
    };
  return {
    ...nodeFs,
    mkdir: wrap('mkdir', nodeFs.mkdir),
    unlink: wrap('unlink', nodeFs.unlink),
    rename: wrap('rename', nodeFs.rename),
    open: async (p, flags) => {
      const code = fail('open', p);
      if (code) throw err(code, 'open', p);
      const fh = await nodeFs.open(p, flags);
      return {
        writeFile: async (d) => {
          const c = fail('write', p);
          if (c) {
            await fh.writeFile(typeof d === 'string' ? d.slice(0, 10) : d.subarray(0, 10)); // a partial file, as a full disk leaves
            throw err(c, 'write', p);
          }
          return fh.writeFile(d);
        },
        sync: () => fh.sync(),
        close: () => fh.close(),
      };
    },
  };
}

describe('outsafe: the output folder is checked before any GPU work (item 4)', () => {
  it.each([
    ['EROFS', 'mkdir', /cannot create --out .*: the file system is read-only \(EROFS\); choose a folder on a writable disk/],
    ['EACCES', 'mkdir', /cannot create --out .*: permission denied \(EACCES\); choose a folder you can write to/],
    ['EROFS', 'open', /cannot write into --out .*: the file system is read-only \(EROFS\)/],
    ['EACCES', 'open', /cannot write into --out .*: permission denied \(EACCES\)/],
    ['ENOSPC', 'write', /cannot write into --out .*: the disk is full \(ENOSPC\); free some space, or choose a folder on another disk/],
  ])('%s on %s is one clear OutputError, and no probe file is left', async (code, op, message) => {
    const parent = mkdtempSync(join(tmpdir(), 'probe-'));
    const dir = op === 'mkdir' ? join(parent, 'new', 'run') : parent;
    const store = new FolderStore(dir, faultyFs((o) => (o === op ? code : null)));
    const err = await store.prepare().then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(OutputError);
    expect(err!.message).toMatch(message);
    expect(err!.message.split('\n').length).toBe(1);
    expect(readdirSync(parent).filter((f) => f !== 'new')).toEqual([]);
  });

  it('--out that is a file, or under a file, is named; too little free space is refused with the numbers', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'probe-'));
    writeFileSync(join(parent, 'f'), 'x');
    await expect(new FolderStore(join(parent, 'f')).prepare()).rejects.toThrowError(/^--out .*\/f is a file, not a folder/);
    await expect(new FolderStore(join(parent, 'f', 'sub')).prepare()).rejects.toThrowError(/cannot create --out .*\/f\/sub: .*\/f is a file, not a folder/);
    const small: FsLayer = { ...nodeFs, statfs: async () => ({ bavail: 256, bsize: 4096, blocks: 1000 }) };
    await expect(new FolderStore(parent, small).prepare(200 * 2 ** 20)).rejects.toThrowError(/only 1\.0 MB free on its disk, and this run needs about 200\.0 MB/);
    await expect(new FolderStore(parent, small).prepare(2 ** 19)).resolves.toBeUndefined();
  });

  it('a write that fails mid-file (full disk) removes its temporary file and names the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wfail-'));
    const store = new FolderStore(dir, faultyFs((op, p) => (op === 'write' && p.includes('checkpoint') ? 'ENOSPC' : null)));
    await expect(store.write('checkpoint.safetensors', new Uint8Array(1000))).rejects.toThrowError(/cannot write .*checkpoint\.safetensors: the disk is full \(ENOSPC\)/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it.skipIf(!canMount)('on real mounts (root only): a read-only tmpfs gives EROFS (not ENOENT), a full one ENOSPC', async () => {
    await withTmpfs('size=1m,ro', async (ro) => {
      await expect(new FolderStore(join(ro, 'run')).prepare()).rejects.toThrowError(/file system is read-only \(EROFS\)/);
    });
    await withTmpfs('size=256k', async (full) => {
      writeFileSync(join(full, 'filler'), new Uint8Array(240 * 1024).fill(1)); // leaves less than the 64 KiB probe
      const err = await new FolderStore(join(full, 'run')).prepare().then(() => null, (e: Error) => e);
      expect(err?.message).toMatch(/the disk is full \(ENOSPC\)/);
      expect(readdirSync(join(full, 'run'))).toEqual([]);
    });
  });

});

describe('outsafe: locks (item 9)', () => {
  it('a second store cannot lock a folder while the first holds it; a stale lock (dead pid) is taken over with a note', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lock-'));
    const a = new FolderStore(dir);
    expect(await a.lock()).toBeNull();
    const err = await new FolderStore(dir).lock().then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(OutputError);
    expect(err!.message).toMatch(new RegExp(`is being written by another training run \\(process ${process.pid}, started .*\\).*choose another --out.*delete .*train\\.lock`));
    await a.unlock();
    expect(readdirSync(dir)).toEqual([]);

    const pid = deadPid();
    writeFileSync(join(dir, 'train.lock'), JSON.stringify({ pid, host: hostname(), started: '2020-01-01T00:00:00.000Z' }));
    const b = new FolderStore(dir);
    expect(await b.lock()).toMatch(new RegExp(`left by process ${pid} .*no longer runs \\(killed\\?\\); taking over`));
    expect(JSON.parse(readFileSync(join(dir, 'train.lock'), 'utf8')).pid).toBe(process.pid);
    b.releaseSync();
    expect(existsSync(join(dir, 'train.lock'))).toBe(false);

    writeFileSync(join(dir, 'train.lock'), JSON.stringify({ pid: 1, host: 'elsewhere', started: 'x' }));
    await expect(new FolderStore(dir).lock()).rejects.toThrowError(/locked by a training run on another machine \(elsewhere, process 1/);
  });
});

describe('outsafe: temporary files at exit (item 10)', () => {
  it('releaseSync (the exit handler, e.g. after a second Ctrl-C) removes a checkpoint being written and the lock', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'exit-'));
    let started!: () => void;
    const writing = new Promise<void>((r) => (started = r));
    const stuck: FsLayer = {
      ...nodeFs,
      open: async (p, flags) => {
        const fh = await nodeFs.open(p, flags);
        return { ...fh, writeFile: async (d) => (await fh.writeFile(typeof d === 'string' ? d : d.subarray(0, 100)), started(), new Promise<void>(() => undefined)), sync: () => fh.sync(), close: () => fh.close() };
      },
    };
    const store = new FolderStore(dir, stuck);
    const lock = new FolderStore(dir);
    await lock.lock();
    void store.write('checkpoint.safetensors', new Uint8Array(10_000));
    await writing;
    expect(readdirSync(dir).sort()).toEqual([`checkpoint.safetensors.tmp-${process.pid}`, 'train.lock']);
    store.releaseSync();
    lock.releaseSync();
    expect(readdirSync(dir)).toEqual([]);
  });
});
