/**
 * The reduce family: reduce.wgsl sums over the middle axis of an [outer, n, inner] view (the internal fast path of
 * conv, linear and loss); dims.ts and select.ts (re-exported here) serve the reduction ops over any dims.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import reduce from './reduce.wgsl';
import { f32Range, grid1d } from '../util';
import { defineKernel, launch } from '../contract';
import { SERIAL_MAX_TERMS } from './dims';

export const reduceKernel = defineKernel({
  name: 'reduce/reduce.wgsl',
  shader: reduce,
  entries: ['sum_axis', 'sum_axis_serial'],
  uniforms: [['outer', 'u32'], ['n', 'u32'], ['inner', 'u32'], ['scale', 'f32']],
  bindings: [['x', 'read'], ['out', 'read_write']],
});

/** out[o, i] = scale · Σ_k x[o, k, i] */
export function sumAxis(rt: GpuRuntime, x: GPUBuffer, out: GPUBuffer, outer: number, n: number, inner: number, scale = 1): void {
  const outputs = outer * inner;
  const serial = n <= SERIAL_MAX_TERMS;
  launch(rt, reduceKernel, {
    op: `sum[${outer}x${n}x${inner}]`,
    entry: serial ? 'sum_axis_serial' : 'sum_axis',
    uniforms: { outer, n, inner, scale },
    bindings: { x: f32Range(x, outer * n * inner), out: f32Range(out, outputs) },
    workgroups: serial ? grid1d(rt, outputs, 256) : grid1d(rt, outputs, 1),
  });
}

export * from './layout';
export * from './dims';
export * from './select';
