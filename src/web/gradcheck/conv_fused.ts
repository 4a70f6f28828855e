/**
 * The page's checks of the work fused into a convolution's output (kernels/conv: ConvEpilogue), against float64
 * references: inference's convolution + batch norm (+ residual) (+ ReLU) (conv2dBatchNormEval: the batch norm
 * folded in by kernels/batchnorm/fold.wgsl) by each algorithm that fuses it, the data gradient added into an
 * existing gradient (a residual join) by every algorithm, and the subgroup kernel's GEMM epilogue.
 * test/conv_bn_fused.test.ts runs the same case functions.
 */
import { Tensor } from '../../autograd/tensor';
import type { GpuRuntime } from '../../gpu/runtime';
import { conv2dBatchNormEval, conv2dBatchNormFuses } from '../../autograd/ops/conv';
import { noGrad } from '../../autograd/scope';
import { conv2dBackwardData, conv2dGeometry } from '../../kernels/conv';
import { hasSubgroupMatmul } from '../../kernels/matmul';
import { conv2dBackwardRef, conv2dRef, convOutSize, type ConvShape } from '../../reference/conv';
import { CONV_ALGORITHMS, CONV_CASES, type ConvAlgorithmCase, convAlgorithmComputes } from '../../reference/cases';
import { TILED_EPILOGUE_CASES } from '../../reference/matmul_tiled_cases';
import { TOL, randomArray } from '../../reference/math';
import type { PageCheckGroup, PageChecks } from './api';
import { type Comparison, tiledEpilogueCase } from './matmul_tiled';

/** The parts of one fused case. */
export interface FusedParts {
  convBias: boolean;
  residual: boolean;
  relu: boolean;
  /** The batch norm's γ and β (else 1 and 0). */
  affine: boolean;
}

/** The algorithms that fuse the batch norm into the convolution (implicit GEMM where the adapter runs it). */
export function fusingAlgorithms(rt: GpuRuntime): [string, ConvAlgorithmCase][] {
  return [
    ['winograd 4x4', { algorithm: 'winograd', winogradTile: 4 }],
    ['winograd 2x2', { algorithm: 'winograd', winogradTile: 2 }],
    ...(hasSubgroupMatmul(rt) ? ([['implicit', { algorithm: 'implicit' }]] as [string, ConvAlgorithmCase][]) : []),
  ];
}

/** The cases an algorithm fuses: those it computes, less 1×1 stride-1 convolutions (they take im2col). */
export function fusedCases(alg: ConvAlgorithmCase): [string, ConvShape][] {
  return CONV_CASES.filter(([, s]) => convAlgorithmComputes(alg, s) && !(s.KH === 1 && s.KW === 1 && s.stride === 1 && s.pad === 0));
}

/** The parts of case i: alternating conv bias, residual, ReLU and affine parameters. */
export function fusedParts(i: number): FusedParts {
  const residual = i % 3 !== 1;
  return { convBias: i % 2 === 0, residual, relu: residual || i % 2 === 1, affine: i % 4 !== 3 };
}

/** max(γ·(conv + b − μ)/√(σ² + ε) + β (+ residual), 0) in float64. */
export function convBatchNormRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, s: ConvShape, bn: { mean: ArrayLike<number>; variance: ArrayLike<number>; gamma: ArrayLike<number>; beta: ArrayLike<number>; eps: number }, res: ArrayLike<number> | null, relu: boolean): Float64Array {
  const y = conv2dRef(x, w, b, s);
  const [OH, OW] = convOutSize(s);
  const hw = OH * OW;
  return y.map((v, i) => {
    const o = Math.floor(i / hw) % s.O;
    const t = (bn.gamma[o] * (v - bn.mean[o])) / Math.sqrt(bn.variance[o] + bn.eps) + bn.beta[o] + (res ? res[i] : 0);
    return relu ? Math.max(t, 0) : t;
  });
}

/**
 * conv2dBatchNormEval by `alg` against convBatchNormRef, plus the op names it dispatched (the caller checks that
 * no batch norm pass ran but the fold).
 */
