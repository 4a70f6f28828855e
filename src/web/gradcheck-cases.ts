/**
 * The gradient-check suite that runs inside a browser tab (gradcheck.html): every kernel's op, forward
 * and backward, on the page's WebGPU adapter against the float64 references of src/reference/, over the same
 * cases as the vitest op tests (src/reference/cases.ts), at the tolerances of src/reference/math.ts (relative
 * L2 error ≤ 1e-5 elementwise, ≤ 1e-4 for reductions, matmul and conv); and the references' own backwards
 * against central finite differences (≤ 1e-6). Each output buffer is NaN-poisoned before it is written
 * (rt.poison), so an unwritten element fails.
 */
import { Tensor, type Shape } from '../autograd/tensor';
import type { GpuRuntime } from '../gpu/runtime';
import { binaryOp } from '../autograd/ops/binary';
import { mean, sum } from '../autograd/ops/reduce';
import { linear, matmul } from '../autograd/ops/linear';
import { conv2d } from '../autograd/ops/conv';
import { batchNorm, batchNormAddRelu, batchNormRelu } from '../autograd/ops/batchnorm';
import { adaptiveAvgPool2d, maxPool2d } from '../autograd/ops/pool';
import { unaryOp } from '../autograd/ops/unary';
import { dropout, dropoutWithMask } from '../autograd/ops/dropout';
import { crossEntropy } from '../autograd/ops/loss';
import { SGD } from '../train/sgd';
import { type MatmulVariant, hasSubgroupMatmul, matmul as matmulKernel } from '../kernels/matmul';
import { sumAxisRef } from '../reference/basic';
import { linearBackwardRef, linearRef, matmulBackwardRef, matmulRef } from '../reference/matmul';
import { conv2dBackwardRef, conv2dRef, convOutSize } from '../reference/conv';
import { batchNormBackwardRef, batchNormRef } from '../reference/batchnorm';
import { adaptiveAvgPool2dBackwardRef, adaptiveAvgPool2dRef, maxPool2dBackwardRef, maxPool2dRef } from '../reference/pool';
import { unaryBackwardRef, unaryRef } from '../reference/unary';
import { UNARY_OPS } from '../kernels/elementwise/unary_ops';
import { unaryCheckParams, unaryFdInputsOf, unaryInputs } from '../reference/unary_cases';
import { BINARY_OPS } from '../kernels/elementwise/binary_ops';
import { binaryBackwardRef, binaryRef } from '../reference/binary';
import { binaryFdPair, binaryGpuPair } from '../reference/binary_cases';
import { dropoutMaskRef, dropoutRef } from '../reference/dropout';
import { crossEntropyBackwardRef, crossEntropyRef } from '../reference/loss';
import { SgdRef } from '../reference/sgd';
import { PAGE_GROUPS } from './gradcheck/groups';
import type { PageChecks } from './gradcheck/api';
import { TOL, distinctArray, finiteDiff, randomArray, relError, weightedSum } from '../reference/math';
import {
  AVGPOOL_CASES, AVGPOOL_FD_CASES, BATCHNORM_ADD_RELU_CASES, BATCHNORM_CASES, BATCHNORM_FD_CASES, BATCHNORM_RELU_CASES,
  CONV_ALGORITHMS, CONV_CASES, CONV_FD_CASES, CROSS_ENTROPY_CASES, CROSS_ENTROPY_FD_CASES, DROPOUT_MASK_PS, DROPOUT_P,
  DROPOUT_SHAPES, ELEMENTWISE_SIZES, LINEAR_CASES, LINEAR_FD_CASE, MATMUL_FD_CASE, MATMUL_OP_CASES, MATMUL_SIZES,
  MAXPOOL_CASES, MAXPOOL_FD_CASES, REDUCE_CASES, SGD_COMBOS, SGD_LRS, SGD_SHAPES,
  type BatchNormCase, type ConvAlgorithmCase, batchNormInputs, batchNormRefOptions, convAlgorithmComputes, numel,
  randomLabels, reduceLayout, sgdParams, sgdStepGrads, sgdValid, UNARY_FD_SIZE, UNARY_SHAPES, unaryFdInputs, BINARY_FD_SIZE, binaryFdInputs,
} from '../reference/cases';

