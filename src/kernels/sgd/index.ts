/** Launcher for sgd.wgsl: one in-place torch.optim.SGD update of one parameter tensor. */
import type { GpuRuntime } from '../../gpu/runtime';
import sgdShader from './sgd.wgsl';
import { Params, vec4Launch } from '../util';

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
  // sgd.wgsl declares three scalar slots (param, grad, momentum buffer) before the vec4 ones.
  const l = vec4Launch(rt, n, withMomentum ? [param, grad, buf!] : [param, grad], 3);
  rt.dispatch({
    op: `sgd[${n}${withMomentum ? ' momentum' : ''}]`,
    shader: sgdShader,
    entry: (withMomentum ? 'sgd_momentum' : 'sgd_plain') + l.suffix,
    uniforms: new Params()
      .u32(l.count)
      .f32(h.lr)
      .f32(h.momentum)
      .f32(h.dampening)
      .f32(h.weightDecay)
      .u32(h.nesterov ? 1 : 0)
      .u32(first ? 1 : 0)
      .bytes(),
    bindings: l.bindings,
    workgroups: l.workgroups,
  });
}