export async function fusedConvCase(rt: GpuRuntime, s: ConvShape, alg: ConvAlgorithmCase, parts: FusedParts, seed: number): Promise<{ comparisons: Comparison[]; ops: string[] }> {
  const [OH, OW] = convOutSize(s);
  const r = (n: number, lo = -1, hi = 1) => randomArray(n, seed++, lo, hi);
  const x = r(s.N * s.C * s.H * s.W);
  const w = r(s.O * s.C * s.KH * s.KW);
  const b = parts.convBias ? r(s.O) : null;
  const bn = { mean: r(s.O), variance: r(s.O, 0.2, 3), gamma: parts.affine ? r(s.O, 0.5, 2) : new Float64Array(s.O).fill(1), beta: parts.affine ? r(s.O) : new Float64Array(s.O), eps: 1e-5 };
  const res = parts.residual ? r(s.N * s.O * OH * OW) : null;
  const made: Tensor[] = [];
  const T = (a: ArrayLike<number> | null, shape: number[]): Tensor | null => {
    if (!a) return null;
    const t = Tensor.fromArray(Float32Array.from(a), shape, 'f32', rt);
    made.push(t);
    return t;
  };
  const X = T(x, [s.N, s.C, s.H, s.W])!;
  const W = T(w, [s.O, s.C, s.KH, s.KW])!;
  const B = T(b, [s.O]);
  const state = { runningMean: T(bn.mean, [s.O])!, runningVar: T(bn.variance, [s.O])!, weight: parts.affine ? T(bn.gamma, [s.O]) : null, bias: parts.affine ? T(bn.beta, [s.O]) : null, eps: bn.eps };
  const R = T(res, [s.N, s.O, OH, OW]);
  const o = { stride: s.stride, padding: s.pad, ...alg };
  const ops: string[] = [];
  try {
    const fuses = noGrad(() => conv2dBatchNormFuses(X, W, B, state, R, o));
    rt.dispatchLog = (spec) => ops.push(spec.op);
    try {
      made.push(noGrad(() => conv2dBatchNormEval(X, W, B, state, R, parts.relu, o)));
    } finally {
      rt.dispatchLog = null;
    }
    return {
      comparisons: [
        { what: 'fuses', got: [Number(fuses)], want: [1], tol: 0 },
        { what: 'y', got: await made[made.length - 1].toArray(), want: convBatchNormRef(x, w, b, s, bn, res, parts.relu), tol: TOL.reduction },
      ],
      ops,
    };
  } finally {
    for (const t of made) t.dispose();
  }
}

/** conv2d's data gradient by `alg`, added into a gradient already there: prev + dx. */
export async function accumulateDataCase(rt: GpuRuntime, s: ConvShape, alg: ConvAlgorithmCase, seed: number): Promise<Comparison[]> {
  const [OH, OW] = convOutSize(s);
  const g = conv2dGeometry([s.N, s.C, s.H, s.W], [s.O, s.C, s.KH, s.KW], s.stride, s.pad);
  const [w, dy, prev] = [randomArray(s.O * s.C * s.KH * s.KW, seed), randomArray(s.N * s.O * OH * OW, seed + 1), randomArray(s.N * s.C * s.H * s.W, seed + 2)];
  const [W, DY, DX] = [w, dy, prev].map((a) => rt.upload(Float32Array.from(a)));
  try {
    conv2dBackwardData(rt, DY, W, DX, g, alg, true);
    const got = new Float32Array(await rt.read(DX, prev.length * 4));
    const want = conv2dBackwardRef(new Float64Array(prev.length), w, dy, s).dx.map((v, i) => v + prev[i]);
    return [{ what: 'prev + dx', got, want, tol: TOL.reduction }];
  } finally {
    for (const b of [W, DY, DX]) rt.release(b);
  }
}

/** The batch norm passes among dispatched ops, but the fold (a fused case must run none). */
export const batchNormPasses = (ops: string[]) => ops.filter((op) => op.startsWith('batchnorm') && !op.startsWith('batchnorm.fold'));

export const convFusedGroup: PageCheckGroup = {
  kernels: ['conv2d + batch norm (inference, fused)', 'conv2d dx accumulated', 'matmul subgroup epilogue'],
  async run(c: PageChecks): Promise<void> {
    let seed = 700;
    const kernel = 'conv2d + batch norm (inference, fused)';
    for (const [name, alg] of fusingAlgorithms(c.rt)) {
      for (const [i, [label, s]] of fusedCases(alg).entries()) {
        await c.run(kernel, `${label} (${name})`, async () => {
          const { comparisons, ops } = await fusedConvCase(c.rt, s, alg, fusedParts(i), (seed += 10));
          for (const r of comparisons) c.record(kernel, `${label} (${name}): ${r.what}`, r.got, r.want, r.tol);
          c.record(kernel, `${label} (${name}): no batch norm pass`, [batchNormPasses(ops).length], [0], 0);
        });
      }
    }
    const acc = 'conv2d dx accumulated';
    for (const [name, alg] of CONV_ALGORITHMS.filter(([, a]) => a.algorithm !== 'implicit' || hasSubgroupMatmul(c.rt))) {
      for (const [label, s] of CONV_CASES.filter(([, cs]) => convAlgorithmComputes(alg, cs))) {
        await c.run(acc, `${label} (${name})`, async () => {
          for (const r of await accumulateDataCase(c.rt, s, alg, (seed += 3))) c.record(acc, `${label} (${name}): ${r.what}`, r.got, r.want, r.tol);
        });
      }
    }
    if (hasSubgroupMatmul(c.rt)) {
      const sub = 'matmul subgroup epilogue';
      for (const k of TILED_EPILOGUE_CASES) {
        await c.run(sub, k.name, async () => {
          for (const r of await tiledEpilogueCase(c.rt, 'subgroup', k, (seed += 6))) c.record(sub, `subgroup ${r.what}`, r.got, r.want, r.tol);
        });
      }
    }
  },
};
