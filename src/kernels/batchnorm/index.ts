/**
 * Launchers for batchnorm.wgsl: per-channel batch statistics (with the running-estimate update),
 * the normalising apply (optionally fused with ReLU), and the two backward passes.
 * `stats` buffers hold [mean (C) | invstd (C)]. When H·W is a multiple of 4 the vec4 entry points are used.
 *
 * Every launcher with data bindings (x, dy, out, res) takes their storage type last: 'f32', or 'f16' for float16
 * tensors, run by batchnormKernelF16 — the same shader made float16-storage by halfVariant (kernels/cast/variant.ts):
 * it reads f16 data and writes f16 results, with all arithmetic and statistics in f32. Statistics, weights,
 * running estimates and the dweight / dbias sums stay f32 in both.
 */
import type { Binding, GpuRuntime } from '../../gpu/runtime';
import batchnorm from './batchnorm.wgsl';
import foldShader from './fold.wgsl';
import { f32Range, gridStride } from '../util';
import { withPrelude } from '../prelude';
import { defineKernel, launch } from '../contract';
import { choose, kernelConfig } from '../config';
import { f16Range, requireF16 } from '../cast';
import { halfVariant } from '../cast/variant';

/** The storage type of the data bindings (x, dy, out, res). */
export type BnDtype = 'f32' | 'f16';

/** An NCHW activation seen as [n, c, hw] with hw = H·W. */
export interface BnShape {
  n: number;
  c: number;
  hw: number;
}

/** weight / bias of the affine part; either may be absent (treated as 1 / 0). */
export interface BnAffine {
  weight: GPUBuffer | null;
  bias: GPUBuffer | null;
}

const WG = 256;
/** Threads per workgroup of the serial reductions (one thread per channel; see KernelConfig.channelReduction). */
const SERIAL_WG = 8;

/**
 * Threads per workgroup of the per-channel reductions (one workgroup per channel): enough for 8 units (values
 * or vec4s) per thread, up to WG. Small channels (the tiny maps of a small-image ResNet's last stage) then
 * skip a tree of mostly idle threads and its barriers, which SwiftShader runs slowly.
 */
function reduceWG(s: BnShape): number {
  const units = (s.n * s.hw) / (s.hw % 4 === 0 ? 4 : 1);
  return Math.min(WG, Math.max(32, 2 ** Math.ceil(Math.log2(Math.max(1, units / 8)))));
}
/** Elementwise entries: units (elements or vec4s) per thread of the grid-stride loop. */
const UNITS_PER_THREAD = 4;
/** vec4 units per chunk of the vec4 elementwise entries (batchnorm.wgsl's CHUNK). */
const CHUNK = 8;
const HAS_WEIGHT = 1;
const HAS_BIAS = 2;
const TRAINING = 4;

const ENTRIES = [
  ...['stats_train', 'apply', 'backward_reduce', 'backward_apply', 'stats_train_serial', 'backward_reduce_serial', 'relu_mask', 'backward_reduce_mask', 'backward_reduce_mask_serial'].flatMap((e) => [e, `${e}_v4`]),
  'stats_eval',
];

export const batchnormKernel = defineKernel({
  name: 'batchnorm/batchnorm.wgsl',
  shader: withPrelude(batchnorm, 'grid'),
  entries: ENTRIES,
  uniforms: [['n', 'u32'], ['c', 'u32'], ['hw', 'u32'], ['flags', 'u32'], ['momentum', 'f32'], ['eps', 'f32'], ['stride', 'u32']],
  bindings: [
    ['x', 'read'],
    ['dy', 'read'],
    ['stats', 'read'],
    ['weight', 'read'],
    ['bias', 'read'],
    ['out', 'read_write'],
    ['stats_out', 'read_write'],
    ['running_mean', 'read_write'],
    ['running_var', 'read_write'],
    ['dbias_out', 'read_write'],
    ['dweight_out', 'read_write'],
    ['dbias_in', 'read'],
    ['dweight_in', 'read'],
    ['x4', 'read'],
    ['dy4', 'read'],
    ['out4', 'read_write'],
    ['res', 'read'],
    ['res4', 'read'],
    ['grad_out', 'read_write'],
    ['grad_out4', 'read_write'],
  ],
});
type Slot = (typeof batchnormKernel.bindings)[number][0];

