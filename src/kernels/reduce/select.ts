/** Launchers for select.wgsl: the first k terms of each row in a value order (max, min, argmax, argmin, topk), and the backward. */
import type { GpuRuntime } from '../../gpu/runtime';
import selectShader from './select.wgsl';
import { f32Range, grid1d } from '../util';
import { withPrelude } from '../prelude';
import { defineKernel, launch } from '../contract';
import { SERIAL_MAX_TERMS, rowWorkgroup } from './dims';

export const selectKernel = defineKernel({
  name: 'reduce/select.wgsl',
  shader: withPrelude(selectShader, 'grid'),
  entries: ['select_top', 'select_backward'],
  uniforms: [['outer', 'u32'], ['n', 'u32'], ['inner', 'u32'], ['k', 'u32'], ['largest', 'u32'], ['nan_first', 'u32']],
  bindings: [['x', 'read'], ['dy', 'read'], ['picked', 'read'], ['values', 'read_write'], ['indices', 'read_write'], ['dx', 'read_write']],
});

/** The rows of a selection: [outer, n, inner] around the dim, and k picks per row. */
export interface SelectShape {
  outer: number;
  n: number;
  inner: number;
  k: number;
}

/** The value order: `largest` first (else smallest), NaN first (max/min propagate NaN; topk largest) or last (topk smallest). Ties: lower index first. */
export interface SelectOrder {
  largest: boolean;
  nanFirst: boolean;
}

const tag = (s: SelectShape) => `${s.outer}x${s.n}x${s.inner} k${s.k}`;
const i32Range = (buffer: GPUBuffer, n: number) => ({ buffer, offset: 0, size: Math.max(4, n * 4) });

/** values, indices [outer, k, inner]: the first k terms of each row of x [outer, n, inner] in the order. */
export function selectTop(rt: GpuRuntime, x: GPUBuffer, values: GPUBuffer, indices: GPUBuffer, s: SelectShape, order: SelectOrder): void {
  const serial = s.n <= SERIAL_MAX_TERMS;
  const rows = s.outer * s.inner;
  launch(rt, selectKernel, {
    op: `select_top[${tag(s)}]`,
    entry: 'select_top',
    constants: serial ? { SERIAL: 1, WG: 256 } : { SERIAL: 0, WG: rowWorkgroup(s.n) },
    uniforms: Object.assign({ largest: order.largest, nan_first: order.nanFirst }, s),
    bindings: { x: f32Range(x, rows * s.n), dy: null, picked: null, values: f32Range(values, rows * s.k), indices: i32Range(indices, rows * s.k), dx: null },
    workgroups: serial ? grid1d(rt, rows, 256) : grid1d(rt, rows, 1),
  });
}

/** dx [outer, n, inner]: dy [outer, k, inner] at the positions `picked` (selectTop's indices), 0 elsewhere. */
export function selectBackward(rt: GpuRuntime, dy: GPUBuffer, picked: GPUBuffer, dx: GPUBuffer, s: SelectShape): void {
  const rows = s.outer * s.inner;
  launch(rt, selectKernel, {
    op: `select_backward[${tag(s)}]`,
    entry: 'select_backward',
    uniforms: Object.assign({ largest: false, nan_first: false }, s),
    bindings: { x: null, dy: f32Range(dy, rows * s.k), picked: i32Range(picked, rows * s.k), values: null, indices: null, dx: f32Range(dx, rows * s.n) },
    workgroups: grid1d(rt, rows * s.n),
  });
}
