/**
 * The benchmark engine behind `node dist/bench.js` (src/cli/bench.ts parses its flags and writes the JSON):
 * kernel microbenchmarks on ResNet-34's shapes and a whole-model training step.
 * Every number is a median of timed repetitions after warm-up, measured as wall time around a GPU sync
 * (work is queued, then awaited), and reported with the adapter's name. The adapter's own ceilings are
 * measured in the same run: a large buffer copy (GB/s), the best matmul (GFLOP/s), and the arithmetic ceiling
 * (multiply-adds on registers only, GFLOP/s).
 */
import type { DispatchSpec, GpuRuntime } from '../gpu/runtime';
import { Tensor } from '../autograd/tensor';
import { autocast, noGrad, tidy } from '../autograd/scope';
import { hasF16 } from '../kernels/cast';
import { type MatmulVariant, hasSubgroupMatmul, matmul, tiledNames } from '../kernels/matmul';
import { type ConvAlgorithm, type ConvOptions, conv2dBackwardData, conv2dBackwardWeight, conv2dForward, conv2dGeometry } from '../kernels/conv';
import { bnApply, bnBackwardApply, bnBackwardReduce, bnStatsTrain } from '../kernels/batchnorm';
import { maxPool2dForward, maxPool2dBackward } from '../kernels/pool';
import { crossEntropyForward, crossEntropyBackward } from '../kernels/loss';
import { sgdUpdate } from '../kernels/sgd';
import { scale } from '../kernels/elementwise';
import fmaShader from './fma_ceiling.wgsl';
import { setKernelConfig } from '../kernels/config';
import { resnet } from '../nn/resnet';
import { freeze, setBatchNormEval } from '../nn/freeze';
import { SGD } from '../train/sgd';
import { trainStep } from '../train/trainer';
import { GradScaler } from '../train/grad_scaler';
import type { Precision } from '../train/config';
import { RESNET34_CONVS, convFlops, convOut, matmulShapes } from './shapes';

export interface KernelRow {
  name: string;
  shape: string;
  /** The kernel rows time the float32 kernels (float16 runs them on float32 copies: see autograd/ops/half.ts). */
  precision: 'f32';
  ms: number;
  gflops?: number;
  gbps?: number;
  /** Fraction of the adapter's measured ceiling (best matmul GFLOP/s, or copy GB/s). */
  of_peak?: number;
  /** The kernels one run dispatched, with their configuration (see kernelName), and how many times each. */
  kernels: Record<string, number>;
}

/**
 * A dispatch's kernel and configuration: the contract's name (else the op's), the entry point where it is not
 * 'main', and the override constants: 'matmul/matmul_subgroup.wgsl {MODE=0,SG=8,WIDE=1}'.
 */
export function kernelName(s: DispatchSpec): string {
  const constants = Object.entries(s.constants ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return `${s.kernel ?? s.op}${s.entry && s.entry !== 'main' ? `:${s.entry}` : ''}${constants.length ? ` {${constants.map(([k, v]) => `${k}=${v}`).join(',')}}` : ''}`;
}

/** Runs `fn` (which may return a promise), counting the dispatches of each kernel (kernelName) it asks for. */
async function kernelsOf(rt: GpuRuntime, fn: () => unknown): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  const outer = rt.dispatchLog;
  rt.dispatchLog = (s) => {
    outer?.(s);
    const k = kernelName(s);
    seen[k] = (seen[k] ?? 0) + 1;
  };
  try {
    await fn();
  } finally {
    rt.dispatchLog = outer;
  }
  return Object.fromEntries(Object.entries(seen).sort(([a], [b]) => (a < b ? -1 : 1)));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Median ms of `fn` (which only encodes work), after warm-up; each sample is `inner` calls then one sync.
 * `kernels` receives what the warm-up run dispatched (kernelsOf).
 */
async function timeIt(rt: GpuRuntime, fn: () => void, samples: number, kernels?: (k: Record<string, number>) => void): Promise<number> {
  const ran = await kernelsOf(rt, fn);
  kernels?.(ran);
  await rt.sync(); // warm-up: pipelines compiled, buffers pooled
  const t0 = performance.now();
  fn();
  await rt.sync();
  const once = performance.now() - t0;
  const inner = Math.max(1, Math.min(50, Math.round(20 / Math.max(once, 1e-3))));
  const times: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t = performance.now();
    for (let i = 0; i < inner; i++) fn();
    await rt.sync();
    times.push((performance.now() - t) / inner);
  }
  return median(times);
}

