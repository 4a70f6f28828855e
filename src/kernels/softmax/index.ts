/** Launchers for softmax.wgsl: softmax and log-softmax along one axis of an [outer, n, inner] view. */
import type { GpuRuntime } from '../../gpu/runtime';
import softmaxShader from './softmax.wgsl';
import { f32Range, grid1d, rowWorkgroup } from '../util';
import { withPrelude } from '../prelude';
import { defineKernel, launch } from '../contract';

export const softmaxKernel = defineKernel({
  name: 'softmax/softmax.wgsl',
  shader: withPrelude(softmaxShader, 'grid', 'wgreduce'),
  entries: ['forward', 'forward_serial', 'backward', 'backward_serial'],
  uniforms: [['rows', 'u32'], ['n', 'u32'], ['inner', 'u32'], ['log_out', 'u32'], ['nan_bits', 'u32']],
  bindings: [['x', 'read'], ['y', 'read_write'], ['dy', 'read'], ['dx', 'read_write']],
});

/** Rows of at most this many terms run one thread per row (the *_serial entries); longer ones a workgroup per row. */
export const SOFTMAX_SERIAL_MAX = 64;

const NAN_BITS = 0x7fc00000;

/** An [outer, n, inner] view: the axis has length n and stride inner. */
export interface AxisLayout {
  outer: number;
  n: number;
  inner: number;
}

function plan(rt: GpuRuntime, l: AxisLayout, entry: 'forward' | 'backward') {
  const rows = l.outer * l.inner;
  const serial = l.n <= SOFTMAX_SERIAL_MAX;
  return {
    entry: serial ? `${entry}_serial` : entry,
    constants: { WG: serial ? 64 : rowWorkgroup(l.n) },
    workgroups: serial ? grid1d(rt, rows, 64) : grid1d(rt, rows, 1),
    uniforms: { rows, n: l.n, inner: l.inner, nan_bits: NAN_BITS },
  };
}

/** y = softmax(x) (or log-softmax when `log`) along the axis of `l`; x and y hold outer·n·inner floats. */
export function softmaxForward(rt: GpuRuntime, x: GPUBuffer, y: GPUBuffer, l: AxisLayout, log: boolean): void {
  const total = l.outer * l.n * l.inner;
  const p = plan(rt, l, 'forward');
  launch(rt, softmaxKernel, {
    op: `${log ? 'log_softmax' : 'softmax'}[${l.outer}x${l.n}x${l.inner}]`,
    entry: p.entry,
    constants: p.constants,
    uniforms: Object.assign({ log_out: log }, p.uniforms),
    bindings: { x: f32Range(x, total), y: f32Range(y, total), dy: null, dx: null },
    workgroups: p.workgroups,
  });
}

/** dx from the forward's output y and the upstream gradient dy (softmax: y·(dy − Σ dy·y); log-softmax: dy − exp(y)·Σ dy). */
export function softmaxBackward(rt: GpuRuntime, y: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer, l: AxisLayout, log: boolean): void {
  const total = l.outer * l.n * l.inner;
  const p = plan(rt, l, 'backward');
  launch(rt, softmaxKernel, {
    op: `${log ? 'log_softmax' : 'softmax'}_backward[${l.outer}x${l.n}x${l.inner}]`,
    entry: p.entry,
    constants: p.constants,
    uniforms: Object.assign({ log_out: log }, p.uniforms),
    bindings: { x: null, y: f32Range(y, total), dy: f32Range(dy, total), dx: f32Range(dx, total) },
    workgroups: p.workgroups,
  });
}
