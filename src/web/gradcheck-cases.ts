/**
 * The gradient-check suite that runs inside a browser tab (gradcheck.html): every kernel's op, forward
 * and backward, on the page's WebGPU adapter against the float64 references of src/reference/, at the
 * tolerances of src/reference/math.ts (relative L2 error ≤ 1e-5 elementwise, ≤ 1e-4 for reductions, matmul and conv);
 * and the references' own backwards against central finite differences (≤ 1e-6). Each output buffer is
 * NaN-poisoned before it is written (rt.poison), so an unwritten element fails.
 */
import { Tensor, type Shape } from '../autograd/tensor';
import type { GpuRuntime } from '../gpu/runtime';
import { add, mul, sum } from '../autograd/ops/basic';
import { linear, matmul } from '../autograd/ops/linear';
import { conv2d } from '../autograd/ops/conv';
import type { ConvOptions } from '../kernels/conv';
import { batchNorm, batchNormRelu } from '../autograd/ops/batchnorm';
import { adaptiveAvgPool2d, maxPool2d } from '../autograd/ops/pool';
import { relu } from '../autograd/ops/activation';
import { dropout, dropoutWithMask } from '../autograd/ops/dropout';
import { crossEntropy } from '../autograd/ops/loss';
import { SGD } from '../train/sgd';
import { type MatmulVariant, hasSubgroupMatmul, matmul as matmulKernel } from '../kernels/matmul';
import { sumAxisRef, zipRef } from '../reference/basic';
import { linearBackwardRef, linearRef, matmulBackwardRef, matmulRef } from '../reference/matmul';
import { conv2dBackwardRef, conv2dRef, convOutSize, type ConvShape } from '../reference/conv';
import { batchNormBackwardRef, batchNormRef, type BnRefOptions, type Nchw } from '../reference/batchnorm';
import { adaptiveAvgPool2dBackwardRef, adaptiveAvgPool2dRef, maxPool2dBackwardRef, maxPool2dRef } from '../reference/pool';
import { reluBackwardRef, reluRef } from '../reference/activation';
import { crossEntropyBackwardRef, crossEntropyRef } from '../reference/loss';
import { SgdRef } from '../reference/sgd';
import { TOL, distinctArray, finiteDiff, randomArray, relError, rng, weightedSum } from '../reference/math';

export { TOL, relError };

/** Every kernel family the suite must cover at least once; a family without a check counts as skipped. */
export const KERNELS = [
  'add', 'mul', 'sum', 'matmul', 'conv2d forward', 'conv2d dx', 'conv2d dw', 'batchNorm train forward', 'batchNorm train backward',
  'maxPool2d', 'adaptiveAvgPool2d', 'relu', 'dropout', 'crossEntropy', 'SGD step',
] as const;
export type Kernel = (typeof KERNELS)[number] | 'batchNorm eval' | 'reference' | 'memory';

export interface CheckResult {
  kernel: Kernel;
  name: string;
  /** Relative L2 error (Infinity on NaN, or when the case threw). */
  error: number;
  tol: number;
  ok: boolean;
  message?: string;
}


const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

// ---- The suite.

export class GradCheckSuite {
  readonly results: CheckResult[] = [];
  private live: Tensor[] = [];

  constructor(private readonly rt: GpuRuntime) {}

  private t(data: ArrayLike<number>, shape: Shape, grad = false): Tensor {
    const t = Tensor.fromArray(Float32Array.from(data), shape, 'f32', this.rt);
    this.live.push(t);
    return grad ? t.requireGrad() : t;
  }

  private track<T extends Tensor | null>(t: T): T {
    if (t) this.live.push(t);
    return t;
  }

  private record(kernel: Kernel, name: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
    const error = relError(got, want);
    this.results.push({ kernel, name, error, tol, ok: error <= tol });
  }

  private async compare(kernel: Kernel, name: string, t: Tensor | null, want: ArrayLike<number>, tol: number): Promise<void> {
    this.record(kernel, name, t ? await t.toArray() : [], want, tol);
  }

