/** Launchers for relu.wgsl. */
import type { GpuRuntime } from '../../gpu/runtime';
import relu from './relu.wgsl';
import { Params, vec4Launch } from '../util';

/** The scalar entry over n elements, or its vec4 twin when n is a multiple of 4 (slots 1–3 or 4–6). */
function dispatchRelu(rt: GpuRuntime, entry: string, slots: (GPUBuffer | null)[], n: number): void {
  const l = vec4Launch(rt, n, slots);
  rt.dispatch({
    op: `${entry.replace('relu_forward', 'relu')}[${n}]`,
    shader: relu,
    entry: entry + l.suffix,
    uniforms: new Params().u32(l.count).bytes(),
    bindings: l.bindings,
    workgroups: l.workgroups,
  });
}

/** y = max(x, 0) over n floats (NaN stays NaN). */
export function reluForward(rt: GpuRuntime, x: GPUBuffer, y: GPUBuffer, n: number): void {
  dispatchRelu(rt, 'relu_forward', [x, null, y], n);
}

/** dx = dy · [y > 0], from the forward's output y (y > 0 exactly where x > 0; the gradient at 0 is 0). */
export function reluBackward(rt: GpuRuntime, y: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer, n: number): void {
  dispatchRelu(rt, 'relu_backward', [y, dy, dx], n);
}
