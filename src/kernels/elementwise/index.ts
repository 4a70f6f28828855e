/** Launchers for elementwise.wgsl, unary.wgsl and fill.wgsl. */
import type { GpuRuntime } from '../../gpu/runtime';
import elementwise from './elementwise.wgsl';
import unary from './unary.wgsl';
import fill from './fill.wgsl';
import { Params, f32Range, grid1d, vec4Launch } from '../util';

export type BinaryOp = 'add' | 'mul';

/** Dispatch `entry` (or its vec4 twin `entry_v4` when n is a multiple of 4) over n elements. */
function elementwiseDispatch(rt: GpuRuntime, shader: string, entry: string, buffers: GPUBuffer[], n: number, scalar: number): void {
  const l = vec4Launch(rt, n, buffers);
  rt.dispatch({
    op: `${entry}[${n}]`,
    shader,
    entry: entry + l.suffix,
    uniforms: new Params().u32(l.count).f32(scalar).bytes(),
    bindings: l.bindings,
    workgroups: l.workgroups,
  });
}

/** out = a (op) b, elementwise over n floats. */
export function binary(rt: GpuRuntime, op: BinaryOp, a: GPUBuffer, b: GPUBuffer, out: GPUBuffer, n: number): void {
  elementwiseDispatch(rt, elementwise, op, [a, b, out], n, 0);
}

/** out = a + s·b */
export function axpy(rt: GpuRuntime, a: GPUBuffer, s: number, b: GPUBuffer, out: GPUBuffer, n: number): void {
  elementwiseDispatch(rt, elementwise, 'axpy', [a, b, out], n, s);
}

/** out = s·x */
export function scale(rt: GpuRuntime, x: GPUBuffer, s: number, out: GPUBuffer, n: number): void {
  elementwiseDispatch(rt, unary, 'scale', [x, out], n, s);
}

/** out += x, in place. */
export function accumulate(rt: GpuRuntime, out: GPUBuffer, x: GPUBuffer, n: number): void {
  elementwiseDispatch(rt, unary, 'accumulate', [x, out], n, 0);
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
  rt.dispatch({
    op: `${entry}[${n}]`,
    shader: fill,
    entry,
    uniforms: new Params().u32(n).u32(seed).f32(a).f32(b).bytes(),
    bindings: [f32Range(out, n)],
    workgroups: grid1d(rt, n),
  });
}