  /** Run one case; an exception fails it; every tensor it made is freed afterwards. */
  private async run(kernel: Kernel, name: string, body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (e) {
      this.results.push({ kernel, name, error: Infinity, tol: 0, ok: false, message: (e as Error).message });
    } finally {
      for (const t of this.live) if (!t.isDisposed) t.dispose();
      this.live = [];
    }
  }

  async runAll(onProgress: (r: CheckResult[]) => void = () => {}): Promise<CheckResult[]> {
    const live0 = this.rt.poolStats().liveBuffers;
    const groups = [
      () => this.references(),
      () => this.elementwise(),
      () => this.matmuls(),
      () => this.convolutions(),
      () => this.batchNorms(),
      () => this.pools(),
      () => this.dropouts(),
      () => this.crossEntropies(),
      () => this.sgd(),
    ];
    for (const g of groups) {
      await g();
      onProgress(this.results);
    }
    const leaked = this.rt.poolStats().liveBuffers - live0;
    this.results.push({ kernel: 'memory', name: 'no GPU buffer leaked by the suite', error: Math.abs(leaked), tol: 0, ok: leaked === 0 });
    return this.results;
  }

  /** The references' own backwards vs central finite differences, in float64. */
  private async references(): Promise<void> {
    await this.run('reference', 'conv2d reference backward vs finite differences (3×3 s2 p1)', async () => {
      const s: ConvShape = { N: 1, C: 2, H: 5, W: 4, O: 3, KH: 3, KW: 3, stride: 2, pad: 1 };
      const x = randomArray(s.N * s.C * s.H * s.W, 1);
      const w = randomArray(s.O * s.C * s.KH * s.KW, 2);
      const [OH, OW] = convOutSize(s);
      const dy = randomArray(s.N * s.O * OH * OW, 3);
      const g = conv2dBackwardRef(x, w, dy, s);
      this.record('reference', 'conv2d ref dx', g.dx, finiteDiff((v) => weightedSum(conv2dRef(v, w, null, s), dy), x), TOL.fd);
      this.record('reference', 'conv2d ref dw', g.dw, finiteDiff((v) => weightedSum(conv2dRef(x, v, null, s), dy), w), TOL.fd);
    });
    await this.run('reference', 'matmul reference backward vs finite differences', async () => {
      const [M, K, N] = [3, 5, 4];
      const a = randomArray(M * K, 4);
      const b = randomArray(K * N, 5);
      const g = randomArray(M * N, 6);
      const r = matmulBackwardRef(a, b, g, M, K, N);
      this.record('reference', 'matmul ref da', r.da, finiteDiff((v) => weightedSum(matmulRef(v, b, M, K, N), g), a), TOL.fd);
      this.record('reference', 'matmul ref db', r.db, finiteDiff((v) => weightedSum(matmulRef(a, v, M, K, N), g), b), TOL.fd);
    });
    await this.run('reference', 'batchNorm reference backward vs finite differences', async () => {
      const s: Nchw = [2, 3, 3, 2];
      const o: BnRefOptions = { training: true };
      const x = randomArray(numel(s), 7);
      const rm = new Float64Array(3);
      const rv = new Float64Array(3).fill(1);
      const w = randomArray(3, 8, 0.5, 1.5);
      const dy = randomArray(numel(s), 9);
      const g = batchNormBackwardRef(dy, x, s, batchNormRef(x, s, rm, rv, w, null, o), w, o);
      this.record('reference', 'batchNorm ref dx', g.dx, finiteDiff((v) => weightedSum(batchNormRef(v, s, rm, rv, w, null, o).y, dy), x), TOL.fd);
    });
    await this.run('reference', 'crossEntropy reference backward vs finite differences', async () => {
      const [n, c] = [3, 7];
      const x = randomArray(n * c, 10, -3, 3);
      const labels = [1, 6, 0];
      const g = crossEntropyBackwardRef(x, labels, n, c, 0.1, 'mean', 1);
      this.record('reference', 'crossEntropy ref dlogits', g, finiteDiff((v) => crossEntropyRef(v, labels, n, c, 0.1, 'mean') as number, x), TOL.fd);
    });
  }

