/**
 * Launcher for matmul_smatrix.wgsl: the GEMM on the adapter's subgroup-matrix units (the WebGPU feature
 * 'chromium-experimental-subgroup-matrix'), for products whose operands hold float16 values (the float16 path's
 * products: autocast's matmul, linear and im2col convolutions, whose operands are float16 tensors widened, or
 * weights rounded to float16). float16 inputs, float32 accumulation: the same numbers as the float32 kernels up
 * to the order of the sums (a product of two float16 numbers is exact in float32).
 * The adapter lists its configurations (adapterInfo.subgroupMatrixConfigs: M × N × K per component type); the
 * kernel takes one with float16 inputs and a float32 result (llvmpipe from Mesa 25.2 or so: 8 × 8 × 8; NVIDIA,
 * through Vulkan's cooperative matrices: 16 × 16 × 16). Dawn offers the feature only with its
 * 'allow_unsafe_apis' toggle (WEBGPU_DAWN_FEATURES=allow_unsafe_apis in Node; Chrome: --enable-unsafe-webgpu).
 */
import type { GpuRuntime } from '../../gpu/runtime';
import shader from './matmul_smatrix.wgsl';
import packShader from './matmul_smatrix_pack.wgsl';
import gatherShader from './matmul_smatrix_gather.wgsl';
import { grid1d, windowBinding } from '../util';
import { type KernelContract, defineKernel, launch } from '../contract';
import { type Mat, type MatmulCall, matmulOpName, ref } from './common';
import type { Conv2dGeometry } from '../conv/geometry';

export const SMATRIX_FEATURE = 'chromium-experimental-subgroup-matrix';

/** A subgroup-matrix configuration: left M × K, right K × N, result M × N. */
export interface SmatrixConfig {
  M: number;
  N: number;
  K: number;
}

/** Result matrices per workgroup (TM × TN, each SM_M × SM_N). */
const TM = 2;
const TN = 2;

const UNIFORMS = [
  ['M', 'u32'], ['N', 'u32'], ['Kp', 'u32'], ['batch', 'u32'], ['ldx', 'u32'], ['ldy', 'u32'], ['strideX', 'u32'], ['strideY', 'u32'],
  ['ldc', 'u32'], ['strideC', 'u32'], ['offC', 'u32'], ['offBias', 'u32'], ['tilesN', 'u32'], ['tiles', 'u32'], ['zPer', 'u32'],
  ['accumulate', 'u32'], ['biasMode', 'u32'], ['hwC', 'u32'],
] as const;
const BINDINGS = [['x', 'read'], ['y', 'read'], ['bias', 'read'], ['c', 'read_write']] as const;

/** The shader for one configuration and subgroup size: its constants, then matmul_smatrix.wgsl. */
function shaderOf(c: SmatrixConfig, sg: number): string {
  return `enable f16;\nenable chromium_experimental_subgroup_matrix;\nconst SM_M = ${c.M}u;\nconst SM_N = ${c.N}u;\nconst SM_K = ${c.K}u;\nconst TM = ${TM}u;\nconst TN = ${TN}u;\nconst SG = ${sg}u;\n${shader}`;
}

function contractOf(c: SmatrixConfig, sg: number) {
  return defineKernel({ name: `matmul/matmul_smatrix.wgsl [${c.M}x${c.N}x${c.K} sg${sg}]`, shader: shaderOf(c, sg), entries: ['main'], uniforms: UNIFORMS, bindings: BINDINGS });
}

/** The contract at 8 × 8 × 8 with 32-lane subgroups (the contract test's; a runtime makes its adapter's). */
export const matmulSmatrixKernel = contractOf({ M: 8, N: 8, K: 8 }, 32);

export const matmulSmatrixPackKernel = defineKernel({
  name: 'matmul/matmul_smatrix_pack.wgsl',
  shader: packShader,
  entries: ['main'],
  uniforms: [
    ['rows', 'u32'], ['cols', 'u32'], ['rowsP', 'u32'], ['ld', 'u32'], ['sr', 'u32'], ['sc', 'u32'], ['strideS', 'u32'], ['offS', 'u32'],
    ['hwR', 'u32'], ['imgR', 'u32'], ['hwC', 'u32'], ['imgC', 'u32'],
  ],
  bindings: [['src', 'read'], ['dst', 'read_write']],
});