export { TOL, relError };
export type { PageChecks, PageCheckGroup } from './gradcheck/api';

/** Every kernel family the suite must cover at least once; a family without a check counts as skipped. */
export const KERNELS: readonly string[] = [
  ...BINARY_OPS.map((s) => s.name), 'sum', 'matmul', 'conv2d forward', 'conv2d dx', 'conv2d dw', 'batchNorm train forward', 'batchNorm train backward',
  'maxPool2d', 'adaptiveAvgPool2d', ...UNARY_OPS.map((s) => s.name), 'dropout', 'crossEntropy', 'SGD step',
  ...PAGE_GROUPS.flatMap((g) => g.kernels),
];
/** The kernels of KERNELS that this adapter does not offer (see PageCheckGroup.notOffered). */
export function kernelsNotOffered(rt: GpuRuntime): string[] {
  return PAGE_GROUPS.flatMap((g) => g.notOffered?.(rt) ?? []);
}

/** The kernels of KERNELS without a check in `checks`, less those the adapter does not offer: skipped. */
export function skippedKernels(rt: GpuRuntime, checks: readonly { kernel: string }[]): string[] {
  const notOffered = new Set(kernelsNotOffered(rt));
  return KERNELS.filter((k) => !notOffered.has(k) && !checks.some((c) => c.kernel === k));
}

/** A kernel family's name as reported (KERNELS, a plug-in group's kernels, 'reference', 'memory', …). */
export type Kernel = string;

export interface CheckResult {
  kernel: Kernel;
  name: string;
  /** Relative L2 error (Infinity on NaN, or when the case threw). */
  error: number;
  tol: number;
  ok: boolean;
  message?: string;
}



// ---- The suite.

export class GradCheckSuite implements PageChecks {
  readonly results: CheckResult[] = [];
  private live: Tensor[] = [];

  constructor(readonly rt: GpuRuntime) {}

  t(data: ArrayLike<number>, shape: Shape, grad = false): Tensor {
    const t = Tensor.fromArray(Float32Array.from(data), shape, 'f32', this.rt);
    this.live.push(t);
    return grad ? t.requireGrad() : t;
  }

  track<T extends Tensor | null>(t: T): T {
    if (t) this.live.push(t);
    return t;
  }

  record(kernel: Kernel, name: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
    const error = relError(got, want);
    this.results.push({ kernel, name, error, tol, ok: error <= tol });
  }

  async compare(kernel: Kernel, name: string, t: Tensor | null, want: ArrayLike<number>, tol: number): Promise<void> {
    this.record(kernel, name, t ? await t.toArray() : [], want, tol);
  }