  private async elementwise(): Promise<void> {
    await this.run('add', 'add [7,13]: y, da, db', async () => {
      const s = [7, 13];
      const av = randomArray(91, 11);
      const bv = randomArray(91, 12);
      const w = randomArray(91, 13);
      const a = this.t(av, s, true);
      const b = this.t(bv, s, true);
      const y = this.track(add(a, b));
      y.backward(this.t(w, s));
      await this.compare('add', 'add y', y, zipRef(av, bv, (p, q) => p + q), TOL.elementwise);
      await this.compare('add', 'add da', a.grad, w, TOL.elementwise);
      await this.compare('add', 'add db', b.grad, w, TOL.elementwise);
    });
    await this.run('mul', 'mul [33,7]: y, da, db', async () => {
      const s = [33, 7];
      const av = randomArray(231, 14);
      const bv = randomArray(231, 15);
      const w = randomArray(231, 16);
      const a = this.t(av, s, true);
      const b = this.t(bv, s, true);
      const y = this.track(mul(a, b));
      y.backward(this.t(w, s));
      await this.compare('mul', 'mul y', y, zipRef(av, bv, (p, q) => p * q), TOL.elementwise);
      await this.compare('mul', 'mul da = w·b', a.grad, zipRef(w, bv, (p, q) => p * q), TOL.elementwise);
      await this.compare('mul', 'mul db = w·a', b.grad, zipRef(w, av, (p, q) => p * q), TOL.elementwise);
    });
    await this.run('sum', 'sum over axis 1 of [7,13,5] and over all of [13,33]', async () => {
      const xv = randomArray(7 * 13 * 5, 17);
      const w = randomArray(35, 18);
      const x = this.t(xv, [7, 13, 5], true);
      const y = this.track(sum(x, 1));
      y.backward(this.t(w, [7, 5]));
      await this.compare('sum', 'sum(axis 1) y', y, sumAxisRef(xv, 7, 13, 5), TOL.reduction);
      const dx = new Float64Array(xv.length);
      for (let o = 0; o < 7; o++) for (let k = 0; k < 13; k++) for (let i = 0; i < 5; i++) dx[(o * 13 + k) * 5 + i] = w[o * 5 + i];
      await this.compare('sum', 'sum(axis 1) dx', x.grad, dx, TOL.reduction);
      const zv = randomArray(13 * 33, 19);
      const z = this.t(zv, [13, 33], true);
      const total = this.track(sum(z));
      total.backward(this.t([0.75], []));
      await this.compare('sum', 'sum(all) y', total, sumAxisRef(zv, 1, zv.length, 1), TOL.reduction);
      await this.compare('sum', 'sum(all) dx', z.grad, new Float64Array(zv.length).fill(0.75), TOL.reduction);
    });
    await this.run('relu', 'relu [7,13]: y, dx', async () => {
      const xv = randomArray(91, 20);
      const w = randomArray(91, 21);
      const x = this.t(xv, [7, 13], true);
      const y = this.track(relu(x));
      y.backward(this.t(w, [7, 13]));
      await this.compare('relu', 'relu y', y, reluRef(xv), TOL.elementwise);
      await this.compare('relu', 'relu dx', x.grad, reluBackwardRef(xv, w), TOL.elementwise);
    });
  }

