/**
 * Launchers for amp.wgsl (dynamic loss scaling, train/grad_scaler.ts): unscaling a float32 gradient in place
 * while a flag on the GPU records whether any of its values is inf or NaN, and the clear that resets the flag.
 * The flag is one u32 (0: all finite so far, 1: a non-finite value was seen), read back once per step.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import ampShader from './amp.wgsl';
import { withPrelude } from '../prelude';
import { defineKernel, launch, vec4Named, type LaunchSpec } from '../contract';
import { bindEmptySlots, forEachMultiChunk, slotWorkgroups } from '../multi_tensor';
import { AMP_MULTI_SLOTS, type AmpSlotBinding, type AmpSlotUniform, ampMultiKernel } from './multi';

/** The contract of amp.wgsl. */
export const ampKernel = defineKernel({
  name: 'amp/amp.wgsl',
  shader: withPrelude(ampShader, 'grid'),
  entries: ['unscale', 'unscale_v4'],
  uniforms: [['n', 'u32'], ['inv_scale', 'f32']],
  bindings: [['grad', 'read_write'], ['found', 'read_write'], ['grad4', 'read_write']],
});

/** Bytes of a found-inf flag (one u32). */
export const FOUND_INF_BYTES = 4;

/** found[0] = 0 (no non-finite value seen), as a GPU clear in command order: no CPU write between steps. */
export function clearFoundInf(rt: GpuRuntime, found: GPUBuffer): void {
  rt.clear(found, 0, FOUND_INF_BYTES, 'gradScaler.clearFoundInf');
}

/**
 * grad *= invScale over n float32 values, in place; found[0] (a u32) is set to 1 when any input or result is
 * NaN or ±inf, and left as it is otherwise (so one flag collects the check over many gradients). invScale is
 * passed as a float32.
 */
export function unscaleGrad(rt: GpuRuntime, grad: GPUBuffer, n: number, invScale: number, found: GPUBuffer): void {
  if (n === 0) return;
  const l = vec4Named(rt, n, { grad });
  launch(rt, ampKernel, {
    op: `gradScaler.unscale[${n}]`,
    entry: 'unscale' + l.suffix,
    uniforms: { n: l.count, inv_scale: invScale },
    bindings: Object.assign({ found: { buffer: found, offset: 0, size: FOUND_INF_BYTES } }, l.bindings),
    workgroups: l.workgroups,
  });
}

/** One gradient of unscaleGrads: n float32 values in `buffer`. */
export interface UnscaleSlot {
  buffer: GPUBuffer;
  n: number;
}

/**
 * unscaleGrad for every gradient of `grads`, several a dispatch (kernels/amp/multi.ts: as many as the device binds
 * beside the flag, at most AMP_MULTI_SLOTS; one each where the kernel configuration's multiTensorUpdate is off):
 * the gradients and the flag are those of one unscaleGrad per gradient. `limits` as sgdUpdateMany's (tests).
 */
export function unscaleGrads(rt: GpuRuntime, grads: readonly UnscaleSlot[], invScale: number, found: GPUBuffer, limits: { slots?: number; workgroups?: number } = {}): void {
  forEachMultiChunk(
    rt,
    grads,
    1,
    AMP_MULTI_SLOTS,
    limits.slots,
    (g) => unscaleGrad(rt, g.buffer, g.n, invScale, found),
    (chunk, vec4, entrySlots) => {
      type Spec = LaunchSpec<AmpSlotUniform, AmpSlotBinding>;
      const { units, wgEnd } = slotWorkgroups(rt, chunk, vec4, AMP_MULTI_SLOTS, limits.workgroups);
      const uniforms = { inv_scale: invScale } as Spec['uniforms'];
      const bindings = { found: { buffer: found, offset: 0, size: FOUND_INF_BYTES } } as Spec['bindings'];
      for (let k = 0; k < AMP_MULTI_SLOTS; k++) {
        const g = chunk[k];
        uniforms[`n${k}`] = units[k];
        uniforms[`wg${k}`] = wgEnd[k];
        bindings[`grad${k}`] = g ? { buffer: g.buffer, offset: 0, size: g.n * 4 } : null;
      }
      bindEmptySlots(rt, ampMultiKernel, bindings, chunk.length, entrySlots);
      launch(rt, ampMultiKernel, {
        op: `gradScaler.unscale[${chunk.length} tensors, ${chunk.reduce((a, g) => a + g.n, 0)}]`,
        entry: `amp_unscale${vec4 ? '_v4' : ''}_x${entrySlots}`,
        uniforms,
        bindings,
        workgroups: [wgEnd[AMP_MULTI_SLOTS - 1]],
      });
    },
    1,
  );
}
