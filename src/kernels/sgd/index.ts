/** Launcher for sgd.wgsl: one in-place torch.optim.SGD update of one parameter tensor. */
import type { GpuRuntime } from '../../gpu/runtime';
import sgdShader from './sgd.wgsl';
import { withPrelude } from '../prelude';
import { defineKernel, launch, vec4Named } from '../contract';

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
