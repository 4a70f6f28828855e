/** Launchers for elementwise.wgsl, unary.wgsl and fill.wgsl. */
import type { GpuRuntime } from '../../gpu/runtime';
import elementwise from './elementwise.wgsl';
import unary from './unary.wgsl';
import fill from './fill.wgsl';
import { f32Range, grid1d } from '../util';
import { withPrelude } from '../prelude';
import { defineKernel, launch, vec4Named, type KernelContract } from '../contract';

const V4 = (entries: string[]) => entries.flatMap((e) => [e, `${e}_v4`]);

export const elementwiseKernel = defineKernel({
  name: 'elementwise/elementwise.wgsl',
  shader: withPrelude(elementwise, 'grid'),
  entries: V4(['axpy']),
  uniforms: [['n', 'u32'], ['scalar', 'f32']],
  bindings: [['a', 'read'], ['b', 'read'], ['out', 'read_write'], ['a4', 'read'], ['b4', 'read'], ['out4', 'read_write']],
});

export const unaryKernel = defineKernel({
  name: 'elementwise/unary.wgsl',
  shader: withPrelude(unary, 'grid'),
  entries: V4(['scale', 'accumulate']),
  uniforms: [['n', 'u32'], ['scalar', 'f32']],
  bindings: [['x', 'read'], ['out', 'read_write'], ['x4', 'read'], ['out4', 'read_write']],
});

export const fillKernelContract = defineKernel({
  name: 'elementwise/fill.wgsl',
  shader: withPrelude(fill, 'grid', 'rng'),
  entries: ['fill', 'rand_uniform', 'rand_normal'],
  uniforms: [['n', 'u32'], ['seed', 'u32'], ['a', 'f32'], ['b', 'f32']],
  bindings: [['out', 'read_write']],
});

/** Dispatch `entry` (or its vec4 twin `entry_v4` when n is a multiple of 4) over n elements. */
function elementwiseDispatch<const S extends string>(
  rt: GpuRuntime,
  kernel: KernelContract<'n' | 'scalar', S | `${S}4`>,
  entry: string,
  buffers: { [K in S]: GPUBuffer },
  n: number,
  scalar: number,
): void {
  const l = vec4Named(rt, n, buffers);
  launch(rt, kernel, {
    op: `${entry}[${n}]`,
    entry: entry + l.suffix,
    uniforms: { n: l.count, scalar },
    bindings: l.bindings,
    workgroups: l.workgroups,
  });
}

/** out = a + s·b */
export function axpy(rt: GpuRuntime, a: GPUBuffer, s: number, b: GPUBuffer, out: GPUBuffer, n: number): void {
  elementwiseDispatch(rt, elementwiseKernel, 'axpy', { a, b, out }, n, s);
}

/** out = s·x */
export function scale(rt: GpuRuntime, x: GPUBuffer, s: number, out: GPUBuffer, n: number): void {
  elementwiseDispatch(rt, unaryKernel, 'scale', { x, out }, n, s);
}

/** out += x, in place. */
export function accumulate(rt: GpuRuntime, out: GPUBuffer, x: GPUBuffer, n: number): void {
  elementwiseDispatch(rt, unaryKernel, 'accumulate', { x, out }, n, 0);
}

/** out[i] = value */
export function fillConst(rt: GpuRuntime, out: GPUBuffer, n: number, value: number): void {
  fillKernel(rt, 'fill', out, n, 0, value, 0);
}

/** Seeded uniform [low, high) or normal(mean, std) values; a value depends only on (seed, index). */
export function fillRandom(rt: GpuRuntime, kind: 'uniform' | 'normal', out: GPUBuffer, n: number, seed: number, a: number, b: number): void {
  fillKernel(rt, `rand_${kind}`, out, n, seed, a, b);
}

function fillKernel(rt: GpuRuntime, entry: string, out: GPUBuffer, n: number, seed: number, a: number, b: number): void {
  launch(rt, fillKernelContract, {
    op: `${entry}[${n}]`,
    entry,
    uniforms: { n, seed, a, b },
    bindings: { out: f32Range(out, n) },
    workgroups: grid1d(rt, n),
  });
}