function buf(rt: GpuRuntime, elements: number, pool: GPUBuffer[]): GPUBuffer {
  const b = rt.alloc(elements * 4);
  pool.push(b);
  return b;
}

/** GFLOP/s of src/bench/fma_ceiling.wgsl: multiply-adds on registers only (the adapter's arithmetic ceiling). */
async function fmaCeiling(rt: GpuRuntime, samples: number): Promise<number> {
  const threads = 64 * 512;
  const iters = 512;
  const out = rt.alloc(threads * 16);
  const ms = await timeIt(rt, () => rt.dispatch({ op: 'bench-fma', shader: fmaShader, constants: { ITERS: iters }, bindings: [out], workgroups: [threads / 8] }), samples);
  rt.release(out);
  return (threads * iters * 256 * 2) / (ms * 1e6);
}

export async function ceilings(rt: GpuRuntime, samples: number, log: (s: string) => void): Promise<{ copyGbps: number; kernelGbps: number; fmaGflops: number }> {
  const n = 16 * 2 ** 20; // 64 MiB
  const bufs: GPUBuffer[] = [];
  const a = buf(rt, n, bufs);
  const b = buf(rt, n, bufs);
  const copyMs = await timeIt(rt, () => rt.copy(a, 0, b, 0, n * 4, 'bench-copy'), samples);
  const kernelMs = await timeIt(rt, () => scale(rt, a, 1.0001, b, n), samples);
  for (const x of bufs) rt.release(x);
  const copyGbps = (2 * n * 4) / (copyMs * 1e6);
  const kernelGbps = (2 * n * 4) / (kernelMs * 1e6);
  log(`ceiling: copyBufferToBuffer 64 MiB: ${copyGbps.toFixed(1)} GB/s (read+write); elementwise kernel: ${kernelGbps.toFixed(1)} GB/s`);
  const fmaGflops = await fmaCeiling(rt, samples);
  log(`ceiling: arithmetic (multiply-adds on registers, no memory traffic): ${fmaGflops.toFixed(1)} GFLOP/s`);
  return { copyGbps, kernelGbps, fmaGflops };
}

/** The matmul rows' shapes (--quick: those up to 2^28 multiply-adds). */
export function benchMatmuls(rt: GpuRuntime, batch: number, quick: boolean) {
  return matmulShapes(batch, rt.limits.maxStorageBufferBindingSize).filter((s) => !quick || s.m * s.n * s.k <= 2 ** 28);
}

/** The convolution rows' shapes (--quick: three of them). */
export function benchConvs(quick: boolean) {
  return quick ? RESNET34_CONVS.filter((c) => ['layer1 3x3', 'layer4 3x3', 'conv1 7x7/2'].includes(c.name)) : RESNET34_CONVS;
}

