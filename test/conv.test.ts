import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, finiteDiff, randomArray, relError, tensor, weightedSum } from './helpers/numeric';
import { conv2dBackwardRef, conv2dRef, convOutSize, type ConvShape } from '../src/reference/conv';
import { CONV_ALGORITHMS, CONV_CASES, CONV_FD_CASES, type ConvAlgorithmCase, convAlgorithmComputes } from '../src/reference/cases';
import type { GpuRuntime } from '../src/gpu/runtime';
import { type Conv2dGeometry, type ConvOptions, conv2dBackwardData, conv2dBackwardWeight, conv2dForward, conv2dGeometry, convAlgorithm, imagesPerTile } from '../src/kernels/conv';
import { hasSubgroupMatmul, subgroupPreferred } from '../src/kernels/matmul';
import { conv2d } from '../src/autograd/ops/conv';
import { withKernelConfig } from '../src/kernels/config';
import { accumulateDataCase } from '../src/web/gradcheck/conv_fused';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

let seed = 5000;
const fresh = (n: number) => randomArray(n, seed++);

function sizes(s: ConvShape) {
  const [OH, OW] = convOutSize(s);
  return { x: s.N * s.C * s.H * s.W, w: s.O * s.C * s.KH * s.KW, y: s.N * s.O * OH * OW, OH, OW };
}

describe('float64 reference', () => {
  it.each(CONV_FD_CASES)('gradient check: conv2d reference backward vs finite differences %o', (s) => {
    const n = sizes(s);
    const x = fresh(n.x);
    const w = fresh(n.w);
    const b = fresh(s.O);
    const dy = fresh(n.y);
    const g = conv2dBackwardRef(x, w, dy, s);
    expect(relError(g.dx, finiteDiff((v) => weightedSum(conv2dRef(v, w, b, s), dy), x))).toBeLessThan(TOL.fd);
    expect(relError(g.dw, finiteDiff((v) => weightedSum(conv2dRef(x, v, b, s), dy), w))).toBeLessThan(TOL.fd);
    expect(relError(g.db, finiteDiff((v) => weightedSum(conv2dRef(x, w, v, s), dy), b))).toBeLessThan(TOL.fd);
  });
});

const CASES = CONV_CASES;
const ALGORITHMS = CONV_ALGORITHMS;
const subgroupsHere = hasSubgroupMatmul(await testRuntime());
// The heuristic's default for non-Winograd passes: implicit GEMM where the subgroup kernel is preferred (8 lanes or more).
const implicitDefault = subgroupPreferred(await testRuntime());

for (const [algorithm, opts] of ALGORITHMS) describe.skipIf(algorithm === 'implicit' && !subgroupsHere)(`conv2d op (${algorithm}) vs float64 reference`, () => {
  // Only the cases the algorithm computes (Winograd's others fall back to the default, which runs above).
  for (const [name, s] of CASES.filter(([, c]) => convAlgorithmComputes(opts, c))) {
    it.each([false, true])(`gradient check: conv2d ${name}, bias %s: forward, dx, dw, db (${algorithm})`, async (withBias) => {
      const n = sizes(s);
      const x = fresh(n.x);
      const w = fresh(n.w);
      const b = withBias ? fresh(s.O) : null;
      const dy = fresh(n.y);
      const X = tensor(rt, x, [s.N, s.C, s.H, s.W]).requireGrad();
      const W = tensor(rt, w, [s.O, s.C, s.KH, s.KW]).requireGrad();
      const B = b ? tensor(rt, b, [s.O]).requireGrad() : null;
      const DY = tensor(rt, dy, [s.N, s.O, n.OH, n.OW]);
      const y = conv2d(X, W, B, { stride: s.stride, padding: s.pad, ...opts });
      expect(y.shape).toEqual([s.N, s.O, n.OH, n.OW]);
      y.backward(DY);
      const g = conv2dBackwardRef(x, w, dy, s);
      expectClose(await y.toArray(), conv2dRef(x, w, b, s), TOL.reduction, 'forward');
      expectClose(await X.grad!.toArray(), g.dx, TOL.reduction, 'dx');
      expectClose(await W.grad!.toArray(), g.dw, TOL.reduction, 'dw');
      if (B) expectClose(await B.grad!.toArray(), g.db, TOL.reduction, 'db');
      for (const t of [X, W, B, DY, y]) t?.dispose();
    });
  }
});