  /** Run one case; an exception fails it; every tensor it made is freed afterwards. */
  async run(kernel: Kernel, name: string, body: () => Promise<void>): Promise<void> {
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
      ...PAGE_GROUPS.map((g) => () => g.run(this)),
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
    let seed = 1;
    const fresh = (n: number, lo = -1, hi = 1) => randomArray(n, seed++, lo, hi);
    for (const s of CONV_FD_CASES) {
      await this.run('reference', `conv2d reference backward vs finite differences ${JSON.stringify(s)}`, async () => {
        const [OH, OW] = convOutSize(s);
        const [x, w, b, dy] = [fresh(s.N * s.C * s.H * s.W), fresh(s.O * s.C * s.KH * s.KW), fresh(s.O), fresh(s.N * s.O * OH * OW)];
        const g = conv2dBackwardRef(x, w, dy, s);
        const what = `conv2d ref ${s.KH}×${s.KW} s${s.stride} p${s.pad}`;
        this.record('reference', `${what} dx`, g.dx, finiteDiff((v) => weightedSum(conv2dRef(v, w, b, s), dy), x), TOL.fd);
        this.record('reference', `${what} dw`, g.dw, finiteDiff((v) => weightedSum(conv2dRef(x, v, b, s), dy), w), TOL.fd);
        this.record('reference', `${what} db`, g.db, finiteDiff((v) => weightedSum(conv2dRef(x, w, v, s), dy), b), TOL.fd);
      });
    }
    await this.run('reference', 'matmul and linear reference backwards vs finite differences', async () => {
      const { M, K, N } = MATMUL_FD_CASE;
      const [a, b, g] = [fresh(M * K), fresh(K * N), fresh(M * N)];
      const r = matmulBackwardRef(a, b, g, M, K, N);
      this.record('reference', 'matmul ref da', r.da, finiteDiff((v) => weightedSum(matmulRef(v, b, M, K, N), g), a), TOL.fd);
      this.record('reference', 'matmul ref db', r.db, finiteDiff((v) => weightedSum(matmulRef(a, v, M, K, N), g), b), TOL.fd);
      const l = LINEAR_FD_CASE;
      const [x, w, bias, gy] = [fresh(l.N * l.inF), fresh(l.outF * l.inF), fresh(l.outF), fresh(l.N * l.outF)];
      const lr = linearBackwardRef(x, w, gy, l.N, l.inF, l.outF);
      const loss = (xx: Float64Array, ww: Float64Array, bb: Float64Array) => weightedSum(linearRef(xx, ww, bb, l.N, l.inF, l.outF), gy);
      this.record('reference', 'linear ref dx', lr.dx, finiteDiff((v) => loss(v, w, bias), x), TOL.fd);
      this.record('reference', 'linear ref dw', lr.dw, finiteDiff((v) => loss(x, v, bias), w), TOL.fd);
      this.record('reference', 'linear ref db', lr.db, finiteDiff((v) => loss(x, w, v), bias), TOL.fd);
    });
    for (const k of BATCHNORM_FD_CASES) {
      await this.run('reference', `batchNorm reference backward vs finite differences ${JSON.stringify(k)}`, async () => {
        const v = batchNormInputs(k);
        const o = batchNormRefOptions(k);
        const C = k.shape[1];
        const w0 = v.weight ?? new Float64Array(C).fill(1);
        const b0 = v.bias ?? new Float64Array(C);
        const loss = (x: Float64Array, w: ArrayLike<number> | null, b: ArrayLike<number> | null, r = v.residual) =>
          weightedSum(batchNormRef(x, k.shape, v.runningMean, v.runningVar, w, b, { ...o, residual: r }).y, v.dy);
        const g = batchNormBackwardRef(v.dy, v.x, k.shape, batchNormRef(v.x, k.shape, v.runningMean, v.runningVar, v.weight, v.bias, o), v.weight, o);
        const what = `batchNorm ref [${k.shape}]${k.training ? ' training' : ' eval'}${k.relu ? ' relu' : ''}${k.residual ? ' residual' : ''}`;
        this.record('reference', `${what} dx`, g.dx, finiteDiff((x) => loss(x, v.weight, v.bias), v.x), TOL.fd);
        this.record('reference', `${what} dweight`, g.dweight, finiteDiff((w) => loss(v.x, w, v.bias), w0), TOL.fd);
        this.record('reference', `${what} dbias`, g.dbias, finiteDiff((b) => loss(v.x, w0, b), b0), TOL.fd);
        if (v.residual) this.record('reference', `${what} dresidual`, g.dresidual, finiteDiff((r) => loss(v.x, v.weight, v.bias, r), v.residual), TOL.fd);
      });
    }
    for (const [s, k] of MAXPOOL_FD_CASES) {
      await this.run('reference', `maxPool2d reference backward vs finite differences [${s}]`, async () => {
        const x = distinctArray(numel(s), seed++);
        const fwd = maxPool2dRef(x, s, k);
        const w = fresh(fwd.y.length);
        this.record('reference', `maxPool2d ref [${s}] dx`, maxPool2dBackwardRef(w, fwd, s), finiteDiff((xx) => weightedSum(maxPool2dRef(xx, s, k).y, w), x), TOL.fd);
      });
    }
    for (const [s, [oh, ow]] of AVGPOOL_FD_CASES) {
      await this.run('reference', `adaptiveAvgPool2d reference backward vs finite differences [${s}]→${oh}×${ow}`, async () => {
        const [x, w] = [fresh(numel(s)), fresh(s[0] * s[1] * oh * ow)];
        this.record('reference', `adaptiveAvgPool2d ref [${s}]→${oh}×${ow} dx`, adaptiveAvgPool2dBackwardRef(w, s, oh, ow), finiteDiff((xx) => weightedSum(adaptiveAvgPool2dRef(xx, s, oh, ow), w), x), TOL.fd);
      });
    }
    for (const [eps, red] of CROSS_ENTROPY_FD_CASES) {
      await this.run('reference', `crossEntropy reference backward vs finite differences ε=${eps} ${red}`, async () => {
        const [n, c] = [3, 7];
        const x = fresh(n * c, -3, 3);
        const labels = randomLabels(n, c, seed++);
        const w = fresh(red === 'none' ? n : 1);
        const objective = (v: Float64Array) => {
          const l = crossEntropyRef(v, labels, n, c, eps, red);
          return typeof l === 'number' ? w[0] * l : weightedSum(l, w);
        };
        this.record('reference', `crossEntropy ref ε=${eps} ${red} dlogits`, crossEntropyBackwardRef(x, labels, n, c, eps, red, red === 'none' ? w : w[0]), finiteDiff(objective, x), TOL.fd);
      });
    }
    for (const spec of BINARY_OPS) {
      await this.run('reference', `${spec.name} reference backward vs finite differences`, async () => {
        const [a, b] = binaryFdPair(spec, BINARY_FD_SIZE, seed++);
        const w = fresh(BINARY_FD_SIZE);
        const [da, db] = binaryBackwardRef(spec.name, a, b, w);
        this.record('reference', `${spec.name} ref da`, da, finiteDiff((v) => weightedSum(binaryRef(spec.name, v, b), w), a), TOL.fd);
        this.record('reference', `${spec.name} ref db`, db, finiteDiff((v) => weightedSum(binaryRef(spec.name, a, v), w), b), TOL.fd);
      });
    }
    for (const spec of UNARY_OPS) {
      await this.run('reference', `${spec.name} reference backward vs finite differences`, async () => {
        const [x, w, p] = [unaryFdInputsOf(spec, UNARY_FD_SIZE, seed++), fresh(UNARY_FD_SIZE), unaryCheckParams(spec)];
        const fd = finiteDiff((v) => weightedSum(unaryRef(spec.name, v, p), w), x);
        this.record('reference', `${spec.name} ref dx`, unaryBackwardRef(spec.name, x, w, p), fd, TOL.fd);
      });
    }
  }

