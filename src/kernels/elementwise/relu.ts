/** Launchers for relu.wgsl. */
import type { GpuRuntime } from '../../gpu/runtime';
import relu from './relu.wgsl';
import { withPrelude } from '../prelude';
import { defineKernel, launch, vec4Named } from '../contract';

export const reluKernel = defineKernel({
  name: 'elementwise/relu.wgsl',
  shader: withPrelude(relu, 'grid'),
  entries: ['relu_forward', 'relu_backward', 'relu_forward_v4', 'relu_backward_v4'],
  uniforms: [['n', 'u32']],
  bindings: [['a', 'read'], ['dy', 'read'], ['out', 'read_write'], ['a4', 'read'], ['dy4', 'read'], ['out4', 'read_write']],
});

/** The scalar entry over n elements, or its vec4 twin when n is a multiple of 4 (slots 1–3 or 4–6). */
function dispatchRelu(rt: GpuRuntime, entry: string, slots: { a: GPUBuffer; dy: GPUBuffer | null; out: GPUBuffer }, n: number): void {
  const l = vec4Named(rt, n, slots);
  launch(rt, reluKernel, {
    op: `${entry.replace('relu_forward', 'relu')}[${n}]`,
    entry: entry + l.suffix,
    uniforms: { n: l.count },
    bindings: l.bindings,
    workgroups: l.workgroups,
  });
}

/** y = max(x, 0) over n floats (NaN stays NaN). */
export function reluForward(rt: GpuRuntime, x: GPUBuffer, y: GPUBuffer, n: number): void {
  dispatchRelu(rt, 'relu_forward', { a: x, dy: null, out: y }, n);
}

/** dx = dy · [y > 0], from the forward's output y (y > 0 exactly where x > 0; the gradient at 0 is 0). */
export function reluBackward(rt: GpuRuntime, y: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer, n: number): void {
  dispatchRelu(rt, 'relu_backward', { a: y, dy, out: dx }, n);
}