export const matmulSmatrixGatherKernel = defineKernel({
  name: 'matmul/matmul_smatrix_gather.wgsl',
  shader: gatherShader,
  entries: ['main'],
  uniforms: [
    ['C', 'u32'], ['H', 'u32'], ['W', 'u32'], ['KH', 'u32'], ['KW', 'u32'], ['stride', 'u32'], ['pad', 'u32'], ['OH', 'u32'], ['OW', 'u32'],
    ['taps', 'u32'], ['cols', 'u32'], ['rowsP', 'u32'], ['ld', 'u32'], ['offS', 'u32'], ['transposed', 'u32'],
  ],
  bindings: [['src', 'read'], ['dst', 'read_write']],
});

interface AdapterInfoWithSubgroups {
  subgroupMaxSize?: number;
}

/**
 * This runtime's configuration for the kernel: the feature is on (and shader-f16), and the adapter lists a
 * configuration with float16 inputs and a float32 result (the largest, if several); else null.
 */
export function smatrixConfig(rt: GpuRuntime): SmatrixConfig | null {
  if (!rt.features.has(SMATRIX_FEATURE) || !rt.features.has('shader-f16')) return null;
  const info = (rt.device as GPUDevice & { adapterInfo?: AdapterInfoWithSubgroups }).adapterInfo;
  let best: SmatrixConfig | null = null;
  for (const c of rt.adapter.subgroupMatrixConfigs ?? []) {
    if (c.componentType !== 'f16' || c.resultComponentType !== 'f32') continue;
    if (!best || c.M * c.N * c.K > best.M * best.N * best.K) best = { M: c.M, N: c.N, K: c.K };
  }
  return best && info?.subgroupMaxSize ? best : null;
}

/** Whether this runtime runs the subgroup-matrix kernel (see smatrixConfig). */
export function hasSmatrix(rt: GpuRuntime): boolean {
  return smatrixConfig(rt) !== null;
}

const contracts = new Map<string, KernelContract<(typeof UNIFORMS)[number][0], (typeof BINDINGS)[number][0]>>();

function kernelFor(rt: GpuRuntime): { cfg: SmatrixConfig; k: ReturnType<typeof contractOf> } {
  const cfg = smatrixConfig(rt);
  if (!cfg) throw new Error(`matmul: the subgroup-matrix kernel needs the ${SMATRIX_FEATURE} feature with a float16 → float32 configuration (with Dawn in Node: WEBGPU_DAWN_FEATURES=allow_unsafe_apis)`);
  const sg = (rt.device as GPUDevice & { adapterInfo?: AdapterInfoWithSubgroups }).adapterInfo!.subgroupMaxSize!;
  const key = `${cfg.M}x${cfg.N}x${cfg.K} ${sg}`;
  let k = contracts.get(key);
  if (!k) contracts.set(key, (k = contractOf(cfg, sg)));
  return { cfg, k };
}

/**
 * Where element (r, c) of a packed matrix lies in its source: r·sr + c·sc floats from the matrix, except along
 * an axis with hwR (hwC) > 0, which runs over images of that many pixels side by side: index i is pixel i % hw
 * of image i / hw, at (i / hw)·imgR + (i % hw)·sr (a convolution's NCHW tensor seen as [pixels, channels]).
 */
interface PackLayout {
  sr: number;
  sc: number;
  hwR?: number;
  imgR?: number;
  hwC?: number;
  imgC?: number;
}

/** The last float an axis of `count` indices reaches (see PackLayout). */
function axisExtent(count: number, st: number, hw = 0, img = 0): number {
  return hw ? (Math.ceil(count / hw) - 1) * img + (Math.min(count, hw) - 1) * st : (count - 1) * st;
}

/**
 * Pack `matrices` matrices of rows × cols (matrix z at z·strideS floats from S, its elements where `layout`
 * puts them) into float16 [rowsP][ld], zero-padded. Returns the scratch buffer (release it after use).
 */
