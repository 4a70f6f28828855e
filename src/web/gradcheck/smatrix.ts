/**
 * The page's checks of the subgroup-matrix GEMM (kernels/matmul/smatrix.ts: float16 inputs, float32 accumulation;
 * where the adapter offers 'chromium-experimental-subgroup-matrix' with a float16 configuration, else skipped):
 * products of float16 values against the float64 reference in every transpose form, odd shapes past the
 * configuration's tiles, a bias per row and per column, a batch with a shared A and its sum accumulated onto C;
 * and the float16 path's linear op (autocast) with its three products on the kernel, against the same op on the
 * default kernels; and float16 convolutions by im2col whose products it runs (forward, data and weight
 * gradients, straight from the NCHW tensors: smatrix.ts's convolution products), against the float64 reference.
 */
import { Tensor } from '../../autograd/tensor';
import { linear } from '../../autograd/ops/linear';
import { conv2d } from '../../autograd/ops/conv';
import { autocast, tidy } from '../../autograd/scope';
import type { GpuRuntime } from '../../gpu/runtime';
import { setKernelChooser } from '../../kernels/config';
import { hasSmatrix, matmul, matmulVariant } from '../../kernels/matmul';
import { smatrixFits } from '../../kernels/matmul/smatrix';
import { matmulRef, transposeRef } from '../../reference/matmul';
import { f16RoundAll } from '../../reference/half';
import { TOL, randomArray } from '../../reference/math';
import { dataIm2col, forwardIm2col, weightIm2col } from '../../kernels/conv/im2col';
import { conv2dGeometry } from '../../kernels/conv/geometry';
import { conv2dBackwardRef, conv2dRef, type ConvShape } from '../../reference/conv';
import type { PageCheckGroup, PageChecks } from './api';
import type { Comparison } from './matmul_tiled';

export const SMATRIX_KERNEL = 'matmul smatrix';

/** Shapes (M, N, K): one configuration tile, odd sizes past the tiles and the padding of K, larger ones. */
export const SMATRIX_SHAPES: [number, number, number][] = [
  [8, 8, 8],
  [1, 1, 1],
  [7, 13, 5],
  [33, 17, 40],
  [64, 48, 72],
  [70, 9, 130],
];

/** Random float16 values (as float64): the kernel's operands. */
const halfArray = (n: number, seed: number) => f16RoundAll(randomArray(n, seed));

/** op(A)·op(B) (+ bias per row or column) (+ C) by the subgroup-matrix kernel against the float64 reference. */
export async function smatrixProductCase(rt: GpuRuntime, [M, N, K]: [number, number, number], tA: boolean, tB: boolean, biasPer: 'row' | 'col' | null, accumulate: boolean, seed: number): Promise<Comparison[]> {
  const a = halfArray(M * K, seed);
  const b = halfArray(K * N, seed + 1);
  const bias = biasPer ? randomArray(biasPer === 'row' ? M : N, seed + 2) : null;
  const c0 = accumulate ? randomArray(M * N, seed + 3) : null;
  const up = (v: ArrayLike<number>) => rt.upload(Float32Array.from(v));
  const A = up(tA ? transposeRef(a, M, K) : a);
  const B = up(tB ? transposeRef(b, K, N) : b);
  const Bi = bias ? up(bias) : null;
  const C = c0 ? up(c0) : rt.alloc(M * N * 4);
  try {
    matmul(rt, A, B, C, M, N, K, { transA: tA, transB: tB, bias: Bi, biasPer: biasPer ?? undefined, accumulate, variant: 'smatrix', halfInputs: true });
    const got = new Float32Array(await rt.read(C, M * N * 4));
    const want = matmulRef(a, b, M, K, N).map((v, i) => v + (bias ? bias[biasPer === 'row' ? Math.floor(i / N) : i % N] : 0) + (c0 ? c0[i] : 0));
    return [{ what: `${tA ? 'Aᵀ' : 'A'}·${tB ? 'Bᵀ' : 'B'} ${M}x${N}x${K}${biasPer ? ` + bias per ${biasPer}` : ''}${accumulate ? ' + C' : ''}`, got, want, tol: TOL.reduction }];
  } finally {
    for (const buf of [A, B, Bi, C]) if (buf) rt.release(buf);
  }
}