  private async matmuls(): Promise<void> {
    // The ops above use this adapter's default matmul kernel; each kernel it can run is checked here directly.
    const variants: MatmulVariant[] = ['portable', 'vec4', ...(hasSubgroupMatmul(this.rt) ? ['subgroup' as const] : [])];
    for (const variant of variants) {
      await this.run('matmul', `matmul kernel '${variant}' [19,21]·[21,70] + bias per row`, async () => {
        const [M, K, N] = [19, 21, 70];
        const av = randomArray(M * K, 40);
        const bv = randomArray(K * N, 41);
        const biasv = randomArray(M, 42);
        const [A, B, bias] = [av, bv, biasv].map((v) => this.rt.upload(Float32Array.from(v)));
        const C = this.rt.alloc(M * N * 4);
        matmulKernel(this.rt, A, B, C, M, N, K, { variant, bias, biasPer: 'row' });
        const got = new Float32Array(await this.rt.read(C, M * N * 4));
        for (const buf of [A, B, bias, C]) this.rt.release(buf);
        this.record('matmul', `matmul kernel '${variant}'`, got, matmulRef(av, bv, M, K, N).map((v, i) => v + biasv[Math.floor(i / N)]), TOL.reduction);
      });
    }
    await this.run('matmul', 'matmul [7,13]·[13,33]: y, da, db', async () => {
      const [M, K, N] = [7, 13, 33];
      const av = randomArray(M * K, 22);
      const bv = randomArray(K * N, 23);
      const g = randomArray(M * N, 24);
      const a = this.t(av, [M, K], true);
      const b = this.t(bv, [K, N], true);
      const y = this.track(matmul(a, b));
      y.backward(this.t(g, [M, N]));
      const r = matmulBackwardRef(av, bv, g, M, K, N);
      await this.compare('matmul', 'matmul y', y, matmulRef(av, bv, M, K, N), TOL.reduction);
      await this.compare('matmul', 'matmul da', a.grad, r.da, TOL.reduction);
      await this.compare('matmul', 'matmul db', b.grad, r.db, TOL.reduction);
    });
    await this.run('matmul', 'linear [5,37]→[5,13] with bias (the fc layer): y, dx, dw, db', async () => {
      const [N, inF, outF] = [5, 37, 13];
      const xv = randomArray(N * inF, 25);
      const wv = randomArray(outF * inF, 26);
      const bv = randomArray(outF, 27);
      const g = randomArray(N * outF, 28);
      const x = this.t(xv, [N, inF], true);
      const w = this.t(wv, [outF, inF], true);
      const b = this.t(bv, [outF], true);
      const y = this.track(linear(x, w, b));
      y.backward(this.t(g, [N, outF]));
      const r = linearBackwardRef(xv, wv, g, N, inF, outF);
      await this.compare('matmul', 'linear y', y, linearRef(xv, wv, bv, N, inF, outF), TOL.reduction);
      await this.compare('matmul', 'linear dx', x.grad, r.dx, TOL.reduction);
      await this.compare('matmul', 'linear dw', w.grad, r.dw, TOL.reduction);
      await this.compare('matmul', 'linear db', b.grad, r.db, TOL.reduction);
    });
  }