export async function benchKernels(rt: GpuRuntime, batch: number, quick: boolean, samples: number, log: (s: string) => void, convOpts: ConvOptions = {}): Promise<KernelRow[]> {
  const rows: KernelRow[] = [];
  // What the last timed run dispatched: the row added next records it.
  let ran: Record<string, number> = {};
  const time = (fn: () => void): Promise<number> => timeIt(rt, fn, samples, (k) => (ran = k));
  const add = (row: Omit<KernelRow, 'precision' | 'kernels'>) => {
    const r: KernelRow = { ...row, precision: 'f32', kernels: ran };
    rows.push(r);
    log(`${r.name.padEnd(34)} ${r.shape.padEnd(26)} ${r.ms.toFixed(3).padStart(10)} ms ${r.gflops !== undefined ? `${r.gflops.toFixed(2).padStart(8)} GFLOP/s` : `${r.gbps!.toFixed(2).padStart(8)} GB/s   `}`);
  };
  // Matmuls.
  for (const s of benchMatmuls(rt, batch, quick)) {
    const bufs: GPUBuffer[] = [];
    const A = buf(rt, s.m * s.k, bufs);
    const B = buf(rt, s.k * s.n, bufs);
    const C = buf(rt, s.m * s.n, bufs);
    const ms = await time(() => matmul(rt, A, B, C, s.m, s.n, s.k));
    add({ name: `matmul ${s.name}`, shape: `${s.m}x${s.n}x${s.k}`, ms, gflops: (2 * s.m * s.n * s.k) / (ms * 1e6) });
    for (const x of bufs) rt.release(x);
  }
  // Convolutions: forward, dX, dW.
  for (const s of benchConvs(quick)) {
    const g = conv2dGeometry([batch, s.c, s.h, s.h], [s.o, s.c, s.k, s.k], s.stride, s.pad);
    const oh = convOut(s);
    const bufs: GPUBuffer[] = [];
    const x = buf(rt, batch * s.c * s.h * s.h, bufs);
    const w = buf(rt, s.o * s.c * s.k * s.k, bufs);
    const y = buf(rt, batch * s.o * oh * oh, bufs);
    const flops = convFlops(s, batch);
    const shape = `${batch}x${s.c}x${s.h}² → ${s.o} k${s.k}s${s.stride}`;
    const fwd = await time(() => conv2dForward(rt, x, w, null, y, g, convOpts));
    add({ name: `conv fwd ${s.name}`, shape, ms: fwd, gflops: flops / (fwd * 1e6) });
    if (s.name !== 'conv1 7x7/2') {
      const dx = await time(() => conv2dBackwardData(rt, y, w, x, g, convOpts));
      add({ name: `conv dX ${s.name}`, shape, ms: dx, gflops: flops / (dx * 1e6) });
    }
    const dw = await time(() => conv2dBackwardWeight(rt, x, y, w, g, convOpts));
    add({ name: `conv dW ${s.name}`, shape, ms: dw, gflops: flops / (dw * 1e6) });
    for (const b of bufs) rt.release(b);
  }
  // Each matmul kernel on one square product, the tiled configurations included: 4096³ on a hardware
  // adapter, 1024³ on a software one (512³ with --quick).
  {
    const n = !rt.isSoftware && !quick ? 4096 : quick ? 512 : 1024;
    const variants: MatmulVariant[] = [...(hasSubgroupMatmul(rt) ? ['subgroup' as const] : []), 'vec4', ...tiledNames(rt)];
    const bufs: GPUBuffer[] = [];
    const [A, B, C] = [buf(rt, n * n, bufs), buf(rt, n * n, bufs), buf(rt, n * n, bufs)];
    for (const variant of variants) {
      const ms = await time(() => matmul(rt, A, B, C, n, n, n, { variant }));
      add({ name: `matmul ${variant}`, shape: `${n}x${n}x${n}`, ms, gflops: (2 * n ** 3) / (ms * 1e6) });
    }
    for (const x of bufs) rt.release(x);
  }
  // Batch norm (+ReLU), max pool, cross-entropy, SGD at layer1's activation size.
  {
    const [n, c, hw] = [batch, 64, 56 * 56];
    const s = { n, c, hw };
    const bufs: GPUBuffer[] = [];
    const x = buf(rt, n * c * hw, bufs);
    const y = buf(rt, n * c * hw, bufs);
    const dx = buf(rt, n * c * hw, bufs);
    const stats = buf(rt, 2 * c, bufs);
    const rm = buf(rt, c, bufs);
    const rv = buf(rt, c, bufs);
    const wgt = buf(rt, c, bufs);
    const bias = buf(rt, c, bufs);
    const dw = buf(rt, c, bufs);
    const db = buf(rt, c, bufs);
    const bytes = n * c * hw * 4;
    const affine = { weight: wgt, bias };
    const fwd = await time(() => {
      bnStatsTrain(rt, x, stats, rm, rv, s, 0.1, 1e-5);
      bnApply(rt, x, stats, affine, y, s, true);
    });
    add({ name: 'batchnorm+relu fwd (train)', shape: `${n}x${c}x56²`, ms: fwd, gbps: (3 * bytes) / (fwd * 1e6) });
    const bwd = await time(() => {
      bnBackwardReduce(rt, y, x, stats, affine, dw, db, s, true);
      bnBackwardApply(rt, y, x, stats, affine, { dweight: dw, dbias: db }, dx, s, true);
    });
    add({ name: 'batchnorm+relu bwd', shape: `${n}x${c}x56²`, ms: bwd, gbps: (5 * bytes) / (bwd * 1e6) });
    for (const b of bufs) rt.release(b);
  }
  {
    const ps = { planes: batch * 64, h: 112, w: 112, oh: 56, ow: 56 };
    const win = { kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 };
    const bufs: GPUBuffer[] = [];
    const x = buf(rt, ps.planes * 112 * 112, bufs);
    const y = buf(rt, ps.planes * 56 * 56, bufs);
    const idx = buf(rt, ps.planes * 56 * 56, bufs);
    const fwd = await time(() => maxPool2dForward(rt, x, y, idx, ps, win));
    const bytes = ps.planes * (112 * 112 + 2 * 56 * 56) * 4;
    add({ name: 'maxpool 3x3/2 fwd', shape: `${batch}x64x112²`, ms: fwd, gbps: bytes / (fwd * 1e6) });
    const bwd = await time(() => maxPool2dBackward(rt, y, idx, x, ps, win));
    add({ name: 'maxpool 3x3/2 bwd', shape: `${batch}x64x112²`, ms: bwd, gbps: bytes / (bwd * 1e6) });
    for (const b of bufs) rt.release(b);
  }
  {
    const [n, c] = [batch, 1000];
    const bufs: GPUBuffer[] = [];
    const logits = buf(rt, n * c, bufs);
    const labels = rt.alloc(n * 4);
    rt.write(labels, new Int32Array(n));
    const stats = buf(rt, 2 * n, bufs);
    const loss = buf(rt, n, bufs);
    const up = buf(rt, n, bufs);
    const d = buf(rt, n * c, bufs);
    const ms = await time(() => {
      crossEntropyForward(rt, logits, labels, stats, loss, n, c, 0);
      crossEntropyBackward(rt, logits, labels, stats, up, d, n, c, 0, 1 / n, true);
    });
    add({ name: 'softmax-cross-entropy fwd+bwd', shape: `${n}x${c}`, ms, gbps: (3 * n * c * 4) / (ms * 1e6) });
    rt.release(labels);
    for (const b of bufs) rt.release(b);
  }
  {
    const n = 21_797_672; // every ResNet-34 parameter in one update
    const bufs: GPUBuffer[] = [];
    const p = buf(rt, n, bufs);
    const g = buf(rt, n, bufs);
    const m = buf(rt, n, bufs);
    const ms = await time(() => sgdUpdate(rt, p, g, m, n, { lr: 0.001, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false }, false));
    add({ name: 'sgd momentum update', shape: `${n} params`, ms, gbps: (5 * n * 4) / (ms * 1e6) });
    for (const b of bufs) rt.release(b);
  }
  return rows;
}