describe('conv2d algorithm choice', () => {
  it('Winograd for 3x3 stride-1 padding-1; else implicit GEMM with subgroups of 8 lanes or more, except a strided data gradient and 1x1 stride-1 convolutions', () => {
    const g3 = conv2dGeometry([2, 8, 9, 9], [4, 8, 3, 3], 1, 1);
    const g3p0 = conv2dGeometry([2, 8, 9, 9], [4, 8, 3, 3], 1, 0);
    const g3s2 = conv2dGeometry([2, 8, 9, 9], [4, 8, 3, 3], 2, 1);
    const g1 = conv2dGeometry([2, 8, 9, 9], [4, 8, 1, 1], 1, 0);
    const implicit = implicitDefault ? 'implicit' : 'im2col';
    expect(['forward', 'data', 'weight'].map((p) => convAlgorithm(rt, g3, p as 'forward'))).toEqual(['winograd', 'winograd', 'winograd']);
    expect(['forward', 'data', 'weight'].map((p) => convAlgorithm(rt, g3p0, p as 'forward'))).toEqual([implicit, implicit, implicit]);
    expect(convAlgorithm(rt, g3s2, 'forward', { algorithm: 'winograd' })).toBe(implicit);
    // On a 1×1 map Winograd would do more work than the direct convolution: not the default there.
    const tiny = conv2dGeometry([2, 8, 1, 1], [4, 8, 3, 3], 1, 1);
    expect(convAlgorithm(rt, tiny, 'forward')).toBe(implicit);
    expect(convAlgorithm(rt, tiny, 'forward', { algorithm: 'winograd' })).toBe('winograd');
    // An image whose transformed planes of 64 channels exceed one binding (36 planes per (side/4)² tiles with
    // 4×4 tiles, the gradients' default; 16 per (side/2)² with 2×2, the forward's) takes the other algorithm.
    const side = 4 * Math.ceil(Math.sqrt(rt.limits.maxStorageBufferBindingSize / (36 * 4 * 64))) + 4;
    const big = conv2dGeometry([1, 64, side, side], [64, 64, 3, 3], 1, 1);
    expect(convAlgorithm(rt, big, 'forward')).toBe(implicit);
    expect(convAlgorithm(rt, big, 'weight', { algorithm: 'winograd' })).toBe(implicit);
    expect(convAlgorithm(rt, big, 'data')).toBe(implicitDefault ? 'implicit' : 'im2col');
    expect(convAlgorithm(rt, g3, 'forward', { algorithm: implicit })).toBe(implicit);
    expect(['forward', 'data', 'weight'].map((p) => convAlgorithm(rt, g3s2, p as 'forward'))).toEqual([implicit, 'im2col', implicit]);
    expect(convAlgorithm(rt, g1, 'forward')).toBe('im2col');
    expect(convAlgorithm(rt, g3, 'forward', { algorithm: 'im2col' })).toBe('im2col');
    if (!subgroupsHere) expect(() => convAlgorithm(rt, g3, 'forward', { algorithm: 'implicit' })).toThrow(/subgroups/);
  });
});

describe('conv2d op options', () => {
  it('accepts stride and padding as numbers, and only computes the gradients asked for', async () => {
    const s: ConvShape = { N: 1, C: 2, H: 5, W: 5, O: 3, KH: 3, KW: 3, stride: 2, pad: 1 };
    const n = sizes(s);
    const x = fresh(n.x);
    const w = fresh(n.w);
    const X = tensor(rt, x, [1, 2, 5, 5]);
    const W = tensor(rt, w, [3, 2, 3, 3]).requireGrad();
    const before = rt.poolStats().liveBytes;
    const y = conv2d(X, W, null, 2, 1);
    const DY = tensor(rt, new Float64Array(n.y).fill(1), y.shape);
    y.backward(DY);
    expect(X.grad).toBeNull();
    expectClose(await W.grad!.toArray(), conv2dBackwardRef(x, w, new Float64Array(n.y).fill(1), s).dw, TOL.reduction, 'dw');
    for (const t of [y, DY]) t.dispose();
    W.zeroGrad();
    expect(rt.poolStats().liveBytes).toBe(before);
    for (const t of [X, W]) t.dispose();
  });

  it('rejects mismatched shapes with a clear message', () => {
    const X = tensor(rt, fresh(2 * 3 * 4 * 4), [2, 3, 4, 4]);
    const W = tensor(rt, fresh(5 * 2 * 3 * 3), [5, 2, 3, 3]);
    expect(() => conv2d(X, W)).toThrow(/input channels/);
    for (const t of [X, W]) t.dispose();
  });
});