  private async elementwise(): Promise<void> {
    let seed = 10;
    // Every binary op declared in kernels/elementwise/binary_ops.ts (add, sub, mul, div, pow, maximum, minimum), same shapes.
    for (const spec of BINARY_OPS) {
      const name = spec.name;
      for (const n of ELEMENTWISE_SIZES) {
        await this.run(name, `${name} [${n}]: y, da, db`, async () => {
          const [av, bv] = binaryGpuPair(spec, n, seed++); // in the op's domain, with ties
          const w = randomArray(n, seed++);
          const a = this.t(av, [n], true);
          const b = this.t(bv, [n], true);
          const y = this.track(binaryOp(name)(a, b));
          y.backward(this.t(w, [n]));
          const [da, db] = binaryBackwardRef(name, av, bv, w);
          await this.compare(name, `${name} [${n}] y`, y, binaryRef(name, av, bv), TOL.elementwise);
          await this.compare(name, `${name} [${n}] da`, a.grad, da, TOL.elementwise);
          await this.compare(name, `${name} [${n}] db`, b.grad, db, TOL.elementwise);
        });
      }
    }
    for (const which of ['sum', 'mean'] as const) {
      for (const [shape, axis] of REDUCE_CASES) {
        const what = `${which} of [${shape}] over ${axis === undefined ? 'all' : `axis ${axis}`}`;
        await this.run('sum', what, async () => {
          const { outer, len, inner, outShape } = reduceLayout(shape, axis);
          const k = which === 'mean' ? 1 / len : 1;
          const xv = randomArray(numel(shape), seed++);
          const want = sumAxisRef(xv, outer, len, inner, k);
          const w = randomArray(want.length, seed++);
          const x = this.t(xv, shape, true);
          const y = this.track(which === 'sum' ? sum(x, axis) : mean(x, axis));
          y.backward(this.t(w, outShape));
          await this.compare('sum', `${what}: y`, y, want, TOL.reduction);
          await this.compare('sum', `${what}: dx`, x.grad, Float64Array.from(xv, (_, j) => w[Math.floor(j / (len * inner)) * inner + (j % inner)] * k), TOL.elementwise);
        });
      }
    }
    // Every unary op declared in kernels/elementwise/unary_ops.ts, over every shape (in its domain, with its check parameters).
    for (const spec of UNARY_OPS) {
      for (const shape of UNARY_SHAPES) {
        const name = spec.name;
        await this.run(name, `${name} [${shape}]: y, dx`, async () => {
          const n = numel(shape);
          const [xv, w, p] = [unaryInputs(spec, n, seed++), randomArray(n, seed++), unaryCheckParams(spec)];
          const x = this.t(xv, shape, true);
          const y = this.track(unaryOp(name, p)(x));
          y.backward(this.t(w, shape));
          await this.compare(name, `${name} [${shape}] y`, y, unaryRef(name, xv, p), TOL.elementwise);
          await this.compare(name, `${name} [${shape}] dx`, x.grad, unaryBackwardRef(name, xv, w, p), TOL.elementwise);
        });
      }
    }
  }

