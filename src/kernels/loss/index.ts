/** Launchers for cross_entropy.wgsl: fused, numerically stable softmax cross-entropy. */
import type { GpuRuntime } from '../../gpu/runtime';
import crossEntropyShader from './cross_entropy.wgsl';
import { Params, f32Range, grid1d } from '../util';

const NAN_BITS = 0x7fc00000;

/** The workgroup size for rows of c classes: a power of two in [32, 256], near c. */
function rowWorkgroup(c: number): number {
  let wg = 32;
  while (wg < c && wg < 256) wg *= 2;
  return wg;
}

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
  rt.dispatch({
    op: `cross_entropy[${n}x${c}]`,
    shader: crossEntropyShader,
    entry: 'forward',
    constants: { WG: rowWorkgroup(c) },
    uniforms: new Params().u32(n).u32(c).f32(smoothing).u32(NAN_BITS).f32(1).u32(0).bytes(),
    bindings: [f32Range(logits, n * c), { buffer: labels, offset: 0, size: n * 4 }, f32Range(stats, 2 * n), f32Range(rowLoss, n)],
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
  rt.dispatch({
    op: `cross_entropy_backward[${n}x${c}]`,
    shader: crossEntropyShader,
    entry: 'backward',
    uniforms: new Params().u32(n).u32(c).f32(smoothing).u32(NAN_BITS).f32(gscale).u32(perRowUpstream ? 1 : 0).bytes(),
    bindings: [
      f32Range(logits, n * c),
      { buffer: labels, offset: 0, size: n * 4 },
      f32Range(stats, 2 * n),
      null,
      f32Range(upstream, perRowUpstream ? n : 1),
      f32Range(dlogits, n * c),
    ],
    workgroups: grid1d(rt, n * c),
  });
}