function packHalf(rt: GpuRuntime, S: Mat, rows: number, cols: number, rowsP: number, ld: number, layout: PackLayout, matrices: number, strideS: number, name: string): GPUBuffer {
  const s = ref(S);
  if (rowsP > rt.limits.maxComputeWorkgroupsPerDimension) throw new Error(`matmul-pack-f16[${name}]: ${rowsP} rows exceed a dispatch's ${rt.limits.maxComputeWorkgroupsPerDimension} workgroups`);
  const { sr, sc, hwR = 0, imgR = 0, hwC = 0, imgC = 0 } = layout;
  const bytes = Math.max(16, matrices * rowsP * ld * 2);
  const out = rt.alloc(bytes);
  const span = (matrices - 1) * strideS + axisExtent(rows, sr, hwR, imgR) + axisExtent(cols, sc, hwC, imgC) + 1;
  const src = windowBinding(rt, s.buffer, s.offset, span);
  launch(rt, matmulSmatrixPackKernel, {
    op: `matmul-pack-f16[${name} ${matrices > 1 ? `${matrices}x` : ''}${rows}x${cols}]`,
    entry: 'main',
    uniforms: { rows, cols, rowsP, ld, sr, sc, strideS, offS: src.shift, hwR, imgR, hwC, imgC },
    bindings: { src: src.binding, dst: { buffer: out, offset: 0, size: bytes } },
    workgroups: [Math.ceil(ld / 64), rowsP, matrices],
  });
  return out;
}

/** The workgroup's block of C (BM × BN) and K rounded up to the configuration's, for this runtime. */
function blocks(rt: GpuRuntime, K: number): { cfg: SmatrixConfig; kernel: ReturnType<typeof contractOf>; BM: number; BN: number; Kp: number } {
  const { cfg, k: kernel } = kernelFor(rt);
  return { cfg, kernel, BM: TM * cfg.M, BN: TN * cfg.N, Kp: Math.max(cfg.K, Math.ceil(K / cfg.K) * cfg.K) };
}

/** The packed operands' padded sizes for an M × N × K product: Kp rows, ldx (M) and ldy (N) columns. */
function padded(rt: GpuRuntime, M: number, N: number, K: number): { Kp: number; ldx: number; ldy: number } {
  const { BM, BN, Kp } = blocks(rt, K);
  return { Kp, ldx: Math.ceil(M / BM) * BM, ldy: Math.ceil(N / BN) * BN };
}

/**
 * Whether a product of M × N × K (a batch of `batch`) fits the kernel on this runtime: its packed operands (at
 * most `batch` float16 matrices of Kp rows, padded to whole workgroup blocks) within a storage binding, and
 * the packing's Kp workgroup rows within a dispatch.
 */
export function smatrixFits(rt: GpuRuntime, M: number, N: number, K: number, batch = 1): boolean {
  if (!hasSmatrix(rt)) return false;
  const { Kp, ldx, ldy } = padded(rt, M, N, K);
  return Kp <= rt.limits.maxComputeWorkgroupsPerDimension && batch * Kp * Math.max(ldx, ldy) * 2 <= rt.limits.maxStorageBufferBindingSize;
}

/** The product's operands, packed: X [Kp][ldx] (xMats of them) and Y [Kp][ldy] (yMats), float16. */
interface Packed {
  X: GPUBuffer;
  Y: GPUBuffer;
  ldx: number;
  ldy: number;
  xMats: number;
  yMats: number;
}

/**
 * C (+)= X·Y (+ bias) on packed operands, then releases them. `hwC` > 0: C is the NCHW output of a convolution
 * (the columns are images of hwC pixels, see matmul_smatrix.wgsl); `c` then is the output's window.
 */
function launchProduct(rt: GpuRuntime, op: string, P: Packed, c: { buffer: GPUBuffer; offset: number }, k: MatmulCall, hwC = 0): void {
  const { kernel, BM, BN, Kp } = blocks(rt, k.K);
  const zPer = k.reduceBatch ? k.batch : 1;
  const outputs = Math.ceil(k.batch / zPer);
  const extent = (outputs - 1) * k.strideC + (k.M - 1) * k.N + k.N;
  const wc = windowBinding(rt, c.buffer, c.offset, extent);
  const xBinding = { buffer: P.X, offset: 0, size: Math.max(16, P.xMats * Kp * P.ldx * 2) };
  // No bias: X's buffer again (read-only; C's would alias the written binding).
  const wbias = k.bias ? windowBinding(rt, ref(k.bias).buffer, ref(k.bias).offset, k.biasPerRow ? k.M : k.N) : { binding: xBinding, shift: 0 };
  const tilesN = P.ldy / BN;
  const tiles = tilesN * (P.ldx / BM);
  const [gx, gy] = grid1d(rt, tiles, 1);
  launch(rt, kernel, {
    op,
    entry: 'main',
    uniforms: {
      M: k.M, N: k.N, Kp, batch: k.batch, ldx: P.ldx, ldy: P.ldy, strideX: P.xMats > 1 ? Kp * P.ldx : 0, strideY: P.yMats > 1 ? Kp * P.ldy : 0,
      ldc: k.N, strideC: k.strideC, offC: wc.shift, offBias: wbias.shift, tilesN, tiles, zPer,
      accumulate: Number(k.accumulate), biasMode: !k.bias ? 0 : k.biasPerRow ? 2 : 1, hwC,
    },
    bindings: { x: xBinding, y: { buffer: P.Y, offset: 0, size: Math.max(16, P.yMats * Kp * P.ldy * 2) }, bias: wbias.binding, c: wc.binding },
    workgroups: [gx, gy, outputs],
  });
  rt.release(P.X);
  rt.release(P.Y);
}