/** The same kernel on float16 data (x, dy, out, res and their vec4 views): same entries, uniforms and bindings. */
export const batchnormKernelF16 = defineKernel({
  name: 'batchnorm/batchnorm.wgsl (f16)',
  shader: withPrelude(halfVariant(batchnorm, { scalar: ['x', 'dy', 'out', 'res', 'grad_out'], vec4: ['x4', 'dy4', 'out4', 'res4', 'grad_out4'] }), 'grid'),
  entries: ENTRIES,
  uniforms: batchnormKernel.uniforms,
  bindings: batchnormKernel.bindings,
});

/** The kernel for data of `dtype` (float16 needs the device's shader-f16: refused clearly without it). */
function kernelFor(rt: GpuRuntime, op: string, dtype: BnDtype): typeof batchnormKernel {
  if (dtype === 'f32') return batchnormKernel;
  if (dtype !== 'f16') throw new Error(`${op}: data dtype ${String(dtype)} is not supported (f32 or f16)`);
  requireF16(rt, op);
  return batchnormKernelF16;
}

const NO_SLOTS = Object.fromEntries(batchnormKernel.bindings.map(([name]) => [name, null])) as Record<Slot, Binding | null>;

/**
 * Every binding of the module by name: the given ones (later parts win), null (unused) for the rest. Built by
 * Object.assign: object spreads cost microseconds per field in Node 20, and this runs at every dispatch.
 */
function slots(...given: Partial<Record<Slot, Binding>>[]): Record<Slot, Binding | null> {
  return Object.assign({}, NO_SLOTS, ...given);
}

function label(name: string, s: BnShape, relu = false, dtype: BnDtype = 'f32'): string {
  return `batchnorm${relu ? '_relu' : ''}.${name}${dtype === 'f16' ? '.f16' : ''}[${s.n}x${s.c}x${s.hw}]`;
}

