/** Launcher for adam.wgsl: one in-place torch.optim.Adam / AdamW update of one parameter tensor. */
import type { GpuRuntime } from '../../gpu/runtime';
import adamShader from './adam.wgsl';
import { withPrelude } from '../prelude';
import { defineKernel, launch, vec4Named, type LaunchSpec } from '../contract';
import { f32Range, gridStride } from '../util';
import { ADAM_MULTI_SLOTS, adamMultiKernel, type AdamSlotBinding, type AdamSlotUniform } from './multi';
import { bindEmptySlots, forEachMultiChunk, slotWorkgroups } from '../multi_tensor';

export { ADAM_MULTI_SLOTS, adamMultiKernel };

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

/** The uniforms of a parameter group's hyperparameters, shared by the per-tensor and multi-tensor kernels. */
function groupUniforms(h: AdamGroupHyper) {
  const [beta1, beta2] = h.betas;
  return {
    beta1,
    beta2,
    one_minus_beta1: 1 - beta1,
    one_minus_beta2: 1 - beta2,
    eps: h.eps,
    weight_decay: h.decoupled ? 0 : h.weightDecay,
    param_scale: h.decoupled ? 1 - h.lr * h.weightDecay : 1,
  };
}

/** The bias corrections of step `step` (computed in float64): step_size = lr / (1 − β1^t), bc2_sqrt = √(1 − β2^t). */
function biasCorrections(h: AdamGroupHyper, step: number) {
  return { step_size: h.lr / (1 - h.betas[0] ** step), bc2_sqrt: Math.sqrt(1 - h.betas[1] ** step) };
}

/**
 * One Adam (or AdamW) step over n floats, in place: the moments, the bias corrections of step `h.step`
 * (computed here in float64) and the parameter. With `s.maxExpAvgSq`, the amsgrad variant.
 */
export function adamUpdate(rt: GpuRuntime, param: GPUBuffer, grad: GPUBuffer, s: AdamBuffers, n: number, h: AdamHyper): void {
  const amsgrad = s.maxExpAvgSq !== null;
  const l = vec4Named(rt, n, { param, grad, exp_avg: s.expAvg, exp_avg_sq: s.expAvgSq, max_exp_avg_sq: s.maxExpAvgSq });
  launch(rt, adamKernel, {
    op: `${h.decoupled ? 'adamw' : 'adam'}[${n}${amsgrad ? ' amsgrad' : ''}]`,
    entry: (amsgrad ? 'adam_amsgrad' : 'adam') + l.suffix,
    uniforms: Object.assign({ n: l.count }, biasCorrections(h, h.step), groupUniforms(h)),
    bindings: l.bindings,
    workgroups: l.workgroups,
  });
}

/** One tensor of a multi-tensor update: its buffers, its size and its step count (this step included). */
export interface AdamSlot {
  param: GPUBuffer;
  grad: GPUBuffer;
  state: AdamBuffers;
  n: number;
  step: number;
}

/** The hyperparameters one group's tensors share (each tensor has its own step count). */
export type AdamGroupHyper = Omit<AdamHyper, 'step'>;

/**
 * The update of `adamUpdate` for every tensor of `slots` (one parameter group's hyperparameters; amsgrad when the
 * tensors have maxExpAvgSq, all or none), in as few dispatches as the device's storage-buffer limit allows: tensors
 * whose size is a multiple of 4 through the vec4 entries, the others through the scalar ones, up to `limits.slots`
 * (default: as many as fit, at most ADAM_MULTI_SLOTS) a dispatch; a lone or empty tensor takes `adamUpdate`. The
 * results are bit-identical to one `adamUpdate` per tensor. `limits.workgroups` caps each tensor's workgroups (tests).
 */
export function adamUpdateMany(rt: GpuRuntime, slots: readonly AdamSlot[], h: AdamGroupHyper, limits: { slots?: number; workgroups?: number } = {}): void {
  const amsgrad = slots.length > 0 && slots[0].state.maxExpAvgSq !== null;
  slots.forEach((s, i) => {
    if ((s.state.maxExpAvgSq !== null) !== amsgrad) throw new Error(`adam: tensor ${i} of the update (${s.n} floats) ${amsgrad ? 'has no' : 'has a'} max_exp_avg_sq buffer, tensor 0 ${amsgrad ? 'has one' : 'none'} (amsgrad is per group)`);
  });
  forEachMultiChunk(
    rt,
    slots,
    amsgrad ? 5 : 4,
    ADAM_MULTI_SLOTS,
    limits.slots,
    (s) => adamUpdate(rt, s.param, s.grad, s.state, s.n, { ...h, step: s.step }),
    (chunk, vec4, entrySlots) => launchMulti(rt, chunk, entrySlots, h, amsgrad, vec4, limits.workgroups),
  );
}

/** One dispatch of the `_x<entrySlots>` entry for `chunk` (its slots past the chunk empty). */
function launchMulti(rt: GpuRuntime, chunk: readonly AdamSlot[], entrySlots: number, h: AdamGroupHyper, amsgrad: boolean, vec4: boolean, maxWorkgroups = Infinity): void {
  type Spec = LaunchSpec<AdamSlotUniform, AdamSlotBinding>;
  // As adamUpdate's uniforms.
  const uniforms = groupUniforms(h) as Spec['uniforms'];
  const bindings = {} as Spec['bindings'];
  const { units, wgEnd } = slotWorkgroups(rt, chunk, vec4, ADAM_MULTI_SLOTS, maxWorkgroups);
  for (let k = 0; k < ADAM_MULTI_SLOTS; k++) {
    const s = chunk[k];
    uniforms[`n${k}`] = units[k];
    uniforms[`wg${k}`] = wgEnd[k];
    const bc = s ? biasCorrections(h, s.step) : { step_size: 0, bc2_sqrt: 0 };
    uniforms[`step_size${k}`] = bc.step_size;
    uniforms[`bc2_sqrt${k}`] = bc.bc2_sqrt;
    const range = (b: GPUBuffer | null | undefined) => (s && b ? f32Range(b, s.n) : null);
    bindings[`param${k}`] = range(s?.param);
    bindings[`grad${k}`] = range(s?.grad);
    bindings[`exp_avg${k}`] = range(s?.state.expAvg);
    bindings[`exp_avg_sq${k}`] = range(s?.state.expAvgSq);
    bindings[`max_exp_avg_sq${k}`] = amsgrad ? range(s?.state.maxExpAvgSq) : null;
  }
  bindEmptySlots(rt, adamMultiKernel, bindings, chunk.length, entrySlots);
  const floats = chunk.reduce((a, s) => a + s.n, 0);
  launch(rt, adamMultiKernel, {
    op: `${h.decoupled ? 'adamw' : 'adam'}[${chunk.length} tensors, ${floats}${amsgrad ? ' amsgrad' : ''}]`,
    entry: `${amsgrad ? 'adam_amsgrad' : 'adam'}${vec4 ? '_v4' : ''}_x${entrySlots}`,
    uniforms,
    bindings,
    workgroups: [wgEnd[ADAM_MULTI_SLOTS - 1]],
  });
}
