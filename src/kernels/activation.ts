/** Launchers for shaders/relu.wgsl. */
import type { GpuRuntime } from '../gpu/runtime';
import relu from '../../shaders/relu.wgsl';
import { Params, f32Range, grid1d, gridStride } from './util';

/** The scalar entry over n elements, or its vec4 twin when n is a multiple of 4 (slots 1–3 or 4–6). */
function dispatchRelu(rt: GpuRuntime, entry: string, slots: (GPUBuffer | null)[], n: number): void {
  const vec4 = n > 0 && n % 4 === 0;
  const ranges = slots.map((b) => (b ? f32Range(b, n) : null));
  rt.dispatch({
    op: `${entry.replace('relu_forward', 'relu')}[${n}]`,
    shader: relu,
    entry: vec4 ? `${entry}_4` : entry,
    uniforms: new Params().u32(vec4 ? n / 4 : n).bytes(),
    bindings: vec4 ? [null, null, null, ...ranges] : ranges,
    workgroups: vec4 ? gridStride(rt, n / 4) : grid1d(rt, n),
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