/** C = op(A)·op(B) (+ bias) (+ C) on the subgroup-matrix units; A and B hold float16 values. Sizes checked, ≥ 1. */
export function matmulSmatrix(rt: GpuRuntime, A: Mat, B: Mat, C: Mat, k: MatmulCall): void {
  const { Kp, ldx, ldy } = padded(rt, k.M, k.N, k.K);
  const xMats = k.strideA === 0 ? 1 : k.batch;
  const yMats = k.strideB === 0 ? 1 : k.batch;
  // X[k][m] = op(A)[m][k]: A [M, K] (element (m, k) at m·K + k) or, transposed, [K, M].
  const X = packHalf(rt, A, k.K, k.M, Kp, ldx, { sr: k.transA ? k.M : 1, sc: k.transA ? 1 : k.K }, xMats, k.strideA, 'A');
  // Y[k][n] = op(B)[k][n]: B [K, N] or, transposed, [N, K].
  const Y = packHalf(rt, B, k.K, k.N, Kp, ldy, { sr: k.transB ? 1 : k.N, sc: k.transB ? k.K : 1 }, yMats, k.strideB, 'B');
  launchProduct(rt, matmulOpName(k, ' smatrix'), { X, Y, ldx, ldy, xMats, yMats }, ref(C), k);
}

/**
 * The column matrix of images n0..n0+nb of x ([taps, nb·OH·OW], as im2col.wgsl makes it), gathered straight into
 * the kernel's float16 layout [rowsP][ld] (matmul_smatrix_gather.wgsl); `transposed`: [pixels, taps] instead.
 */
function gatherColumns(rt: GpuRuntime, x: GPUBuffer, g: Conv2dGeometry, n0: number, nb: number, rowsP: number, ld: number, transposed: boolean, name: string): GPUBuffer {
  const bytes = Math.max(16, rowsP * ld * 2);
  const out = rt.alloc(bytes);
  const imageSize = g.C * g.H * g.W;
  const src = windowBinding(rt, x, n0 * imageSize, nb * imageSize);
  launch(rt, matmulSmatrixGatherKernel, {
    op: `conv-gather-f16[${name} images ${n0}+${nb}${transposed ? ' T' : ''}]`,
    entry: 'main',
    uniforms: {
      C: g.C, H: g.H, W: g.W, KH: g.KH, KW: g.KW, stride: g.stride, pad: g.pad, OH: g.OH, OW: g.OW,
      taps: g.C * g.KH * g.KW, cols: nb * g.OH * g.OW, rowsP, ld, offS: src.shift, transposed: Number(transposed),
    },
    bindings: { src: src.binding, dst: { buffer: out, offset: 0, size: bytes } },
    workgroups: [...grid1d(rt, ld, 64), rowsP],
  });
  return out;
}

/** A product with no batch, bias or transposes (the convolutions' calls below set what differs). */
const plainCall = (M: number, N: number, K: number): MatmulCall => ({
  M, N, K, batch: 1, strideA: 0, strideB: 0, strideC: 0, transA: false, transB: false, bias: null, biasPerRow: false, accumulate: false, reduceBatch: false,
});

/**
 * A convolution's forward product for images n0..n0+nb on the subgroup-matrix units, with x and w holding
 * float16 values: y[n0.., O, OH, OW] = W[O, taps] · cols[taps, nb·OH·OW] (+ bias[O]). The column matrix is
 * gathered from x straight into the kernel's float16 layout and the product is written in NCHW: three
 * dispatches (W packed, x gathered, the product), where im2col + matmul runs five (im2col, two packs, the
 * product, the axis swap) and keeps a float32 column matrix.
 */
