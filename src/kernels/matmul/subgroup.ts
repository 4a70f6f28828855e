/**
 * Launcher for matmul_subgroup.wgsl, the kernel of adapters with 8-lane subgroups: C = X·Y with X k-major
 * and Y row-major, both as rows of vec4 (pack.ts), or Y gathered from images by a convolution's taps
 * (ConvGather, MODE 1 and 2; conv/implicit.ts).
 */
import type { GpuRuntime } from '../../gpu/runtime';
import shader from './matmul_subgroup.wgsl';
import { grid1d } from '../util';
import { CONV_GATHER_UNIFORMS, PACKED_BINDINGS, PACKED_UNIFORMS, type PackedKernelSpec, convGatherUniforms, packedLaunch, packedUniforms } from './common';
import { defineKernel, launch } from '../contract';

export const matmulSubgroupKernel = defineKernel({
  name: 'matmul/matmul_subgroup.wgsl',
  shader,
  entries: ['main'],
  uniforms: [...PACKED_UNIFORMS, ...CONV_GATHER_UNIFORMS],
  // yImg: the images again, as floats (MODE 1 and 2).
  bindings: [...PACKED_BINDINGS, ['yImg', 'read']],
});

/** Whether this runtime can run the subgroup kernel: the feature is on and subgroups are exactly 8 lanes. */
export function hasSubgroupMatmul(rt: GpuRuntime): boolean {
  if (!rt.features.has('subgroups')) return false;
  const info = (rt.device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number; subgroupMaxSize?: number } }).adapterInfo;
  return info?.subgroupMinSize === 8 && info?.subgroupMaxSize === 8;
}

/**
 * Whether the subgroup kernel takes 32 × 64 tiles for a C of N columns: when they waste at most 10% more
 * columns than 32-wide ones (fewer loads and broadcasts per multiply-add).
 */
export function subgroupWide(N: number): boolean {
  return N >= 64 && Math.ceil(N / 64) * 64 <= 1.1 * Math.ceil(N / 32) * 32;
}

/** One dispatch of the subgroup kernel (spec.kernel is ignored). */
export function runSubgroupKernel(rt: GpuRuntime, k: PackedKernelSpec): void {
  // The kernel binds C as vec4 (whole-vec4 stores where aligned): its window is whole vec4s.
  const l = packedLaunch(rt, k, true);
  // C's tile per workgroup: 32 × 32 (8 lanes), or 32 × 64 (WIDE) for plain operands whose C is wide enough to fill it.
  const wide = !l.conv && subgroupWide(k.N);
  const wgx = wide ? 8 : 4;
  const tilesN = Math.ceil(k.N / (8 * wgx));
  const tiles = tilesN * Math.ceil(k.M / 32);
  const [gx, gy] = grid1d(rt, tiles, 1);
  launch(rt, matmulSubgroupKernel, {
    op: k.op,
    entry: 'main',
    constants: { MODE: l.conv ? l.conv.mode : 0, WIDE: Number(wide) },
    uniforms: { ...packedUniforms(k, l, tilesN, tiles), ...convGatherUniforms(l.conv) },
    // The images' binding is declared twice (slots 2 and 5: vec4 rows and floats).
    bindings: { x: k.x.binding, y: l.yBinding, bias: l.wbias.binding, c: l.wc.binding, yImg: l.yBinding },
    workgroups: [gx, gy, l.outputs],
  });
}