/** A batch of 3 with a shared A (stride 0), then its sum accumulated onto C (A transposed). */
export async function smatrixBatchCase(rt: GpuRuntime, seed: number): Promise<Comparison[]> {
  const [batch, M, N, K] = [3, 9, 20, 11];
  const a = halfArray(M * K, seed);
  const b = halfArray(batch * K * N, seed + 1);
  const c0 = randomArray(M * N, seed + 2);
  const A = rt.upload(Float32Array.from(a));
  const At = rt.upload(Float32Array.from(transposeRef(a, M, K)));
  const B = rt.upload(Float32Array.from(b));
  const C = rt.alloc(batch * M * N * 4);
  const S = rt.upload(Float32Array.from(c0));
  try {
    matmul(rt, A, B, C, M, N, K, { batch, strideA: 0, variant: 'smatrix', halfInputs: true });
    matmul(rt, At, B, S, M, N, K, { batch, strideA: 0, transA: true, reduceBatch: true, accumulate: true, variant: 'smatrix', halfInputs: true });
    const per = Array.from({ length: batch }, (_, z) => matmulRef(a, b.subarray(z * K * N, (z + 1) * K * N), M, K, N));
    const sum = c0.map((v, i) => v + per.reduce((s, p) => s + p[i], 0));
    return [
      { what: `batch ${batch}x${M}x${N}x${K}, shared A`, got: new Float32Array(await rt.read(C, batch * M * N * 4)), want: per.flatMap((p) => Array.from(p)), tol: TOL.reduction },
      { what: `batch ${batch}x${M}x${N}x${K} summed onto C`, got: new Float32Array(await rt.read(S, M * N * 4)), want: sum, tol: TOL.reduction },
    ];
  } finally {
    for (const buf of [A, At, B, C, S]) rt.release(buf);
  }
}

/** An op under autocast: its inputs (float32 values, each requiring a gradient), the upstream gradient's shape. */
interface AutocastOpCase {
  name: string;
  inputs: { name: string; shape: number[] }[];
  gradShape: number[];
  op: (xs: Tensor[]) => Tensor;
  /** Its products that offer the kernel, and the dispatches of other kernels it must run (kernel name → count). */
  products: number;
  alsoRan?: Record<string, number>;
  /** Force the convolutions onto im2col (whose products the kernel can run). */
  im2col?: boolean;
}

/**
 * An op under autocast (float16 inputs and weights, float32 accumulation) forward and backward with every
 * product the subgroup-matrix kernel can run forced onto it, against the same op on the default kernels: the same
 * float16 operands and float32 sums, so they agree to the order of the sums. Also checks that the op's products
 * offered the kernel (their 'matmul' shapes end in ' f16') and ran on it.
 */
