/**
 * Launchers for losses.wgsl: mse, binary cross-entropy with logits and the negative log-likelihood, per element,
 * with their gradients. The reductions to a scalar run in kernels/reduce (sumAxis).
 */
import type { GpuRuntime } from '../../gpu/runtime';
import lossesShader from './losses.wgsl';
import { f32Range, grid1d } from '../util';
import { withPrelude } from '../prelude';
import { defineKernel, launch, type BindingValue } from '../contract';

export const lossesKernel = defineKernel({
  name: 'loss/losses.wgsl',
  shader: withPrelude(lossesShader, 'grid'),
  entries: ['mse_forward', 'mse_backward', 'bce_forward', 'bce_backward_input', 'bce_backward_target', 'nll_forward', 'nll_mean', 'nll_backward'],
  uniforms: [
    ['count', 'u32'],
    ['classes', 'u32'],
    ['inner', 'u32'],
    ['wsize', 'u32'],
    ['psize', 'u32'],
    ['ignore_index', 'i32'],
    ['mode', 'u32'],
    ['gstride', 'u32'],
    ['gscale', 'f32'],
    ['nan_bits', 'u32'],
  ],
  bindings: [
    ['a', 'read'],
    ['b', 'read'],
    ['targets', 'read'],
    ['weight', 'read'],
    ['pos_weight', 'read'],
    ['upstream', 'read'],
    ['sums', 'read'],
    ['out', 'read_write'],
  ],
});

type LossUniform = (typeof lossesKernel.uniforms)[number][0];
type LossBinding = (typeof lossesKernel.bindings)[number][0];

const NAN_BITS = 0x7fc00000;

/** The upstream gradient of a loss: one scalar (a reduced loss) or one value per element ('none'), times `scale`. */
export interface LossGrad {
  upstream: GPUBuffer;
  perElement: boolean;
  scale: number;
}

function run(rt: GpuRuntime, op: string, entry: string, threads: number, u: Partial<Record<LossUniform, number | boolean>>, b: Partial<Record<LossBinding, BindingValue>>): void {
  launch(rt, lossesKernel, {
    op,
    entry,
    uniforms: Object.assign({ count: 0, classes: 0, inner: 1, wsize: 0, psize: 0, ignore_index: -100, mode: 0, gstride: 0, gscale: 1, nan_bits: NAN_BITS } as Record<LossUniform, number | boolean>, u),
    bindings: Object.assign({ a: null, b: null, targets: null, weight: null, pos_weight: null, upstream: null, sums: null, out: null } as Record<LossBinding, BindingValue>, b),
    workgroups: grid1d(rt, threads),
  });
}

function gradBindings(g: LossGrad, n: number) {
  return { u: { gstride: g.perElement, gscale: g.scale }, b: { upstream: f32Range(g.upstream, g.perElement ? n : 1) } };
}

/** out = (a − b)² elementwise, n elements. */
export function mseForward(rt: GpuRuntime, a: GPUBuffer, b: GPUBuffer, out: GPUBuffer, n: number): void {
  run(rt, `mse_loss[${n}]`, 'mse_forward', n, { count: n }, { a: f32Range(a, n), b: f32Range(b, n), out: f32Range(out, n) });
}

/** out = 2(a − b)·g: the gradient for a (for b, pass a negated scale). */
export function mseBackward(rt: GpuRuntime, a: GPUBuffer, b: GPUBuffer, g: LossGrad, out: GPUBuffer, n: number): void {
  const gb = gradBindings(g, n);
  run(rt, `mse_loss_backward[${n}]`, 'mse_backward', n, { count: n, ...gb.u }, { a: f32Range(a, n), b: f32Range(b, n), ...gb.b, out: f32Range(out, n) });
}

/** Optional per-element factors of the binary cross-entropy, each broadcast over x as v[i % size]. */
export interface BceWeights {
  weight: GPUBuffer | null;
  weightSize: number;
  posWeight: GPUBuffer | null;
  posWeightSize: number;
}

function bceInputs(x: GPUBuffer, y: GPUBuffer, w: BceWeights, n: number) {
  return {
    u: { count: n, wsize: w.weight ? w.weightSize : 0, psize: w.posWeight ? w.posWeightSize : 0 },
    b: {
      a: f32Range(x, n),
      b: f32Range(y, n),
      // An absent factor is bound to x (read-only, not read).
      weight: w.weight ? f32Range(w.weight, w.weightSize) : f32Range(x, 1),
      pos_weight: w.posWeight ? f32Range(w.posWeight, w.posWeightSize) : f32Range(x, 1),
    },
  };
}