/**
 * Compute dispatches and queue submits of one run of `fn` (after a warm-up run), up to its sync, and the
 * dispatches of each kernel and configuration (kernelsOf).
 */
async function countWork(rt: GpuRuntime, fn: () => unknown): Promise<{ dispatches: number; submits: number; kernels: Record<string, number> }> {
  const before = { ...rt.counters };
  const kernels = await kernelsOf(rt, async () => {
    await fn();
    await rt.sync();
  });
  return { dispatches: rt.counters.dispatches - before.dispatches, submits: rt.counters.submits - before.submits, kernels };
}

/** Fine-tuning settings of the model step: the layers that train (default all) and frozen batch norm. */
export interface BenchTuning {
  trainLayers?: string[];
  freezeBn?: boolean;
}

/** The line the bench logs where --precision f16 cannot run (no shader-f16): the rows measure float32. */
export function noF16Line(rt: GpuRuntime): string {
  return `warning: this adapter (${rt.adapter.name}) has no shader-f16, so --precision f16 cannot run on it: measuring float32 instead`;
}

/**
 * One ResNet train step (forward, cross-entropy, backward, SGD momentum: the trainer's trainStep) and one
 * eval forward, timed (medians of `steps`), with the peak GPU memory of the train step: the pool's peak of
 * live bytes, reset right before the measured steps, so it counts the model, its gradients and momentum,
 * the batch and every activation and workspace of one step. `precision` 'f16': the forward under autocast
 * and a loss scaler (trainStep's, its `stepped` awaited each step), the eval forward under autocast; where
 * the adapter lacks shader-f16, one line says so and the row is float32's (its `precision` says which ran).
 */
