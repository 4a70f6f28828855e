import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, finiteDiff, randomArray, relError, tensor, weightedSum } from './helpers/numeric';
import { linearBackwardRef, linearRef, matmulBackwardRef, matmulRef, transposeRef } from '../src/reference/matmul';
import { LINEAR_CASES, LINEAR_FD_CASE, MATMUL_FD_CASE, MATMUL_OP_CASES, MATMUL_SIZES } from '../src/reference/cases';
import type { GpuRuntime } from '../src/gpu/runtime';
import { subgroupLanes, subgroupPreferred, subgroupTestHooks, subgroupWide } from '../src/kernels/matmul/subgroup';
import { hasSubgroupMatmul, matmul as matmulKernel, matmulVariant, type MatmulOptions, type MatmulTiles, type MatmulVariant } from '../src/kernels/matmul';
import { linear, matmul } from '../src/autograd/ops/linear';
import { Tensor } from '../src/autograd/tensor';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

let seed = 1000;
const fresh = (n: number) => randomArray(n, seed++);

async function read(buf: GPUBuffer, n: number): Promise<Float32Array> {
  return new Float32Array(await rt.read(buf, n * 4));
}

/** Run the kernel on uploaded inputs; returns C. `c0` is C's initial content (for accumulate). */
async function runKernel(a: Float64Array, b: Float64Array, M: number, N: number, K: number, opts: MatmulOptions & { biasData?: Float64Array; c0?: Float64Array }): Promise<Float32Array> {
  const A = rt.upload(Float32Array.from(a));
  const B = rt.upload(Float32Array.from(b));
  const bias = opts.biasData ? rt.upload(Float32Array.from(opts.biasData)) : null;
  const cLen = opts.reduceBatch ? M * N : (opts.batch ?? 1) * M * N;
  const C = opts.c0 ? rt.upload(Float32Array.from(opts.c0)) : rt.alloc(cLen * 4);
  matmulKernel(rt, A, B, C, M, N, K, { ...opts, bias });
  const out = await read(C, cLen);
  for (const buf of [A, B, C, bias]) if (buf) rt.release(buf);
  return out;
}

describe('float64 references', () => {
  it('gradient check: matmul reference backward vs finite differences', () => {
    const { M, K, N } = MATMUL_FD_CASE;
    const a = fresh(M * K);
    const b = fresh(K * N);
    const w = fresh(M * N);
    const { da, db } = matmulBackwardRef(a, b, w, M, K, N);
    expect(relError(da, finiteDiff((v) => weightedSum(matmulRef(v, b, M, K, N), w), a))).toBeLessThan(TOL.fd);
    expect(relError(db, finiteDiff((v) => weightedSum(matmulRef(a, v, M, K, N), w), b))).toBeLessThan(TOL.fd);
  });

  it('gradient check: linear reference backward vs finite differences', () => {
    const { N, inF, outF } = LINEAR_FD_CASE;
    const x = fresh(N * inF);
    const wt = fresh(outF * inF);
    const bias = fresh(outF);
    const w = fresh(N * outF);
    const { dx, dw, db } = linearBackwardRef(x, wt, w, N, inF, outF);
    expect(relError(dx, finiteDiff((v) => weightedSum(linearRef(v, wt, bias, N, inF, outF), w), x))).toBeLessThan(TOL.fd);
    expect(relError(dw, finiteDiff((v) => weightedSum(linearRef(x, v, bias, N, inF, outF), w), wt))).toBeLessThan(TOL.fd);
    expect(relError(db, finiteDiff((v) => weightedSum(linearRef(x, wt, v, N, inF, outF), w), bias))).toBeLessThan(TOL.fd);
  });
});

const SIZES = MATMUL_SIZES;

// Every kernel runs every case: 'portable' (any adapter), 'vec4' (any adapter; the default without fixed-width
// subgroups) and 'subgroup' (adapters with fixed-width subgroups, such as llvmpipe; skipped elsewhere). The packed kernels' launcher packs operands that are not rows of vec4, so the odd
// sizes, transposes, offsets and strides below run both its in-place and its packed paths.
const VARIANTS: MatmulVariant[] = ['portable', 'subgroup', 'vec4'];
const subgroupsHere = hasSubgroupMatmul(await testRuntime());
const lanes = subgroupLanes(await testRuntime()) ?? 8;

