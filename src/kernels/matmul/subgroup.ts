/**
 * Launcher for matmul_subgroup.wgsl, the kernel of adapters with a fixed subgroup width of 4 to 128 lanes: C = X·Y with X k-major
 * and Y row-major, both as rows of vec4 (pack.ts), or Y gathered from images by a convolution's taps
 * (ConvGather, MODE 1 and 2; conv/implicit.ts).
 */
import type { GpuRuntime } from '../../gpu/runtime';
import shader from './matmul_subgroup.wgsl';
import { grid1d } from '../util';
import { CONV_GATHER_UNIFORMS, EPILOGUE_BINDINGS, EPILOGUE_UNIFORMS, PACKED_BINDINGS, PACKED_UNIFORMS, type PackedKernelSpec, epilogueLaunch, gatherKernelArgs, packedLaunch } from './common';
import { defineKernel, launch } from '../contract';

export const matmulSubgroupKernel = defineKernel({
  name: 'matmul/matmul_subgroup.wgsl',
  shader,
  entries: ['main'],
  uniforms: [...PACKED_UNIFORMS, ...CONV_GATHER_UNIFORMS, ...EPILOGUE_UNIFORMS],
  // yImg: the images again, as floats (MODE 1 and 2); scale and res: the epilogue's.
  bindings: [...PACKED_BINDINGS, ['yImg', 'read'], ...EPILOGUE_BINDINGS],
});

/** The subgroup widths the kernel is written for: its workgroup is one subgroup of this many lanes. */
export const SUBGROUP_LANES = [4, 8, 16, 32, 64, 128] as const;

/**
 * The lanes of this runtime's subgroups when the subgroup kernel can run here: the feature is on and the
 * adapter's subgroups have one fixed width (subgroupMinSize = subgroupMaxSize) from SUBGROUP_LANES; else null.
 * (An adapter whose width varies, such as Intel's 8 to 32, could split a workgroup into several subgroups.)
 */
export function subgroupLanes(rt: GpuRuntime): number | null {
  if (!rt.features.has('subgroups')) return null;
  const info = (rt.device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number; subgroupMaxSize?: number } }).adapterInfo;
  const lanes = info?.subgroupMinSize;
  return lanes !== undefined && lanes === info?.subgroupMaxSize && (SUBGROUP_LANES as readonly number[]).includes(lanes) ? lanes : null;
}

/** Whether this runtime can run the subgroup kernel (see subgroupLanes). */
export function hasSubgroupMatmul(rt: GpuRuntime): boolean {
  return subgroupLanes(rt) !== null;
}

/**
 * Whether the heuristic choices (matmul, packed kernels, the implicit convolution) prefer the subgroup kernel:
 * where it runs with subgroups of 8 lanes or more. With 4 lanes (SwiftShader; llvmpipe at 128-bit vectors) it runs
 * and is a candidate of the tuner, but the heuristic keeps the kernels measured for those adapters (vec4, im2col).
 */
export function subgroupPreferred(rt: GpuRuntime): boolean {
  return (subgroupLanes(rt) ?? 0) >= 8;
}

/** The C tile (rows, columns) of one workgroup of the subgroup kernel with `lanes`-lane subgroups (not WIDE). */
export function subgroupTile(lanes: number): [number, number] {
  return [32, 4 * lanes];
}

/**
 * Whether the subgroup kernel takes wide tiles (32 × 8·lanes: 32 × 64 with 8 lanes) for a C of N columns: when
 * they waste at most 10% more columns than the narrow ones (32 × 4·lanes; fewer loads and broadcasts per
 * multiply-add).
 */
export function subgroupWide(N: number, lanes = 8): boolean {
  const narrow = 4 * lanes;
  return N >= 2 * narrow && Math.ceil(N / (2 * narrow)) * 2 * narrow <= 1.1 * Math.ceil(N / narrow) * narrow;
}

/**
 * Tests only: run the subgroup kernel with another width than the adapter's (`lanes`: workgroups split into
 * several subgroups, or smaller than one), or with its lanes renumbered (`laneXor`: lane l does lane l ^ laneXor's
 * work); its guard must turn both into NaN. Reset to the defaults after use.
 */
export const subgroupTestHooks: { lanes: number | null; laneXor: number } = { lanes: null, laneXor: 0 };

/** One dispatch of the subgroup kernel (spec.kernel is ignored). */
export function runSubgroupKernel(rt: GpuRuntime, k: PackedKernelSpec): void {
  const lanes = subgroupTestHooks.lanes ?? subgroupLanes(rt);
  if (lanes === null) throw new Error(`${k.op}: the subgroup matmul kernel needs the subgroups feature with a fixed subgroup width of ${SUBGROUP_LANES.join(', ')} lanes`);
  // The kernel binds C as vec4 (whole-vec4 stores where aligned): its window is whole vec4s.
  const l = packedLaunch(rt, k, true);
  const e = epilogueLaunch(rt, k, l);
  // C's tile per workgroup: 32 × 4·lanes, or 32 × 8·lanes (WIDE) for plain operands whose C is wide enough to fill it.
  const wide = !l.conv && subgroupWide(k.N, lanes);
  const tilesN = Math.ceil(k.N / (subgroupTile(lanes)[1] * (wide ? 2 : 1)));
  const tiles = tilesN * Math.ceil(k.M / 32);
  const [gx, gy] = grid1d(rt, tiles, 1);
  const args = gatherKernelArgs(k, l, e, tilesN, tiles);
  const constants: Record<string, number> = { MODE: l.conv ? l.conv.mode : 0, WIDE: Number(wide), SG: lanes };
  // llvmpipe's numbering beyond 16 lanes (see the shader).
  if (rt.isSoftware && lanes > 16) constants.SPLIT16 = 1;
  if (subgroupTestHooks.laneXor) constants.LANE_XOR = subgroupTestHooks.laneXor;
  // The epilogue (read from the uniforms): where there is one, and for every MODE 1 product (see the shader).
  if (e.any || l.conv?.mode === 1) constants.EPI = 1;
  launch(rt, matmulSubgroupKernel, {
    op: k.op,
    entry: 'main',
    constants,
    uniforms: args.uniforms,
    bindings: args.bindings,
    workgroups: [gx, gy, l.outputs],
  });
}
