/**
 * Which algorithm runs each pass of a convolution (see index.ts for the algorithms), and Winograd's output tile.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import { choose, kernelConfig } from '../config';
import { hasSubgroupMatmul, subgroupPreferred } from '../matmul/subgroup';
import { tiledNames } from '../matmul/tiled';
import { type Conv2dGeometry, geometryStr, isPointwise } from './geometry';
import { type WinogradTile, winogradApplies, winogradFits, winogradPays } from './winograd';

export type ConvAlgorithm = 'implicit' | 'im2col' | 'winograd';

export interface ConvOptions {
  /** Largest column buffer (bytes) to allocate; the batch is tiled to fit. Default: maxStorageBufferBindingSize. */
  maxColumnBytes?: number;
  /** Force an algorithm (see index.ts). Default: convPlan's choice. */
  algorithm?: ConvAlgorithm;
  /** At most this many images per batch tile (every algorithm; tests, memory control). Default: as many as fit. */
  maxImagesPerTile?: number;
  /** Winograd's output tile: 2 (F(2×2, 3×3)) or 4 (F(4×4, 3×3)). Default: the kernel configuration's (see convPlan). */
  winogradTile?: WinogradTile;
  /** No gradient will flow back through this forward pass (evaluation, prediction): it may round differently. */
  inference?: boolean;
  /**
   * Implicit-GEMM weight gradient: split the sum over a tile's images into this many partial sums, added
   * afterwards. Default: enough for WEIGHT_GRADIENT_WORKGROUPS workgroups (1 where dW has that many tiles).
   */
  weightSumGroups?: number;
  /**
   * The images, weights and gradients hold float16 values (the float16 path, ops/conv.ts): im2col's products
   * may run on the subgroup-matrix kernel (MatmulOptions.halfInputs).
   */
  halfOperands?: boolean;
}

/** The pass of a convolution: the forward, or the gradient with respect to the data or the weights. */
export type ConvPass = 'forward' | 'data' | 'weight';

/** How a pass runs: the algorithm, and Winograd's output tile (used when the algorithm is 'winograd'). */
export interface ConvPlan {
  algorithm: ConvAlgorithm;
  winogradTile: WinogradTile;
}

/**
 * The Winograd output tile of a pass: the call's choice, else the kernel configuration's (see KernelConfig:
 * winogradTile, winogradInferenceTile for a forward pass without a backward, winogradBackwardTile).
 */
function winogradTileFor(rt: GpuRuntime, pass: ConvPass, opts: ConvOptions): WinogradTile {
  const c = kernelConfig(rt);
  return opts.winogradTile ?? (pass !== 'forward' ? c.winogradBackwardTile : opts.inference ? c.winogradInferenceTile : c.winogradTile);
}

/** Whether the implicit algorithm runs here: a packed kernel that gathers (subgroup, fixed-width subgroups; or a tiled configuration). */
function implicitAvailable(rt: GpuRuntime): boolean {
  return hasSubgroupMatmul(rt) || tiledNames(rt).length > 0;
}

/**
 * Whether the heuristic prefers the implicit algorithm to im2col: where it prefers the subgroup kernel (llvmpipe:
 * subgroups of 8 lanes or more), and on hardware adapters (the tiled kernel); other software adapters
 * (SwiftShader, 4-lane subgroups) keep im2col.
 */
function implicitPreferred(rt: GpuRuntime): boolean {
  return subgroupPreferred(rt) || (!rt.isSoftware && tiledNames(rt).length > 0);
}

/** The algorithm the heuristic runs a pass with, for Winograd tile `tile` (see index.ts). */
function heuristicAlgorithm(rt: GpuRuntime, g: Conv2dGeometry, pass: ConvPass, opts: ConvOptions, tile: WinogradTile): ConvAlgorithm {
  const available = implicitAvailable(rt);
  const preferred = implicitPreferred(rt);
  // Winograd where it computes the shape and one image's transformed tiles fit a binding; by default only
  // where it also saves work (not on the tiniest maps).
  const winograd = winogradApplies(g) && winogradFits(rt, g, tile);
  const chosen = opts.algorithm ?? (winograd && winogradPays(g, tile) ? 'winograd' : preferred ? 'implicit' : 'im2col');
  if (chosen === 'implicit' && !available) throw new Error(`conv2d ${geometryStr(g)}: the implicit algorithm needs the subgroups feature with fixed-width subgroups, or a tiled matmul configuration within the adapter's limits`);
  if (chosen === 'winograd') {
    if (winograd) return 'winograd';
    return heuristicAlgorithm(rt, g, pass, { ...opts, algorithm: preferred ? 'implicit' : 'im2col' }, tile);
  }
  if (chosen === 'im2col' || !implicitRuns(g, pass)) return 'im2col';
  return 'implicit';
}

/** Whether the implicit algorithm computes this pass (else it runs im2col): not 1×1 stride 1, not a strided data gradient. */
function implicitRuns(g: Conv2dGeometry, pass: ConvPass): boolean {
  return !isPointwise(g) && !(pass === 'data' && g.stride !== 1);
}

/**
 * The shape a convolution's choices are keyed by: its geometry (geometryStr), with ' f16' for the float16
 * path's convolutions (ConvOptions.halfOperands: im2col's products may run on the subgroup-matrix kernel), so
 * that a pick tuned for one precision never serves the other.
 */
export function convShape(g: Conv2dGeometry, opts: Pick<ConvOptions, 'halfOperands'> = {}): string {
  return `${geometryStr(g)}${opts.halfOperands ? ' f16' : ''}`;
}

/** A plan as the chooser sees it: 'winograd2', 'winograd4', 'implicit' or 'im2col'. */
type PlanName = 'winograd2' | 'winograd4' | 'implicit' | 'im2col';

/**
 * How a pass runs: the algorithm and tile that opts force, else the kernel chooser's pick (site
 * 'conv2d.<pass>', shape convShape(g, opts)) among the plans that can run it, by default the heuristic's.
 */
export function convPlan(rt: GpuRuntime, g: Conv2dGeometry, pass: ConvPass, opts: ConvOptions = {}): ConvPlan {
  const tile = winogradTileFor(rt, pass, opts);
  const algorithm = heuristicAlgorithm(rt, g, pass, opts, tile);
  if (opts.algorithm !== undefined || opts.winogradTile !== undefined) return { algorithm, winogradTile: tile };
  const candidates: PlanName[] = [];
  if (winogradApplies(g)) for (const m of [4, 2] as const) if (winogradFits(rt, g, m)) candidates.push(`winograd${m}`);
  if (implicitAvailable(rt) && implicitRuns(g, pass)) candidates.push('implicit');
  candidates.push('im2col');
  const heuristic: PlanName = algorithm === 'winograd' ? `winograd${tile}` : algorithm;
  const pick = choose(rt, `conv2d.${pass}`, convShape(g, opts), candidates, heuristic);
  if (pick === heuristic) return { algorithm, winogradTile: tile };
  return pick === 'winograd2' || pick === 'winograd4' ? { algorithm: 'winograd', winogradTile: pick === 'winograd2' ? 2 : 4 } : { algorithm: pick, winogradTile: tile };
}

/** The algorithm a pass runs with (see index.ts). */
export function convAlgorithm(rt: GpuRuntime, g: Conv2dGeometry, pass: ConvPass, opts: ConvOptions = {}): ConvAlgorithm {
  return convPlan(rt, g, pass, opts).algorithm;
}