export async function benchModel(rt: GpuRuntime, arch: string, batch: number, size: number, steps: number, profile: boolean | 'shapes', log: (s: string) => void, tuning: BenchTuning = {}, precision: Precision = 'f32') {
  const f16 = precision === 'f16' && hasF16(rt);
  if (precision === 'f16' && !f16) log(noF16Line(rt));
  const ran: Precision = f16 ? 'f16' : 'f32';
  const model = resnet(arch, { numClasses: 37, dropout: 0.5, seed: 0 });
  if (tuning.trainLayers) freeze(model, { trainLayers: tuning.trainLayers });
  const opt = new SGD(model.parameters(), { lr: 0.001, momentum: 0.9 });
  // float16: dynamic loss scaling, as the trainer's (torch's defaults).
  const scaler = f16 ? new GradScaler() : null;
  const x = Tensor.randn([batch, 3, size, size], 1, 0, 1, rt);
  const y = Tensor.fromArray(Int32Array.from({ length: batch }, (_, i) => i % 37), [batch], 'i32', rt);
  let skipped = 0;
  /** The dtype of the logits the train step and the eval forward produced (float16 under autocast). */
  const forwardDtype = { train: '', eval: '' };
  /** The host's time to encode each step (trainStep's call: no GPU wait, the batches it fills submitted). */
  const encodeTimes: number[] = [];
  const step = async () => {
    const t0 = performance.now();
    const out = trainStep(model, opt, x, y, 0, 0, { autocast: f16, scaler });
    encodeTimes.push(performance.now() - t0);
    forwardDtype.train = out.logits.dtype;
    out.loss.dispose();
    out.logits.dispose();
    if (out.stepped && !(await out.stepped)) skipped++;
  };
  model.train();
  if (tuning.freezeBn) setBatchNormEval(model);
  await step();
  await rt.sync();
  // The work of one step as the GPU sees it: compute dispatches, and submits (command buffers).
  const trainWork = await countWork(rt, step);
  const trainTimes: number[] = [];
  // The peak counts from here: what is live between steps (model, gradients, momentum, batch) and the step's own.
  await rt.sync();
  rt.pool.resetPeak();
  encodeTimes.length = 0;
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    await step();
    await rt.sync();
    trainTimes.push(performance.now() - t);
  }
  const peak = rt.poolStats().peakLiveBytes;
  const encodeMs = median(encodeTimes);
  if (profile) {
    // One more step with a timestamp per dispatch: where the GPU time goes.
    rt.profile = new Map();
    rt.profileShapes = profile === 'shapes';
    await step();
    await rt.sync();
    const rows = [...rt.profile].sort((a, b) => b[1].ms - a[1].ms);
    const total = rows.reduce((s, [, v]) => s + v.ms, 0);
    log(`profile of one train step (GPU timestamps, ${total.toFixed(0)} ms in ${rows.reduce((s, [, v]) => s + v.count, 0)} dispatches):`);
    for (const [op, v] of rows.slice(0, profile === 'shapes' ? 80 : 40)) log(`  ${op.padEnd(40)} ${v.ms.toFixed(1).padStart(9)} ms ${((100 * v.ms) / total).toFixed(1).padStart(5)}%  ×${v.count}`);
    rt.profile = null;
  }
  model.eval();
  const evalStep = () => noGrad(() => tidy(() => void (forwardDtype.eval = autocast(() => model.forward(x), { enabled: f16 }).dtype)));
  // As an evaluation loop runs (Trainer.evaluate): the weights' derived buffers (Winograd's transformed filters,
  // the folded batch norms) are made by the warm-up forward and kept, so the counted and timed forwards reuse them.
  const evalTimes: number[] = [];
  const evalWork = await rt.derived.scope(async () => {
    evalStep();
    await rt.sync();
    const work = await countWork(rt, evalStep);
    for (let i = 0; i < steps; i++) {
      const t = performance.now();
      evalStep();
      await rt.sync();
      evalTimes.push(performance.now() - t);
    }
    return work;
  });
  const train = (batch * 1000) / median(trainTimes);
  const evalIps = (batch * 1000) / median(evalTimes);
  const tuned = `${tuning.trainLayers ? ` (training ${tuning.trainLayers.join(',')})` : ''}${tuning.freezeBn ? ' (frozen batch norm)' : ''}`;
  log(`model ${arch} batch ${batch} ${size}px ${ran}${tuned}: train step ${median(trainTimes).toFixed(0)} ms = ${train.toFixed(2)} images/s; eval ${evalIps.toFixed(2)} images/s; peak GPU memory ${(peak / 2 ** 20).toFixed(0)} MiB`);
  log(`  per step: train ${trainWork.dispatches} dispatches in ${trainWork.submits} submits, encoded by the host in ${encodeMs.toFixed(1)} ms; eval ${evalWork.dispatches} dispatches in ${evalWork.submits} submits${skipped ? `; ${skipped} steps skipped by the loss scaler` : ''}`);
  scaler?.dispose();
  opt.dispose();
  model.dispose();
  x.dispose();
  y.dispose();
  return {
    arch,
    batch,
    img_size: size,
    /** The precision the row ran in ('f32' where f16 was asked on an adapter without shader-f16). */
    precision: ran,
    loss_scaling: scaler !== null,
    /** Steps the loss scaler skipped (gradients with inf/NaN), of every step this row ran (warm-up included). */
    skipped_steps: skipped,
    logits_dtype: forwardDtype,
    train_layers: tuning.trainLayers ?? 'all',
    freeze_bn: tuning.freezeBn ?? false,
    train_images_per_second: train,
    eval_images_per_second: evalIps,
    train_step_ms: median(trainTimes),
    /**
     * The host's median time to encode a train step (part of train_step_ms). The trainer encodes the next step
     * while the GPU runs this one, so where this nears train_step_ms, the step is bound by the host.
     */
    train_step_encode_ms: encodeMs,
    peak_bytes: peak,
    train_step_dispatches: trainWork.dispatches,
    train_step_submits: trainWork.submits,
    eval_step_dispatches: evalWork.dispatches,
    eval_step_submits: evalWork.submits,
    /** The kernels and configurations of one train step and one eval forward, with their dispatches (kernelName). */
    train_step_kernels: trainWork.kernels,
    eval_step_kernels: evalWork.kernels,
  };
}

