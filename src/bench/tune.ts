/**
 * `bench --tune`: the kernel choices of the kernel rows' shapes (matmuls, ResNet-34's convolutions, batch norm)
 * and of the model's training step, timed on this adapter (kernels/tune).
 */
import type { GpuRuntime } from '../gpu/runtime';
import { convPlan, conv2dGeometry } from '../kernels/conv';
import { matmulVariant } from '../kernels/matmul';
import { bnStatsTrain } from '../kernels/batchnorm';
import type { TuneTable, TunedChoice } from '../kernels/tune/cache';
import { type TuneTarget, recordChoices, tuneTargets } from '../kernels/tune/tuner';
import { recordModelChoices, tuneModelChoices } from '../train/tune';
import { resnet } from '../nn/resnet';
import { benchConvs, benchMatmuls, type BenchOptions } from './engine';
import type { Precision } from '../train/config';

/** The choices the kernel rows make (choices only: nothing runs but one batch-norm statistics pass). */
export async function kernelRowTargets(rt: GpuRuntime, batch: number, quick: boolean): Promise<TuneTarget[]> {
  const [n, c, hw] = [batch, 64, 56 * 56];
  const bufs = [n * c * hw, 2 * c, c, c].map((floats) => {
    const b = rt.alloc(floats * 4);
    rt.clear(b, 0, b.size);
    return b;
  });
  const [x, stats, mean, variance] = bufs;
  try {
    return await recordChoices(rt, () => {
      for (const s of benchMatmuls(rt, batch, quick)) matmulVariant(rt, s.m, s.n, s.k);
      for (const s of benchConvs(quick)) {
        const g = conv2dGeometry([batch, s.c, s.h, s.h], [s.o, s.c, s.k, s.k], s.stride, s.pad);
        for (const pass of ['forward', 'data', 'weight'] as const) if (pass !== 'data' || s.name !== 'conv1 7x7/2') convPlan(rt, g, pass);
      }
      bnStatsTrain(rt, x, stats, mean, variance, { n, c, hw }, 0.1, 1e-5);
    });
  } finally {
    for (const b of bufs) rt.release(b);
  }
}

/** Tune the choices of the kernel rows (unless o.kernels is false) and of the model step (unless o.model is false) into `table`. */
export async function tuneBench(rt: GpuRuntime, o: BenchOptions, table: TuneTable, log: (line: string) => void): Promise<TunedChoice[]> {
  const targets: TuneTarget[] = [];
  if (o.kernels) targets.push(...(await kernelRowTargets(rt, o.batch, o.quick)));
  const model = o.model ? resnet(o.arch, { numClasses: 37, dropout: 0.5, seed: 0 }) : null;
  try {
    const shape = [o.modelBatch, 3, o.size, o.size];
    // The model step in each precision its rows run in: float16's convolutions and products are choices of their own.
    const precisions: Precision[] = o.comparePrecision ? ['f32', 'f16'] : [o.precision ?? 'f32'];
    if (model) for (const p of precisions) targets.push(...(await recordModelChoices(rt, model, shape, undefined, p)));
    const unique = [...new Map(targets.map((t) => [`${t.site} ${t.shape}`, t])).values()];
    log(`tuning ${unique.filter((t) => t.candidates.length > 1).length} kernel choices (of ${unique.length} seen) on ${rt.adapter.name}`);
    const opts = { table, log, samples: o.samples };
    if (!model) return await tuneTargets(rt, unique, opts);
    // With a model, its step once more with the picks: the products inside convolutions whose algorithm changed.
    const tuned = await tuneModelChoices(rt, model, shape, { ...opts, precision: precisions[0] }, unique);
    for (const p of precisions.slice(1)) tuned.push(...(await tuneModelChoices(rt, model, shape, { ...opts, precision: p }, [])));
    return tuned;
  } finally {
    model?.dispose();
  }
}