export function convForwardSmatrix(rt: GpuRuntime, x: GPUBuffer, w: GPUBuffer, bias: GPUBuffer | null, y: GPUBuffer, g: Conv2dGeometry, n0: number, nb: number, name: string): void {
  const taps = g.C * g.KH * g.KW;
  const hw = g.OH * g.OW;
  const k = { ...plainCall(g.O, nb * hw, taps), bias, biasPerRow: true };
  const { Kp, ldx, ldy } = padded(rt, k.M, k.N, k.K);
  const X = packHalf(rt, w, taps, g.O, Kp, ldx, { sr: 1, sc: taps }, 1, 0, 'W');
  const Y = gatherColumns(rt, x, g, n0, nb, Kp, ldy, false, name);
  launchProduct(rt, `conv2d-smatrix[${name} images ${n0}+${nb}]`, { X, Y, ldx, ldy, xMats: 1, yMats: 1 }, { buffer: y, offset: n0 * g.O * hw }, k, hw);
}

/**
 * The weight gradient's product for images n0..n0+nb: dW[O, taps] (+)= dY'[O, nb·OH·OW] · colsᵀ, with dy and x
 * holding float16 values. dY' is packed straight from NCHW dy (its rows are the tile's pixels) and colsᵀ
 * gathered from x: three dispatches, where im2col + matmul runs five (im2col, the axis swap of dy, two packs,
 * the product) and keeps two float32 copies.
 */
export function convWeightSmatrix(rt: GpuRuntime, x: GPUBuffer, dy: GPUBuffer, dw: GPUBuffer, g: Conv2dGeometry, n0: number, nb: number, accumulate: boolean, name: string): void {
  const taps = g.C * g.KH * g.KW;
  const hw = g.OH * g.OW;
  const k = { ...plainCall(g.O, taps, nb * hw), accumulate };
  const { Kp, ldx, ldy } = padded(rt, k.M, k.N, k.K);
  // X[pixel][o] = dy[b, o, s] for pixel b·hw + s.
  const X = packHalf(rt, { buffer: dy, offset: n0 * g.O * hw }, k.K, g.O, Kp, ldx, { sr: 1, sc: hw, hwR: hw, imgR: g.O * hw }, 1, 0, 'dY');
  const Y = gatherColumns(rt, x, g, n0, nb, Kp, ldy, true, name);
  launchProduct(rt, `conv2d-dw-smatrix[${name} images ${n0}+${nb}]`, { X, Y, ldx, ldy, xMats: 1, yMats: 1 }, { buffer: dw, offset: 0 }, k);
}

/**
 * The data gradient's product for images n0..n0+nb: dcols[taps, nb·OH·OW] = Wᵀ · dY'[O, nb·OH·OW], with w and
 * dy holding float16 values; dY' is packed straight from NCHW dy (no axis swap, no float32 copy). col2im then
 * turns dcols into dx. With `dx` (a pointwise stride-1 convolution, whose column matrix is dx with its first
 * two axes swapped), the product is written into dx's NCHW images n0.. instead (or added, with `accumulate`),
 * and there is no col2im.
 */
export function convDataSmatrix(rt: GpuRuntime, w: GPUBuffer, dy: GPUBuffer, dcols: GPUBuffer, g: Conv2dGeometry, n0: number, nb: number, name: string, dx?: { accumulate: boolean }): void {
  const taps = g.C * g.KH * g.KW;
  const hw = g.OH * g.OW;
  const k = { ...plainCall(taps, nb * hw, g.O), accumulate: dx?.accumulate ?? false };
  const { Kp, ldx, ldy } = padded(rt, k.M, k.N, k.K);
  // X[o][tap] = W[o, tap]; Y[o][pixel] = dy[b, o, s] for pixel b·hw + s.
  const X = packHalf(rt, w, g.O, taps, Kp, ldx, { sr: taps, sc: 1 }, 1, 0, 'W');
  const Y = packHalf(rt, { buffer: dy, offset: n0 * g.O * hw }, g.O, k.N, Kp, ldy, { sr: hw, sc: 1, hwC: hw, imgC: g.O * hw }, 1, 0, 'dY');
  const out = dx ? { buffer: dcols, offset: n0 * g.C * g.H * g.W } : { buffer: dcols, offset: 0 };
  launchProduct(rt, `conv2d-dx-smatrix[${name} images ${n0}+${nb}]`, { X, Y, ldx, ldy, xMats: 1, yMats: 1 }, out, k, dx ? hw : 0);
}