  private async convolutions(): Promise<void> {
    // The configurations ResNet uses, plus a 1×1 output and a bias; 3×3 s1 p1 with each algorithm (Winograd
    // 4×4 in every pass is the default there, 2×2 the option, im2col what the others use on adapters without
    // subgroups).
    const cases: [string, ConvShape, boolean, ConvOptions?][] = [
      ['7×7 s2 p3 [1,3,13,13]→4', { N: 1, C: 3, H: 13, W: 13, O: 4, KH: 7, KW: 7, stride: 2, pad: 3 }, false],
      ['3×3 s1 p1 [2,5,7,7]→6 with bias (Winograd, default 4×4 tiles)', { N: 2, C: 5, H: 7, W: 7, O: 6, KH: 3, KW: 3, stride: 1, pad: 1 }, true],
      ['3×3 s1 p1 [2,5,7,7]→6 with bias (Winograd 2×2)', { N: 2, C: 5, H: 7, W: 7, O: 6, KH: 3, KW: 3, stride: 1, pad: 1 }, true, { winogradTile: 2 }],
      ['3×3 s1 p1 [2,5,7,7]→6 with bias (im2col)', { N: 2, C: 5, H: 7, W: 7, O: 6, KH: 3, KW: 3, stride: 1, pad: 1 }, true, { algorithm: 'im2col' }],
      ['3×3 s2 p1 [2,3,9,7]→5', { N: 2, C: 3, H: 9, W: 7, O: 5, KH: 3, KW: 3, stride: 2, pad: 1 }, false],
      ['1×1 s2 p0 [2,6,7,7]→5', { N: 2, C: 6, H: 7, W: 7, O: 5, KH: 1, KW: 1, stride: 2, pad: 0 }, false],
      ['3×3 s1 p0 to a 1×1 output [3,4,3,3]→7', { N: 3, C: 4, H: 3, W: 3, O: 7, KH: 3, KW: 3, stride: 1, pad: 0 }, true],
    ];
    let seed = 100;
    for (const [what, s, withBias, opts] of cases) {
      await this.run('conv2d forward', `conv2d ${what}`, async () => {
        const [OH, OW] = convOutSize(s);
        const xv = randomArray(s.N * s.C * s.H * s.W, seed++);
        const wv = randomArray(s.O * s.C * s.KH * s.KW, seed++);
        const bv = withBias ? randomArray(s.O, seed++) : null;
        const dy = randomArray(s.N * s.O * OH * OW, seed++);
        const x = this.t(xv, [s.N, s.C, s.H, s.W], true);
        const w = this.t(wv, [s.O, s.C, s.KH, s.KW], true);
        const b = bv ? this.t(bv, [s.O], true) : null;
        const y = this.track(conv2d(x, w, b, { stride: s.stride, padding: s.pad, ...opts }));
        y.backward(this.t(dy, [s.N, s.O, OH, OW]));
        const r = conv2dBackwardRef(xv, wv, dy, s);
        await this.compare('conv2d forward', `conv2d ${what}: y`, y, conv2dRef(xv, wv, bv, s), TOL.reduction);
        await this.compare('conv2d dx', `conv2d ${what}: dx`, x.grad, r.dx, TOL.reduction);
        await this.compare('conv2d dw', `conv2d ${what}: dw`, w.grad, r.dw, TOL.reduction);
        if (b) await this.compare('conv2d dw', `conv2d ${what}: db`, b.grad, r.db, TOL.reduction);
      });
    }
  }

  private async batchNorms(): Promise<void> {
    const cases: [string, Nchw, BnRefOptions][] = [
      ['training [2,3,7,7]', [2, 3, 7, 7], { training: true }],
      ['training + ReLU (fused) [3,5,5,3]', [3, 5, 5, 3], { training: true, relu: true }],
      ['training 1×1 spatial [7,3,1,1]', [7, 3, 1, 1], { training: true }],
      ['eval [2,5,3,3]', [2, 5, 3, 3], { training: false }],
    ];
    let seed = 200;
    for (const [what, s, o] of cases) {
      const fwdKernel: Kernel = o.training ? 'batchNorm train forward' : 'batchNorm eval';
      await this.run(fwdKernel, `batchNorm ${what}`, async () => {
        const C = s[1];
        const xv = randomArray(numel(s), seed++);
        const wv = randomArray(C, seed++, 0.5, 1.5);
        const bv = randomArray(C, seed++, -0.5, 0.5);
        const rmv = randomArray(C, seed++, -0.5, 0.5);
        const rvv = randomArray(C, seed++, 0.5, 2);
        const dy = randomArray(numel(s), seed++);
        const fwd = batchNormRef(xv, s, rmv, rvv, wv, bv, o);
        const ref = batchNormBackwardRef(dy, xv, s, fwd, wv, o);
        const x = this.t(xv, s, true);
        const w = this.t(wv, [C], true);
        const b = this.t(bv, [C], true);
        const rm = this.t(rmv, [C]);
        const rv = this.t(rvv, [C]);
        const y = this.track((o.relu ? batchNormRelu : batchNorm)(x, rm, rv, w, b, o.training, 0.1, 1e-5));
        y.backward(this.t(dy, s));
        const bwdKernel: Kernel = o.training ? 'batchNorm train backward' : 'batchNorm eval';
        await this.compare(fwdKernel, `batchNorm ${what}: y`, y, fwd.y, TOL.reduction);
        await this.compare(fwdKernel, `batchNorm ${what}: running mean`, rm, fwd.runningMean, TOL.reduction);
        await this.compare(fwdKernel, `batchNorm ${what}: running var`, rv, fwd.runningVar, TOL.reduction);
        await this.compare(bwdKernel, `batchNorm ${what}: dx`, x.grad, ref.dx, TOL.reduction);
        await this.compare(bwdKernel, `batchNorm ${what}: dweight`, w.grad, ref.dweight, TOL.reduction);
        await this.compare(bwdKernel, `batchNorm ${what}: dbias`, b.grad, ref.dbias, TOL.reduction);
      });
    }
  }

