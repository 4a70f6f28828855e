/**
 * The empty-tensor policy (docs/numerics.md): every op refuses a tensor with 0 elements (a batch of 0 images)
 * at its entry, with one error naming the op and the tensor, before any kernel runs. (Before: the Winograd
 * weight gradient of an empty batch was non-zero, and other geometries failed deep in the conv kernels with
 * "one image does not fit a 134217728-byte binding".)
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { conv2d } from '../src/autograd/ops/conv';
import { batchNorm, batchNormAddRelu, batchNormRelu } from '../src/autograd/ops/batchnorm';
import { adaptiveAvgPool2d, maxPool2d } from '../src/autograd/ops/pool';
import { linear, matmul } from '../src/autograd/ops/linear';
import { crossEntropy } from '../src/autograd/ops/loss';
import { relu } from '../src/autograd/ops/activation';
import { dropout, dropoutWithMask } from '../src/autograd/ops/dropout';
import { add, mul, scale, sub } from '../src/autograd/ops/basic';
import { mean, sum } from '../src/autograd/ops/reduce';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

describe('an empty batch (N = 0) is refused at every op entry', () => {
  const cases: [string, RegExp, () => unknown][] = [
    ['conv2d 3x3 s1 p1 (Winograd)', /conv2d: x \[0, 2, 5, 5\] is empty/, () => conv2d(Tensor.zeros([0, 2, 5, 5], rt), Tensor.zeros([3, 2, 3, 3], rt).requireGrad(), null, { padding: 1, algorithm: 'winograd' })],
    ['conv2d 3x3 s2 p1 (im2col)', /conv2d: x \[0, 2, 5, 5\] is empty/, () => conv2d(Tensor.zeros([0, 2, 5, 5], rt), Tensor.zeros([3, 2, 3, 3], rt), null, { stride: 2, padding: 1, algorithm: 'im2col' })],
    ['conv2d with 0 output channels', /conv2d: weight \[0, 2, 1, 1\] is empty/, () => conv2d(Tensor.zeros([1, 2, 5, 5], rt), Tensor.zeros([0, 2, 1, 1], rt))],
    ['batchNorm', /batchNorm: x \[0, 2, 3, 3\] is empty/, () => batchNorm(Tensor.zeros([0, 2, 3, 3], rt), Tensor.zeros([2], rt), Tensor.ones([2], rt), null, null, true)],
    ['batchNormRelu', /batchNormRelu: x \[0, 2, 3, 3\] is empty/, () => batchNormRelu(Tensor.zeros([0, 2, 3, 3], rt), Tensor.zeros([2], rt), Tensor.ones([2], rt), null, null, false)],
    ['batchNormAddRelu', /batchNormAddRelu: x \[0, 2, 3, 3\] is empty/, () => batchNormAddRelu(Tensor.zeros([0, 2, 3, 3], rt), Tensor.zeros([0, 2, 3, 3], rt), Tensor.zeros([2], rt), Tensor.ones([2], rt), null, null, true)],
    ['maxPool2d', /maxPool2d: x \[0, 1, 4, 4\] is empty/, () => maxPool2d(Tensor.zeros([0, 1, 4, 4], rt), { kernelSize: 2 })],
    ['adaptiveAvgPool2d', /adaptiveAvgPool2d: x \[0, 3, 4, 4\] is empty/, () => adaptiveAvgPool2d(Tensor.zeros([0, 3, 4, 4], rt), 1)],
    ['linear', /linear: x \[0, 4\] is empty/, () => linear(Tensor.zeros([0, 4], rt), Tensor.zeros([3, 4], rt), Tensor.zeros([3], rt))],
    ['matmul', /matmul: a \[0, 4\] is empty/, () => matmul(Tensor.zeros([0, 4], rt), Tensor.zeros([4, 3], rt))],
    ['crossEntropy', /crossEntropy: logits \[0, 5\] is empty/, () => crossEntropy(Tensor.zeros([0, 5], rt), Tensor.fromArray(new Int32Array(0), [0], 'i32', rt))],
    ['relu', /relu: x \[0, 3\] is empty/, () => relu(Tensor.zeros([0, 3], rt))],
    ['dropout', /dropout: x \[0, 3\] is empty/, () => dropout(Tensor.zeros([0, 3], rt), 0.5, true, 1)],
    ['dropoutWithMask', /dropoutWithMask: x \[0, 3\] is empty/, () => dropoutWithMask(Tensor.zeros([0, 3], rt), Tensor.zeros([0, 3], rt), 0.5)],
    ['add', /add: a \[0, 3\] is empty/, () => add(Tensor.zeros([0, 3], rt), Tensor.zeros([0, 3], rt))],
    ['sub', /sub: a \[0, 3\] is empty/, () => sub(Tensor.zeros([0, 3], rt), Tensor.zeros([0, 3], rt))],
    ['mul', /mul: a \[0, 3\] is empty/, () => mul(Tensor.zeros([0, 3], rt), Tensor.zeros([0, 3], rt))],
    ['scale', /scale: x \[0, 3\] is empty/, () => scale(Tensor.zeros([0, 3], rt), 2)],
    ['sum', /sum: x \[0, 3\] is empty/, () => sum(Tensor.zeros([0, 3], rt))],
    ['mean over an axis', /mean: x \[0, 3\] is empty/, () => mean(Tensor.zeros([0, 3], rt), 1)],
  ];
  it.each(cases)('%s', (_name, message, call) => {
    expect(call).toThrow(message);
    expect(call).toThrow(/skip an empty batch/);
  });

  it('refuses before any kernel runs', () => {
    const x = Tensor.zeros([0, 2, 5, 5], rt);
    const w = Tensor.zeros([3, 2, 3, 3], rt).requireGrad();
    const dispatches = rt.counters.dispatches;
    expect(() => conv2d(x, w, null, { padding: 1 })).toThrow(/is empty/);
    expect(rt.counters.dispatches).toBe(dispatches);
  });
});
