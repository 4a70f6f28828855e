// Gradient checks of every unary op declared in src/kernels/elementwise/unary_ops.ts (the same table drives the
// browser page's gradcheck): the float64 reference's backward vs central finite differences, and the GPU op
// (forward and backward, scalar and vec4 entries) vs the float64 reference over UNARY_SHAPES.
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, finiteDiff, randomArray, relError, tensor, weightedSum } from './helpers/numeric';
import { UNARY_OPS, type UnaryName } from '../src/kernels/elementwise/unary_ops';
import { unaryBackwardRef, unaryRef } from '../src/reference/unary';
import { UNARY_FD_SIZE, UNARY_SHAPES, numel, unaryFdInputs } from '../src/reference/cases';
import { unaryOp } from '../src/autograd/ops/unary';
import type { GpuRuntime } from '../src/gpu/runtime';
import { tidy } from '../src/autograd/scope';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

/** The GPU op's y and dx for inputs xs and upstream w. */
async function runOp(name: UnaryName, xs: ArrayLike<number>, w: ArrayLike<number>, shape: number[]) {
  const x = tensor(rt, xs, shape).requireGrad();
  const y = tidy(() => {
    const y = unaryOp(name)(x);
    y.backward(tensor(rt, w, shape));
    return y;
  });
  expect(y.shape).toEqual(shape);
  const out = { y: await y.toArray(), dx: await x.grad!.toArray() };
  x.dispose();
  y.dispose();
  return out;
}

describe.each(UNARY_OPS.map((s) => [s.name, s] as const))('gradient check: %s', (name, spec) => {
  it('reference backward matches central finite differences (away from kinks)', () => {
    const x = unaryFdInputs(UNARY_FD_SIZE, 1, spec.kinks);
    const w = randomArray(UNARY_FD_SIZE, 2);
    const fd = finiteDiff((v) => weightedSum(unaryRef(name, v), w), x);
    expect(relError(unaryBackwardRef(name, x, w), fd)).toBeLessThanOrEqual(TOL.fd);
  });

  it.each(UNARY_SHAPES.map((s) => [s]))('%j: GPU forward and backward match the float64 reference', async (shape) => {
    const n = numel(shape);
    const xs = randomArray(n, n + 11).map((v) => Math.fround(4 * v));
    const w = randomArray(n, n + 12);
    const { y, dx } = await runOp(name, xs, w, shape);
    expectClose(y, unaryRef(name, xs), TOL.elementwise, `${name} forward`);
    expectClose(dx, unaryBackwardRef(name, xs, w), TOL.elementwise, `${name} backward`);
  });
});

describe('sigmoid', () => {
  it('is stable at large |x| (no NaN from exp overflow; saturates to 0 and 1), as the float64 reference', async () => {
    const xs = [-1e4, -100, -30, -0, 0, 30, 100, 1e4, Number.NaN];
    const w = xs.map(() => 1);
    const { y, dx } = await runOp('sigmoid', xs, w, [xs.length]);
    const ref = unaryRef('sigmoid', xs);
    expect(Array.from(y.slice(0, 8)).every(Number.isFinite)).toBe(true);
    // Saturation and the midpoint exactly (sigmoid(−100) ≈ 3.8e-44 is an f32 denormal, which a GPU may flush to 0).
    expect([y[0], y[3], y[4], y[6], y[7]]).toEqual([0, 0.5, 0.5, 1, 1]);
    expectClose(y.slice(0, 8), ref.slice(0, 8), TOL.elementwise, 'sigmoid forward at large |x|');
    expectClose(dx.slice(0, 8), unaryBackwardRef('sigmoid', xs, w).slice(0, 8), TOL.elementwise, 'sigmoid backward at large |x|');
    expect(Number.isNaN(y[8])).toBe(true);
    expect(Array.from(dx.slice(0, 8)).every(Number.isFinite)).toBe(true);
  });
});
