/**
 * Which algorithm runs each pass of a convolution (see index.ts for the algorithms), and Winograd's output tile.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import { hasSubgroupMatmul } from '../matmul/subgroup';
import { type Conv2dGeometry, geometryStr, isPointwise } from './geometry';
import { type WinogradTile, winogradApplies, winogradFits, winogradPays } from './winograd';

export type ConvAlgorithm = 'implicit' | 'im2col' | 'winograd';

export interface ConvOptions {
  /** Largest column buffer (bytes) to allocate; the batch is tiled to fit. Default: maxStorageBufferBindingSize. */
  maxColumnBytes?: number;
  /** Force an algorithm (see index.ts). Default: 'implicit' where hasSubgroupMatmul(rt), else 'im2col'. */
  algorithm?: ConvAlgorithm;
  /** At most this many images per batch tile (every algorithm; tests, memory control). Default: as many as fit. */
  maxImagesPerTile?: number;
  /** Winograd's output tile: 2 (F(2×2, 3×3)) or 4 (F(4×4, 3×3)). Default: rt.winogradTile (4) for the forward pass, rt.winogradBackwardTile (4) for the gradients. */
  winogradTile?: WinogradTile;
  /**
   * Implicit-GEMM weight gradient: split the sum over a tile's images into this many partial sums, added
   * afterwards. Default: enough for WEIGHT_GRADIENT_WORKGROUPS workgroups (1 where dW has that many tiles).
   */
  weightSumGroups?: number;
}

/**
 * The Winograd output tile of a pass: the call's choice, else the runtime's (4×4 in every pass by default; see
 * GpuRuntime.winogradTile for what 2×2 tiles in the forward pass change).
 */
export function winogradTileFor(rt: GpuRuntime, pass: 'forward' | 'data' | 'weight', opts: ConvOptions): WinogradTile {
  return opts.winogradTile ?? (pass === 'forward' ? rt.winogradTile : rt.winogradBackwardTile);
}

/** The algorithm a pass runs with (see index.ts). */
export function convAlgorithm(rt: GpuRuntime, g: Conv2dGeometry, pass: 'forward' | 'data' | 'weight', opts: ConvOptions = {}): ConvAlgorithm {
  const available = hasSubgroupMatmul(rt);
  // Winograd where it computes the shape and one image's transformed tiles fit a binding; by default only
  // where it also saves work (not on the tiniest maps).
  const tile = winogradTileFor(rt, pass, opts);
  const winograd = winogradApplies(g) && winogradFits(rt, g, tile);
  const chosen = opts.algorithm ?? (winograd && winogradPays(g, tile) ? 'winograd' : available ? 'implicit' : 'im2col');
  if (chosen === 'implicit' && !available) throw new Error(`conv2d ${geometryStr(g)}: the implicit algorithm needs the subgroups feature with 8-lane subgroups`);
  if (chosen === 'winograd') {
    if (winograd) return 'winograd';
    return convAlgorithm(rt, g, pass, { ...opts, algorithm: available ? 'implicit' : 'im2col' });
  }
  if (chosen === 'im2col' || isPointwise(g) || (pass === 'data' && g.stride !== 1)) return 'im2col';
  return 'implicit';
}