for (const variant of VARIANTS) describe.skipIf(variant === 'subgroup' && !subgroupsHere)(`matmul kernel (${variant}) vs float64 reference`, () => {
  const run = (a: Float64Array, b: Float64Array, M: number, N: number, K: number, opts: Parameters<typeof runKernel>[5]) => runKernel(a, b, M, N, K, { ...opts, variant });

  for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
    const form = `${tA ? 'Aᵀ' : 'A'}·${tB ? 'Bᵀ' : 'B'}`;
    it.each(SIZES)(`${form}, M=%i N=%i K=%i`, async (M, N, K) => {
      const a = fresh(M * K);
      const b = fresh(K * N);
      const out = await run(tA ? transposeRef(a, M, K) : a, tB ? transposeRef(b, K, N) : b, M, N, K, { transA: tA, transB: tB });
      expectClose(out, matmulRef(a, b, M, K, N), TOL.reduction, form);
    });
  }

  it.each([[false, false], [false, true], [true, false]] as const)('bias epilogue per column and per row (transA %s, transB %s)', async (tA, tB) => {
    const [M, N, K] = [13, 21, 9];
    const a = fresh(M * K);
    const b = fresh(K * N);
    const ref = matmulRef(a, b, M, K, N);
    const [A, B] = [tA ? transposeRef(a, M, K) : a, tB ? transposeRef(b, K, N) : b];
    const biasN = fresh(N);
    const biasM = fresh(M);
    const outCol = await run(A, B, M, N, K, { transA: tA, transB: tB, biasData: biasN });
    expectClose(outCol, ref.map((v, i) => v + biasN[i % N]), TOL.reduction, 'bias per column');
    const outRow = await run(A, B, M, N, K, { transA: tA, transB: tB, biasData: biasM, biasPer: 'row' });
    expectClose(outRow, ref.map((v, i) => v + biasM[Math.floor(i / N)]), TOL.reduction, 'bias per row');
  });

  it('K = 0 gives the bias (or zeros)', async () => {
    const bias = fresh(5);
    expect(Array.from(await run(new Float64Array(1), new Float64Array(1), 3, 5, 0, { biasData: bias }))).toEqual(Array.from({ length: 15 }, (_, i) => Math.fround(bias[i % 5])));
  });

  it('accumulate: C += A·B', async () => {
    const [M, N, K] = [10, 11, 12];
    const a = fresh(M * K);
    const b = fresh(K * N);
    const c0 = fresh(M * N);
    for (const transA of [false, true]) {
      const out = await run(transA ? transposeRef(a, M, K) : a, b, M, N, K, { c0, accumulate: true, transA });
      expectClose(out, matmulRef(a, b, M, K, N).map((v, i) => v + c0[i]), TOL.reduction, 'accumulate');
    }
  });

  it('batched with strides (a stride of 0 shares A), and batch reduction', async () => {
    const [batch, M, N, K] = [3, 5, 7, 9];
    const a = fresh(M * K);
    const b = fresh(batch * K * N);
    const refs = [0, 1, 2].map((z) => matmulRef(a, b.subarray(z * K * N, (z + 1) * K * N), M, K, N));
    const out = await run(a, b, M, N, K, { batch, strideA: 0 });
    expectClose(out, Float64Array.from(refs.flatMap((r) => Array.from(r))), TOL.reduction, 'batched');
    const sum = await run(a, b, M, N, K, { batch, strideA: 0, reduceBatch: true });
    expectClose(sum, refs[0].map((v, i) => v + refs[1][i] + refs[2][i]), TOL.reduction, 'batch reduction');
  });

  it('matrices at unaligned element offsets inside their buffers', async () => {
    const [M, N, K] = [6, 5, 7];
    const a = fresh(M * K + 3);
    const b = fresh(K * N + 11);
    const A = rt.upload(Float32Array.from(a));
    const B = rt.upload(Float32Array.from(b));
    const C = rt.upload(new Float32Array(M * N + 70).fill(7));
    matmulKernel(rt, { buffer: A, offset: 3 }, { buffer: B, offset: 11 }, { buffer: C, offset: 69 }, M, N, K, { variant });
    const out = await read(C, M * N + 70);
    expectClose(out.subarray(69, 69 + M * N), matmulRef(a.subarray(3), b.subarray(11), M, K, N), TOL.reduction, 'offsets');
    expect(out[68]).toBe(7);
    expect(out[69 + M * N]).toBe(7);
    for (const buf of [A, B, C]) rt.release(buf);
  });

  it.each([
    [32, 32, 32, 0, 0],
    [64, 96, 40, 4, 8],
    [36, 44, 9, 1, 2],
  ])('vec4-aligned operands used in place and unaligned ones packed: M=%i N=%i K=%i, offsets %i and %i', async (M, N, K, offA, offB) => {
    for (const [tA, tB] of [[true, false], [false, false], [true, true]] as const) {
      const a = fresh(M * K);
      const b = fresh(K * N);
      const [sa, sb] = [tA ? transposeRef(a, M, K) : a, tB ? transposeRef(b, K, N) : b];
      const A = rt.upload(Float32Array.from([...new Array(offA).fill(9), ...sa]));
      const B = rt.upload(Float32Array.from([...new Array(offB).fill(9), ...sb]));
      const C = rt.alloc(M * N * 4);
      matmulKernel(rt, { buffer: A, offset: offA }, { buffer: B, offset: offB }, C, M, N, K, { transA: tA, transB: tB, variant });
      expectClose(await read(C, M * N), matmulRef(a, b, M, K, N), TOL.reduction, `transA ${tA} transB ${tB}`);
      for (const buf of [A, B, C]) rt.release(buf);
    }
  });

  // A plain A [M, K] with K, its offset and its batch stride multiples of 4 is transposed by 4 × 4 blocks
  // (entry point main_v4 of src/kernels/matmul/matmul_pack.wgsl): odd M (a zero-padded last vec4), more rows and columns than one
  // workgroup covers, and a batch.
  it('aligned A transposed by 4 × 4 blocks: odd M, several workgroups, batched', async () => {
    const [batch, M, N, K] = [2, 37, 21, 68];
    const strideA = M * K + 4;
    const a = fresh(batch * strideA);
    const b = fresh(batch * K * N);
    const refs = [0, 1].map((z) => matmulRef(a.subarray(z * strideA, z * strideA + M * K), b.subarray(z * K * N, (z + 1) * K * N), M, K, N));
    const out = await run(a, b, M, N, K, { batch, strideA, strideB: K * N });
    expectClose(out, Float64Array.from(refs.flatMap((r) => Array.from(r))), TOL.reduction, 'batched');
  });

  it('batched with odd strides, shared operands and a reduction over the batch, transposed', async () => {
    const [batch, M, N, K] = [3, 18, 21, 7];
    const [strideA, strideB] = [M * K + 5, 0];
    const a = fresh(batch * strideA);
    const b = fresh(K * N);
    const mats = [0, 1, 2].map((z) => a.subarray(z * strideA, z * strideA + M * K)); // stored [K, M] (transA)
    const refs = mats.map((m) => matmulRef(transposeRef(m, K, M), b, M, K, N));
    const out = await run(a, b, M, N, K, { batch, strideA, strideB, transA: true });
    expectClose(out, Float64Array.from(refs.flatMap((r) => Array.from(r))), TOL.reduction, 'batched');
    const c0 = fresh(M * N);
    const sum = await run(a, b, M, N, K, { batch, strideA, strideB, transA: true, reduceBatch: true, accumulate: true, c0 });
    expectClose(sum, refs[0].map((v, i) => v + refs[1][i] + refs[2][i] + c0[i]), TOL.reduction, 'batch reduction');
  });

  // The subgroup kernel takes wide tiles (32 × 8·lanes: 32 × 64 with 8 lanes) where C's width fills them
  // (subgroupWide). With 8 lanes: N = 64 (one wide tile), 124 (the second half of the last tile partly past the
  // edge) and 250 (rows of C not on vec4 boundaries, so stored a float at a time), with odd M and K, both bias
  // modes, accumulation and batch reduction; the same in proportion for other widths.
  it.each([[33, 8, 17], [5, 16, 9], [40, 32, 3]])('widths that take wide tiles: M=%i N=%i·lanes − …, K=%i', async (M, perLane, K) => {
    const N = perLane * lanes - [0, 0, 4, 0, 6][perLane / 8];
    expect(subgroupWide(N, lanes)).toBe(true);
    const a = fresh(M * K);
    const b = fresh(K * N);
    const ref = matmulRef(a, b, M, K, N);
    expectClose(await run(a, b, M, N, K, {}), ref, TOL.reduction, 'plain');
    const biasN = fresh(N);
    expectClose(await run(a, b, M, N, K, { biasData: biasN }), ref.map((v, i) => v + biasN[i % N]), TOL.reduction, 'bias per column');
    const biasM = fresh(M);
    expectClose(await run(a, b, M, N, K, { biasData: biasM, biasPer: 'row' }), ref.map((v, i) => v + biasM[Math.floor(i / N)]), TOL.reduction, 'bias per row');
    const c0 = fresh(M * N);
    expectClose(await run(transposeRef(a, M, K), b, M, N, K, { c0, accumulate: true, transA: true }), ref.map((v, i) => v + c0[i]), TOL.reduction, 'accumulate');
    const b2 = fresh(2 * K * N);
    const refs = [0, 1].map((z) => matmulRef(a, b2.subarray(z * K * N, (z + 1) * K * N), M, K, N));
    expectClose(await run(a, b2, M, N, K, { batch: 2, strideA: 0 }), Float64Array.from(refs.flatMap((r) => Array.from(r))), TOL.reduction, 'batched');
    expectClose(await run(a, b2, M, N, K, { batch: 2, strideA: 0, reduceBatch: true }), refs[0].map((v, i) => v + refs[1][i]), TOL.reduction, 'batch reduction');
  });
});

