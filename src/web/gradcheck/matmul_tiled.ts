/**
 * The page's checks of the tiled matmul kernel (kernels/matmul/tiled.ts), one kernel name per configuration the
 * adapter admits, over the cases of reference/matmul_tiled_cases.ts: products in every transpose form with a
 * bias per row or column, a batch and its sum, the fused epilogues (also against the unfused path: the product,
 * then batch norm's apply pass), the matmul op forward and backward, and convolutions whose GEMMs it runs.
 * Each case also checks that the configuration's shader ran. test/matmul_tiled.test.ts runs the same cases.
 */
import { Tensor } from '../../autograd/tensor';
import { matmul as matmulOp } from '../../autograd/ops/linear';
import { conv2d } from '../../autograd/ops/conv';
import type { GpuRuntime } from '../../gpu/runtime';
import { setKernelChooser } from '../../kernels/config';
import { TILED_CONFIGS, type TiledName, matmul, tiledNames } from '../../kernels/matmul';
import { matmulTiledKernels } from '../../kernels/matmul/tiled';
import { bnApply } from '../../kernels/batchnorm';
import { conv2dBackwardRef, conv2dRef, convOutSize, type ConvShape } from '../../reference/conv';
import type { ConvAlgorithmCase } from '../../reference/cases';
import { gemmEpilogueRef, matmulBackwardRef, matmulRef, transposeRef } from '../../reference/matmul';
import { TILED_BATCH_CASE, TILED_CONV_CASES, TILED_EPILOGUE_CASES, TILED_SHAPES, type TiledEpilogueCase } from '../../reference/matmul_tiled_cases';
import { TOL, randomArray } from '../../reference/math';
import type { PageCheckGroup, PageChecks } from './api';

/** One comparison of a case: `got` against `want` at `tol` (relative L2 error). */
export interface Comparison {
  what: string;
  got: ArrayLike<number>;
  want: ArrayLike<number>;
  tol: number;
}

/** The page's kernel name of a configuration. */
export const tiledKernelName = (name: TiledName) => `matmul ${name}`;

/**
 * Run fn with every choice of the 'matmul' site that offers `name` picking it (matmul(), the conv algorithms'
 * products). Returns fn's result and a comparison that fails unless the configuration's shader was dispatched.
 */
export async function withTiled<T>(rt: GpuRuntime, name: TiledName, fn: () => Promise<T>): Promise<{ result: T; ran: Comparison }> {
  const shader = matmulTiledKernels[TILED_CONFIGS.findIndex((c) => c.name === name)].shader;
  let dispatched = 0;
  const orig = rt.dispatch;
  rt.dispatch = (spec) => {
    if (spec.shader === shader) dispatched++;
    orig.call(rt, spec);
  };
  const restore = setKernelChooser(rt, (_rt, c) => (c.site === 'matmul' && (c.candidates as readonly unknown[]).includes(name) ? (name as typeof c.heuristic) : undefined));
  try {
    const result = await fn();
    return { result, ran: { what: `${name} dispatched`, got: [Math.min(dispatched, 1)], want: [1], tol: 0 } };
  } finally {
    restore();
    rt.dispatch = orig;
  }
}

async function readBack(rt: GpuRuntime, b: GPUBuffer, n: number): Promise<Float32Array> {
  return new Float32Array(await rt.read(b, n * 4));
}

/** Buffers uploaded for one case, released together. */
class Bufs {
  private all: GPUBuffer[] = [];
  constructor(private readonly rt: GpuRuntime) {}
  up(data: ArrayLike<number>): GPUBuffer {
    const b = this.rt.upload(Float32Array.from(data));
    this.all.push(b);
    return b;
  }
  empty(n: number): GPUBuffer {
    const b = this.rt.alloc(Math.max(1, n) * 4);
    this.all.push(b);
    return b;
  }
  release(): void {
    for (const b of this.all) this.rt.release(b);
    this.all = [];
  }
}

/** Tensors made for one case, disposed together. */
class Tensors {
  private all: Tensor[] = [];
  constructor(private readonly rt: GpuRuntime) {}
  t = (data: ArrayLike<number>, shape: number[]): Tensor => this.track(Tensor.fromArray(Float32Array.from(data), shape, 'f32', this.rt));
  track(x: Tensor): Tensor {
    this.all.push(x);
    return x;
  }
  dispose(): void {
    for (const x of this.all) if (!x.isDisposed) x.dispose();
    this.all = [];
  }
}

