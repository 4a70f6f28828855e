/**
 * Gradient check of a whole small network: conv → batch norm → relu → max pool → conv → residual add →
 * adaptive avg pool → linear → cross-entropy. The GPU's parameter gradients (autograd through every op)
 * must match central finite differences of the network's loss computed entirely by the float64 references.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { expectClose, finiteDiff, randomArray, relError, tensor } from './helpers/numeric';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { tidy } from '../src/autograd/scope';
import { conv2d } from '../src/autograd/ops/conv';
import { batchNorm } from '../src/autograd/ops/batchnorm';
import { relu } from '../src/autograd/ops/activation';
import { maxPool2d, adaptiveAvgPool2d } from '../src/autograd/ops/pool';
import { add, flatten } from '../src/autograd/ops/basic';
import { linear } from '../src/autograd/ops/linear';
import { crossEntropy } from '../src/autograd/ops/loss';
import { conv2dRef } from '../src/reference/conv';
import { batchNormRef } from '../src/reference/batchnorm';
import { reluRef } from '../src/reference/activation';
import { maxPool2dRef, adaptiveAvgPool2dRef } from '../src/reference/pool';
import { linearRef } from '../src/reference/matmul';
import { crossEntropyRef } from '../src/reference/loss';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

// Shapes: batch 2, 3 → 5 channels (not multiples of 4), 9×9 input, 4 classes.
const [N, C, H, F, K] = [2, 3, 9, 5, 4];
const P = 5; // after max pool 3×3 s2 p1: 9 → 5
const SHAPES = { w1: [F, C, 3, 3], gamma: [F], beta: [F], w2: [F, F, 3, 3], fcw: [K, F], fcb: [K] } as const;
type Params = Record<keyof typeof SHAPES, Float64Array>;

/** The network's loss in float64, through the references only. */
function lossRef(x: Float64Array, labels: number[], p: Params): number {
  const h1 = conv2dRef(x, p.w1, null, { N, C, H, W: H, O: F, KH: 3, KW: 3, stride: 1, pad: 1 });
  const bn = batchNormRef(h1, [N, F, H, H], new Float64Array(F), new Float64Array(F).fill(1), p.gamma, p.beta, { training: true });
  const r = reluRef(bn.y);
  const pooled = maxPool2dRef(r, [N, F, H, H], { kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 }).y;
  const h2 = conv2dRef(pooled, p.w2, null, { N, C: F, H: P, W: P, O: F, KH: 3, KW: 3, stride: 1, pad: 1 });
  const res = h2.map((v, i) => v + pooled[i]);
  const feats = adaptiveAvgPool2dRef(res, [N, F, P, P], 1, 1);
  const logits = linearRef(feats, p.fcw, p.fcb, N, F, K);
  return crossEntropyRef(logits, labels, N, K) as number;
}

describe('gradient check: composite network (conv → bn → relu → maxpool → conv → residual add → avgpool → linear → cross-entropy)', () => {
  it('every parameter gradient matches finite differences of the float64 network loss', async () => {
    const x = randomArray(N * C * H * H, 101);
    const labels = [1, 3];
    const params = {} as Params;
    let seed = 200;
    for (const [k, shape] of Object.entries(SHAPES)) {
      const n = shape.reduce((a, b) => a * b, 1);
      params[k as keyof Params] = randomArray(n, seed++, k === 'gamma' ? 0.5 : -0.5, k === 'gamma' ? 1.5 : 0.5);
    }
    const gpu = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, tensor(rt, v, SHAPES[k as keyof Params]).requireGrad()])) as Record<keyof Params, Tensor>;
    const xt = tensor(rt, x, [N, C, H, H]);
    const yt = Tensor.fromArray(labels, [N], 'i32', rt);
    const rm = Tensor.zeros([F], rt);
    const rv = Tensor.ones([F], rt);
    const loss = tidy(() => {
      const h1 = conv2d(xt, gpu.w1, null, { stride: 1, padding: 1 });
      const r = relu(batchNorm(h1, rm, rv, gpu.gamma, gpu.beta, true));
      const pooled = maxPool2d(r, { kernelSize: 3, stride: 2, padding: 1 });
      const res = add(conv2d(pooled, gpu.w2, null, { stride: 1, padding: 1 }), pooled);
      const logits = linear(flatten(adaptiveAvgPool2d(res, 1)), gpu.fcw, gpu.fcb);
      const l = crossEntropy(logits, yt);
      l.backward();
      return l;
    });
    const refLoss = lossRef(x, labels, params);
    expectClose(await loss.toArray(), [refLoss], 1e-5, 'loss');
    for (const k of Object.keys(SHAPES) as (keyof Params)[]) {
      const fd = finiteDiff((v) => lossRef(x, labels, { ...params, [k]: v }), Float64Array.from(params[k]), 1e-6);
      const got = await gpu[k].grad!.toArray();
      console.log(`composite d(loss)/d(${k}) [${SHAPES[k].join('x')}]: relative error vs finite differences ${relError(got, fd).toExponential(2)}`);
      expectClose(got, fd, 1e-4, `d loss / d ${k}`);
    }
    expect(Number.isFinite(refLoss)).toBe(true);
    for (const t of [...Object.values(gpu), xt, yt, rm, rv, loss]) t.dispose();
  });
});
