/** Launchers for dropout.wgsl. */
import type { GpuRuntime } from '../../gpu/runtime';
import dropoutShader from './dropout.wgsl';
import { f32Range, grid1d } from '../util';
import { withPrelude } from '../prelude';
import { defineKernel, launch } from '../contract';

export const dropoutKernel = defineKernel({
  name: 'dropout/dropout.wgsl',
  shader: withPrelude(dropoutShader, 'grid', 'rng'),
  entries: ['dropout_seeded', 'dropout_masked'],
  uniforms: [['n', 'u32'], ['seed', 'u32'], ['p', 'f32'], ['scale', 'f32']],
  bindings: [['x', 'read'], ['out', 'read_write'], ['mask', 'read']],
});

/** The scale of the kept elements: 1/(1−p), or 0 when everything is dropped (p = 1). */
export function dropoutScale(p: number): number {
  return p >= 1 ? 0 : 1 / (1 - p);
}

function checkP(op: string, p: number): void {
  if (!(p >= 0 && p <= 1)) throw new Error(`${op}: the drop probability p must be in [0, 1], got ${p}`);
}

/**
 * out = x · mask · 1/(1−p), where element i is kept when the project's counter-based generator gives
 * rand01(seed, i) >= p (so with probability 1−p). The mask depends only on (seed, i): calling this again with
 * the same seed on the upstream gradient is the backward.
 */
export function dropoutSeeded(rt: GpuRuntime, x: GPUBuffer, out: GPUBuffer, n: number, p: number, seed: number): void {
  checkP('dropout', p);
  if (!Number.isInteger(seed)) throw new Error(`dropout: the seed must be an integer, got ${seed}`);
  launch(rt, dropoutKernel, {
    op: `dropout[${n} p=${p}]`,
    entry: 'dropout_seeded',
    uniforms: { n, seed: seed >>> 0, p, scale: dropoutScale(p) },
    bindings: { x: f32Range(x, n), out: f32Range(out, n), mask: null },
    workgroups: grid1d(rt, n),
  });
}

/** out = x · mask · 1/(1−p) with an explicit mask of 0s and 1s (n floats). */
export function dropoutMasked(rt: GpuRuntime, x: GPUBuffer, mask: GPUBuffer, out: GPUBuffer, n: number, p: number): void {
  checkP('dropout', p);
  launch(rt, dropoutKernel, {
    op: `dropout_masked[${n} p=${p}]`,
    entry: 'dropout_masked',
    uniforms: { n, seed: 0, p, scale: dropoutScale(p) },
    bindings: { x: f32Range(x, n), out: f32Range(out, n), mask: f32Range(mask, n) },
    workgroups: grid1d(rt, n),
  });
}
