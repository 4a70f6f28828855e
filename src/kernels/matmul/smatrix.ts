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
import { grid1d, windowBinding } from '../util';
import { type KernelContract, defineKernel, launch } from '../contract';
import { type Mat, type MatmulCall, matmulOpName, ref } from './common';

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
  ['accumulate', 'u32'], ['biasMode', 'u32'],
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
  uniforms: [['rows', 'u32'], ['cols', 'u32'], ['rowsP', 'u32'], ['ld', 'u32'], ['sr', 'u32'], ['sc', 'u32'], ['strideS', 'u32'], ['offS', 'u32']],
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
 * Pack `matrices` matrices of rows × cols (element (r, c) of matrix z at z·strideS + r·sr + c·sc floats from S)
 * into float16 [rowsP][ld], zero-padded. Returns the scratch buffer (release it after use).
 */
function packHalf(rt: GpuRuntime, S: Mat, rows: number, cols: number, rowsP: number, ld: number, sr: number, sc: number, matrices: number, strideS: number, name: string): GPUBuffer {
  const s = ref(S);
  if (rowsP > rt.limits.maxComputeWorkgroupsPerDimension) throw new Error(`matmul-pack-f16[${name}]: ${rowsP} rows exceed a dispatch's ${rt.limits.maxComputeWorkgroupsPerDimension} workgroups`);
  const bytes = Math.max(16, matrices * rowsP * ld * 2);
  const out = rt.alloc(bytes);
  const span = (matrices - 1) * strideS + (rows - 1) * sr + (cols - 1) * sc + 1;
  const src = windowBinding(rt, s.buffer, s.offset, span);
  launch(rt, matmulSmatrixPackKernel, {
    op: `matmul-pack-f16[${name} ${matrices > 1 ? `${matrices}x` : ''}${rows}x${cols}]`,
    entry: 'main',
    uniforms: { rows, cols, rowsP, ld, sr, sc, strideS, offS: src.shift },
    bindings: { src: src.binding, dst: { buffer: out, offset: 0, size: bytes } },
    workgroups: [Math.ceil(ld / 64), rowsP, matrices],
  });
  return out;
}

/** C = op(A)·op(B) (+ bias) (+ C) on the subgroup-matrix units; A and B hold float16 values. Sizes checked, ≥ 1. */
export function matmulSmatrix(rt: GpuRuntime, A: Mat, B: Mat, C: Mat, k: MatmulCall): void {
  const { cfg, k: kernel } = kernelFor(rt);
  const [BM, BN] = [TM * cfg.M, TN * cfg.N];
  const Kp = Math.max(cfg.K, Math.ceil(k.K / cfg.K) * cfg.K);
  const ldx = Math.ceil(k.M / BM) * BM;
  const ldy = Math.ceil(k.N / BN) * BN;
  const xMats = k.strideA === 0 ? 1 : k.batch;
  const yMats = k.strideB === 0 ? 1 : k.batch;
  // X[k][m] = op(A)[m][k]: A [M, K] (element (m, k) at m·K + k) or, transposed, [K, M].
  const X = packHalf(rt, A, k.K, k.M, Kp, ldx, k.transA ? k.M : 1, k.transA ? 1 : k.K, xMats, k.strideA, 'A');
  // Y[k][n] = op(B)[k][n]: B [K, N] or, transposed, [N, K].
  const Y = packHalf(rt, B, k.K, k.N, Kp, ldy, k.transB ? 1 : k.N, k.transB ? k.K : 1, yMats, k.strideB, 'B');
  const c = ref(C);
  const zPer = k.reduceBatch ? k.batch : 1;
  const outputs = Math.ceil(k.batch / zPer);
  const extent = (outputs - 1) * k.strideC + (k.M - 1) * k.N + k.N;
  const wc = windowBinding(rt, c.buffer, c.offset, extent);
  const xBinding = { buffer: X, offset: 0, size: Math.max(16, xMats * Kp * ldx * 2) };
  // No bias: X's buffer again (read-only; C's would alias the written binding).
  const wbias = k.bias ? windowBinding(rt, ref(k.bias).buffer, ref(k.bias).offset, k.biasPerRow ? k.M : k.N) : { binding: xBinding, shift: 0 };
  const tilesN = ldy / BN;
  const tiles = tilesN * (ldx / BM);
  const [gx, gy] = grid1d(rt, tiles, 1);
  launch(rt, kernel, {
    op: matmulOpName(k, ' smatrix'),
    entry: 'main',
    uniforms: {
      M: k.M, N: k.N, Kp, batch: k.batch, ldx, ldy, strideX: xMats > 1 ? Kp * ldx : 0, strideY: yMats > 1 ? Kp * ldy : 0,
      ldc: k.N, strideC: k.strideC, offC: wc.shift, offBias: wbias.shift, tilesN, tiles, zPer,
      accumulate: Number(k.accumulate), biasMode: !k.bias ? 0 : k.biasPerRow ? 2 : 1,
    },
    bindings: { x: xBinding, y: { buffer: Y, offset: 0, size: Math.max(16, yMats * Kp * ldy * 2) }, bias: wbias.binding, c: wc.binding },
    workgroups: [gx, gy, outputs],
  });
  rt.release(X);
  rt.release(Y);
}