/** op(A)·op(B) + bias (per row, per column, or none) with configuration `name`, in transpose form (tA, tB). */
export async function tiledProductCase(rt: GpuRuntime, name: TiledName, [M, N, K]: [number, number, number], tA: boolean, tB: boolean, biasPer: 'row' | 'col' | null, seed: number): Promise<Comparison[]> {
  const a = randomArray(M * K, seed);
  const b = randomArray(K * N, seed + 1);
  const bias = biasPer ? randomArray(biasPer === 'row' ? M : N, seed + 2) : null;
  const bufs = new Bufs(rt);
  try {
    const C = bufs.empty(M * N);
    const A = bufs.up(tA ? transposeRef(a, M, K) : a);
    const B = bufs.up(tB ? transposeRef(b, K, N) : b);
    const biasBuf = bias ? bufs.up(bias) : null;
    matmul(rt, A, B, C, M, N, K, { transA: tA, transB: tB, bias: biasBuf, biasPer: biasPer ?? undefined, variant: name });
    const want = gemmEpilogueRef(matmulRef(a, b, M, K, N), M, N, { bias, perRow: biasPer === 'row' });
    return [{ what: `${tA ? 'Aᵀ' : 'A'}·${tB ? 'Bᵀ' : 'B'} ${M}x${N}x${K}${biasPer ? ` + bias per ${biasPer}` : ''}`, got: await readBack(rt, C, M * N), want, tol: TOL.reduction }];
  } finally {
    bufs.release();
  }
}

/**
 * TILED_BATCH_CASE: a batch with a shared A (stride 0) and a padded B stride, at element offsets inside the
 * buffers; then the batch's sum accumulated onto C (transposed A).
 */
export async function tiledBatchCase(rt: GpuRuntime, name: TiledName, seed: number): Promise<Comparison[]> {
  const { batch, M, N, K } = TILED_BATCH_CASE;
  const strideB = K * N + 3;
  const a = randomArray(M * K, seed);
  const b = randomArray(batch * strideB, seed + 1);
  const c0 = randomArray(M * N, seed + 2);
  const refs = Array.from({ length: batch }, (_, z) => matmulRef(a, b.subarray(z * strideB, z * strideB + K * N), M, K, N));
  const bufs = new Bufs(rt);
  try {
    const A = bufs.up([0, 0, 0, ...a]);
    const At = bufs.up(transposeRef(a, M, K));
    const B = bufs.up([0, ...b]);
    const C = bufs.empty(batch * M * N + 5);
    matmul(rt, { buffer: A, offset: 3 }, { buffer: B, offset: 1 }, { buffer: C, offset: 5 }, M, N, K, { batch, strideA: 0, strideB, variant: name });
    const batched = (await readBack(rt, C, batch * M * N + 5)).subarray(5);
    const S = bufs.up(c0);
    matmul(rt, At, { buffer: B, offset: 1 }, S, M, N, K, { batch, strideA: 0, strideB, transA: true, reduceBatch: true, accumulate: true, variant: name });
    const sum = refs.reduce((s, r) => s.map((v, i) => v + r[i]), Float64Array.from(c0));
    return [
      { what: `batch of ${batch} ${M}x${N}x${K}, shared A, offsets`, got: batched, want: Float64Array.from(refs.flatMap((r) => Array.from(r))), tol: TOL.reduction },
      { what: `sum of the batch accumulated onto C`, got: await readBack(rt, S, M * N), want: sum, tol: TOL.reduction },
    ];
  } finally {
    bufs.release();
  }
}

/**
 * A fused epilogue against gemmEpilogueRef; where batch norm's apply pass computes the same thing (per row,
 * not accumulating, ReLU whenever there is a residual), also against that unfused path: the product with the
 * default kernel, then bnApply over [1, M, N] with mean 0 and invstd 1.
 */
export async function tiledEpilogueCase(rt: GpuRuntime, name: TiledName | 'subgroup', k: TiledEpilogueCase, seed: number): Promise<Comparison[]> {
  const { M, N, K, perRow } = k;
  const axis = perRow ? M : N;
  const a = randomArray(M * K, seed);
  const b = randomArray(K * N, seed + 1);
  const scale = k.scale ? randomArray(axis, seed + 2, 0.5, 2) : null;
  const bias = k.bias ? randomArray(axis, seed + 3) : null;
  const residual = k.residual ? randomArray(M * N, seed + 4) : null;
  const c0 = k.accumulate ? randomArray(M * N, seed + 5) : null;
  const bufs = new Bufs(rt);
  try {
    const [A, B] = [bufs.up(a), bufs.up(b)];
    const C = c0 ? bufs.up(c0) : bufs.empty(M * N);
    const S = scale ? bufs.up(scale) : null;
    const Bi = bias ? bufs.up(bias) : null;
    const R = residual ? bufs.up(residual) : null;
    matmul(rt, A, B, C, M, N, K, { bias: Bi, biasPer: perRow ? 'row' : 'col', accumulate: k.accumulate, variant: name, epilogue: { scale: S, residual: R, relu: k.relu } });
    const got = await readBack(rt, C, M * N);
    const out: Comparison[] = [{ what: `${k.name} ${M}x${N}x${K}`, got, want: gemmEpilogueRef(matmulRef(a, b, M, K, N), M, N, { scale, bias, perRow, residual, c0, relu: k.relu }), tol: TOL.reduction }];
    if (perRow && !k.accumulate && (k.relu || !k.residual)) {
      const T = bufs.empty(M * N);
      const U = bufs.empty(M * N);
      matmul(rt, A, B, T, M, N, K);
      const stats = bufs.up([...new Array(M).fill(0), ...new Array(M).fill(1)]);
      bnApply(rt, T, stats, { weight: S, bias: Bi }, U, { n: 1, c: M, hw: N }, k.relu, R);
      out.push({ what: `${k.name}: fused vs unfused (the product, then batch norm's apply pass)`, got, want: await readBack(rt, U, M * N), tol: TOL.reduction });
    }
    return out;
  } finally {
    bufs.release();
  }
}

