/** Launchers for clip.wgsl: the total gradient norm reduced on the GPU, scaling by it, and clamping. */
import type { GpuRuntime } from '../../gpu/runtime';
import clipShader from './clip.wgsl';
import { withPrelude } from '../prelude';
import { defineKernel, launch, vec4Named } from '../contract';
import { f32Range } from '../util';

/** The contract of clip.wgsl. */
export const clipKernel = defineKernel({
  name: 'clip/clip.wgsl',
  shader: withPrelude(clipShader, 'grid'),
  entries: ['norm_partial', 'norm_total', 'clip_scale', 'clip_scale_v4', 'clip_value', 'clip_value_v4'],
  uniforms: [['n', 'u32'], ['kind', 'u32'], ['p', 'f32'], ['offset', 'u32'], ['max_norm', 'f32'], ['clip_value', 'f32']],
  bindings: [['grad', 'read_write'], ['partials', 'read_write'], ['total', 'read_write'], ['grad4', 'read_write']],
});

const WG = 256;

/** A norm type as the kernel codes it: 0 for p = 2, 1 for p = 1, 2 for another finite p > 0, 3 for the inf norm. */
export function normKind(p: number): number {
  return p === 2 ? 0 : p === 1 ? 1 : p === Infinity ? 3 : 2;
}

/** How many partial results normPartial writes for a gradient of n floats (a few large workgroups on a CPU adapter). */
export function partialCount(rt: GpuRuntime, n: number): number {
  return Math.max(1, Math.min(rt.isSoftware ? 16 : 256, Math.ceil(n / WG)));
}

function uniforms(n: number, p: number, extra: { offset?: number; maxNorm?: number; clipValue?: number } = {}) {
  return { n, kind: normKind(p), p: Number.isFinite(p) ? p : 0, offset: extra.offset ?? 0, max_norm: extra.maxNorm ?? 0, clip_value: extra.clipValue ?? 0 };
}

/** partials[offset … offset + partialCount(n)) = the p-norm's partial results over grad's n floats (Σ|g|^p, or max |g|). */
export function normPartial(rt: GpuRuntime, grad: GPUBuffer, n: number, partials: GPUBuffer, offset: number, p: number): void {
  const groups = partialCount(rt, n);
  launch(rt, clipKernel, {
    op: `gradNorm.partial[${n} p=${p}]`,
    entry: 'norm_partial',
    uniforms: uniforms(n, p, { offset }),
    bindings: { grad: f32Range(grad, n), partials: f32Range(partials, offset + groups), total: null, grad4: null },
    workgroups: [groups],
  });
}

/** total[0] = the p-norm from `count` partial results. */
export function normTotal(rt: GpuRuntime, partials: GPUBuffer, count: number, total: GPUBuffer, p: number): void {
  launch(rt, clipKernel, {
    op: `gradNorm.total[${count} partials p=${p}]`,
    entry: 'norm_total',
    uniforms: uniforms(count, p),
    bindings: { grad: null, partials: f32Range(partials, count), total: f32Range(total, 1), grad4: null },
    workgroups: [1],
  });
}

/** grad *= min(1, maxNorm / (total[0] + 1e-6)) over n floats, in place. */
export function scaleByNorm(rt: GpuRuntime, grad: GPUBuffer, n: number, total: GPUBuffer, maxNorm: number): void {
  const l = vec4Named(rt, n, { grad });
  launch(rt, clipKernel, {
    op: `clipGradNorm.scale[${n}]`,
    entry: 'clip_scale' + l.suffix,
    uniforms: uniforms(l.count, 2, { maxNorm }),
    bindings: Object.assign({ partials: null, total: f32Range(total, 1) }, l.bindings),
    workgroups: l.workgroups,
  });
}

/** grad = clamp(grad, −clipValue, clipValue) over n floats, in place (NaN kept). */
export function clampValue(rt: GpuRuntime, grad: GPUBuffer, n: number, clipValue: number): void {
  const l = vec4Named(rt, n, { grad });
  launch(rt, clipKernel, {
    op: `clipGradValue[${n}]`,
    entry: 'clip_value' + l.suffix,
    uniforms: uniforms(l.count, 2, { clipValue }),
    bindings: Object.assign({ partials: null, total: null }, l.bindings),
    workgroups: l.workgroups,
  });
}
