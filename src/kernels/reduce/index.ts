/** Launcher for reduce.wgsl: sums over the middle axis of an [outer, n, inner] view. */
import type { GpuRuntime } from '../../gpu/runtime';
import reduce from './reduce.wgsl';
import { Params, f32Range, grid1d } from '../util';

/** Axes of at most this many terms are summed one thread per output (sum_axis_serial), longer ones by a workgroup per output. */
const SERIAL_MAX_TERMS = 64;

/** out[o, i] = scale · Σ_k x[o, k, i] */
export function sumAxis(rt: GpuRuntime, x: GPUBuffer, out: GPUBuffer, outer: number, n: number, inner: number, scale = 1): void {
  const outputs = outer * inner;
  const serial = n <= SERIAL_MAX_TERMS;
  rt.dispatch({
    op: `sum[${outer}x${n}x${inner}]`,
    shader: reduce,
    entry: serial ? 'sum_axis_serial' : 'sum_axis',
    uniforms: new Params().u32(outer).u32(n).u32(inner).f32(scale).bytes(),
    bindings: [f32Range(x, outer * n * inner), f32Range(out, outputs)],
    workgroups: serial ? grid1d(rt, outputs, 256) : grid1d(rt, outputs, 1),
  });
}

/** out[o, k, i] = scale · x[o, i]: the backward of sumAxis. */
export function expandAxis(rt: GpuRuntime, x: GPUBuffer, out: GPUBuffer, outer: number, n: number, inner: number, scale = 1): void {
  const total = outer * n * inner;
  rt.dispatch({
    op: `expand[${outer}x${n}x${inner}]`,
    shader: reduce,
    entry: 'expand_axis',
    uniforms: new Params().u32(outer).u32(n).u32(inner).f32(scale).bytes(),
    bindings: [f32Range(x, outer * inner), f32Range(out, total)],
    workgroups: grid1d(rt, total),
  });
}
