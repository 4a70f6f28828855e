// Gradient checks of every binary op declared in src/kernels/elementwise/binary_ops.ts (the same table drives the
// browser page's gradcheck): the float64 reference's backward vs central finite differences (on a and on b), and
// the GPU op (forward, da and db; scalar and vec4 entries) vs the float64 reference over BINARY_SHAPES.
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, finiteDiff, randomArray, relError, tensor, weightedSum } from './helpers/numeric';
import { BINARY_OPS, type BinaryName } from '../src/kernels/elementwise/binary_ops';
import { binaryBackwardRef, binaryRef } from '../src/reference/binary';
import { BINARY_FD_SIZE, BINARY_SHAPES, binaryFdInputs, numel } from '../src/reference/cases';
import { binaryOp } from '../src/autograd/ops/basic';
import { maximum, F } from '../src/index';
import type { GpuRuntime } from '../src/gpu/runtime';
import { tidy } from '../src/autograd/scope';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

/** The GPU op's y, da and db for inputs as, bs and upstream w. */
async function runOp(name: BinaryName, as: ArrayLike<number>, bs: ArrayLike<number>, w: ArrayLike<number>, shape: number[]) {
  const a = tensor(rt, as, shape).requireGrad();
  const b = tensor(rt, bs, shape).requireGrad();
  const y = tidy(() => {
    const y = binaryOp(name)(a, b);
    y.backward(tensor(rt, w, shape));
    return y;
  });
  expect(y.shape).toEqual(shape);
  const out = { y: await y.toArray(), da: await a.grad!.toArray(), db: await b.grad!.toArray() };
  for (const t of [a, b, y]) t.dispose();
  return out;
}

describe.each(BINARY_OPS.map((s) => [s.name, s] as const))('gradient check: %s', (name, spec) => {
  it('reference backward matches central finite differences, on a and on b (away from kinks)', () => {
    const [a, b] = binaryFdInputs(BINARY_FD_SIZE, 1, spec.kinks);
    const w = randomArray(BINARY_FD_SIZE, 2);
    const [da, db] = binaryBackwardRef(name, a, b, w);
    expect(relError(da, finiteDiff((v) => weightedSum(binaryRef(name, v, b), w), a))).toBeLessThanOrEqual(TOL.fd);
    expect(relError(db, finiteDiff((v) => weightedSum(binaryRef(name, a, v), w), b))).toBeLessThanOrEqual(TOL.fd);
  });

  it.each(BINARY_SHAPES.map((s) => [s]))('%j: GPU forward and backward match the float64 reference', async (shape) => {
    const n = numel(shape);
    const as = randomArray(n, n + 11).map((v) => Math.fround(4 * v));
    const bs = randomArray(n, n + 13).map((v, i) => (i % 5 === 0 ? as[i] : Math.fround(4 * v))); // ties too
    const w = randomArray(n, n + 12);
    const { y, da, db } = await runOp(name, as, bs, w, shape);
    const [rda, rdb] = binaryBackwardRef(name, as, bs, w);
    expectClose(y, binaryRef(name, as, bs), TOL.elementwise, `${name} forward`);
    expectClose(da, rda, TOL.elementwise, `${name} da`);
    expectClose(db, rdb, TOL.elementwise, `${name} db`);
  });
});

describe('maximum', () => {
  it('is exported from the root and F', () => {
    expect(F.maximum).toBe(maximum);
  });

  it('propagates NaN from either input, and splits the gradient as torch 1.13 (dy/2 each at a tie, dy to both at a NaN)', async () => {
    // torch.maximum([1, 2, 3, nan, 1, 5, -inf], [3, 2, 1, 1, nan, inf, -inf]).backward(ones):
    //   y = [3, 2, 3, nan, nan, inf, -inf], da = [0, .5, 1, 1, 1, 0, .5], db = [1, .5, 0, 1, 1, 1, .5]
    // (checked with /usr/bin/python3 and torch 1.13; the float64 reference states the same rule independently).
    const as = [1, 2, 3, Number.NaN, 1, 5, -Infinity, Number.NaN];
    const bs = [3, 2, 1, 1, Number.NaN, Infinity, -Infinity, Number.NaN];
    const w = as.map(() => 1); // 8 elements: the vec4 entry
    for (const k of [7, 8]) {
      const { y, da, db } = await runOp('maximum', as.slice(0, k), bs.slice(0, k), w.slice(0, k), [k]); // scalar, vec4
      const ref = binaryRef('maximum', as.slice(0, k), bs.slice(0, k));
      const [rda, rdb] = binaryBackwardRef('maximum', as.slice(0, k), bs.slice(0, k), w.slice(0, k));
      expect(Array.from(y), `y, ${k} elements`).toEqual(Array.from(ref));
      expect(Array.from(y.slice(0, 7))).toEqual([3, 2, 3, Number.NaN, Number.NaN, Infinity, -Infinity]);
      expect(Array.from(da), `da, ${k} elements`).toEqual(Array.from(rda));
      expect(Array.from(db), `db, ${k} elements`).toEqual(Array.from(rdb));
    }
  });
});
