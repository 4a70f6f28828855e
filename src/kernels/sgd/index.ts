/**
 * Launchers for sgd.wgsl (one in-place torch.optim.SGD update of one parameter tensor) and for the generated
 * multi-tensor update (multi.ts: several tensors of one group a dispatch, bit-identical to one update each).
 */
import type { GpuRuntime } from '../../gpu/runtime';
import sgdShader from './sgd.wgsl';
import { withPrelude } from '../prelude';
import { defineKernel, launch, vec4Named, type LaunchSpec } from '../contract';
import { f32Range, gridStride } from '../util';
import { SGD_MULTI_SLOTS, sgdMultiKernel, type SlotBinding, type SlotUniform } from './multi';
import { bindEmptySlots, forEachMultiChunk, slotWorkgroups } from '../multi_tensor';

export { SGD_MULTI_SLOTS, sgdMultiKernel };

export const sgdKernel = defineKernel({
  name: 'sgd/sgd.wgsl',
  shader: withPrelude(sgdShader, 'grid'),
  entries: ['sgd_plain', 'sgd_momentum', 'sgd_plain_v4', 'sgd_momentum_v4'],
  uniforms: [['n', 'u32'], ['lr', 'f32'], ['momentum', 'f32'], ['dampening', 'f32'], ['weight_decay', 'f32'], ['nesterov', 'u32'], ['first', 'u32']],
  bindings: [['param', 'read_write'], ['grad', 'read'], ['buf', 'read_write'], ['param4', 'read_write'], ['grad4', 'read'], ['buf4', 'read_write']],
});

export interface SgdHyper {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/**
 * param −= lr · g over n floats, with g = grad + weightDecay·param and, when momentum ≠ 0, the momentum buffer
 * `buf` updated in place (set to g when `first`, else momentum·buf + (1 − dampening)·g; g = nesterov ? g + momentum·buf : buf).
 * `buf` may be null only when momentum is 0.
 */
export function sgdUpdate(
  rt: GpuRuntime,
  param: GPUBuffer,
  grad: GPUBuffer,
  buf: GPUBuffer | null,
  n: number,
  h: SgdHyper,
  first: boolean,
): void {
  const withMomentum = h.momentum !== 0;
  if (withMomentum && !buf) throw new Error('sgd: a momentum buffer is needed when momentum is not 0');
  const l = vec4Named(rt, n, { param, grad, buf: withMomentum ? buf! : null });
  launch(rt, sgdKernel, {
    op: `sgd[${n}${withMomentum ? ' momentum' : ''}]`,
    entry: (withMomentum ? 'sgd_momentum' : 'sgd_plain') + l.suffix,
    uniforms: {
      n: l.count,
      lr: h.lr,
      momentum: h.momentum,
      dampening: h.dampening,
      weight_decay: h.weightDecay,
      nesterov: h.nesterov,
      first,
    },
    bindings: l.bindings,
    workgroups: l.workgroups,
  });
}

/** One tensor of a multi-tensor update: its buffers, its size and whether this is its first momentum step. */
export interface SgdSlot {
  param: GPUBuffer;
  grad: GPUBuffer;
  /** The momentum buffer (null only when momentum is 0). */
  buf: GPUBuffer | null;
  n: number;
  first: boolean;
}

/**
 * The update of `sgdUpdate` for every tensor of `slots` (one parameter group's hyperparameters), in as few dispatches
 * as the device's storage-buffer limit allows (one each where kernelConfig's multiTensorUpdate is off): tensors whose
 * size is a multiple of 4 go through the vec4 entries, the
 * others through the scalar ones, up to `limits.slots` (default: as many as fit, at most SGD_MULTI_SLOTS) a dispatch; a
 * lone or empty tensor takes `sgdUpdate`. The results are bit-identical to one `sgdUpdate` per tensor.
 * `limits.workgroups` caps each tensor's workgroups (tests: every thread then loops over several units).
 */
export function sgdUpdateMany(rt: GpuRuntime, slots: readonly SgdSlot[], h: SgdHyper, limits: { slots?: number; workgroups?: number } = {}): void {
  const withMomentum = h.momentum !== 0;
  slots.forEach((s, i) => {
    if (withMomentum && !s.buf) throw new Error(`sgd: tensor ${i} of the update (${s.n} floats) has no momentum buffer; one is needed when momentum is not 0`);
  });
  forEachMultiChunk(
    rt,
    slots,
    withMomentum ? 3 : 2,
    SGD_MULTI_SLOTS,
    limits.slots,
    (s) => sgdUpdate(rt, s.param, s.grad, s.buf, s.n, h, s.first),
    (chunk, vec4, entrySlots) => launchMulti(rt, chunk, entrySlots, h, vec4, limits.workgroups),
  );
}

/** One dispatch of the `_x<entrySlots>` entry for `chunk` (its slots past the chunk empty). */
function launchMulti(rt: GpuRuntime, chunk: readonly SgdSlot[], entrySlots: number, h: SgdHyper, vec4: boolean, maxWorkgroups = Infinity): void {
  const withMomentum = h.momentum !== 0;
  type Spec = LaunchSpec<SlotUniform, SlotBinding>;
  const uniforms = {
    lr: h.lr,
    momentum: h.momentum,
    dampening: h.dampening,
    weight_decay: h.weightDecay,
    nesterov: h.nesterov,
  } as Spec['uniforms'];
  const bindings = {} as Spec['bindings'];
  // Each slot's workgroups: those of the per-tensor kernel's vec4 entries (gridStride), within the dispatch's limit.
  const { units, wgEnd } = slotWorkgroups(rt, chunk, vec4, SGD_MULTI_SLOTS, maxWorkgroups);
  for (let k = 0; k < SGD_MULTI_SLOTS; k++) {
    const s = chunk[k];
    uniforms[`n${k}`] = units[k];
    uniforms[`wg${k}`] = wgEnd[k];
    uniforms[`first${k}`] = Boolean(s?.first);
    bindings[`param${k}`] = s ? f32Range(s.param, s.n) : null;
    bindings[`grad${k}`] = s ? f32Range(s.grad, s.n) : null;
    bindings[`buf${k}`] = s && withMomentum ? f32Range(s.buf!, s.n) : null;
  }
  bindEmptySlots(rt, sgdMultiKernel, bindings, chunk.length, entrySlots);
  const floats = chunk.reduce((a, s) => a + s.n, 0);
  launch(rt, sgdMultiKernel, {
    op: `sgd[${chunk.length} tensors, ${floats}${withMomentum ? ' momentum' : ''}]`,
    entry: `sgd_${withMomentum ? 'momentum' : 'plain'}${vec4 ? '_v4' : ''}_x${entrySlots}`,
    uniforms,
    bindings,
    workgroups: [wgEnd[SGD_MULTI_SLOTS - 1]],
  });
}