  private async matmuls(): Promise<void> {
    let seed = 40;
    // The ops use this adapter's default matmul kernel; each kernel it can run is checked here directly.
    const variants: MatmulVariant[] = ['portable', 'vec4', ...(hasSubgroupMatmul(this.rt) ? ['subgroup' as const] : [])];
    for (const variant of variants) {
      for (const [M, N, K] of MATMUL_SIZES) {
        await this.run('matmul', `matmul kernel '${variant}' [${M},${K}]·[${K},${N}] + bias per row`, async () => {
          const [av, bv, biasv] = [randomArray(M * K, seed++), randomArray(K * N, seed++), randomArray(M, seed++)];
          const [A, B, bias] = [av, bv, biasv].map((v) => this.rt.upload(Float32Array.from(v)));
          const C = this.rt.alloc(M * N * 4);
          try {
            matmulKernel(this.rt, A, B, C, M, N, K, { variant, bias, biasPer: 'row' });
            const got = new Float32Array(await this.rt.read(C, M * N * 4));
            this.record('matmul', `matmul kernel '${variant}' M=${M} N=${N} K=${K}`, got, matmulRef(av, bv, M, K, N).map((v, i) => v + biasv[Math.floor(i / N)]), TOL.reduction);
          } finally {
            for (const buf of [A, B, bias, C]) this.rt.release(buf);
          }
        });
      }
    }
    for (const [M, K, N] of MATMUL_OP_CASES) {
      await this.run('matmul', `matmul [${M},${K}]·[${K},${N}]: y, da, db`, async () => {
        const [av, bv, g] = [randomArray(M * K, seed++), randomArray(K * N, seed++), randomArray(M * N, seed++)];
        const a = this.t(av, [M, K], true);
        const b = this.t(bv, [K, N], true);
        const y = this.track(matmul(a, b));
        y.backward(this.t(g, [M, N]));
        const r = matmulBackwardRef(av, bv, g, M, K, N);
        const what = `matmul [${M},${K}]·[${K},${N}]`;
        await this.compare('matmul', `${what} y`, y, matmulRef(av, bv, M, K, N), TOL.reduction);
        await this.compare('matmul', `${what} da`, a.grad, r.da, TOL.reduction);
        await this.compare('matmul', `${what} db`, b.grad, r.db, TOL.reduction);
      });
    }
    for (const [N, inF, outF, withBias] of LINEAR_CASES) {
      const what = `linear [${N},${inF}]→[${N},${outF}]${withBias ? ' with bias' : ''}`;
      await this.run('matmul', `${what}: y, dx, dw, db`, async () => {
        const [xv, wv, g] = [randomArray(N * inF, seed++), randomArray(outF * inF, seed++), randomArray(N * outF, seed++)];
        const bv = withBias ? randomArray(outF, seed++) : null;
        const x = this.t(xv, [N, inF], true);
        const w = this.t(wv, [outF, inF], true);
        const b = bv ? this.t(bv, [outF], true) : null;
        const y = this.track(linear(x, w, b));
        y.backward(this.t(g, [N, outF]));
        const r = linearBackwardRef(xv, wv, g, N, inF, outF);
        await this.compare('matmul', `${what} y`, y, linearRef(xv, wv, bv, N, inF, outF), TOL.reduction);
        await this.compare('matmul', `${what} dx`, x.grad, r.dx, TOL.reduction);
        await this.compare('matmul', `${what} dw`, w.grad, r.dw, TOL.reduction);
        if (b) await this.compare('matmul', `${what} db`, b.grad, r.db, TOL.reduction);
      });
    }
  }