  private async pools(): Promise<void> {
    await this.run('maxPool2d', 'maxPool2d 3×3 s2 p1 [2,3,7,7] and [1,2,13,9]', async () => {
      for (const [s, seed] of [[[2, 3, 7, 7], 300], [[1, 2, 13, 9], 302]] as [Nchw, number][]) {
        const k = { kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 };
        const xv = distinctArray(numel(s), seed);
        const fwd = maxPool2dRef(xv, s, k);
        const dy = randomArray(fwd.y.length, seed + 1);
        const x = this.t(xv, s, true);
        const y = this.track(maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }));
        y.backward(this.t(dy, fwd.outShape));
        await this.compare('maxPool2d', `maxPool2d [${s}]: y`, y, fwd.y, TOL.elementwise);
        await this.compare('maxPool2d', `maxPool2d [${s}]: dx`, x.grad, maxPool2dBackwardRef(dy, fwd, s), TOL.reduction);
      }
    });
    await this.run('adaptiveAvgPool2d', 'adaptiveAvgPool2d [2,5,7,7]→1×1 and [1,2,13,11]→3×4', async () => {
      for (const [s, oh, ow, seed] of [[[2, 5, 7, 7], 1, 1, 310], [[1, 2, 13, 11], 3, 4, 312]] as [Nchw, number, number, number][]) {
        const xv = randomArray(numel(s), seed);
        const dy = randomArray(s[0] * s[1] * oh * ow, seed + 1);
        const x = this.t(xv, s, true);
        const y = this.track(adaptiveAvgPool2d(x, [oh, ow]));
        y.backward(this.t(dy, [s[0], s[1], oh, ow]));
        await this.compare('adaptiveAvgPool2d', `adaptiveAvgPool2d [${s}]→${oh}×${ow}: y`, y, adaptiveAvgPool2dRef(xv, s, oh, ow), TOL.reduction);
        await this.compare('adaptiveAvgPool2d', `adaptiveAvgPool2d [${s}]→${oh}×${ow}: dx`, x.grad, adaptiveAvgPool2dBackwardRef(dy, s, oh, ow), TOL.reduction);
      }
    });
  }

  /**
   * Dropout: y = x·mask/(1−p) and dx = dy·mask/(1−p) with the same mask. The seeded mask is read off y
   * (x has no zeros); the explicit-mask variant is checked against a given mask.
   */
  private async dropouts(): Promise<void> {
    await this.run('dropout', 'dropout p=0.3 seeded [13,33] and with a given mask [7,13]', async () => {
      const p = 0.3;
      const scale = 1 / (1 - p);
      const n = 13 * 33;
      const xv = randomArray(n, 320, 0.5, 2);
      const w = randomArray(n, 321);
      const x = this.t(xv, [13, 33], true);
      const y = this.track(dropout(x, p, true, 12345));
      y.backward(this.t(w, [13, 33]));
      const yv = await y.toArray();
      const mask = Float64Array.from(yv, (v) => (v !== 0 ? 1 : 0));
      const kept = mask.reduce((a, b) => a + b, 0) / n;
      this.results.push({ kernel: 'dropout', name: `dropout keeps a fraction ${kept.toFixed(3)} ≈ 1−p`, error: Math.abs(kept - (1 - p)), tol: 0.08, ok: Math.abs(kept - (1 - p)) <= 0.08 });
      this.record('dropout', 'dropout y', yv, Float64Array.from(xv, (v, i) => v * mask[i] * scale), TOL.elementwise);
      await this.compare('dropout', 'dropout dx (same mask)', x.grad, Float64Array.from(w, (v, i) => v * mask[i] * scale), TOL.elementwise);

      const m = Float64Array.from(randomArray(91, 322, 0, 1), (v) => (v < 0.5 ? 0 : 1));
      const x2v = randomArray(91, 323);
      const w2 = randomArray(91, 324);
      const x2 = this.t(x2v, [7, 13], true);
      const y2 = this.track(dropoutWithMask(x2, this.t(m, [7, 13]), 0.5));
      y2.backward(this.t(w2, [7, 13]));
      await this.compare('dropout', 'dropout(mask) y', y2, Float64Array.from(x2v, (v, i) => v * m[i] * 2), TOL.elementwise);
      await this.compare('dropout', 'dropout(mask) dx', x2.grad, Float64Array.from(w2, (v, i) => v * m[i] * 2), TOL.elementwise);
    });
  }

  private async crossEntropies(): Promise<void> {
    const cases: [number, number, number, 'mean' | 'sum' | 'none'][] = [
      [7, 37, 0.1, 'mean'],
      [1, 1000, 0, 'mean'],
      [13, 5, 0.25, 'none'],
    ];
    let seed = 400;
    for (const [n, c, eps, red] of cases) {
      await this.run('crossEntropy', `crossEntropy N=${n} C=${c} ε=${eps} ${red}`, async () => {
        const xv = randomArray(n * c, seed++, -4, 4);
        const r = rng(seed++);
        const labels = Int32Array.from({ length: n }, () => Math.floor(r() * c));
        const w = randomArray(red === 'none' ? n : 1, seed++, 0.5, 2);
        const x = this.t(xv, [n, c], true);
        const lab = this.track(Tensor.fromArray(labels, [n], 'i32', this.rt));
        const loss = this.track(crossEntropy(x, lab, { labelSmoothing: eps, reduction: red }));
        loss.backward(this.t(w, loss.shape));
        const want = crossEntropyRef(xv, labels, n, c, eps, red);
        await this.compare('crossEntropy', `crossEntropy N=${n} C=${c} ${red}: loss`, loss, typeof want === 'number' ? [want] : want, TOL.reduction);
        await this.compare('crossEntropy', `crossEntropy N=${n} C=${c} ${red}: dlogits`, x.grad, crossEntropyBackwardRef(xv, labels, n, c, eps, red, red === 'none' ? w : w[0]), TOL.reduction);
      });
    }
  }

  private async sgd(): Promise<void> {
    await this.run('SGD step', 'SGD 3 steps, momentum 0.9, weight decay 0.01, nesterov, lr changed', async () => {
      const shapes = [[7], [13, 3], [33, 5]];
      const ref = shapes.map((s, i) => randomArray(numel(s), 500 + i));
      const params = ref.map((v, i) => this.t(v, shapes[i]));
      const opts = { lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true };
      const opt = new SGD(params, opts);
      const refOpt = new SgdRef(ref.map((v) => Float64Array.from(v)), opts);
      try {
        for (let step = 0; step < 3; step++) {
          const lr = [0.1, 0.05, 0.2][step];
          opt.lr = lr;
          refOpt.lr = lr;
          const grads = shapes.map((s, i) => randomArray(numel(s), 600 + 10 * step + i, -2, 2));
          params.forEach((p, i) => {
            p.zeroGrad();
            p.grad = Tensor.fromArray(Float32Array.from(grads[i]), p.shape, 'f32', this.rt);
          });
          opt.step();
          refOpt.step(grads);
        }
        for (let i = 0; i < params.length; i++) await this.compare('SGD step', `SGD param ${i} [${shapes[i]}] after 3 steps`, params[i], refOpt.params[i], TOL.elementwise);
      } finally {
        for (const p of params) p.zeroGrad();
        opt.dispose();
      }
    });
  }
}
