/** Launchers for layernorm.wgsl: layer normalisation over the last d elements of each row, forward and backward. */
import type { GpuRuntime } from '../../gpu/runtime';
import layernormShader from './layernorm.wgsl';
import { f32Range, grid1d, rowWorkgroup } from '../util';
import { withPrelude } from '../prelude';
import { defineKernel, launch, type BindingValue } from '../contract';

export const layerNormKernel = defineKernel({
  name: 'layernorm/layernorm.wgsl',
  shader: withPrelude(layernormShader, 'grid', 'wgreduce'),
  entries: ['forward', 'forward_serial', 'backward_dx', 'backward_dx_serial', 'backward_params', 'backward_params_serial'],
  uniforms: [['rows', 'u32'], ['d', 'u32'], ['eps', 'f32'], ['has_weight', 'u32'], ['has_bias', 'u32']],
  bindings: [
    ['x', 'read'],
    ['weight', 'read'],
    ['bias', 'read'],
    ['y', 'read_write'],
    ['stats', 'read_write'],
    ['dy', 'read'],
    ['dx', 'read_write'],
    ['dweight', 'read_write'],
    ['dbias', 'read_write'],
  ],
});

/** Rows (columns, for the weight gradients) of at most this many terms run one thread each; longer ones a workgroup each. */
export const LAYERNORM_SERIAL_MAX = 64;

/** rows × d: each row of d elements is normalised on its own. */
export interface LayerNormLayout {
  rows: number;
  d: number;
}

type LnBinding = (typeof layerNormKernel.bindings)[number][0];

/**
 * Launch `entry` over `items` (rows or columns) of `terms` each: one thread per item when they are few (the
 * *_serial entry), else one workgroup per item. Bindings not given are left unused.
 */
function run(
  rt: GpuRuntime,
  op: string,
  entry: string,
  items: number,
  terms: number,
  l: LayerNormLayout,
  u: { eps: number; has_weight: boolean; has_bias: boolean },
  b: Partial<Record<LnBinding, BindingValue>>,
): void {
  const serial = terms <= LAYERNORM_SERIAL_MAX;
  launch(rt, layerNormKernel, {
    op: `${op}[${l.rows}x${l.d}]`,
    entry: serial ? `${entry}_serial` : entry,
    constants: { WG: serial ? 64 : rowWorkgroup(terms) },
    uniforms: Object.assign({ rows: l.rows, d: l.d }, u),
    bindings: Object.assign({ x: null, weight: null, bias: null, y: null, stats: null, dy: null, dx: null, dweight: null, dbias: null } as Record<keyof typeof b, BindingValue>, b),
    workgroups: serial ? grid1d(rt, items, 64) : grid1d(rt, items, 1),
  });
}

/** y = (x − mean) · rstd · weight + bias per row, and stats [rows, 2] = (mean, rstd) for the backward. */
export function layerNormForward(
  rt: GpuRuntime,
  x: GPUBuffer,
  weight: GPUBuffer | null,
  bias: GPUBuffer | null,
  y: GPUBuffer,
  stats: GPUBuffer,
  l: LayerNormLayout,
  eps: number,
): void {
  const total = l.rows * l.d;
  run(rt, 'layer_norm', 'forward', l.rows, l.d, l, { eps, has_weight: weight !== null, has_bias: bias !== null }, {
    x: f32Range(x, total),
    // An absent weight or bias is bound to x (read-only; has_weight / has_bias 0, not read).
    weight: f32Range(weight ?? x, l.d),
    bias: f32Range(bias ?? x, l.d),
    y: f32Range(y, total),
    stats: f32Range(stats, 2 * l.rows),
  });
}

/** dx from x, the saved stats, the weight (null: none) and the upstream gradient dy. */
export function layerNormBackwardData(rt: GpuRuntime, x: GPUBuffer, weight: GPUBuffer | null, stats: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer, l: LayerNormLayout): void {
  const total = l.rows * l.d;
  run(rt, 'layer_norm_dx', 'backward_dx', l.rows, l.d, l, { eps: 0, has_weight: weight !== null, has_bias: false }, {
    x: f32Range(x, total),
    weight: f32Range(weight ?? x, l.d),
    stats: f32Range(stats, 2 * l.rows),
    dy: f32Range(dy, total),
    dx: f32Range(dx, total),
  });
}

/** dweight = Σ_rows dy·xhat and dbias = Σ_rows dy, both [d]. */
export function layerNormBackwardParams(rt: GpuRuntime, x: GPUBuffer, stats: GPUBuffer, dy: GPUBuffer, dweight: GPUBuffer, dbias: GPUBuffer, l: LayerNormLayout): void {
  const total = l.rows * l.d;
  run(rt, 'layer_norm_dparams', 'backward_params', l.d, l.rows, l, { eps: 0, has_weight: false, has_bias: false }, {
    x: f32Range(x, total),
    stats: f32Range(stats, 2 * l.rows),
    dy: f32Range(dy, total),
    dweight: f32Range(dweight, l.d),
    dbias: f32Range(dbias, l.d),
  });
}