async function smatrixAutocastCase(rt: GpuRuntime, k: AutocastOpCase, seed: number): Promise<Comparison[]> {
  const values = k.inputs.map((x, i) => randomArray(x.shape.reduce((a, b) => a * b, 1), seed + i));
  const gv = randomArray(k.gradShape.reduce((a, b) => a * b, 1), seed + k.inputs.length);
  const run = async (force: boolean) => {
    const made: Tensor[] = [];
    const t = (v: ArrayLike<number>, shape: number[]) => {
      const x = Tensor.fromArray(Float32Array.from(v), shape, 'f32', rt);
      made.push(x);
      return x;
    };
    const offered = new Set<string>();
    const ran: Record<string, number> = {};
    const orig = rt.dispatch;
    rt.dispatch = (spec) => {
      const name = spec.kernel?.startsWith('matmul/matmul_smatrix.wgsl') ? 'product' : (spec.kernel ?? spec.op);
      ran[name] = (ran[name] ?? 0) + 1;
      orig.call(rt, spec);
    };
    const restore = setKernelChooser(rt, (_rt, c) => {
      if (force && k.im2col && c.site.startsWith('conv2d.') && (c.candidates as readonly unknown[]).includes('im2col')) return 'im2col' as typeof c.heuristic;
      if (c.site !== 'matmul' || !(c.candidates as readonly unknown[]).includes('smatrix')) return undefined;
      if (c.shape.endsWith(' f16')) offered.add(c.shape);
      return force ? ('smatrix' as typeof c.heuristic) : undefined;
    });
    try {
      const xs = values.map((v, i) => t(v, k.inputs[i].shape).requireGrad());
      let yv: Promise<Float32Array> | null = null;
      // A scope for the op's float16 copies (the read of y is encoded before they are freed).
      tidy(() => {
        const y = autocast(() => k.op(xs));
        y.backward(t(gv, k.gradShape).half());
        yv = y.toArray() as Promise<Float32Array>;
      });
      return { values: [await yv!, ...(await Promise.all(xs.map((x) => x.grad!.toArray())))], offered: offered.size, ran };
    } finally {
      restore();
      rt.dispatch = orig;
      for (const x of made) if (!x.isDisposed) x.dispose();
    }
  };
  const forced = await run(true);
  const plain = await run(false);
  const names = ['y (float16)', ...k.inputs.map((x) => `d${x.name}`)];
  const also = Object.entries(k.alsoRan ?? {});
  return [
    // y and the input's gradient are float16 values (1e-3); the weights' are float32 sums.
    ...forced.values.map((got, i) => ({ what: `${k.name}: ${names[i]}, smatrix vs default kernels`, got, want: plain.values[i], tol: i < 2 ? 1e-3 : 1e-5 })),
    { what: `${k.name}: products offered the kernel (shapes … f16)`, got: [forced.offered], want: [k.products], tol: 0 },
    { what: `${k.name}: products the kernel ran${also.length ? `, then ${also.map(([n]) => n).join(', ')}` : ''}`, got: [forced.ran.product ?? 0, ...also.map(([n]) => forced.ran[n] ?? 0)], want: [k.products, ...also.map(([, c]) => c)], tol: 0 },
  ];
}

/** linear [12, 40] → 19 under autocast: its three products on the kernel. */
export const smatrixLinearCase = (rt: GpuRuntime, seed: number) =>
  smatrixAutocastCase(rt, {
    name: 'linear under autocast [12,40]→19',
    inputs: [{ name: 'x', shape: [12, 40] }, { name: 'W', shape: [19, 40] }, { name: 'b', shape: [19] }],
    gradShape: [12, 19],
    op: ([x, w, b]) => linear(x, w, b),
    products: 3,
  }, seed);

/**
 * conv2d under autocast by im2col, x [3, 5, 9, 9], w [8, 5, 3, 3], stride 1, padding 1: its three products on
 * the kernel, the forward's and the weight gradient's columns gathered from x (two gathers, no im2col pass).
 */
export const smatrixConvOpCase = (rt: GpuRuntime, seed: number) =>
  smatrixAutocastCase(rt, {
    name: 'conv2d under autocast by im2col x [3,5,9,9] w [8,5,3,3]',
    inputs: [{ name: 'x', shape: [3, 5, 9, 9] }, { name: 'W', shape: [8, 5, 3, 3] }, { name: 'b', shape: [8] }],
    gradShape: [3, 8, 9, 9],
    op: ([x, w, b]) => conv2d(x, w, b, { stride: 1, padding: 1 }),
    products: 3,
    alsoRan: { 'matmul/matmul_smatrix_gather.wgsl': 2, 'conv/im2col.wgsl': 1 },
    im2col: true,
  }, seed);

/**
 * Convolutions for the products straight from NCHW tensors (kernels/conv/im2col.ts with halfOperands): strides,
 * padding, pointwise, odd sizes, batch tiles (maxImagesPerTile) with a shorter last tile, and images of at
 * least 128 output pixels (the data gradient's per-image products).
 */