export type ModelRow = Awaited<ReturnType<typeof benchModel>>;

/** f16 against f32 (--compare-precision): the peak's reduction (a fraction of f32's) and the speed ratios (f16 / f32). */
export interface PrecisionComparison {
  peak_bytes_f32: number;
  peak_bytes_f16: number;
  peak_reduction: number;
  train_step_ms_f32: number;
  train_step_ms_f16: number;
  train_speedup: number;
  eval_speedup: number;
}

export function comparePrecision(f32: ModelRow, f16: ModelRow): PrecisionComparison {
  return {
    peak_bytes_f32: f32.peak_bytes,
    peak_bytes_f16: f16.peak_bytes,
    peak_reduction: 1 - f16.peak_bytes / f32.peak_bytes,
    train_step_ms_f32: f32.train_step_ms,
    train_step_ms_f16: f16.train_step_ms,
    train_speedup: f32.train_step_ms / f16.train_step_ms,
    eval_speedup: f16.eval_images_per_second / f32.eval_images_per_second,
  };
}

export function comparisonLine(c: PrecisionComparison): string {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  return (
    `f16 against f32: peak GPU memory ${mib(c.peak_bytes_f16)} against ${mib(c.peak_bytes_f32)} (${(100 * Math.abs(c.peak_reduction)).toFixed(1)}% ${c.peak_reduction >= 0 ? 'lower' : 'higher'}); ` +
    `train step ${c.train_step_ms_f16.toFixed(0)} ms against ${c.train_step_ms_f32.toFixed(0)} ms (${c.train_speedup.toFixed(2)}x); eval ${c.eval_speedup.toFixed(2)}x`
  );
}