/** Per-element binary cross-entropy of logits x against targets y (n elements). */
export function bceWithLogitsForward(rt: GpuRuntime, x: GPUBuffer, y: GPUBuffer, w: BceWeights, out: GPUBuffer, n: number): void {
  const i = bceInputs(x, y, w, n);
  run(rt, `bce_with_logits[${n}]`, 'bce_forward', n, i.u, { ...i.b, out: f32Range(out, n) });
}

/** The gradient of the binary cross-entropy for the logits (`of` = 'input') or the targets ('target'). */
export function bceWithLogitsBackward(rt: GpuRuntime, of: 'input' | 'target', x: GPUBuffer, y: GPUBuffer, w: BceWeights, g: LossGrad, out: GPUBuffer, n: number): void {
  const i = bceInputs(x, y, w, n);
  const gb = gradBindings(g, n);
  // The targets' gradient does not depend on the targets: that entry leaves b unbound.
  run(rt, `bce_with_logits_backward_${of}[${n}]`, `bce_backward_${of}`, n, { ...i.u, ...gb.u }, { ...i.b, ...(of === 'target' ? { b: null } : {}), ...gb.b, out: f32Range(out, n) });
}

/** logp viewed as [N, C, S] with targets [N, S] (int32), each target m = n·S + s. */
export interface NllLayout {
  n: number;
  classes: number;
  inner: number;
  ignoreIndex: number;
  /** Class weights [C], or null. */
  weight: GPUBuffer | null;
}

function nllInputs(l: NllLayout, target: GPUBuffer, anyF32: GPUBuffer) {
  const m = l.n * l.inner;
  return {
    u: { classes: l.classes, inner: l.inner, wsize: l.weight ? l.classes : 0, ignore_index: l.ignoreIndex },
    b: { targets: { buffer: target, offset: 0, size: m * 4 }, weight: f32Range(l.weight ?? anyF32, l.weight ? l.classes : 1) },
  };
}

/**
 * Per-target losses −w[t]·logp[n, t, s] into out[0, M) (M = N·S); with `withWeights`, also the weights w[t] into
 * out[M, 2M) (for the mean's denominator).
 */
export function nllForward(rt: GpuRuntime, logp: GPUBuffer, target: GPUBuffer, l: NllLayout, out: GPUBuffer, withWeights: boolean): void {
  const m = l.n * l.inner;
  const i = nllInputs(l, target, logp);
  run(rt, `nll_loss[${l.n}x${l.classes}x${l.inner}]`, 'nll_forward', m, { ...i.u, count: m, mode: withWeights }, {
    ...i.b,
    a: f32Range(logp, l.n * l.classes * l.inner),
    out: f32Range(out, withWeights ? 2 * m : m),
  });
}

/** out[0] = sums[0] / sums[1] (NaN when the weights sum to 0, as PyTorch's mean over ignored targets only). */
export function nllMean(rt: GpuRuntime, sums: GPUBuffer, out: GPUBuffer): void {
  run(rt, 'nll_loss_mean', 'nll_mean', 1, { count: 1 }, { sums: f32Range(sums, 2), out: f32Range(out, 1) });
}

/** dlogp [N, C, S]: −w[t]·g at each target's class, 0 elsewhere; divided by sums[1] when `sums` is given (the mean). */
export function nllBackward(rt: GpuRuntime, target: GPUBuffer, l: NllLayout, g: LossGrad, sums: GPUBuffer | null, out: GPUBuffer): void {
  const total = l.n * l.classes * l.inner;
  const i = nllInputs(l, target, g.upstream);
  const gb = gradBindings(g, l.n * l.inner);
  run(rt, `nll_loss_backward[${l.n}x${l.classes}x${l.inner}]`, 'nll_backward', total, { ...i.u, ...gb.u, count: total, mode: sums !== null }, {
    ...i.b,
    ...gb.b,
    sums: f32Range(sums ?? g.upstream, sums ? 2 : 1),
    out: f32Range(out, total),
  });
}
