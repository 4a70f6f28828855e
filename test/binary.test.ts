// Gradient checks of every binary op declared in src/kernels/elementwise/binary_ops.ts on same-shape operands (the
// same table drives the browser page's gradcheck): the float64 reference's backward vs central finite differences (on
// a and on b), and the GPU op (forward, da and db; scalar and vec4 entries) vs the float64 reference over
// BINARY_SHAPES, inputs drawn in each op's domain; and the special values of maximum, minimum, div and pow against
// PyTorch's. Broadcasting and number operands: test/broadcast.test.ts.
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, finiteDiff, randomArray, relError, tensor, weightedSum } from './helpers/numeric';
import { BINARY_OPS, type BinaryName } from '../src/kernels/elementwise/binary_ops';
import { binaryBackwardRef, binaryRef } from '../src/reference/binary';
import { BINARY_FD_SIZE, BINARY_SHAPES, numel } from '../src/reference/cases';
import { binaryFdPair, binaryGpuPair } from '../src/reference/binary_cases';
import { binaryOp } from '../src/autograd/ops/binary';
import { maximum, minimum, div, pow, F } from '../src/index';
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
    const [a, b] = binaryFdPair(spec, BINARY_FD_SIZE, 1);
    const w = randomArray(BINARY_FD_SIZE, 2);
    const [da, db] = binaryBackwardRef(name, a, b, w);
    expect(relError(da, finiteDiff((v) => weightedSum(binaryRef(name, v, b), w), a))).toBeLessThanOrEqual(TOL.fd);
    expect(relError(db, finiteDiff((v) => weightedSum(binaryRef(name, a, v), w), b))).toBeLessThanOrEqual(TOL.fd);
  });

  it.each(BINARY_SHAPES.map((s) => [s]))('%j: GPU forward and backward match the float64 reference', async (shape) => {
    const n = numel(shape);
    const [as, bs] = binaryGpuPair(spec, n, n + 11, [-4, 4]); // ties too (ops without a domain)
    const w = randomArray(n, n + 12);
    const { y, da, db } = await runOp(name, as, bs, w, shape);
    const [rda, rdb] = binaryBackwardRef(name, as, bs, w);
    expectClose(y, binaryRef(name, as, bs), TOL.elementwise, `${name} forward`);
    expectClose(da, rda, TOL.elementwise, `${name} da`);
    expectClose(db, rdb, TOL.elementwise, `${name} db`);
  });
});