export const SMATRIX_CONV_CASES: { s: ConvShape; tile?: number }[] = [
  { s: { N: 3, C: 5, H: 7, W: 9, O: 6, KH: 3, KW: 3, stride: 2, pad: 1 }, tile: 2 },
  { s: { N: 2, C: 3, H: 5, W: 5, O: 17, KH: 1, KW: 1, stride: 1, pad: 0 }, tile: 1 },
  { s: { N: 2, C: 4, H: 6, W: 7, O: 9, KH: 1, KW: 1, stride: 2, pad: 0 } },
  { s: { N: 1, C: 2, H: 11, W: 10, O: 3, KH: 5, KW: 5, stride: 1, pad: 2 } },
  { s: { N: 4, C: 8, H: 4, W: 4, O: 20, KH: 3, KW: 3, stride: 1, pad: 1 }, tile: 3 },
  { s: { N: 2, C: 3, H: 12, W: 12, O: 5, KH: 3, KW: 3, stride: 1, pad: 1 } },
  { s: { N: 3, C: 6, H: 3, W: 5, O: 7, KH: 1, KW: 1, stride: 1, pad: 0 } },
];

/**
 * conv2d of float16 values by im2col, forward, data and weight gradients, with the 'matmul' site giving every
 * product the subgroup-matrix kernel, against the float64 reference. Checks too what ran: the forward and the
 * weight gradient gather their columns from x (one gather per batch tile, no im2col pass, no axis swap), and the
 * data gradient (overwriting dx, then added to another tensor) packs dy without an axis swap (and a pointwise
 * one writes dx itself: no col2im swap either).
 */
export async function smatrixConvCase(rt: GpuRuntime, s: ConvShape, tile: number | undefined, seed: number): Promise<Comparison[]> {
  const g = conv2dGeometry([s.N, s.C, s.H, s.W], [s.O, s.C, s.KH, s.KW], s.stride, s.pad);
  const xv = halfArray(s.N * s.C * s.H * s.W, seed);
  const wv = halfArray(s.O * s.C * s.KH * s.KW, seed + 1);
  const bv = randomArray(s.O, seed + 2);
  const outN = s.N * s.O * g.OH * g.OW;
  const gv = halfArray(outN, seed + 3);
  const up = (v: ArrayLike<number>) => rt.upload(Float32Array.from(v));
  const [X, W, Bi, G] = [up(xv), up(wv), up(bv), up(gv)];
  const Y = rt.alloc(outN * 4);
  const DX = rt.alloc(xv.length * 4);
  const DW = rt.alloc(wv.length * 4);
  const dx0 = randomArray(xv.length, seed + 4);
  const DX2 = up(dx0);
  const opts = { halfOperands: true, maxImagesPerTile: tile };
  /** Dispatches of each pass, by kernel and entry point. */
  const passes: Record<string, number>[] = [];
  const orig = rt.dispatch;
  rt.dispatch = (spec) => {
    const seen = passes[passes.length - 1];
    const key = `${spec.kernel}:${spec.entry ?? 'main'}`;
    seen[key] = (seen[key] ?? 0) + 1;
    orig.call(rt, spec);
  };
  const restore = setKernelChooser(rt, (_rt, c) => (c.site === 'matmul' && (c.candidates as readonly unknown[]).includes('smatrix') ? ('smatrix' as typeof c.heuristic) : undefined));
  try {
    passes.push({});
    forwardIm2col(rt, X, W, Bi, Y, g, opts);
    passes.push({});
    dataIm2col(rt, G, W, DX, g, opts);
    dataIm2col(rt, G, W, DX2, g, opts, true);
    passes.push({});
    weightIm2col(rt, X, G, DW, g, opts);
  } finally {
    restore();
    rt.dispatch = orig;
  }
  try {
    const read = async (b: GPUBuffer, n: number) => new Float32Array(await rt.read(b, n * 4));
    const ref = conv2dBackwardRef(xv, wv, gv, s);
    const tiles = Math.ceil(s.N / (tile ?? s.N));
    const what = `conv2d ${JSON.stringify(s)}${tile ? ` in tiles of ${tile}` : ''}`;
    const [fw, dx, dw] = passes;
    const n = (p: Record<string, number>, k: string) => p[k] ?? 0;
    const gather = 'matmul/matmul_smatrix_gather.wgsl:main';
    return [
      { what: `${what}: y`, got: await read(Y, outN), want: conv2dRef(xv, wv, bv, s), tol: TOL.reduction },
      { what: `${what}: dx`, got: await read(DX, xv.length), want: ref.dx, tol: TOL.reduction },
      { what: `${what}: dx added to a tensor`, got: await read(DX2, xv.length), want: ref.dx.map((v, i) => v + dx0[i]), tol: TOL.reduction },
      { what: `${what}: dw`, got: await read(DW, wv.length), want: ref.dw, tol: TOL.reduction },
      {
        what: `${what}: gathers of y and dw (one per tile), im2col passes, axis swaps of y, dx and dw`,
        got: [n(fw, gather), n(dw, gather), n(fw, 'conv/im2col.wgsl:im2col') + n(dw, 'conv/im2col.wgsl:im2col'), n(fw, 'conv/im2col.wgsl:swap01'), n(dx, 'conv/im2col.wgsl:swap01'), n(dw, 'conv/im2col.wgsl:swap01')],
        want: [tiles, tiles, 0, 0, 0, 0],
        tol: 0,
      },
    ];
  } finally {
    for (const buf of [X, W, Bi, G, Y, DX, DX2, DW]) rt.release(buf);
  }
}

