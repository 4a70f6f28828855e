/** Comparison helpers for the vitest numerics tests; the pure math is in src/reference/math.ts. */
import { expect } from 'vitest';
import { Tensor, type Shape } from '../../src/autograd/tensor';
import type { GpuRuntime } from '../../src/gpu/runtime';
import { relError } from '../../src/reference/math';

export { TOL, rng, randomArray, distinctArray, relError, finiteDiff, weightedSum } from '../../src/reference/math';

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = ''): void {
  const e = relError(actual, expected);
  expect(e, `${what}: relative error ${e.toExponential(3)} > ${tol}`).toBeLessThanOrEqual(tol);
}

/** A tensor with the given values. */
export function tensor(rt: GpuRuntime, data: ArrayLike<number>, shape: Shape): Tensor {
  return Tensor.fromArray(Float32Array.from(data), shape, 'f32', rt);
}