/** got equals want: NaN and ±inf at the same places, finite values within a relative 1e-6 (either sign of zero). */
function expectValues(got: ArrayLike<number>, want: readonly number[], what: string): void {
  expect(got.length, what).toBe(want.length);
  want.forEach((w, i) => {
    if (Number.isFinite(w)) expect(Math.abs(got[i] - w), `${what}[${i}]: ${got[i]} vs ${w}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(w)));
    else expect(got[i], `${what}[${i}]`).toBe(w);
  });
}

/** The op's y, da and db on the GPU (upstream gradient 1), for all but the last and for all of the given values (scalar and vec4 entries, with 8 or 16 values). */
async function bothEntries(name: BinaryName, as: number[], bs: number[]) {
  const runs = [];
  for (const k of [as.length - 1, as.length]) runs.push(await runOp(name, as.slice(0, k), bs.slice(0, k), as.slice(0, k).map(() => 1), [k]));
  return runs;
}

describe('maximum and minimum', () => {
  it('are exported from the root and F', () => {
    expect(F.maximum).toBe(maximum);
    expect(F.minimum).toBe(minimum);
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

  it('minimum mirrors it: NaN from either input, dy/2 each at a tie, dy to both at a NaN (torch 1.13)', async () => {
    // torch.minimum([1, 2, 3, nan, 1, 5, -inf, nan], [3, 2, 1, 1, nan, inf, -inf, nan]).backward(ones):
    //   y = [1, 2, 1, nan, nan, 5, -inf, nan], da = [1, .5, 0, 1, 1, 1, .5, 1], db = [0, .5, 1, 1, 1, 0, .5, 1]
    const as = [1, 2, 3, Number.NaN, 1, 5, -Infinity, Number.NaN];
    const bs = [3, 2, 1, 1, Number.NaN, Infinity, -Infinity, Number.NaN];
    for (const { y, da, db } of await bothEntries('minimum', as, bs)) {
      const k = y.length;
      expectValues(y, [1, 2, 1, Number.NaN, Number.NaN, 5, -Infinity, Number.NaN].slice(0, k), `y, ${k} elements`);
      expectValues(da, [1, 0.5, 0, 1, 1, 1, 0.5, 1].slice(0, k), `da, ${k} elements`);
      expectValues(db, [0, 0.5, 1, 1, 1, 0, 0.5, 1].slice(0, k), `db, ${k} elements`);
    }
  });
});

describe('div and pow: special values as PyTorch', () => {
  it('are exported from the root and F', () => {
    expect(F.div).toBe(div);
    expect(F.pow).toBe(pow);
  });

  it('div by 0 gives ±inf and NaN, with torch gradients (dy/b, −dy·(a/b)/b)', async () => {
    // torch (1.13, float64): [1, -1, 0, 0, 2] / [0, 0, 0, 4, -inf] = [inf, -inf, nan, 0, -0];
    //   da = [inf, inf, inf, 0.25, -0], db = [-inf, inf, nan, -0, -0]
    const as = [1, -1, 0, 0, 2, 1, 3, 5];
    const bs = [0, 0, 0, 4, -Infinity, 2, 4, 8];
    for (const { y, da, db } of await bothEntries('div', as, bs)) {
      expectValues(y.slice(0, 5), [Infinity, -Infinity, Number.NaN, 0, -0], 'y');
      expectValues(da.slice(0, 5), [Infinity, Infinity, Infinity, 0.25, -0], 'da');
      expectValues(db.slice(0, 5), [-Infinity, Infinity, Number.NaN, -0, -0], 'db');
    }
  });

  it('pow: 0^0 = 1, a negative base with an integer exponent, NaN with a non-integer one, infinities as C', async () => {
    // torch.pow(a, b).backward(ones) in float64 (torch 1.13), for
    //   a = [0, 0, 0, -2, -2, -2, 1, nan, -0, -1, -2, -0.5, 2, inf, -inf, 4]
    //   b = [0, -1, 2, 3, 0.5, -2, nan, 0, -1, inf, inf, inf, -inf, -1, 3, 0.5]
    const as = [0, 0, 0, -2, -2, -2, 1, Number.NaN, -0, -1, -2, -0.5, 2, Infinity, -Infinity, 4];
    const bs = [0, -1, 2, 3, 0.5, -2, Number.NaN, 0, -1, Infinity, Infinity, Infinity, -Infinity, -1, 3, 0.5];
    const NaN_ = Number.NaN;
    const want = {
      y: [1, Infinity, 0, -8, NaN_, 0.25, 1, 1, -Infinity, 1, Infinity, 0, 0, 0, -Infinity, 2],
      da: [0, -Infinity, 0, 12, NaN_, 0.25, NaN_, 0, -Infinity, Infinity, Infinity, NaN_, NaN_, -0, Infinity, 0.25],
      db: [0, -Infinity, 0, NaN_, NaN_, NaN_, 0, NaN_, Infinity, NaN_, NaN_, NaN_, 0, NaN_, NaN_, 2 * Math.log(4)],
    };
    const [rda, rdb] = binaryBackwardRef('pow', as, bs, as.map(() => 1));
    expectValues(binaryRef('pow', as, bs), want.y, 'reference y');
    expectValues(rda, want.da, 'reference da');
    expectValues(rdb, want.db, 'reference db');
    for (const { y, da, db } of await bothEntries('pow', as, bs)) {
      const k = y.length;
      expectValues(y, want.y.slice(0, k), `y, ${k} elements`);
      expectValues(da, want.da.slice(0, k), `da, ${k} elements`);
      expectValues(db, want.db.slice(0, k), `db, ${k} elements`);
    }
  });
});
