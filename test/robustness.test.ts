/** What happens when things go wrong: NaN losses, lost devices, limits, interrupted runs, and GPU memory over many steps. */
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testRuntime } from './helpers/gpu';
import type { GpuRuntime } from '../src/gpu/runtime';
import { initGpu } from '../src/gpu/init';
import { DeviceLostError, GpuOpError } from '../src/gpu/errors';
import { Tensor } from '../src/autograd/tensor';
import { Module } from '../src/nn/module';
import { BatchNorm2d, Conv2d, Linear, MaxPool2d, Sequential, AdaptiveAvgPool2d, Flatten, ReLU } from '../src/nn/layers';
import { SeedSequence } from '../src/nn/init';
import { SGD } from '../src/train/sgd';
import { Trainer, TrainingDivergedError, trainStep, type BatchSource } from '../src/train/trainer';
import { MemoryStore } from '../src/train/io';
import { FolderStore } from '../src/train/store.node';
import { RECIPE_DEFAULTS } from '../src/train/config';
import type { Batch } from '../src/train/data/loader';
import { readSafetensors, readSafetensorsMetadata } from '../src/nn/weights/safetensors';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
  rt.poison = false;
});

/** conv → bn → relu → maxpool → conv → bn → relu → avgpool → linear: every layer kind, small enough for hundreds of steps. */
class TinyNet extends Module {
  readonly body: Sequential;
  constructor(classes = 3) {
    super();
    const seeds = new SeedSequence(1);
    this.body = this.registerModule(
      'body',
      new Sequential(
        new Conv2d(3, 8, 3, { padding: 1, seeds }),
        new BatchNorm2d(8),
        new ReLU(),
        new MaxPool2d(3, 2, 1),
        new Conv2d(8, 8, 3, { padding: 1, seeds }),
        new BatchNorm2d(8),
        new ReLU(),
        new AdaptiveAvgPool2d(1),
        new Flatten(),
        new Linear(8, classes, seeds),
      ),
    );
  }
  forward(x: Tensor): Tensor {
    return this.body.forward(x);
  }
}

/** Random batches; `poison(epoch, step)` may put a NaN into the images. */
function syntheticSource(batches: number, n: number, size: number, poison?: (epoch: number, step: number) => boolean): BatchSource {
  return {
    batchesPerEpoch: batches,
    skippedFiles: 0,
    samples: new Array(batches * n).fill(null).map((_, i) => ({ label: i % 3 })),
    async *epoch(epoch: number, start = 0): AsyncGenerator<Batch> {
      for (let b = start; b < batches; b++) {
        const images = Float32Array.from({ length: n * 3 * size * size }, (_, i) => Math.sin(i * 0.37 + b + epoch));
        if (poison?.(epoch, b + 1)) images[5] = NaN;
        yield { images, labels: Int32Array.from({ length: n }, (_, i) => (b * n + i) % 3), indices: Array.from({ length: n }, (_, i) => b * n + i) };
      }
    },
  };
}

describe('robustness: GPU memory', () => {
  it('live GPU bytes are the same after training step 10 and after step 200', async () => {
    const model = new TinyNet();
    const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
    const x = Tensor.randn([4, 3, 16, 16], 3);
    const y = Tensor.fromArray([0, 1, 2, 1], [4], 'i32');
    let at10 = 0;
    for (let step = 1; step <= 200; step++) {
      const { loss, logits } = trainStep(model, opt, x, y);
      const read = loss.toArray(); // the trainer's one readback per step
      loss.dispose();
      logits.dispose();
      expect(Number.isFinite((await read)[0])).toBe(true);
      if (step === 10) at10 = rt.poolStats().liveBytes;
    }
    const at200 = rt.poolStats().liveBytes;
    console.log(`live GPU bytes: step 10 ${at10}, step 200 ${at200}; buffers created in total ${rt.poolStats().created}`);
    expect(at200).toBe(at10);
    opt.dispose();
    model.dispose();
    x.dispose();
    y.dispose();
  });
});

