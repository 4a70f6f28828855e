/** Launchers for shaders/elementwise.wgsl, shaders/unary.wgsl and shaders/fill.wgsl. */
import type { GpuRuntime } from '../gpu/runtime';
import elementwise from '../../shaders/elementwise.wgsl';
import unary from '../../shaders/unary.wgsl';
import fill from '../../shaders/fill.wgsl';
import { Params, f32Range, grid1d } from './util';

export type BinaryOp = 'add' | 'mul';

/** out = a (op) b, elementwise over n floats. */
export function binary(rt: GpuRuntime, op: BinaryOp, a: GPUBuffer, b: GPUBuffer, out: GPUBuffer, n: number): void {
  rt.dispatch({
    op: `${op}[${n}]`,
    shader: elementwise,
    entry: op,
    uniforms: new Params().u32(n).f32(0).bytes(),
    bindings: [f32Range(a, n), f32Range(b, n), f32Range(out, n)],
    workgroups: grid1d(rt, n),
  });
}

/** out = a + s·b */
export function axpy(rt: GpuRuntime, a: GPUBuffer, s: number, b: GPUBuffer, out: GPUBuffer, n: number): void {
  rt.dispatch({
    op: `axpy[${n}]`,
    shader: elementwise,
    entry: 'axpy',
    uniforms: new Params().u32(n).f32(s).bytes(),
    bindings: [f32Range(a, n), f32Range(b, n), f32Range(out, n)],
    workgroups: grid1d(rt, n),
  });
}

/** out = s·x */
export function scale(rt: GpuRuntime, x: GPUBuffer, s: number, out: GPUBuffer, n: number): void {
  rt.dispatch({
    op: `scale[${n}]`,
    shader: unary,
    entry: 'scale',
    uniforms: new Params().u32(n).f32(s).bytes(),
    bindings: [f32Range(x, n), f32Range(out, n)],
    workgroups: grid1d(rt, n),
  });
}

/** out += x, in place. */
export function accumulate(rt: GpuRuntime, out: GPUBuffer, x: GPUBuffer, n: number): void {
  rt.dispatch({
    op: `accumulate[${n}]`,
    shader: unary,
    entry: 'accumulate',
    uniforms: new Params().u32(n).f32(0).bytes(),
    bindings: [f32Range(x, n), f32Range(out, n)],
    workgroups: grid1d(rt, n),
  });
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
