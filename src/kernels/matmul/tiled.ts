/**
 * Launcher for matmul_tiled.wgsl, the GEMM for GPUs: workgroup-memory block tiles, per-thread register tiles,
 * vec4 loads, double-buffered slabs. It takes the packed kernels' operands (plain, or Y gathered by a
 * convolution's taps: MODE 0, 1 and 2, see matmul_subgroup.wgsl) and adds an epilogue (scale, residual, ReLU).
 * Each configuration of TILED_CONFIGS is one shader (the WGSL with its tile sizes prepended as constants) and
 * one kernel contract; a configuration compiles at most three pipelines (its MODEs).
 * The epilogue is reachable through matmul() and PackedKernelSpec; no model path uses it yet: training's batch
 * norm needs the batch statistics of the convolution's output, and eval does not fold batch norm into the
 * convolutions (where it would, most of ResNet's 3×3 convolutions run Winograd, whose output transform, not
 * a GEMM, writes the output).
 */
import type { GpuRuntime } from '../../gpu/runtime';
import shader from './matmul_tiled.wgsl';
import { grid1d } from '../util';
import { type KernelContract, defineKernel, launch } from '../contract';
import { CONV_GATHER_UNIFORMS, EPILOGUE_BINDINGS, EPILOGUE_UNIFORMS, PACKED_BINDINGS, PACKED_UNIFORMS, type PackedKernelSpec, type TiledName, epilogueLaunch, gatherKernelArgs, packedLaunch } from './common';

/** One configuration: a BM × BN block tile in slabs of BK, TM × TN outputs per thread (BM/TM · BN/TN threads). */
export interface TiledConfig {
  name: TiledName;
  bm: number;
  bn: number;
  bk: number;
  tm: number;
  tn: number;
}

function config(bm: number, bn: number, bk: number, tm: number, tn: number): TiledConfig {
  return { name: `tiled-${bm}x${bn}x${bk}-${tm}x${tn}`, bm, bn, bk, tm, tn };
}

/**
 * The configurations (candidates of the 'matmul' site): 128 × 128 with 8 × 8 per thread for large products,
 * 128 × 64 (8 × 4) and 64 × 64 (4 × 4) for middle ones, 32 × 32 (4 × 4, 64 threads) for small ones.
 * Vector width: 4 (the operands are rows of vec4).
 */
export const TILED_CONFIGS: readonly TiledConfig[] = [
  config(128, 128, 8, 8, 8),
  config(128, 64, 8, 8, 4),
  config(64, 64, 16, 4, 4),
  config(32, 32, 16, 4, 4),
];

export const TILED_NAMES: readonly TiledName[] = TILED_CONFIGS.map((c) => c.name);

/** The configuration named `name` (throws for an unknown name). */
export function tiledConfig(name: string): TiledConfig {
  const c = TILED_CONFIGS.find((t) => t.name === name);
  if (!c) throw new Error(`matmul: unknown tiled configuration '${name}' (known: ${TILED_NAMES.join(', ')})`);
  return c;
}

export const threadsOf = (c: TiledConfig) => (c.bm / c.tm) * (c.bn / c.tn);
/** Workgroup memory of a configuration: two slabs of X and of Y. */
export const sharedBytesOf = (c: TiledConfig) => 2 * c.bk * (c.bm + c.bn) * 4;

/** The shader of a configuration: its constants, then matmul_tiled.wgsl. */
function shaderOf(c: TiledConfig): string {
  return `const BM = ${c.bm}u;\nconst BN = ${c.bn}u;\nconst BK = ${c.bk}u;\nconst TM = ${c.tm}u;\nconst TN = ${c.tn}u;\n${shader}`;
}

const TILED_UNIFORMS = [...PACKED_UNIFORMS, ...CONV_GATHER_UNIFORMS, ...EPILOGUE_UNIFORMS] as const;
const TILED_BINDINGS = [...PACKED_BINDINGS, ['yImg', 'read'], ...EPILOGUE_BINDINGS] as const;

function contractOf(c: TiledConfig) {
  return defineKernel({
    name: `matmul/matmul_tiled.wgsl [${c.name}]`,
    shader: shaderOf(c),
    entries: ['main'],
    uniforms: TILED_UNIFORMS,
    bindings: TILED_BINDINGS,
  });
}
const CONTRACTS = new Map(TILED_CONFIGS.map((c) => [c.name, contractOf(c)]));

/** The kernel contract of every configuration (src/kernels/contracts.ts). */
export const matmulTiledKernels: readonly KernelContract[] = [...CONTRACTS.values()];

/** Storage buffers a tiled kernel binds: x, y, bias, c, yImg, scale, res. */
const STORAGE_BINDINGS = TILED_BINDINGS.length;

/** Whether the runtime's limits admit configuration c (threads, workgroup memory, storage bindings). */
export function tiledFits(rt: GpuRuntime, c: TiledConfig): boolean {
  const l = rt.limits;
  const threads = threadsOf(c);
  return threads <= l.maxComputeInvocationsPerWorkgroup && threads <= l.maxComputeWorkgroupSizeX && sharedBytesOf(c) <= l.maxComputeWorkgroupStorageSize && STORAGE_BINDINGS <= l.maxStorageBuffersPerShaderStage;
}

/** The configurations this runtime can run. */
export function tiledNames(rt: GpuRuntime): TiledName[] {
  return TILED_CONFIGS.filter((c) => tiledFits(rt, c)).map((c) => c.name);
}

/**
 * The heuristic's configuration for a product of `outputs` matrices of M × N (the autotuner refines it):
 * the largest block tile that still gives enough workgroups to fill a GPU (about 2 per compute unit of a
 * large one), else the smallest.
 */
export function tiledFor(rt: GpuRuntime, M: number, N: number, outputs = 1): TiledName | null {
  const fits = TILED_CONFIGS.filter((c) => tiledFits(rt, c));
  if (!fits.length) return null;
  const enough = fits.find((c) => Math.ceil(M / c.bm) * Math.ceil(N / c.bn) * outputs >= 256);
  return (enough ?? fits[fits.length - 1]).name;
}

/** One dispatch of the tiled kernel in configuration `name`. */
export function runTiledKernel(rt: GpuRuntime, k: PackedKernelSpec, name: TiledName): void {
  const cfg = tiledConfig(name);
  if (!tiledFits(rt, cfg)) throw new Error(`${k.op}: the tiled configuration ${name} exceeds this adapter's limits (${threadsOf(cfg)} threads, ${sharedBytesOf(cfg)} bytes of workgroup memory)`);
  // C is bound as vec4 (whole-vec4 stores where aligned): its window is whole vec4s.
  const l = packedLaunch(rt, k, true);
  const e = epilogueLaunch(rt, k, l);
  const tilesN = Math.ceil(k.N / cfg.bn);
  const tiles = tilesN * Math.ceil(k.M / cfg.bm);
  const [gx, gy] = grid1d(rt, tiles, 1);
  const args = gatherKernelArgs(k, l, e, tilesN, tiles);
  launch(rt, CONTRACTS.get(name)!, {
    op: k.op,
    entry: 'main',
    constants: { MODE: l.conv ? l.conv.mode : 0 },
    uniforms: args.uniforms,
    bindings: args.bindings,
    workgroups: [gx, gy, l.outputs],
  });
}