  private async convolutions(): Promise<void> {
    // Every case with the adapter's default algorithm, then with each algorithm this adapter runs (implicit GEMM
    // needs fixed-width subgroups) on the cases it computes. Bias on every other case.
    const algorithms: [string, ConvAlgorithmCase | undefined][] = [
      ['default', undefined],
      ...CONV_ALGORITHMS.filter(([, o]) => o.algorithm !== 'implicit' || hasSubgroupMatmul(this.rt)),
    ];
    let seed = 100;
    for (const [algorithm, opts] of algorithms) {
      for (const [i, [name, s]] of CONV_CASES.entries()) {
        if (opts && !convAlgorithmComputes(opts, s)) continue;
        const withBias = i % 2 === 0;
        const what = `conv2d ${name}${withBias ? ' with bias' : ''} (${algorithm})`;
        await this.run('conv2d forward', what, async () => {
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
          await this.compare('conv2d forward', `${what}: y`, y, conv2dRef(xv, wv, bv, s), TOL.reduction);
          await this.compare('conv2d dx', `${what}: dx`, x.grad, r.dx, TOL.reduction);
          await this.compare('conv2d dw', `${what}: dw`, w.grad, r.dw, TOL.reduction);
          if (b) await this.compare('conv2d dw', `${what}: db`, b.grad, r.db, TOL.reduction);
        });
      }
    }
  }

  private async batchNorms(): Promise<void> {
    const groups: [string, [string, BatchNormCase][]][] = [
      ['batchNorm', BATCHNORM_CASES],
      ['batchNormRelu', BATCHNORM_RELU_CASES],
      ['batchNormAddRelu', BATCHNORM_ADD_RELU_CASES],
    ];
    for (const [op, cases] of groups) {
      for (const [name, k] of cases) {
        const fwdKernel: Kernel = k.training ? 'batchNorm train forward' : 'batchNorm eval';
        const bwdKernel: Kernel = k.training ? 'batchNorm train backward' : 'batchNorm eval';
        const what = `${op} ${name}`;
        await this.run(fwdKernel, what, async () => {
          const v = batchNormInputs(k);
          const o = batchNormRefOptions(k);
          const fwd = batchNormRef(v.x, k.shape, v.runningMean, v.runningVar, v.weight, v.bias, o);
          const ref = batchNormBackwardRef(v.dy, v.x, k.shape, fwd, v.weight, o);
          const C = k.shape[1];
          const xGrad = k.xGrad ?? true;
          const x = this.t(v.x, k.shape, xGrad);
          const affineGrad = k.affineGrad ?? true;
          const w = v.weight ? this.t(v.weight, [C], affineGrad) : null;
          const b = v.bias ? this.t(v.bias, [C], affineGrad) : null;
          const rm = this.t(v.runningMean, [C]);
          const rv = this.t(v.runningVar, [C]);
          const r = v.residual ? this.t(v.residual, k.shape, true) : null;
          const y = this.track(
            r ? batchNormAddRelu(x, r, rm, rv, w, b, k.training, k.momentum, k.eps) : (k.relu ? batchNormRelu : batchNorm)(x, rm, rv, w, b, k.training, k.momentum, k.eps),
          );
          y.backward(this.t(v.dy, k.shape));
          await this.compare(fwdKernel, `${what}: y`, y, fwd.y, TOL.reduction);
          await this.compare(fwdKernel, `${what}: running mean`, rm, fwd.runningMean, TOL.reduction);
          await this.compare(fwdKernel, `${what}: running var`, rv, fwd.runningVar, TOL.reduction);
          if (xGrad) await this.compare(bwdKernel, `${what}: dx`, x.grad, ref.dx, TOL.reduction);
          if (w && affineGrad) await this.compare(bwdKernel, `${what}: dweight`, w.grad, ref.dweight, TOL.reduction);
          if (b && affineGrad) await this.compare(bwdKernel, `${what}: dbias`, b.grad, ref.dbias, TOL.reduction);
          if (r) await this.compare(bwdKernel, `${what}: dresidual`, r.grad, ref.dresidual, TOL.elementwise);
        });
      }
    }
  }