/**
 * The kernel is a candidate only for products that fit it: a small one is; one whose K passes a dispatch's
 * workgroup rows, or whose packed batch passes a storage binding, is not (matmulVariant's candidates).
 */
export function smatrixFitCase(rt: GpuRuntime): Comparison[] {
  const offered = (M: number, N: number, K: number, batch: number) => {
    let has = 0;
    const restore = setKernelChooser(rt, (_rt, c) => {
      if (c.site === 'matmul') has = Number((c.candidates as readonly unknown[]).includes('smatrix'));
      return undefined;
    });
    try {
      matmulVariant(rt, M, N, K, batch, true);
    } finally {
      restore();
    }
    return has;
  };
  const rows = rt.limits.maxComputeWorkgroupsPerDimension;
  // Batches of 64 × 64 × 64 products whose packed operands (8 KiB each) pass the binding limit.
  const batch = Math.ceil(rt.limits.maxStorageBufferBindingSize / (64 * 64 * 2)) + 1;
  return [
    {
      what: `offered for 64x64x64, for K = ${rows}, for a batch of ${batch} 64x64x64 (fits: 1, 0, 0)`,
      got: [offered(64, 64, 64, 1), offered(64, 64, rows, 1), offered(64, 64, 64, batch), Number(smatrixFits(rt, 64, 64, 64, batch))],
      want: [1, 0, 0, 0],
      tol: 0,
    },
  ];
}

export const smatrixGroup: PageCheckGroup = {
  kernels: [SMATRIX_KERNEL],
  notOffered: (rt) => (hasSmatrix(rt) ? [] : [SMATRIX_KERNEL]),
  async run(c: PageChecks): Promise<void> {
    if (!hasSmatrix(c.rt)) return;
    let seed = 900;
    const check = async (label: string, body: () => Promise<Comparison[]>) =>
      c.run(SMATRIX_KERNEL, label, async () => {
        for (const r of await body()) c.record(SMATRIX_KERNEL, `${label}: ${r.what}`, r.got, r.want, r.tol);
      });
    for (const [i, shape] of SMATRIX_SHAPES.entries()) {
      for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
        const biasPer = (['col', 'row', null] as const)[i % 3];
        await check('product', () => smatrixProductCase(c.rt, shape, tA, tB, biasPer, i % 2 === 1, (seed += 4)));
      }
    }
    await check('batch', () => smatrixBatchCase(c.rt, (seed += 3)));
    await check('linear op', () => smatrixLinearCase(c.rt, (seed += 4)));
    for (const { s, tile } of SMATRIX_CONV_CASES) await check('conv gathered', () => smatrixConvCase(c.rt, s, tile, (seed += 3)));
    await check('conv op', () => smatrixConvOpCase(c.rt, (seed += 4)));
    await check('fit', async () => smatrixFitCase(c.rt));
  },
};