/** The matmul op [M,K]·[K,N] forward and backward (its three products) with the configuration chosen. */
export async function tiledOpCase(rt: GpuRuntime, name: TiledName, [M, K, N]: [number, number, number], seed: number): Promise<Comparison[]> {
  const a = randomArray(M * K, seed);
  const b = randomArray(K * N, seed + 1);
  const g = randomArray(M * N, seed + 2);
  const r = matmulBackwardRef(a, b, g, M, K, N);
  const made = new Tensors(rt);
  const t = made.t;
  try {
    const { result, ran } = await withTiled(rt, name, async () => {
      const A = t(a, [M, K]).requireGrad();
      const B = t(b, [K, N]).requireGrad();
      const y = made.track(matmulOp(A, B));
      y.backward(t(g, [M, N]));
      return [await y.toArray(), await A.grad!.toArray(), await B.grad!.toArray()];
    });
    const what = `matmul op [${M},${K}]·[${K},${N}]`;
    return [
      { what: `${what} y`, got: result[0], want: matmulRef(a, b, M, K, N), tol: TOL.reduction },
      { what: `${what} da`, got: result[1], want: r.da, tol: TOL.reduction },
      { what: `${what} db`, got: result[2], want: r.db, tol: TOL.reduction },
      ran,
    ];
  } finally {
    made.dispose();
  }
}

/** The conv2d op (with a bias) forward and backward by `alg`, its products in configuration `name`. */
export async function tiledConvCase(rt: GpuRuntime, name: TiledName, s: ConvShape, alg: ConvAlgorithmCase, seed: number): Promise<Comparison[]> {
  const [OH, OW] = convOutSize(s);
  const x = randomArray(s.N * s.C * s.H * s.W, seed);
  const w = randomArray(s.O * s.C * s.KH * s.KW, seed + 1);
  const bias = randomArray(s.O, seed + 2);
  const dy = randomArray(s.N * s.O * OH * OW, seed + 3);
  const made = new Tensors(rt);
  const t = made.t;
  try {
    const { result, ran } = await withTiled(rt, name, async () => {
      const X = t(x, [s.N, s.C, s.H, s.W]).requireGrad();
      const W = t(w, [s.O, s.C, s.KH, s.KW]).requireGrad();
      const Bb = t(bias, [s.O]).requireGrad();
      const y = made.track(conv2d(X, W, Bb, { stride: s.stride, padding: s.pad, ...alg }));
      y.backward(t(dy, [s.N, s.O, OH, OW]));
      return [await y.toArray(), await X.grad!.toArray(), await W.grad!.toArray()];
    });
    const r = conv2dBackwardRef(x, w, dy, s);
    return [
      { what: 'forward', got: result[0], want: conv2dRef(x, w, bias, s), tol: TOL.reduction },
      { what: 'dx', got: result[1], want: r.dx, tol: TOL.reduction },
      { what: 'dw', got: result[2], want: r.dw, tol: TOL.reduction },
      ran,
    ];
  } finally {
    made.dispose();
  }
}

/** Every case of one configuration, each recorded under the configuration's kernel name. */
async function configurationChecks(c: PageChecks, name: TiledName): Promise<void> {
  const kernel = tiledKernelName(name);
  let seed = 1;
  const check = async (label: string, body: () => Promise<Comparison[]>) =>
    c.run(kernel, label, async () => {
      for (const r of await body()) c.record(kernel, `${label}: ${r.what}`, r.got, r.want, r.tol);
    });
  for (const [i, shape] of TILED_SHAPES.entries()) {
    for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      const biasPer = (['col', 'row', null] as const)[i % 3];
      await check(`${name} product`, () => tiledProductCase(c.rt, name, shape, tA, tB, biasPer, (seed += 3)));
    }
  }
  await check(`${name} batch`, () => tiledBatchCase(c.rt, name, (seed += 3)));
  for (const k of TILED_EPILOGUE_CASES) await check(`${name} epilogue`, () => tiledEpilogueCase(c.rt, name, k, (seed += 6)));
  await check(`${name} matmul op`, () => tiledOpCase(c.rt, name, [7, 13, 33], (seed += 3)));
  for (const [label, s, alg] of TILED_CONV_CASES) await check(`${name} conv2d ${alg.algorithm} ${label}`, () => tiledConvCase(c.rt, name, s, alg, (seed += 4)));
}

/** The tiled kernel's page checks (appended to PAGE_GROUPS in groups.ts): every configuration the adapter admits. */
export const matmulTiledGroup: PageCheckGroup = {
  kernels: TILED_CONFIGS.map((t) => tiledKernelName(t.name)),
  async run(c: PageChecks): Promise<void> {
    for (const name of tiledNames(c.rt)) await configurationChecks(c, name);
  },
};