describe('robustness: training faults', () => {
  const config = { ...RECIPE_DEFAULTS, arch: 'tiny', imgSize: 16, batchSize: 4, lr: 0.01, maxEpochs: 3 };

  it('a NaN loss stops the run naming the epoch and step, and the last good checkpoint is kept', async () => {
    const store = new MemoryStore();
    const data = { classes: ['a', 'b', 'c'], train: syntheticSource(3, 4, 16, (e, s) => e === 2 && s === 2), val: syntheticSource(1, 4, 16), test: syntheticSource(1, 4, 16) };
    const model = new TinyNet();
    const trainer = new Trainer(rt, model, data, config, store);
    const err = await trainer.run().then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect(err!.message).toMatch(/loss is NaN at epoch 2, step 2/);
    expect(err!.message).toMatch(/last good checkpoint \(checkpoint\.safetensors\) is kept/);
    const meta = readSafetensorsMetadata(store.files.get('checkpoint.safetensors')!, 'checkpoint');
    expect(JSON.parse(meta.trainer).epoch).toBe(2); // written after epoch 1, never after the NaN
    trainer.dispose();
    model.dispose();
  });

  it('a lost device is reported clearly, and pending reads fail instead of hanging', async () => {
    const own = await initGpu();
    const t = Tensor.full([1000], 1, own);
    own.device.destroy(); // what a driver reset looks like from WebGPU
    await expect(t.toArray()).rejects.toThrowError(DeviceLostError);
    expect(() => Tensor.full([3], 1, own)).toThrowError(/device was lost/);
  });

  it('an out-of-memory error from WebGPU is reported with the ops and the batch/image size hint', () => {
    // A software adapter overcommits memory, so a real allocation failure cannot be provoked here; this feeds
    // WebGPU's own GPUOutOfMemoryError through the path an error scope's result takes.
    const OomError = (globalThis as unknown as { GPUOutOfMemoryError: new (m: string) => GPUError }).GPUOutOfMemoryError;
    (rt as unknown as { recordError(e: GPUError, ops: string[]): void }).recordError(new OomError('Out of memory allocating a buffer'), ['conv2d[32x64x56x56 k3 s1]', 'batchnorm.stats[32x64x3136]']);
    let err: Error | null = null;
    try {
      rt.throwIfBroken();
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(GpuOpError);
    expect(err!.name).toBe('GpuOutOfMemoryError');
    expect(err!.message).toMatch(/GPU out-of-memory error in one of the ops \[conv2d\[32x64x56x56 k3 s1\], batchnorm/);
    expect(err!.message).toMatch(/smaller batch or image size/);
    // The runtime keeps working once the error is reported.
    expect(() => Tensor.full([2], 1, rt).dispose()).not.toThrow();
  });

  it('work beyond the device limits is refused with the op, the size and a hint', () => {
    const huge = Math.ceil(rt.limits.maxBufferSize / 4) + 1024;
    expect(() => Tensor.empty([huge], 'f32', rt)).toThrowError(GpuOpError);
    expect(() => Tensor.empty([huge], 'f32', rt)).toThrowError(/exceeds maxBufferSize.*smaller batch or image size/s);
  });
});

describe('robustness: checkpoints', () => {
  it('a checkpoint is replaced atomically: a reader never sees a partial file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
    const store = new FolderStore(dir);
    const big = new Uint8Array(8 * 2 ** 20);
    const { writeSafetensors } = await import('../src/nn/weights/safetensors');
    const file = (v: number) => writeSafetensors({ w: { dtype: 'F32', shape: [big.length / 4], data: new Float32Array(big.length / 4).fill(v) } });
    await store.write('checkpoint.safetensors', file(0));
    let reads = 0;
    let writing = true;
    const reader = (async () => {
      while (writing) {
        const t = readSafetensors(new Uint8Array(readFileSync(join(dir, 'checkpoint.safetensors'))), 'checkpoint');
        expect(t.get('w')!.data.length).toBe(big.length / 4);
        reads++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    for (let v = 1; v <= 10; v++) await store.write('checkpoint.safetensors', file(v));
    writing = false;
    await reader;
    expect(reads).toBeGreaterThan(0);
    expect(readdirSync(dir)).toEqual(['checkpoint.safetensors']); // no temporary files left behind
  });
});
