// Inference's fused convolution + batch norm (+ residual) (+ ReLU): conv2dBatchNormEval (src/autograd/ops/conv.ts),
// the batch norm folded into the convolution (kernels/batchnorm/fold.wgsl) and applied in the output's write by
// each algorithm that fuses (Winograd's output transform, the implicit GEMM's epilogue), against a float64
// reference; and ResNet's eval forward through it against the unfused path.
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, randomArray, tensor } from './helpers/numeric';
import type { GpuRuntime } from '../src/gpu/runtime';
import type { ConvShape } from '../src/reference/conv';
import { TILED_EPILOGUE_CASES } from '../src/reference/matmul_tiled_cases';
import { batchNormPasses, fusedCases, fusedConvCase, fusedParts, fusingAlgorithms } from '../src/web/gradcheck/conv_fused';
import { tiledEpilogueCase } from '../src/web/gradcheck/matmul_tiled';
import { hasSubgroupMatmul } from '../src/kernels/matmul';
import { type KernelChoice, setKernelChooser, withKernelConfig } from '../src/kernels/config';
import { conv2dBatchNormEval, conv2dBatchNormFuses } from '../src/autograd/ops/conv';
import { noGrad } from '../src/autograd/scope';
import { resnet18 } from '../src/nn/resnet';
import { Conv2d } from '../src/nn/layers';
import { Tensor } from '../src/autograd/tensor';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});
let seed = 9000;

const expectAll = (rs: { what: string; got: ArrayLike<number>; want: ArrayLike<number>; tol: number }[]) => {
  for (const r of rs) expectClose(r.got, r.want, r.tol, r.what);
};

for (const [algorithm, alg] of fusingAlgorithms(await testRuntime())) describe(`conv2dBatchNormEval (${algorithm}) vs float64 reference`, () => {
  for (const [i, [name, s]] of fusedCases(alg).entries()) {
    const parts = fusedParts(i);
    it(`${name}: ${JSON.stringify(parts)}`, async () => {
      const { comparisons, ops } = await fusedConvCase(rt, s, alg, parts, (seed += 10));
      expectAll(comparisons);
      // No pass of its own for the batch norm, the residual or the ReLU: only the fold's small dispatch.
      expect(batchNormPasses(ops)).toEqual([]);
      expect(ops.filter((op) => op.startsWith('batchnorm.fold'))).toHaveLength(1);
    });
  }
});

describe.skipIf(!hasSubgroupMatmul(await testRuntime()))('the subgroup kernel\'s GEMM epilogue vs float64 reference', () => {
  it.each(TILED_EPILOGUE_CASES.map((k) => [k.name, k] as const))('%s (and vs the unfused path where one exists)', async (_, k) => {
    const rs = await tiledEpilogueCase(rt, 'subgroup', k, (seed += 6));
    expectAll(rs);
    if (k.perRow && !k.accumulate) expect(rs.some((r) => r.what.includes('unfused'))).toBe(true);
  });
});

describe('conv2dBatchNormEval refuses what it cannot fuse', () => {
  it('a tensor that requires a gradient, im2col, and a fusion turned off', () => {
    const s: ConvShape = { N: 1, C: 2, H: 5, W: 5, O: 3, KH: 3, KW: 3, stride: 1, pad: 1 };
    const X = tensor(rt, randomArray(50, 1), [1, 2, 5, 5]);
    const W = tensor(rt, randomArray(54, 2), [3, 2, 3, 3]).requireGrad();
    const state = { runningMean: tensor(rt, [0, 0, 0], [3]), runningVar: tensor(rt, [1, 1, 1], [3]), weight: null, bias: null, eps: 1e-5 };
    const o = { stride: s.stride, padding: s.pad };
    expect(conv2dBatchNormFuses(X, W, null, state, null, o)).toBe(false);
    expect(() => conv2dBatchNormEval(X, W, null, state, null, true, o)).toThrow(/cannot run fused/);
    expect(noGrad(() => conv2dBatchNormFuses(X, W, null, state, null, o))).toBe(true);
    expect(noGrad(() => conv2dBatchNormFuses(X, W, null, state, null, { ...o, algorithm: 'im2col' }))).toBe(false);
    expect(withKernelConfig(rt, { fuseConvBatchNorm: false }, () => noGrad(() => conv2dBatchNormFuses(X, W, null, state, null, o)))).toBe(false);
    expect(() => noGrad(() => conv2dBatchNormEval(X, W, null, { ...state, runningMean: tensor(rt, [0, 0], [2]) }, null, true, o))).toThrow(/running.*\[3\]|runningMean/);
    for (const t of [X, W, state.runningMean, state.runningVar]) t.dispose();
  });
});