/** y, dx and dw of one convolution through the kernels with `opts`, read back. */
async function allPasses(X: GPUBuffer, W: GPUBuffer, B: GPUBuffer, DY: GPUBuffer, g: Conv2dGeometry, n: ReturnType<typeof sizes>, opts: ConvOptions): Promise<Float32Array[]> {
  const lens = [n.y, n.x, n.w];
  const [y, dx, dw] = lens.map((len) => rt.alloc(len * 4));
  conv2dForward(rt, X, W, B, y, g, opts);
  conv2dBackwardData(rt, DY, W, dx, g, opts);
  conv2dBackwardWeight(rt, X, DY, dw, g, opts);
  const out = await Promise.all([y, dx, dw].map((buf, i) => rt.read(buf, lens[i] * 4).then((r) => new Float32Array(r))));
  for (const buf of [y, dx, dw]) rt.release(buf);
  return out;
}

describe('conv2d batch tiling', () => {
  it('gradient check: conv2d with a column buffer of 2 images gives the results of one tile', async () => {
    const s: ConvShape = { N: 5, C: 3, H: 9, W: 8, O: 4, KH: 3, KW: 3, stride: 2, pad: 1 };
    const n = sizes(s);
    const g = conv2dGeometry([s.N, s.C, s.H, s.W], [s.O, s.C, s.KH, s.KW], s.stride, s.pad);
    const colBytes = s.C * s.KH * s.KW * n.OH * n.OW * 4;
    const small = { maxColumnBytes: 2 * colBytes + 100, algorithm: 'im2col' as const };
    expect(imagesPerTile(rt, g, small)).toBe(2);
    expect(imagesPerTile(rt, g)).toBe(s.N);
    const x = fresh(n.x);
    const w = fresh(n.w);
    const b = fresh(s.O);
    const dy = fresh(n.y);
    const [X, W, B, DY] = [x, w, b, dy].map((a) => rt.upload(Float32Array.from(a)));
    const run = (opts: ConvOptions) => allPasses(X, W, B, DY, g, n, opts);
    const [y1, dx1, dw1] = await run({ algorithm: 'im2col' });
    const [y2, dx2, dw2] = await run(small);
    const ref = conv2dBackwardRef(x, w, dy, s);
    expectClose(y1, conv2dRef(x, w, b, s), TOL.reduction, 'forward');
    expectClose(dx1, ref.dx, TOL.reduction, 'dx');
    expectClose(dw1, ref.dw, TOL.reduction, 'dw');
    // Images are independent in the forward pass and dx: the same bits. dw sums the tiles' partial sums.
    expect(Array.from(y2)).toEqual(Array.from(y1));
    expect(Array.from(dx2)).toEqual(Array.from(dx1));
    expectClose(dw2, dw1, 1e-6, 'dw tiled vs one tile');
    for (const buf of [X, W, B, DY]) rt.release(buf);
  });

  // Implicit GEMM and Winograd in batch tiles (Winograd with both output tiles), against the reference and im2col.
  const TILED: [string, ConvOptions][] = [
    // The implicit weight gradient splits its sum over the images into partial sums (weightSumGroups; by
    // default one per image at these sizes): unsplit, uneven groups (4 asked for 5 images: sums of 2, 2 and 1), and
    // split batch tiles that add to the previous tiles' dW.
    ...(subgroupsHere
      ? ([
          ['implicit GEMM', { algorithm: 'implicit', maxImagesPerTile: 1 }],
          ['implicit GEMM', { algorithm: 'implicit', maxImagesPerTile: 2 }],
          ['implicit GEMM', { algorithm: 'implicit', weightSumGroups: 1 }],
          ['implicit GEMM', { algorithm: 'implicit', weightSumGroups: 4 }],
          ['implicit GEMM', { algorithm: 'implicit', maxImagesPerTile: 3, weightSumGroups: 2 }],
        ] as [string, ConvOptions][])
      : []),
    ['Winograd', { algorithm: 'winograd', maxImagesPerTile: 1 }],
    ['Winograd', { algorithm: 'winograd', maxImagesPerTile: 2 }],
    ['Winograd 2x2', { algorithm: 'winograd', maxImagesPerTile: 2, winogradTile: 2 }],
    ['Winograd 4x4', { algorithm: 'winograd', maxImagesPerTile: 2, winogradTile: 4 }],
  ];
  it.each(TILED)('gradient check: %s in batch tiles (%j) matches the reference and im2col', async (name, tiled) => {
    const s: ConvShape = { N: 5, C: 6, H: 11, W: 10, O: 37, KH: 3, KW: 3, stride: 1, pad: 1 };
    const n = sizes(s);
    const g = conv2dGeometry([s.N, s.C, s.H, s.W], [s.O, s.C, s.KH, s.KW], s.stride, s.pad);
    const [x, w, b, dy] = [fresh(n.x), fresh(n.w), fresh(s.O), fresh(n.y)];
    const [X, W, B, DY] = [x, w, b, dy].map((a) => rt.upload(Float32Array.from(a)));
    const run = (opts: ConvOptions) => allPasses(X, W, B, DY, g, n, opts);
    const [y1, dx1, dw1] = await run(tiled);
    const [y2, dx2, dw2] = await run({ algorithm: 'im2col' });
    const ref = conv2dBackwardRef(x, w, dy, s);
    expectClose(y1, conv2dRef(x, w, b, s), TOL.reduction, 'forward');
    expectClose(dx1, ref.dx, TOL.reduction, 'dx');
    expectClose(dw1, ref.dw, TOL.reduction, 'dw');
    // Implicit GEMM and im2col sum the same products: agreement to float32 rounding; Winograd to its own.
    const agree = name.startsWith('implicit') ? 1e-6 : 1e-5;
    expectClose(y1, y2, agree, `forward: ${name} vs im2col`);
    expectClose(dx1, dx2, agree, `dx: ${name} vs im2col`);
    expectClose(dw1, dw2, agree, `dw: ${name} vs im2col`);
    for (const buf of [X, W, B, DY]) rt.release(buf);
  });

  // Images read as vec4 rows (KernelConfig.winogradVectorImages, W a multiple of 4) and one float at a time give the same
  // transforms, also in batch tiles (images at offsets past the first).
  it('Winograd 4x4 reads vec4 image rows as the scalar path does, in batch tiles', async () => {
    const s: ConvShape = { N: 3, C: 5, H: 9, W: 12, O: 6, KH: 3, KW: 3, stride: 1, pad: 1 };
    const n = sizes(s);
    const g = conv2dGeometry([s.N, s.C, s.H, s.W], [s.O, s.C, s.KH, s.KW], s.stride, s.pad);
    const [x, w, b, dy] = [fresh(n.x), fresh(n.w), fresh(s.O), fresh(n.y)];
    const [X, W, B, DY] = [x, w, b, dy].map((a) => rt.upload(Float32Array.from(a)));
    const opts: ConvOptions = { algorithm: 'winograd', winogradTile: 4, maxImagesPerTile: 2 };
    const vector = await allPasses(X, W, B, DY, g, n, opts);
    const scalar = await withKernelConfig(rt, { winogradVectorImages: false }, () => allPasses(X, W, B, DY, g, n, opts));
    const ref = conv2dBackwardRef(x, w, dy, s);
    expectClose(vector[0], conv2dRef(x, w, b, s), TOL.reduction, 'forward');
    expectClose(vector[1], ref.dx, TOL.reduction, 'dx');
    expectClose(vector[2], ref.dw, TOL.reduction, 'dw');
    for (let i = 0; i < 3; i++) expect(Array.from(vector[i])).toEqual(Array.from(scalar[i]));
    for (const buf of [X, W, B, DY]) rt.release(buf);
  });

  it('an image too large for the column limit is refused with a clear message', () => {
    const g = conv2dGeometry([1, 3, 9, 9], [4, 3, 3, 3], 1, 1);
    expect(() => imagesPerTile(rt, g, { maxColumnBytes: 100 })).toThrow(/column matrix/);
  });
});

