/**
 * Nothing a user does loses their work or shows them a false number (issue 15, items 1–4, 9, 10):
 * NaN/Inf weights are refused on load and never written; non-finite metrics survive a checkpoint; an
 * earlier run in --out is never overwritten by accident; the output folder is checked before any GPU
 * work; one run per folder (a lock, stale after kill -9); no partial temporary files are left behind.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { testRuntime } from './helpers/gpu';
import { makeTinyDataset } from './helpers/tiny-dataset';
import { pthOfTensors } from './helpers/pth-writer';
import { GpuRuntime } from '../src/gpu/runtime';
import { setRuntime } from '../src/gpu/current';
import { Tensor } from '../src/autograd/tensor';
import { Module } from '../src/nn/module';
import { BatchNorm2d, Conv2d, Linear, Sequential, AdaptiveAvgPool2d, Flatten, ReLU } from '../src/nn/layers';
import { SeedSequence } from '../src/nn/init';
import { resnet } from '../src/nn/resnet';
import { loadStateDict } from '../src/nn/state';
import { countNonFinite, findNonFinite, NonFiniteWeightsError } from '../src/nn/finite';
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
  if (!existsSync('dist/train.js') || !existsSync('dist/convert.js')) execFileSync(process.execPath, ['build.mjs', '--no-types'], { stdio: 'inherit' });
});

function run(script: string, args: string[], timeout = 300_000) {
  const r = spawnSync(process.execPath, [join('dist', script), ...args], { encoding: 'utf8', timeout });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A pid that certainly does not run: a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

const NO_STACK = /^\s+at /m;

/** Whether tmpfs can be mounted here (root, where the container allows it): probed once, mounting nothing lasting. */
const canMount = (() => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const dir = mkdtempSync(join(tmpdir(), 'outsafe-mnt-'));
  const ok = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' }).status === 0;
  if (ok) spawnSync('umount', [dir], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
  return ok;
})();

/** Run `body` with a tmpfs mounted (options e.g. 'size=256k' or 'size=1m,ro'), always unmounted and removed after. */
async function withTmpfs<T>(options: string, body: (dir: string) => T | Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'outsafe-mnt-'));
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'ignore' }).status !== 0) throw new Error(`cannot mount a tmpfs on ${dir}`);
  try {
    return await body(dir);
  } finally {
    spawnSync('umount', [dir], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  }
}

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