// The subgroup kernel's guard: its workgroup must be one subgroup of SG lanes, numbered as its broadcasts need. A
// workgroup of twice the adapter's lanes (two subgroups), or of half (part of one), or lanes renumbered (l ^ 1),
// would compute from the wrong rows or leave columns out: NaN instead. CI runs this file at 4, 8, 16, 32 and 64
// lanes (LP_NATIVE_VECTOR_WIDTH).
describe.skipIf(!subgroupsHere)('subgroup kernel: its lane guard', () => {
  const [M, N, K] = [37, 70, 19];
  const a = fresh(M * K);
  const b = fresh(K * N);
  const withHooks = async (hooks: Partial<typeof subgroupTestHooks>) => {
    Object.assign(subgroupTestHooks, hooks);
    try {
      return await runKernel(a, b, M, N, K, { variant: 'subgroup' });
    } finally {
      Object.assign(subgroupTestHooks, { lanes: null, laneXor: 0 });
    }
  };
  it('the adapter\'s own width computes the product', async () => {
    expectClose(await withHooks({}), matmulRef(a, b, M, K, N), TOL.reduction, `${lanes} lanes`);
  });
  it.each([2, 0.5])('a workgroup of %s× the adapter\'s lanes gives NaN, not a wrong product', async (f) => {
    const w = lanes * f;
    if (w < 4 || w > 128) return;
    expect((await withHooks({ lanes: w })).every((v) => Number.isNaN(v))).toBe(true);
  });
  it('lanes numbered otherwise than the broadcasts need give NaN, not a wrong product', async () => {
    const out = await withHooks({ laneXor: 1 });
    expect(out.every((v) => Number.isNaN(v))).toBe(true);
  });
});