function checkShape(op: string, s: BnShape, rt?: GpuRuntime): void {
  for (const [k, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${op}: ${k} = ${v} must be a positive integer`);
  }
  if (rt && s.c > rt.limits.maxComputeWorkgroupsPerDimension) throw new Error(`${op}: ${s.c} channels exceed the workgroup-count limit`);
}

function params(s: BnShape, flags: number, momentum = 0, eps = 0, stride = 0) {
  return { n: s.n, c: s.c, hw: s.hw, flags, momentum, eps, stride };
}

function affineFlags(a: BnAffine): number {
  return (a.weight ? HAS_WEIGHT : 0) | (a.bias ? HAS_BIAS : 0);
}

/** vec4 entries when no vec4 straddles two channels. */
function isVec4(s: BnShape): boolean {
  return s.hw % 4 === 0;
}

/** How the per-channel sums run: the kernel configuration's channelReduction, through the chooser. */
function channelReduction(rt: GpuRuntime, s: BnShape): 'tree' | 'serial' {
  return choose(rt, 'batchnorm.reduce', `${s.n}x${s.c}x${s.hw}`, REDUCTIONS, kernelConfig(rt).channelReduction);
}
const REDUCTIONS = ['serial', 'tree'] as const;

/**
 * The entry (scalar or vec4 variant) and the x / dy / out / res bindings in the matching slots, sized for their
 * storage type (float16: 2 bytes a value, whole 4-byte words; a vec4<f16> is 8 bytes).
 */
function dataSlots(s: BnShape, entry: string, data: { x?: GPUBuffer; dy?: GPUBuffer; out?: GPUBuffer; res?: GPUBuffer; grad_out?: GPUBuffer }, dtype: BnDtype) {
  const total = s.n * s.c * s.hw;
  const range = dtype === 'f16' ? f16Range : f32Range;
  const given: Partial<Record<Slot, Binding>> = {};
  const v = isVec4(s);
  if (data.x) given[v ? 'x4' : 'x'] = range(data.x, total);
  if (data.dy) given[v ? 'dy4' : 'dy'] = range(data.dy, total);
  if (data.out) given[v ? 'out4' : 'out'] = range(data.out, total);
  if (data.res) given[v ? 'res4' : 'res'] = range(data.res, total);
  if (data.grad_out) given[v ? 'grad_out4' : 'grad_out'] = range(data.grad_out, total);
  return { entry: v ? `${entry}_v4` : entry, given };
}

/**
 * The grid of an elementwise entry and its thread count (the grid-stride step): on a CPU adapter at most 64
 * workgroups, which it runs a core's worth at a time and pays for one by one (gridStride in util.ts).
 */
function elementwiseGrid(rt: GpuRuntime, s: BnShape): { workgroups: [number]; stride: number } {
  // Work items: elements (scalar entries), or chunks of CHUNK vec4s inside a plane (vec4 entries).
  const items = isVec4(s) ? s.n * s.c * Math.ceil(s.hw / 4 / CHUNK) : s.n * s.c * s.hw;
  const workgroups = gridStride(rt, Math.ceil(items / (isVec4(s) ? 1 : UNITS_PER_THREAD)), WG);
  return { workgroups, stride: workgroups[0] * WG };
}

/** The per-channel read-only inputs; an absent weight / bias is replaced by `stats`, which is then never read. */
function channelSlots(stats: GPUBuffer, a: BnAffine, c: number): Partial<Record<Slot, Binding>> {
  return { stats: f32Range(stats, 2 * c), weight: f32Range(a.weight ?? stats, c), bias: f32Range(a.bias ?? stats, c) };
}

/**
 * Training-mode statistics: stats = [batch mean | 1/sqrt(biased var + eps)], and in place
 * runningMean = (1−m)·runningMean + m·mean, runningVar = (1−m)·runningVar + m·unbiasedVar.
 * One workgroup per channel. Needs n·hw > 1 (the unbiased variance divides by n·hw − 1).
 */
export function bnStatsTrain(
  rt: GpuRuntime,
  x: GPUBuffer,
  stats: GPUBuffer,
  runningMean: GPUBuffer,
  runningVar: GPUBuffer,
  s: BnShape,
  momentum: number,
  eps: number,
  dtype: BnDtype = 'f32',
): void {
  const op = label('stats', s, false, dtype);
  checkShape(op, s, rt);
  if (s.n * s.hw < 2) throw new Error(`${op}: training-mode batch norm needs more than 1 value per channel (got N·H·W = ${s.n * s.hw})`);
  const kernel = kernelFor(rt, op, dtype);
  const serial = channelReduction(rt, s) === 'serial';
  const d = dataSlots(s, serial ? 'stats_train_serial' : 'stats_train', { x }, dtype);
  launch(rt, kernel, {
    op,
    entry: d.entry,
    constants: serial ? {} : { WG: reduceWG(s) },
    uniforms: params(s, 0, momentum, eps),
    bindings: slots(d.given, { stats_out: f32Range(stats, 2 * s.c), running_mean: f32Range(runningMean, s.c), running_var: f32Range(runningVar, s.c) }),
    workgroups: [serial ? Math.ceil(s.c / SERIAL_WG) : s.c],
  });
}

/** Eval-mode statistics: stats = [runningMean | 1/sqrt(runningVar + eps)] (a snapshot). One thread per channel. */
export function bnStatsEval(rt: GpuRuntime, runningMean: GPUBuffer, runningVar: GPUBuffer, stats: GPUBuffer, s: BnShape, eps: number): void {
  const op = label('stats_eval', s);
  checkShape(op, s);
  launch(rt, batchnormKernel, {
    op,
    entry: 'stats_eval',
    constants: { WG },
    uniforms: params(s, 0, 0, eps),
    bindings: slots({ stats_out: f32Range(stats, 2 * s.c), running_mean: f32Range(runningMean, s.c), running_var: f32Range(runningVar, s.c) }),
    workgroups: [Math.ceil(s.c / WG)],
  });
}

/** fold.wgsl: a batch norm in eval mode folded into the convolution before it. */
export const bnFoldKernel = defineKernel({
  name: 'batchnorm/fold.wgsl',
  shader: foldShader,
  entries: ['fold'],
  uniforms: [['C', 'u32'], ['flags', 'u32'], ['eps', 'f32']],
  bindings: [['mean', 'read'], ['variance', 'read'], ['gamma', 'read'], ['beta', 'read'], ['convBias', 'read'], ['scale', 'read_write'], ['shift', 'read_write']],
});

/**
 * scale[c] and shift[c] of a batch norm in eval mode folded into the convolution before it (bias convBias):
 * bn(conv + b) = scale·conv + shift per channel (see fold.wgsl). A missing weight, bias or convBias counts as 1,
 * 0 and 0.
 */
export function bnFold(rt: GpuRuntime, runningMean: GPUBuffer, runningVar: GPUBuffer, affine: BnAffine, convBias: GPUBuffer | null, scale: GPUBuffer, shift: GPUBuffer, c: number, eps: number): void {
  const op = `batchnorm.fold[${c}]`;
  if (!(c >= 1)) throw new Error(`${op}: needs at least one channel`);
  const range = (b: GPUBuffer | null) => f32Range(b ?? runningMean, c);
  launch(rt, bnFoldKernel, {
    op,
    entry: 'fold',
    uniforms: { C: c, flags: (affine.weight ? 1 : 0) | (affine.bias ? 2 : 0) | (convBias ? 4 : 0), eps },
    bindings: { mean: range(runningMean), variance: range(runningVar), gamma: range(affine.weight), beta: range(affine.bias), convBias: range(convBias), scale: f32Range(scale, c), shift: f32Range(shift, c) },
    workgroups: [Math.ceil(c / 64)],
  });
}

/**
 * out = (x − mean)·invstd·weight + bias (+ residual), then max(0, ·) when relu (always with a residual: the end
 * of a residual block in one pass). A grid-stride loop over elements (or vec4s).
 */
export function bnApply(
  rt: GpuRuntime,
  x: GPUBuffer,
  stats: GPUBuffer,
  a: BnAffine,
  out: GPUBuffer,
  s: BnShape,
  relu: boolean,
  residual: GPUBuffer | null = null,
  dtype: BnDtype = 'f32',
): void {
  const op = label(residual ? 'apply_add' : 'apply', s, relu || residual !== null, dtype);
  checkShape(op, s);
  const kernel = kernelFor(rt, op, dtype);
  // Without a residual x stands in for it (declared by the entry, never read).
  const d = dataSlots(s, 'apply', { x, out, res: residual ?? x }, dtype);
  const grid = elementwiseGrid(rt, s);
  launch(rt, kernel, {
    op,
    entry: d.entry,
    constants: { WG, RELU: relu || residual ? 1 : 0, RESIDUAL: residual ? 1 : 0 },
    uniforms: params(s, affineFlags(a), 0, 0, grid.stride),
    bindings: slots(d.given, channelSlots(stats, a, s.c)),
    workgroups: grid.workgroups,
  });
}

/**
 * Per-channel backward sums: dbias = Σ g, dweight = Σ g·x̂, where g = dy masked by the fused ReLU's
 * output > 0 (recomputed from x). One workgroup per channel.
 */
export function bnBackwardReduce(
  rt: GpuRuntime,
  dy: GPUBuffer,
  x: GPUBuffer,
  stats: GPUBuffer,
  a: BnAffine,
  dweight: GPUBuffer,
  dbias: GPUBuffer,
  s: BnShape,
  relu: boolean,
  dtype: BnDtype = 'f32',
): void {
  const op = label('backward_reduce', s, relu, dtype);
  checkShape(op, s, rt);
  const kernel = kernelFor(rt, op, dtype);
  const serial = channelReduction(rt, s) === 'serial';
  const d = dataSlots(s, serial ? 'backward_reduce_serial' : 'backward_reduce', { x, dy }, dtype);
  launch(rt, kernel, {
    op,
    entry: d.entry,
    constants: serial ? { RELU: relu ? 1 : 0 } : { WG: reduceWG(s), RELU: relu ? 1 : 0 },
    uniforms: params(s, affineFlags(a)),
    bindings: slots(d.given, channelSlots(stats, a, s.c), { dbias_out: f32Range(dbias, s.c), dweight_out: f32Range(dweight, s.c) }),
    workgroups: [serial ? Math.ceil(s.c / SERIAL_WG) : s.c],
  });
}

/**
 * bnBackwardReduce's sums for batchNormAddRelu, with its ReLU mask fused in: g = dy where the block's output
 * y > 0 (else 0; bnReluMask's g) is written to `g` and summed (dbias = Σ g, dweight = Σ g·x̂), in one pass instead
 * of bnReluMask (or relu's backward) followed by bnBackwardReduce, with the same bits. dy, y, x and g of `dtype`.
 */
export function bnBackwardReduceMasked(
  rt: GpuRuntime,
  dy: GPUBuffer,
  y: GPUBuffer,
  x: GPUBuffer,
  stats: GPUBuffer,
  g: GPUBuffer,
  dweight: GPUBuffer,
  dbias: GPUBuffer,
  s: BnShape,
  dtype: BnDtype = 'f32',
): void {
  const op = label('backward_reduce_mask', s, true, dtype);
  checkShape(op, s, rt);
  const kernel = kernelFor(rt, op, dtype);
  const serial = channelReduction(rt, s) === 'serial';
  const d = dataSlots(s, serial ? 'backward_reduce_mask_serial' : 'backward_reduce_mask', { x, dy, res: y, grad_out: g }, dtype);
  launch(rt, kernel, {
    op,
    entry: d.entry,
    constants: serial ? {} : { WG: reduceWG(s) },
    uniforms: params(s, 0),
    bindings: slots(d.given, { stats: f32Range(stats, 2 * s.c), dbias_out: f32Range(dbias, s.c), dweight_out: f32Range(dweight, s.c) }),
    workgroups: [serial ? Math.ceil(s.c / SERIAL_WG) : s.c],
  });
}

/**
 * dx. Training mode (`sums` from bnBackwardReduce): dx = w·invstd·(g − Σg/n − x̂·Σg·x̂/n).
 * Eval mode (`sums` null): dx = w·invstd·g. A grid-stride loop over elements (or vec4s).
 */
export function bnBackwardApply(
  rt: GpuRuntime,
  dy: GPUBuffer,
  x: GPUBuffer,
  stats: GPUBuffer,
  a: BnAffine,
  sums: { dweight: GPUBuffer; dbias: GPUBuffer } | null,
  dx: GPUBuffer,
  s: BnShape,
  relu: boolean,
  dtype: BnDtype = 'f32',
): void {
  const op = label('backward_apply', s, relu, dtype);
  checkShape(op, s);
  const kernel = kernelFor(rt, op, dtype);
  const d = dataSlots(s, 'backward_apply', { x, dy, out: dx }, dtype);
  const grid = elementwiseGrid(rt, s);
  launch(rt, kernel, {
    op,
    entry: d.entry,
    constants: { WG, RELU: relu ? 1 : 0 },
    uniforms: params(s, affineFlags(a) | (sums ? TRAINING : 0), 0, 0, grid.stride),
    bindings: slots({
      ...d.given,
      ...channelSlots(stats, a, s.c),
      // Eval mode never reads the sums; stats fills their slots.
      dbias_in: f32Range(sums?.dbias ?? stats, s.c),
      dweight_in: f32Range(sums?.dweight ?? stats, s.c),
    }),
    workgroups: grid.workgroups,
  });
}

/**
 * The ReLU mask of batchNormAddRelu's backward: g = dy where the forward's output y > 0, else 0 (a NaN y passes
 * dy, as relu's backward). g is the residual's gradient and the batch norm's upstream one. Elementwise
 * (grid-stride over elements, or vec4s when H·W is a multiple of 4); y, dy and g all of `dtype`.
 */
export function bnReluMask(rt: GpuRuntime, dy: GPUBuffer, y: GPUBuffer, g: GPUBuffer, s: BnShape, dtype: BnDtype = 'f32'): void {
  const op = label('relu_mask', s, true, dtype);
  checkShape(op, s);
  const kernel = kernelFor(rt, op, dtype);
  const d = dataSlots(s, 'relu_mask', { dy, res: y, out: g }, dtype);
  const units = (s.n * s.c * s.hw) / (isVec4(s) ? 4 : 1);
  const workgroups = gridStride(rt, Math.ceil(units / UNITS_PER_THREAD), WG);
  launch(rt, kernel, {
    op,
    entry: d.entry,
    constants: { WG },
    uniforms: params(s, 0, 0, 0, workgroups[0] * WG),
    bindings: slots(d.given),
    workgroups,
  });
}