// The data gradient added into a gradient that x has already (a residual join), by every algorithm, in batch
// tiles too: prev + dx, with prev's values where no tap reaches (1x1 stride 2).
describe('conv2d data gradient added into an existing gradient', () => {
  const cases: [string, ConvOptions & ConvAlgorithmCase][] = [
    ...ALGORITHMS.filter(([a]) => a !== 'implicit' || subgroupsHere),
    ['im2col in batch tiles', { algorithm: 'im2col', maxImagesPerTile: 1 }],
    ['winograd in batch tiles', { algorithm: 'winograd', maxImagesPerTile: 1 }],
    ...(subgroupsHere ? ([['implicit in batch tiles', { algorithm: 'implicit', maxImagesPerTile: 1 }]] as [string, ConvOptions & ConvAlgorithmCase][]) : []),
  ];
  for (const [algorithm, opts] of cases) {
    for (const [name, s] of CASES.filter(([, c]) => convAlgorithmComputes(opts, c))) {
      it(`gradient check: dx += conv2d's data gradient, ${name} (${algorithm})`, async () => {
        for (const r of await accumulateDataCase(rt, s, opts, seed++)) expectClose(r.got, r.want, r.tol, r.what);
      });
    }
  }
});

describe('conv2d backward adds into the gradient of a residual join', () => {
  // h = x·2 (not a leaf), y = conv2d(h, w) + h: the add gives h its gradient first, then conv2d's backward adds
  // its data gradient into that tensor in place, with no accumulate dispatch.
  const shapes: [string, ConvOptions, ConvShape][] = [
    ['3x3 s1 p1 (Winograd)', { algorithm: 'winograd' }, { N: 2, C: 4, H: 7, W: 6, O: 4, KH: 3, KW: 3, stride: 1, pad: 1 }],
    ['3x3 s1 p1 (im2col)', { algorithm: 'im2col' }, { N: 2, C: 4, H: 7, W: 6, O: 4, KH: 3, KW: 3, stride: 1, pad: 1 }],
    ['1x1 s1 p0 (pointwise, im2col)', { algorithm: 'im2col' }, { N: 2, C: 5, H: 3, W: 4, O: 5, KH: 1, KW: 1, stride: 1, pad: 0 }],
  ];
  it.each(shapes)('gradient check: %s', async (_name, opts, s) => {
    const n = sizes(s);
    const [x, w, dy] = [fresh(n.x), fresh(n.w), fresh(n.y)];
    const X = tensor(rt, x, [s.N, s.C, s.H, s.W]).requireGrad();
    const W = tensor(rt, w, [s.O, s.C, s.KH, s.KW]).requireGrad();
    const DY = tensor(rt, dy, [s.N, s.O, n.OH, n.OW]);
    const ops: string[] = [];
    rt.dispatchLog = (spec) => ops.push(spec.op);
    try {
      const h = X.mul(2);
      const y = conv2d(h, W, null, { stride: s.stride, padding: s.pad, ...opts }).add(h);
      y.backward(DY);
      y.dispose();
      h.dispose();
    } finally {
      rt.dispatchLog = null;
    }
    expect(ops.filter((op) => op.startsWith('accumulate'))).toEqual([]);
    // dL/dh = dy + conv2d's data gradient; dL/dx = 2·dL/dh.
    const ref = conv2dBackwardRef(x.map((v) => 2 * v), w, dy, s);
    expectClose(await X.grad!.toArray(), ref.dx.map((v, i) => 2 * (v + dy[i])), TOL.reduction, 'dx');
    expectClose(await W.grad!.toArray(), ref.dw, TOL.reduction, 'dw');
    for (const t of [X, W, DY]) t.dispose();
  });
});
