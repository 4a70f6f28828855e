/**
 * Launcher for matmul_vec4.wgsl, the packed kernel of every adapter without fixed-width subgroups: the subgroup
 * kernel's MODE 0 (plain operands from pack.ts, the same Params), 8 × 8 outputs per thread in named registers.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import shader from './matmul_vec4.wgsl';
import { grid1d } from '../util';
import { PACKED_BINDINGS, PACKED_UNIFORMS, type PackedKernelSpec, packedLaunch, packedUniforms } from './common';
import { defineKernel, launch } from '../contract';

export const matmulVec4Kernel = defineKernel({
  name: 'matmul/matmul_vec4.wgsl',
  shader,
  entries: ['main'],
  uniforms: PACKED_UNIFORMS,
  bindings: PACKED_BINDINGS,
});

/**
 * The workgroup side along a dimension of `n`: threads of 8 outputs each, up to 8 (a 64-wide tile), fewer for
 * a thin C (a tile mostly past C's edge is wasted work).
 */
function vec4Side(n: number): number {
  return Math.min(8, 2 ** Math.ceil(Math.log2(Math.ceil(n / 8))));
}

/** One dispatch of the vec4 kernel (plain operands only; spec.kernel is ignored). */
export function runVec4Kernel(rt: GpuRuntime, k: PackedKernelSpec): void {
  const l = packedLaunch(rt, k, false);
  if (l.conv) throw new Error(`${k.op}: the vec4 matmul kernel has no convolution gather`);
  // C's tile per workgroup: 8·wgy × 8·wgx.
  const [wgx, wgy] = [vec4Side(k.N), vec4Side(k.M)];
  const tilesN = Math.ceil(k.N / (8 * wgx));
  const tiles = tilesN * Math.ceil(k.M / (8 * wgy));
  const [gx, gy] = grid1d(rt, tiles, 1);
  launch(rt, matmulVec4Kernel, {
    op: k.op,
    entry: 'main',
    constants: { WGX: wgx, WGY: wgy },
    uniforms: packedUniforms(k, l, tilesN, tiles),
    bindings: { x: k.x.binding, y: l.yBinding, bias: l.wbias.binding, c: l.wc.binding },
    workgroups: [gx, gy, l.outputs],
  });
}