  private async pools(): Promise<void> {
    let seed = 300;
    for (const [name, s, k] of MAXPOOL_CASES) {
      await this.run('maxPool2d', `maxPool2d ${name}`, async () => {
        const xv = distinctArray(numel(s), seed++);
        const fwd = maxPool2dRef(xv, s, k);
        const dy = randomArray(fwd.y.length, seed++);
        const x = this.t(xv, s, true);
        const y = this.track(maxPool2d(x, { kernelSize: [k.kh, k.kw], stride: [k.sh, k.sw], padding: [k.ph, k.pw] }));
        y.backward(this.t(dy, fwd.outShape));
        await this.compare('maxPool2d', `maxPool2d ${name}: y`, y, fwd.y, TOL.elementwise);
        await this.compare('maxPool2d', `maxPool2d ${name}: dx`, x.grad, maxPool2dBackwardRef(dy, fwd, s), TOL.elementwise);
      });
    }
    for (const [name, s, size] of AVGPOOL_CASES) {
      await this.run('adaptiveAvgPool2d', `adaptiveAvgPool2d ${name}`, async () => {
        const [oh, ow] = typeof size === 'number' ? [size, size] : size;
        const xv = randomArray(numel(s), seed++);
        const dy = randomArray(s[0] * s[1] * oh * ow, seed++);
        const x = this.t(xv, s, true);
        const y = this.track(adaptiveAvgPool2d(x, size));
        y.backward(this.t(dy, [s[0], s[1], oh, ow]));
        await this.compare('adaptiveAvgPool2d', `adaptiveAvgPool2d ${name}: y`, y, adaptiveAvgPool2dRef(xv, s, oh, ow), TOL.reduction);
        await this.compare('adaptiveAvgPool2d', `adaptiveAvgPool2d ${name}: dx`, x.grad, adaptiveAvgPool2dBackwardRef(dy, s, oh, ow), TOL.reduction);
      });
    }
  }

