/** Launcher for adam.wgsl: one in-place torch.optim.Adam / AdamW update of one parameter tensor. */
import type { GpuRuntime } from '../../gpu/runtime';
import adamShader from './adam.wgsl';
import { withPrelude } from '../prelude';
import { defineKernel, launch, vec4Named } from '../contract';

/** The contract of adam.wgsl. */
export const adamKernel = defineKernel({
  name: 'adam/adam.wgsl',
  shader: withPrelude(adamShader, 'grid'),
  entries: ['adam', 'adam_amsgrad', 'adam_v4', 'adam_amsgrad_v4'],
  uniforms: [
    ['n', 'u32'], ['step_size', 'f32'], ['bc2_sqrt', 'f32'], ['beta1', 'f32'], ['beta2', 'f32'],
    ['one_minus_beta1', 'f32'], ['one_minus_beta2', 'f32'], ['eps', 'f32'], ['weight_decay', 'f32'], ['param_scale', 'f32'],
  ],
  bindings: [
    ['param', 'read_write'], ['grad', 'read'], ['exp_avg', 'read_write'], ['exp_avg_sq', 'read_write'], ['max_exp_avg_sq', 'read_write'],
    ['param4', 'read_write'], ['grad4', 'read'], ['exp_avg4', 'read_write'], ['exp_avg_sq4', 'read_write'], ['max_exp_avg_sq4', 'read_write'],
  ],
});

/** The hyperparameters of one Adam / AdamW step of one parameter. */
export interface AdamHyper {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  /** AdamW: the decay multiplies the parameter by 1 − lr·weightDecay; Adam: weightDecay·p is added to the gradient. */
  decoupled: boolean;
  /** The parameter's step count, this step included (1 on its first step). */
  step: number;
}

/** The state buffers of one parameter: zero-filled before its first step; maxExpAvgSq only with amsgrad. */
export interface AdamBuffers {
  expAvg: GPUBuffer;
  expAvgSq: GPUBuffer;
  maxExpAvgSq: GPUBuffer | null;
}

/**
 * One Adam (or AdamW) step over n floats, in place: the moments, the bias corrections of step `h.step`
 * (computed here in float64) and the parameter. With `s.maxExpAvgSq`, the amsgrad variant.
 */
export function adamUpdate(rt: GpuRuntime, param: GPUBuffer, grad: GPUBuffer, s: AdamBuffers, n: number, h: AdamHyper): void {
  const [beta1, beta2] = h.betas;
  const amsgrad = s.maxExpAvgSq !== null;
  const l = vec4Named(rt, n, { param, grad, exp_avg: s.expAvg, exp_avg_sq: s.expAvgSq, max_exp_avg_sq: s.maxExpAvgSq });
  launch(rt, adamKernel, {
    op: `${h.decoupled ? 'adamw' : 'adam'}[${n}${amsgrad ? ' amsgrad' : ''}]`,
    entry: (amsgrad ? 'adam_amsgrad' : 'adam') + l.suffix,
    uniforms: {
      n: l.count,
      step_size: h.lr / (1 - beta1 ** h.step),
      bc2_sqrt: Math.sqrt(1 - beta2 ** h.step),
      beta1,
      beta2,
      one_minus_beta1: 1 - beta1,
      one_minus_beta2: 1 - beta2,
      eps: h.eps,
      weight_decay: h.decoupled ? 0 : h.weightDecay,
      param_scale: h.decoupled ? 1 - h.lr * h.weightDecay : 1,
    },
    bindings: l.bindings,
    workgroups: l.workgroups,
  });
}