describe('matmul kernel choice', () => {
  it('the subgroup kernel is the default where the adapter has subgroups of 8 lanes or more (else vec4), for all but tiny shapes', () => {
    const preferred = subgroupPreferred(rt);
    expect(preferred).toBe((subgroupLanes(rt) ?? 0) >= 8);
    expect(matmulVariant(rt, 1024, 1024, 1024)).toBe(preferred ? 'subgroup' : 'vec4');
    expect(matmulVariant(rt, 4, 1000, 512)).toBe(preferred ? 'portable' : 'vec4');
    if (!subgroupsHere) {
      const buf = rt.alloc(16);
      expect(() => matmulKernel(rt, buf, buf, buf, 1, 1, 1, { variant: 'subgroup' })).toThrow(/subgroup/);
      rt.release(buf);
    }
  });

  it.each([
    { tm: 1, tn: 1, wg: 1 },
    { tm: 3, tn: 5, wg: 4 },
  ] as MatmulTiles[])('other tile shapes give the same results: %o', async (tiles) => {
    const [M, N, K] = [37, 29, 23];
    const a = fresh(M * K);
    const b = fresh(K * N);
    const ref = matmulRef(a, b, M, K, N);
    expectClose(await runKernel(a, b, M, N, K, { tiles }), ref, TOL.reduction, 'NN');
    expectClose(await runKernel(transposeRef(a, M, K), b, M, N, K, { tiles, transA: true }), ref, TOL.reduction, 'TN');
  });
});

