/** Launchers for cross_entropy.wgsl: fused, numerically stable softmax cross-entropy. */
import type { GpuRuntime } from '../../gpu/runtime';
import crossEntropyShader from './cross_entropy.wgsl';
import { f32Range, grid1d, rowWorkgroup } from '../util';
import { defineKernel, launch } from '../contract';

export const crossEntropyKernel = defineKernel({
  name: 'loss/cross_entropy.wgsl',
  shader: crossEntropyShader,
  entries: ['forward', 'backward'],
  uniforms: [['n', 'u32'], ['c', 'u32'], ['smoothing', 'f32'], ['nan_bits', 'u32'], ['gscale', 'f32'], ['gstride', 'u32']],
  bindings: [['logits', 'read'], ['labels', 'read'], ['stats', 'read_write'], ['row_loss', 'read_write'], ['upstream', 'read'], ['dlogits', 'read_write']],
});

const NAN_BITS = 0x7fc00000;

function checkSizes(op: string, n: number, c: number, smoothing: number): void {
  if (!(n >= 1 && c >= 1)) throw new Error(`${op}: needs at least one row and one class, got N=${n}, C=${c}`);
  if (!(smoothing >= 0 && smoothing <= 1)) throw new Error(`${op}: label smoothing must be in [0, 1], got ${smoothing}`);
}

/**
 * Per-row losses of logits [n, c] against labels [n] (int32), and the row statistics [n, 2] = (max, log Σ exp(x − max))
 * that crossEntropyBackward needs. A label outside [0, c) gives a NaN loss for its row (it is not checked here:
 * that would need a CPU sync).
 */
export function crossEntropyForward(
  rt: GpuRuntime,
  logits: GPUBuffer,
  labels: GPUBuffer,
  stats: GPUBuffer,
  rowLoss: GPUBuffer,
  n: number,
  c: number,
  smoothing: number,
): void {
  checkSizes('cross_entropy', n, c, smoothing);
  launch(rt, crossEntropyKernel, {
    op: `cross_entropy[${n}x${c}]`,
    entry: 'forward',
    constants: { WG: rowWorkgroup(c) },
    uniforms: { n, c, smoothing, nan_bits: NAN_BITS, gscale: 1, gstride: 0 },
    bindings: {
      logits: f32Range(logits, n * c),
      labels: { buffer: labels, offset: 0, size: n * 4 },
      stats: f32Range(stats, 2 * n),
      row_loss: f32Range(rowLoss, n),
      upstream: null,
      dlogits: null,
    },
    workgroups: grid1d(rt, n, 1),
  });
}

/**
 * dlogits = g · gscale · (softmax(logits) − target), target = (1−ε)·onehot(label) + ε/c. The upstream gradient g
 * is one scalar (perRowUpstream = false) or one value per row.
 */
export function crossEntropyBackward(
  rt: GpuRuntime,
  logits: GPUBuffer,
  labels: GPUBuffer,
  stats: GPUBuffer,
  upstream: GPUBuffer,
  dlogits: GPUBuffer,
  n: number,
  c: number,
  smoothing: number,
  gscale: number,
  perRowUpstream: boolean,
): void {
  checkSizes('cross_entropy_backward', n, c, smoothing);
  launch(rt, crossEntropyKernel, {
    op: `cross_entropy_backward[${n}x${c}]`,
    entry: 'backward',
    uniforms: { n, c, smoothing, nan_bits: NAN_BITS, gscale, gstride: perRowUpstream },
    bindings: {
      logits: f32Range(logits, n * c),
      labels: { buffer: labels, offset: 0, size: n * 4 },
      stats: f32Range(stats, 2 * n),
      row_loss: null,
      upstream: f32Range(upstream, perRowUpstream ? n : 1),
      dlogits: f32Range(dlogits, n * c),
    },
    workgroups: grid1d(rt, n * c),
  });
}
export * from './losses';