  /** Dropout: y = x·mask/(1−p) and dx = dy·mask/(1−p), the seeded mask known element by element (src/reference/dropout.ts). */
  private async dropouts(): Promise<void> {
    let seed = 320;
    for (const shape of DROPOUT_SHAPES) {
      await this.run('dropout', `dropout [${shape}] p=${DROPOUT_P} seeded: y, dx`, async () => {
        const n = numel(shape);
        const [xv, w] = [randomArray(n, seed++), randomArray(n, seed++)];
        const mask = dropoutMaskRef(n, DROPOUT_P, 9000 + n);
        const x = this.t(xv, shape, true);
        const y = this.track(dropout(x, DROPOUT_P, true, 9000 + n));
        y.backward(this.t(w, shape));
        await this.compare('dropout', `dropout [${shape}] y`, y, dropoutRef(xv, mask, DROPOUT_P), TOL.elementwise);
        await this.compare('dropout', `dropout [${shape}] dx (same mask)`, x.grad, dropoutRef(w, mask, DROPOUT_P), TOL.elementwise);
      });
    }
    for (const p of DROPOUT_MASK_PS) {
      await this.run('dropout', `dropout with a given mask, p=${p}: y, dx`, async () => {
        const shape = [2, 13, 3];
        const n = numel(shape);
        const m = Float64Array.from(randomArray(n, seed++, 0, 1), (v) => (v < 0.5 ? 0 : 1));
        const [xv, w] = [randomArray(n, seed++), randomArray(n, seed++)];
        const x = this.t(xv, shape, true);
        const y = this.track(dropoutWithMask(x, this.t(m, shape), p));
        y.backward(this.t(w, shape));
        await this.compare('dropout', `dropout(mask, p=${p}) y`, y, dropoutRef(xv, m, p), TOL.elementwise);
        await this.compare('dropout', `dropout(mask, p=${p}) dx`, x.grad, dropoutRef(w, m, p), TOL.elementwise);
      });
    }
  }

  private async crossEntropies(): Promise<void> {
    let seed = 400;
    for (const [n, c, eps, red] of CROSS_ENTROPY_CASES) {
      await this.run('crossEntropy', `crossEntropy N=${n} C=${c} ε=${eps} ${red}`, async () => {
        const xv = randomArray(n * c, seed++, -4, 4);
        const labels = randomLabels(n, c, seed++);
        const w = randomArray(red === 'none' ? n : 1, seed++, 0.5, 2);
        const x = this.t(xv, [n, c], true);
        const lab = this.track(Tensor.fromArray(labels, [n], 'i32', this.rt));
        const loss = this.track(crossEntropy(x, lab, { labelSmoothing: eps, reduction: red }));
        loss.backward(this.t(w, loss.shape));
        const want = crossEntropyRef(xv, labels, n, c, eps, red);
        await this.compare('crossEntropy', `crossEntropy N=${n} C=${c} ε=${eps} ${red}: loss`, loss, typeof want === 'number' ? [want] : want, TOL.reduction);
        await this.compare('crossEntropy', `crossEntropy N=${n} C=${c} ε=${eps} ${red}: dlogits`, x.grad, crossEntropyBackwardRef(xv, labels, n, c, eps, red, red === 'none' ? w : w[0]), TOL.reduction);
      });
    }
  }

  /** SGD against torch.optim.SGD's update: every valid option combination, the steps' learning rates, a parameter without a gradient on some steps. */
  private async sgd(): Promise<void> {
    for (const opts of SGD_COMBOS.filter(sgdValid)) {
      const what = `SGD momentum ${opts.momentum} dampening ${opts.dampening} weight decay ${opts.weightDecay} nesterov ${opts.nesterov}`;
      await this.run('SGD step', `${what}: ${SGD_LRS.length} steps`, async () => {
        const ref = sgdParams(500);
        const params = ref.map((v, i) => this.t(v, SGD_SHAPES[i]));
        const opt = new SGD(params, opts);
        const refOpt = new SgdRef(ref.map((v) => Float64Array.from(v)), opts);
        try {
          for (let step = 0; step < SGD_LRS.length; step++) {
            opt.lr = SGD_LRS[step];
            refOpt.lr = SGD_LRS[step];
            const grads = sgdStepGrads(step);
            params.forEach((p, i) => {
              p.zeroGrad();
              const g = grads[i];
              if (g) p.grad = Tensor.fromArray(Float32Array.from(g), p.shape, 'f32', this.rt);
            });
            opt.step();
            refOpt.step(grads);
          }
          for (let i = 0; i < params.length; i++) await this.compare('SGD step', `${what}: param ${i} [${SGD_SHAPES[i]}]`, params[i], refOpt.params[i], TOL.elementwise);
        } finally {
          for (const p of params) p.zeroGrad();
          opt.dispose();
        }
      });
    }
  }
}