describe('matmul and linear ops', () => {
  it.each(MATMUL_OP_CASES)('gradient check: matmul op [%i,%i]·[%i,…] forward and backward', async (M, K, N) => {
    const a = fresh(M * K);
    const b = fresh(K * N);
    const w = fresh(M * N);
    const ref = matmulRef(a, b, M, K, N);
    const gref = matmulBackwardRef(a, b, w, M, K, N);
    const A = tensor(rt, a, [M, K]).requireGrad();
    const B = tensor(rt, b, [K, N]).requireGrad();
    const y = matmul(A, B);
    const W = tensor(rt, w, [M, N]);
    y.backward(W);
    expectClose(await y.toArray(), ref, TOL.reduction, 'forward');
    expectClose(await A.grad!.toArray(), gref.da, TOL.reduction, 'da');
    expectClose(await B.grad!.toArray(), gref.db, TOL.reduction, 'db');
    for (const t of [A, B, y, W]) t.dispose();
  });

  it.each(LINEAR_CASES)('gradient check: linear N=%i in=%i out=%i (bias %s) forward and backward', async (N, inF, outF, withBias) => {
    const x = fresh(N * inF);
    const wt = fresh(outF * inF);
    const bias = withBias ? fresh(outF) : null;
    const w = fresh(N * outF);
    const X = tensor(rt, x, [N, inF]).requireGrad();
    const W = tensor(rt, wt, [outF, inF]).requireGrad();
    const Bt = bias ? tensor(rt, bias, [outF]).requireGrad() : null;
    const y = linear(X, W, Bt);
    const G = tensor(rt, w, [N, outF]);
    y.backward(G);
    const g = linearBackwardRef(x, wt, w, N, inF, outF);
    expectClose(await y.toArray(), linearRef(x, wt, bias, N, inF, outF), TOL.reduction, 'forward');
    expectClose(await X.grad!.toArray(), g.dx, TOL.reduction, 'dx');
    expectClose(await W.grad!.toArray(), g.dw, TOL.reduction, 'dw');
    if (Bt) expectClose(await Bt.grad!.toArray(), g.db, TOL.reduction, 'db');
    for (const t of [X, W, Bt, y, G]) t?.dispose();
  });

  it('linear: only inputs that require grad get one, and no buffer leaks', async () => {
    const before = rt.poolStats().liveBytes;
    const X = tensor(rt, fresh(6 * 5), [6, 5]);
    const W = tensor(rt, fresh(3 * 5), [3, 5]).requireGrad();
    const y = linear(X, W, null);
    const G = Tensor.ones([6, 3], rt);
    y.backward(G);
    expect(X.grad).toBeNull();
    expect(W.grad).not.toBeNull();
    await W.grad!.toArray();
    for (const t of [X, W, y, G]) t.dispose();
    expect(rt.poolStats().liveBytes).toBe(before);
  });
});