export interface BenchOptions {
  /** Kernel rows' batch. */
  batch: number;
  /** The model step's batch and image size. */
  modelBatch: number;
  size: number;
  arch: string;
  samples: number;
  steps: number;
  quick: boolean;
  kernels: boolean;
  model: boolean;
  /** GPU time per op (true), or per op and shape ('shapes'), of one train step. */
  profile: boolean | 'shapes';
  /** Force a conv algorithm in the kernel rows (default: the adapter's choice per shape). */
  convAlgorithm?: ConvAlgorithm;
  /** Winograd's forward output tile. */
  winogradTile?: 2 | 4;
  /** The model step's fine-tuning settings (default: every layer trains). */
  tuning?: BenchTuning;
  /** The model rows' precision (default 'f32'): 'f16' runs them under autocast with loss scaling. */
  precision?: Precision;
  /** Measure the model rows in both precisions (f32, then f16) and report f16's peak-memory reduction and speed. */
  comparePrecision?: boolean;
}

export interface BenchReport {
  adapter: string;
  adapter_description: string;
  ceilings: { copy_gbps: number; kernel_gbps: number; fma_gflops: number };
  kernels: KernelRow[];
  /** The model row in the options' precision. */
  model: ModelRow | null;
  /** --compare-precision: the f32 row and the f16 row (absent where the adapter lacks shader-f16), and the comparison. */
  model_rows?: ModelRow[];
  precision_comparison?: PrecisionComparison | null;
}

/** Every benchmark the options ask for, on `rt`, logging each result line as it comes; the report for --json. */
export async function runBench(rt: GpuRuntime, o: BenchOptions, log: (s: string) => void): Promise<BenchReport> {
  if (o.winogradTile === 2) setKernelConfig(rt, { winogradTile: 2 });
  log(`adapter: ${rt.adapter.name} (${rt.adapter.description})`);
  log(`medians of ${o.samples} timed samples after warm-up; kernel batch ${o.batch}`);
  const ceil = await ceilings(rt, o.samples, log);
  let kernels: KernelRow[] = [];
  if (o.kernels) {
    kernels = await benchKernels(rt, o.batch, o.quick, o.samples, log, o.convAlgorithm ? { algorithm: o.convAlgorithm } : {});
    const peak = Math.max(...kernels.filter((k) => k.gflops).map((k) => k.gflops!));
    log(`ceiling: best matmul/conv ${peak.toFixed(2)} GFLOP/s`);
    for (const k of kernels) k.of_peak = k.gflops !== undefined ? k.gflops / peak : k.gbps! / ceil.kernelGbps;
  }
  const precision = o.precision ?? 'f32';
  const row = (p: Precision) => benchModel(rt, o.arch, o.modelBatch, o.size, o.steps, o.profile, log, o.tuning, p);
  const report: BenchReport = { adapter: rt.adapter.name, adapter_description: rt.adapter.description, ceilings: { copy_gbps: ceil.copyGbps, kernel_gbps: ceil.kernelGbps, fma_gflops: ceil.fmaGflops }, kernels, model: null };
  if (!o.model) return report;
  if (!o.comparePrecision) {
    report.model = await row(precision);
    return report;
  }
  const f32 = await row('f32');
  if (!hasF16(rt)) {
    log(noF16Line(rt));
    return { ...report, model: f32, model_rows: [f32], precision_comparison: null };
  }
  const f16 = await row('f16');
  const comparison = comparePrecision(f32, f16);
  log(comparisonLine(comparison));
  return { ...report, model: precision === 'f16' ? f16 : f32, model_rows: [f32, f16], precision_comparison: comparison };
}