describe('ResNet eval forward through the fused convolutions', () => {
  it('resnet18 (eval, no grad): the same logits as the unfused path, with no batch norm pass', async () => {
    const model = resnet18({ numClasses: 5, seed: 3 });
    // Running statistics away from 0 and 1, so that folding them matters.
    for (const [name, t] of model.stateDict()) {
      if (!(t instanceof Tensor)) continue;
      if (name.endsWith('running_mean')) rt.write(t.buffer, Float32Array.from(randomArray(t.size, seed++, -0.2, 0.2)));
      if (name.endsWith('running_var')) rt.write(t.buffer, Float32Array.from(randomArray(t.size, seed++, 0.5, 2)));
    }
    model.eval();
    const x = tensor(rt, randomArray(2 * 3 * 32 * 32, seed++), [2, 3, 32, 32]);
    const run = async () => {
      const ops: string[] = [];
      rt.dispatchLog = (spec) => ops.push(spec.op);
      try {
        const y = noGrad(() => model.forward(x));
        const out = await y.toArray();
        y.dispose();
        return { out, ops };
      } finally {
        rt.dispatchLog = null;
      }
    };
    // With the heuristic's algorithms: on software adapters with 4-lane subgroups it gives the strided and
    // 1×1 convolutions im2col, which does not fuse, so their batch norms stay passes; the logits still match.
    const heuristic = await run();
    // Then with the implicit GEMM wherever the heuristic gave im2col a convolution it can run, so that every
    // block fuses at every subgroup width (at 8 lanes and more this changes nothing).
    const restore = setKernelChooser(rt, <T>(_: GpuRuntime, c: KernelChoice<T>) =>
      c.site === 'conv2d.forward' && c.heuristic === 'im2col' && c.candidates.includes('implicit' as T) ? ('implicit' as T) : undefined);
    let fused: Awaited<ReturnType<typeof run>>, unfused: Awaited<ReturnType<typeof run>>;
    try {
      fused = await run();
      unfused = await withKernelConfig(rt, { fuseConvBatchNorm: false }, run);
    } finally {
      restore();
    }
    expectClose(heuristic.out, unfused.out, TOL.reduction, 'logits, the heuristic\'s algorithms');
    expectClose(fused.out, unfused.out, TOL.reduction, 'logits');
    const applies = (ops: string[]) => ops.filter((op) => /^batchnorm(_relu)?\.apply/.test(op)).length;
    expect(applies(unfused.ops)).toBeGreaterThan(0);
    expect(fused.ops.filter((op) => op.startsWith('batchnorm') && !op.startsWith('batchnorm.fold'))).toEqual([]);
    expect(fused.ops.length).toBeLessThan(unfused.ops.length);
    // A module whose forward was replaced (a hook) is called: its block runs unfused, with the same logits.
    const conv = model.conv1;
    let calls = 0;
    conv.forward = (t) => {
      calls++;
      return Conv2d.prototype.forward.call(conv, t);
    };
    const hooked = await run();
    delete (conv as { forward?: unknown }).forward;
    expect(calls).toBe(1);
    expectClose(hooked.out, unfused.out, TOL.reduction, 'logits with a hooked conv1');
    x.dispose();
    model.dispose();
  });
});
