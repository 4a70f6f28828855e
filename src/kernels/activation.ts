/** Launchers for shaders/relu.wgsl. */
import type { GpuRuntime } from '../gpu/runtime';
import relu from '../../shaders/relu.wgsl';
import { Params, f32Range, grid1d } from './util';

/** y = max(x, 0) over n floats (NaN stays NaN). */
export function reluForward(rt: GpuRuntime, x: GPUBuffer, y: GPUBuffer, n: number): void {
  rt.dispatch({
    op: `relu[${n}]`,
    shader: relu,
    entry: 'relu_forward',
    uniforms: new Params().u32(n).bytes(),
    bindings: [f32Range(x, n), null, f32Range(y, n)],
    workgroups: grid1d(rt, n),
  });
}

/** dx = dy · [y > 0], from the forward's output y (y > 0 exactly where x > 0; the gradient at 0 is 0). */
export function reluBackward(rt: GpuRuntime, y: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer, n: number): void {
  rt.dispatch({
    op: `relu_backward[${n}]`,
    shader: relu,
    entry: 'relu_backward',
    uniforms: new Params().u32(n).bytes(),
    bindings: [f32Range(y, n), f32Range(dy, n), f32Range(dx, n)],
    workgroups: grid1d(rt, n),
  });
}