function allFinite(bytes: Uint8Array): boolean {
  return findNonFinite(readSafetensors(bytes, 'file')).length === 0;
}

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

  it('train.js --weights and predict.js --weights refuse a NaN/Inf file with the tensor names, no stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nanw-'));
    const model = resnet('resnet18', { numClasses: 2 });
    const tensors: Record<string, { shape: number[]; data: Float32Array | BigInt64Array }> = {};
    const named = new Map<string, NamedTensor>();
    for (const [k, v] of model.stateDict()) {
      const t = v instanceof Tensor ? { dtype: 'F32' as const, shape: [...v.shape], data: new Float32Array(v.size).fill(0.01) } : { dtype: 'I64' as const, shape: [], data: BigInt64Array.of(0n) };
      tensors[k] = t;
      named.set(k, t);
    }
    model.dispose();
    (tensors['conv1.weight'].data as Float32Array)[7] = NaN;
    (tensors['bn1.running_var'].data as Float32Array)[0] = -Infinity;
    writeFileSync(join(dir, 'nan.pth'), pthOfTensors(tensors));
    writeFileSync(join(dir, 'nan.safetensors'), writeSafetensors(named));
    const ds = await makeTinyDataset({ train: 2, val: 1, test: 1 }, 32);
    const t = run('train.js', ['--data', ds, '--out', join(dir, 'run'), '--weights', join(dir, 'nan.pth'), '--arch', 'resnet18', '--img-size', '32']);
    expect(t.code, t.out).toBe(1);
    expect(t.err).toMatch(/nan\.pth: 2 of \d+ tensors hold NaN or Inf values: conv1\.weight \(1 NaN of 9408\), bn1\.running_var \(1 -Inf of 64\)/);
    expect(t.err).not.toMatch(NO_STACK);
    expect(t.out).not.toMatch(/training resnet18/);
    writeFileSync(join(dir, 'img.png'), readFileSync(join(ds, 'test', 'red', '0.png')));
    const p = run('predict.js', ['--weights', join(dir, 'nan.safetensors'), join(dir, 'img.png')]);
    expect(p.code, p.out).toBe(1);
    expect(p.err).toMatch(/nan\.safetensors: 2 of \d+ tensors hold NaN or Inf values: conv1\.weight \(1 NaN/);
    expect(p.err).not.toMatch(NO_STACK);
    expect(p.out).not.toMatch(/img\.png/); // no prediction printed
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

  it.skipIf(!canMount)('train.js on a read-only disk: one line, exit 1, before the GPU', async () => {
    const ds = await makeTinyDataset({ train: 1, val: 1, test: 1 }, 32);
    const r = await withTmpfs('size=1m,ro', (ro) => run('train.js', ['--data', ds, '--out', join(ro, 'run')]));
    expect(r.code).toBe(1);
    expect(r.err.trim()).toMatch(/^error: cannot create --out .*: the file system is read-only \(EROFS\); choose a folder on a writable disk$/);
    expect(r.out).not.toMatch(/adapter:/);
  });

  it('train.js with --out a regular file: one line, exit 1, before the GPU', async () => {
    const ds = await makeTinyDataset({ train: 1, val: 1, test: 1 }, 32);
    const f = join(mkdtempSync(join(tmpdir(), 'outfile-')), 'file');
    writeFileSync(f, 'x');
    const r = run('train.js', ['--data', ds, '--out', f]);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toMatch(/^error: --out .*file is a file, not a folder/);
    expect(r.err.trim().split('\n').length).toBe(1);
    expect(r.out).not.toMatch(/adapter:/);
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

describe('outsafe: the CLI never loses a run (items 3, 9, 10)', () => {
  let ds: string;
  beforeAll(async () => {
    ds = await makeTinyDataset({ train: 2, val: 1, test: 1 }, 32);
  });
  const common = ['--arch', 'resnet18', '--img-size', '32', '--batch-size', '4', '--max-epochs', '1'];

  it('an earlier run in --out is refused without --resume/--overwrite, and left as it was', () => {
    const out = mkdtempSync(join(tmpdir(), 'again-'));
    writeFileSync(join(out, 'best.safetensors'), 'earlier weights');
    writeFileSync(join(out, 'metrics.csv'), 'earlier metrics');
    const r = run('train.js', ['--data', ds, '--out', out, ...common]);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toMatch(/^error: .* already holds a training run \(best\.safetensors, metrics\.csv\)\. Nothing was changed\. To continue it, add --resume; to keep it and start a new run, choose another --out; to replace it, add --overwrite\.$/);
    expect(r.out).not.toMatch(/adapter:/);
    expect(readFileSync(join(out, 'best.safetensors'), 'utf8')).toBe('earlier weights');
    expect(readdirSync(out).sort()).toEqual(['best.safetensors', 'metrics.csv']); // lock released, no probe left
    const noCkpt = run('train.js', ['--data', ds, '--out', out, '--resume', ...common]);
    expect(noCkpt.code).toBe(1);
    expect(noCkpt.err).toMatch(/holds an earlier run \(best\.safetensors, metrics\.csv\) but no checkpoint\.safetensors to resume from/);
    const both = run('train.js', ['--data', ds, '--out', out, '--resume', '--overwrite']);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/--resume and --overwrite exclude each other/);
  });

  it('a run into a folder locked by a live process is refused; after kill -9 the lock is taken over, partial files removed, --overwrite replaces the run', async () => {
    const out = mkdtempSync(join(tmpdir(), 'kill9-'));
    writeFileSync(join(out, 'best.safetensors'), 'earlier weights');
    writeFileSync(join(out, 'report.html'), 'earlier report');
    writeFileSync(join(out, 'notes.txt'), 'the user\'s own file');
    // A live run holds the folder: this test process stands for it.
    writeFileSync(join(out, 'train.lock'), JSON.stringify({ pid: process.pid, host: hostname(), started: 'now' }));
    const busy = run('train.js', ['--data', ds, '--out', out, '--overwrite', ...common]);
    expect(busy.code).toBe(1);
    expect(busy.err).toMatch(new RegExp(`is being written by another training run \\(process ${process.pid}`));
    expect(readFileSync(join(out, 'best.safetensors'), 'utf8')).toBe('earlier weights');
    rmSync(join(out, 'train.lock'));

    // A real run killed with SIGKILL as soon as it holds the lock.
    const child = spawn(process.execPath, ['dist/train.js', '--data', ds, '--out', out, '--overwrite', ...common], { stdio: 'ignore' });
    for (let i = 0; i < 600 && !existsSync(join(out, 'train.lock')); i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    expect(JSON.parse(readFileSync(join(out, 'train.lock'), 'utf8')).pid).toBe(child.pid);
    // The killed run may have removed the earlier files already (--overwrite); put them back for the next one.
    writeFileSync(join(out, 'best.safetensors'), 'earlier weights');
    writeFileSync(join(out, 'report.html'), 'earlier report');
    // What a kill -9 in the middle of writing a checkpoint leaves.
    writeFileSync(join(out, `checkpoint.safetensors.tmp-${child.pid}`), new Uint8Array(2 ** 20));

    const r = run('train.js', ['--data', ds, '--out', out, '--overwrite', ...common]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`train\\.lock was left by process ${child.pid} .*no longer runs \\(killed\\?\\); taking over the folder`));
    expect(r.out).toMatch(new RegExp(`removed partial files left by an interrupted run: checkpoint\\.safetensors\\.tmp-${child.pid} \\(1\\.0 MB\\)`));
    expect(r.out).toMatch(/--overwrite: removed the earlier run's/);
    const files = readdirSync(out);
    expect(files.filter((f) => /tmp|lock|write-test/.test(f))).toEqual([]);
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('the user\'s own file');
    expect(allFinite(new Uint8Array(readFileSync(join(out, 'best.safetensors'))))).toBe(true);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).not.toBe('earlier report');
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

describe('outsafe: convert.js (item 10)', () => {
  const weights = () => pthOfTensors({ 'fc.weight': { shape: [256, 256], data: Float32Array.from({ length: 65536 }, (_, i) => i / 7) } });

  it('a folder as output, a missing output folder and NaN input are clear one-line errors that leave no file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'conv-'));
    writeFileSync(join(dir, 'in.pth'), weights());
    mkdirSync(join(dir, 'outdir'));
    const r = run('convert.js', [join(dir, 'in.pth'), join(dir, 'outdir')]);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toMatch(/^error: .*outdir is a folder: give the output file's name, e\.g\. .*outdir\/model\.safetensors$/);
    expect(readdirSync(join(dir, 'outdir'))).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual(['in.pth', 'outdir']);
    const m = run('convert.js', [join(dir, 'in.pth'), join(dir, 'no', 'such', 'out.safetensors')]);
    expect(m.code).toBe(1);
    expect(m.err.trim()).toMatch(/^error: cannot write .*out\.safetensors: a folder on the path does not exist \(ENOENT\); create its folder first/);
    const nan = Float32Array.of(1, NaN, 3, 4);
    writeFileSync(join(dir, 'nan.pth'), pthOfTensors({ 'layer1.0.conv1.weight': { shape: [4], data: nan } }));
    const n = run('convert.js', [join(dir, 'nan.pth'), join(dir, 'nan.safetensors')]);
    expect(n.code).toBe(1);
    expect(n.err.trim()).toMatch(/^error: .*nan\.pth: 1 of 1 tensors hold NaN or Inf values: layer1\.0\.conv1\.weight \(1 NaN of 4\)/);
    expect(existsSync(join(dir, 'nan.safetensors'))).toBe(false);
    for (const x of [r, m, n]) expect(x.err).not.toMatch(NO_STACK);
  });

  it('a partial file of a killed conversion is removed on the next start', () => {
    const dir = mkdtempSync(join(tmpdir(), 'conv-'));
    writeFileSync(join(dir, 'in.pth'), weights());
    const pid = deadPid();
    writeFileSync(join(dir, `out.safetensors.tmp-${pid}`), new Uint8Array(100_000));
    writeFileSync(join(dir, `other.bin.tmp-${pid}`), 'not ours');
    const r = run('convert.js', [join(dir, 'in.pth'), join(dir, 'out.safetensors')]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`removed partial files left by an interrupted conversion: out\\.safetensors\\.tmp-${pid}`));
    expect(readdirSync(dir).sort()).toEqual(['in.pth', `other.bin.tmp-${pid}`, 'out.safetensors']);
  });

  it.skipIf(!canMount)('out of space (a 128 KiB tmpfs, root only): a clear error, and no partial file is left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conv-'));
    writeFileSync(join(dir, 'in.pth'), weights()); // 256 KiB of weights
    await withTmpfs('size=128k', (small) => {
      const r = run('convert.js', [join(dir, 'in.pth'), join(small, 'out.safetensors')]);
      expect(r.code).toBe(1);
      expect(r.err.trim()).toMatch(/^error: cannot write .*out\.safetensors: the disk is full \(ENOSPC\); free some space, or choose a folder on another disk$/);
      expect(readdirSync(small)).toEqual([]);
    });
  });
});
