/**
 * float32 ↔ float16 conversions (cast.wgsl). They need the adapter's `shader-f16` feature; `hasF16(rt)`
 * tells whether the runtime's device has it, and every launcher here refuses a device without it.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import castShader from './cast.wgsl';
import { f32Range, grid1d } from '../util';
import { withPrelude } from '../prelude';
import { defineKernel, launch } from '../contract';
import { settingIs } from '../../wording';

export const castKernel = defineKernel({
  name: 'cast/cast.wgsl',
  shader: withPrelude(castShader, 'grid', 'f16'),
  entries: ['to_f16', 'to_f32', 'round_f16', 'add_f16'],
  uniforms: [['n', 'u32'], ['scale', 'f32']],
  bindings: [['x', 'read'], ['x16', 'read'], ['out', 'read_write'], ['out16', 'read_write']],
});

/** Bytes of `n` float16 values in a buffer binding (whole 4-byte words). */
export function f16Bytes(n: number): number {
  return Math.max(4, Math.ceil(n / 2) * 4);
}

/** A byte range of a float16 buffer, for binding. */
export function f16Range(buffer: GPUBuffer, elements: number) {
  return { buffer, offset: 0, size: f16Bytes(elements) };
}

/** Whether the runtime's device can run float16 shaders (WebGPU's `shader-f16` feature). */
export function hasF16(rt: GpuRuntime): boolean {
  return rt.features.has('shader-f16');
}

export function requireF16(rt: GpuRuntime, op: string): void {
  if (!hasF16(rt)) {
    throw new Error(
      `${op}: this adapter (${rt.adapter.name}) has no 'shader-f16' feature, so float16 tensors cannot be used on it. Run in float32 (${settingIs('precision', 'f32')}).`,
    );
  }
}

type Entry = 'to_f16' | 'to_f32' | 'round_f16' | 'add_f16';

function run(rt: GpuRuntime, entry: Entry, op: string, n: number, b: { x?: GPUBuffer; x16?: GPUBuffer; out?: GPUBuffer; out16?: GPUBuffer }): void {
  requireF16(rt, op);
  launch(rt, castKernel, {
    op: `${op}[${n}]`,
    entry,
    uniforms: { n, scale: 1 },
    bindings: {
      x: b.x ? f32Range(b.x, n) : null,
      x16: b.x16 ? f16Range(b.x16, n) : null,
      out: b.out ? f32Range(b.out, n) : null,
      out16: b.out16 ? f16Range(b.out16, n) : null,
    },
    workgroups: grid1d(rt, n),
  });
}

/** out16 = f16(x) for n values (±inf beyond f16's range, NaN kept). */
export function castToF16(rt: GpuRuntime, x: GPUBuffer, out16: GPUBuffer, n: number): void {
  run(rt, 'to_f16', 'toF16', n, { x, out16 });
}

/** out = f32(x16) for n values (exact). */
export function castToF32(rt: GpuRuntime, x16: GPUBuffer, out: GPUBuffer, n: number): void {
  run(rt, 'to_f32', 'toF32', n, { x16, out });
}

/** out = f32(f16(x)): float32 values rounded to float16's precision and range. */
export function roundToF16(rt: GpuRuntime, x: GPUBuffer, out: GPUBuffer, n: number): void {
  run(rt, 'round_f16', 'roundF16', n, { x, out });
}

/** out16 += x16 in place, summed in float32 and rounded once. */
export function accumulateF16(rt: GpuRuntime, out16: GPUBuffer, x16: GPUBuffer, n: number): void {
  run(rt, 'add_f16', 'accumulateF16', n, { x16, out16 });
}
