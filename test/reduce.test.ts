// The reductions (src/autograd/ops/reduce.ts): the float64 references' backwards vs central finite differences, and
// the GPU ops (forward and backward) vs the references over src/reference/reduce_cases.ts: dims lists, negative dims,
// keepdim both ways, batch 1, both kernel paths, ties, NaN and −inf; then the errors, the Tensor methods and memory.
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, distinctArray, expectClose, finiteDiff, randomArray, relError, tensor, weightedSum } from './helpers/numeric';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { tidy } from '../src/autograd/scope';
import { argmax, argmin, logsumexp, max, mean, min, std, sum, topk, variance, type ValuesIndices } from '../src/autograd/ops/reduce';
import * as F from '../src/autograd/functional';
import { GradCheckSuite } from '../src/web/gradcheck-cases';
import { reduceGroup, reduceOp } from '../src/web/gradcheck/reduce';
import {
  SELECT_ORDERS, reduceBackwardRef, reduceRef, reducedShapeRef, selectBackwardRef, selectRef, selectRows, type ReduceRefName, type RefDims, type SelectRefOrder,
} from '../src/reference/reduce';
import {
  REDUCE_DIMS_CASES, REDUCE_DIMS_OPS, REDUCE_FD_CASES, SELECT_CASES, SELECT_FD_CASES, TOPK_CASES, reduceInputs, type InputKind,
} from '../src/reference/reduce_cases';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

const numel = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
const nOf = (shape: number[], dims: RefDims) => numel(shape) / numel(reducedShapeRef(shape, dims, false));

/** Run a differentiable op on the GPU: y, its shape, and dx for upstream w. */
async function gpu(op: (x: Tensor) => Tensor, xs: ArrayLike<number>, shape: number[], w: ArrayLike<number>) {
  const x = tensor(rt, xs, shape).requireGrad();
  const y = tidy(() => {
    const y = op(x);
    y.backward(tensor(rt, w, y.shape));
    return y;
  });
  const out = { y: await y.toArray(), shape: [...y.shape], dx: await x.grad!.toArray() };
  x.dispose();
  y.dispose();
  return out;
}

/** Equal element by element, NaN equal to NaN. */
function expectSame(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  expect(a.length, what).toBe(b.length);
  const bad = Array.from(a).findIndex((v, i) => !(v === b[i] || (Number.isNaN(v) && Number.isNaN(b[i]))));
  expect(bad, `${what}: first difference at ${bad}: ${a[bad]} vs ${b[bad]}`).toBe(-1);
}

/** Non-finite values exactly where the reference has them, the finite ones within tol. */
function expectCloseNonFinite(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  const fin = (v: ArrayLike<number>) => Array.from(v).map((x) => (Number.isFinite(x) ? 0 : x));
  expectSame(fin(a), fin(b), `${what}: non-finite values`);
  const keep = (v: ArrayLike<number>) => Array.from(v).filter((_, i) => Number.isFinite(b[i]));
  expectClose(keep(a), keep(b), tol, what);
}

const caseName = (shape: number[], dims: RefDims, keepdim: boolean) => `[${shape}] dims ${JSON.stringify(dims ?? 'all')}${keepdim ? ' keepdim' : ''}`;

describe('references vs central finite differences', () => {
  for (const c of REDUCE_FD_CASES) {
    it.each([...REDUCE_DIMS_OPS, 'max', 'min'] as ReduceRefName[])(`%s ${caseName(c.shape, c.dims, c.keepdim)}`, (name) => {
      const n = numel(c.shape);
      // max/min: distinct values (a tie is not differentiable); the others any.
      const x = name === 'max' || name === 'min' ? distinctArray(n, 3) : randomArray(n, 3, -2, 2);
      const dims = name === 'max' || name === 'min' ? undefined : c.dims;
      const w = randomArray(reduceRef(name, x, c.shape, dims).length, 4);
      for (const correction of name === 'var' || name === 'std' ? [1, 0] : [1]) {
        const fd = finiteDiff((v) => weightedSum(reduceRef(name, v, c.shape, dims, correction), w), x);
        expect(relError(reduceBackwardRef(name, x, c.shape, dims, w, correction), fd)).toBeLessThanOrEqual(TOL.fd);
      }
    });
  }

  it.each(SELECT_FD_CASES)('selection [%j] dim %s k %s (max, min, topk both ways)', (shape, dim, k) => {
    const x = distinctArray(numel(shape), 5);
    for (const order of Object.values(SELECT_ORDERS)) {
      const { indices } = selectRef(x, shape, dim, k, order);
      const w = randomArray(indices.length, 6);
      const fd = finiteDiff((v) => weightedSum(selectRef(v, shape, dim, k, order).values, w), x);
      expect(relError(selectBackwardRef(shape, dim, k, indices, w), fd)).toBeLessThanOrEqual(TOL.fd);
    }
  });

  it('ties: max() splits the gradient evenly among equal maxima, as torch', () => {
    const dx = reduceBackwardRef('max', [1, 3, 3, 2, 3], [5], undefined, [6]);
    expect(Array.from(dx)).toEqual([0, 2, 2, 0, 2]);
  });
});

describe('sum, mean, var, std, logsumexp over dims: GPU vs float64 reference', () => {
  it.each(REDUCE_DIMS_CASES.map((c) => [caseName(c.shape, c.dims, c.keepdim), c] as const))('%s', async (_, c) => {
    const n = numel(c.shape);
    const terms = nOf(c.shape, c.dims);
    const xs = reduceInputs(n, n + 1);
    const want = reducedShapeRef(c.shape, c.dims, c.keepdim);
    for (const name of REDUCE_DIMS_OPS) {
      // var and std of a single term take correction 0 (with 1 they are NaN, checked below).
      const correction = terms === 1 ? 0 : 1;
      const ref = reduceRef(name, xs, c.shape, c.dims, correction);
      const w = randomArray(ref.length, n + 2);
      const r = await gpu(reduceOp(name, c.dims, c.keepdim, correction), xs, c.shape, w);
      expect(r.shape, `${name} shape`).toEqual(want);
      expectClose(r.y, ref, TOL.reduction, `${name} forward`);
      expectClose(r.dx, reduceBackwardRef(name, xs, c.shape, c.dims, w, correction), name === 'sum' || name === 'mean' ? TOL.elementwise : TOL.reduction, `${name} backward`);
    }
  });

  it('var and std: correction 0, 2, unbiased false; one term with correction 1 is NaN, as torch', async () => {
    const shape = [5, 9];
    const xs = reduceInputs(45, 8);
    const w = randomArray(5, 9);
    for (const [opts, correction] of [[{ correction: 0 }, 0], [{ correction: 2 }, 2], [{ unbiased: false }, 0], [{ unbiased: true }, 1]] as const) {
      for (const name of ['var', 'std'] as const) {
        const op = (x: Tensor) => (name === 'var' ? variance : std)(x, 1, opts);
        const r = await gpu(op, xs, shape, w);
        expectClose(r.y, reduceRef(name, xs, shape, 1, correction), TOL.reduction, `${name} ${JSON.stringify(opts)}`);
        expectClose(r.dx, reduceBackwardRef(name, xs, shape, 1, w, correction), TOL.reduction, `${name} ${JSON.stringify(opts)} backward`);
      }
    }
    const one = await gpu((x) => variance(x), [0.5], [1], [1]);
    expect(Number.isNaN(one.y[0])).toBe(true);
  });

  it('std of equal values is 0 with a zero gradient (torch masks it)', async () => {
    const r = await gpu((x) => std(x, 0), [0.5, 0.5, 0.5], [3], [1]);
    expect(Array.from(r.y)).toEqual([0]);
    expect(Array.from(r.dx)).toEqual([0, 0, 0]);
  });

  it('var is two-pass: a large offset does not cancel (E[x²] − E[x]² would)', async () => {
    const xs = Float64Array.from(reduceInputs(1000, 3), (v) => Math.fround(1e4 + v));
    const r = await gpu((x) => variance(x), xs, [1000], [1]);
    expectClose(r.y, reduceRef('var', xs, [1000], undefined), TOL.reduction, 'var at offset 1e4');
  });

  it('logsumexp: −inf terms, a row of −inf gives −inf (gradient NaN, as torch), +inf gives +inf, large values do not overflow', async () => {
    const ninf = -Infinity;
    const xs = [ninf, ninf, ninf, 0.5, ninf, 1, 88, 89, 90, Infinity, 1, 2];
    const r = await gpu((x) => logsumexp(x, 1), xs, [4, 3], [1, 1, 1, 1]);
    const ref = reduceRef('logsumexp', xs, [4, 3], 1);
    expectSame(r.y.subarray(0, 1), [ninf], 'all −inf');
    expectSame(r.y.subarray(3, 4), [Infinity], '+inf');
    expectClose(r.y.subarray(1, 3), ref.subarray(1, 3), TOL.reduction, 'finite rows');
    expect(Array.from(r.dx.subarray(0, 3)).every(Number.isNaN)).toBe(true);
    expectClose(r.dx.subarray(3, 9), reduceBackwardRef('logsumexp', xs, [4, 3], 1, [1, 1, 1, 1]).subarray(3, 9), TOL.reduction, 'finite rows backward');
    for (const [seed, shape] of [[1, [6, 13]], [2, [3, 100]]] as const) {
      const v = reduceInputs(numel(shape), seed, '-inf');
      const out = await gpu((x) => logsumexp(x, -1, true), v, [...shape], randomArray(shape[0], 3));
      expectCloseNonFinite(out.y, reduceRef('logsumexp', v, [...shape], -1), TOL.reduction, `logsumexp with −inf [${shape}]`);
      expectCloseNonFinite(out.dx, reduceBackwardRef('logsumexp', v, [...shape], -1, randomArray(shape[0], 3)), TOL.reduction, `logsumexp with −inf [${shape}] backward`);
    }
  });
});

describe('max and min without dim: 0-d, gradient split among ties', () => {
  const kinds: InputKind[] = ['random', 'ties', 'equal'];
  it.each(REDUCE_DIMS_CASES.filter((c) => c.dims === undefined).map((c) => [c.shape]))('[%j]', async (shape) => {
    const n = numel(shape);
    for (const kind of kinds) {
      const xs = reduceInputs(n, n, kind);
      for (const name of ['max', 'min'] as const) {
        const r = await gpu(reduceOp(name, undefined, false), xs, shape, [0.75]);
        expect(r.shape).toEqual([]);
        expectSame(r.y, Float32Array.from(reduceRef(name, xs, shape, undefined)), `${name} ${kind}`);
        expectClose(r.dx, reduceBackwardRef(name, xs, shape, undefined, [0.75]), TOL.elementwise, `${name} ${kind} backward`);
      }
    }
  });

  it('NaN propagates, and its gradient goes to the NaNs', async () => {
    const xs = [1, NaN, 3, NaN];
    for (const name of ['max', 'min'] as const) {
      const r = await gpu(reduceOp(name, undefined, false), xs, [4], [1]);
      expect(Number.isNaN(r.y[0])).toBe(true);
      expect(Array.from(r.dx)).toEqual([0, 0.5, 0, 0.5]);
    }
  });
});

/** The GPU's values/indices of a selection, and dx for upstream w on the values. */
async function gpuSelect(op: (x: Tensor) => ValuesIndices, xs: ArrayLike<number>, shape: number[], w: ArrayLike<number>) {
  const x = tensor(rt, xs, shape).requireGrad();
  const r = tidy(() => {
    const r = op(x);
    expect(r.indices.dtype).toBe('i32');
    expect(r.indices.requiresGrad).toBe(false);
    r.values.backward(tensor(rt, w, r.values.shape));
    return r;
  });
  const out = { values: await r.values.toArray(), indices: await r.indices.toInt32Array(), shape: [...r.values.shape], dx: await x.grad!.toArray() };
  for (const t of [x, r.values, r.indices]) t.dispose();
  return out;
}

function expectSelect(r: Awaited<ReturnType<typeof gpuSelect>>, xs: ArrayLike<number>, shape: number[], dim: number | undefined, k: number, order: SelectRefOrder, w: ArrayLike<number>, what: string) {
  const ref = selectRef(xs, shape, dim, k, order);
  expectSame(r.values, Float32Array.from(ref.values), `${what} values`);
  expectSame(r.indices, ref.indices, `${what} indices`);
  expectClose(r.dx, selectBackwardRef(shape, dim, k, ref.indices, w), TOL.elementwise, `${what} backward`);
}

describe('max, min, argmax, argmin along a dim: GPU vs reference (first occurrence of ties)', () => {
  const kinds: InputKind[] = ['random', 'ties', 'equal', 'nan'];
  it.each(SELECT_CASES.map((c) => [`[${c.shape}] dim ${c.dim ?? 'none'}${c.keepdim ? ' keepdim' : ''}`, c] as const))('%s', async (_, c) => {
    const n = numel(c.shape);
    const [outer, , inner] = selectRows(c.shape, c.dim);
    const want = c.dim === undefined ? (c.keepdim ? c.shape.map(() => 1) : []) : reducedShapeRef(c.shape, c.dim, c.keepdim);
    for (const kind of kinds) {
      const xs = reduceInputs(n, n + 3, kind);
      const w = randomArray(outer * inner, n);
      for (const name of ['max', 'min'] as const) {
        const order = SELECT_ORDERS[name];
        if (c.dim !== undefined) {
          const r = await gpuSelect((x) => (name === 'max' ? max : min)(x, c.dim!, c.keepdim), xs, c.shape, w);
          expect(r.shape).toEqual(want);
          expectSelect(r, xs, c.shape, c.dim, 1, order, w, `${name} ${kind}`);
        }
        const x = tensor(rt, xs, c.shape);
        const idx = (name === 'max' ? argmax : argmin)(x, c.dim, c.keepdim);
        expect(idx.shape).toEqual(want);
        expect(idx.dtype).toBe('i32');
        expectSame(await idx.toInt32Array(), selectRef(xs, c.shape, c.dim, 1, order).indices, `arg${name} ${kind}`);
        x.dispose();
        idx.dispose();
      }
    }
  });
});

describe('topk: GPU vs reference', () => {
  const kinds: InputKind[] = ['random', 'ties', 'nan'];
  it.each(TOPK_CASES)('[%j] dim %s k %s', async (shape, dim, k) => {
    const n = numel(shape);
    const [outer, , inner] = selectRows(shape, dim);
    for (const kind of kinds) {
      const xs = reduceInputs(n, n + k, kind);
      const w = randomArray(outer * k * inner, n);
      for (const largest of [true, false]) {
        const r = await gpuSelect((x) => topk(x, k, dim, largest), xs, shape, w);
        expect(r.shape).toEqual(shape.map((s, i) => (i === (dim < 0 ? dim + shape.length : dim) ? k : s)));
        expectSelect(r, xs, shape, dim, k, largest ? SELECT_ORDERS.topkLargest : SELECT_ORDERS.topkSmallest, w, `topk ${largest ? 'largest' : 'smallest'} ${kind}`);
      }
    }
  });

  it('NaN counts as the largest: first for largest, last for smallest, as torch', async () => {
    const r = await gpuSelect((x) => topk(x, 3, 0), [1, NaN, 3, 2], [4], [1, 1, 1]);
    expectSame(r.values, [NaN, 3, 2], 'largest');
    const s = await gpuSelect((x) => topk(x, 4, 0, false), [1, NaN, 3, 2], [4], [1, 1, 1, 1]);
    expectSame(s.values, [1, 2, 3, NaN], 'smallest');
    expect(Array.from(s.indices)).toEqual([0, 3, 2, 1]);
  });
});

describe('errors name the op, the shape and what is wrong', () => {
  it('bad dims, k and options', () => {
    const x = tensor(rt, randomArray(6, 1), [2, 3]);
    const cases: [RegExp, () => unknown][] = [
      [/sum: dim 3 is out of range for shape \[2, 3\]/, () => sum(x, 3)],
      [/mean: dim -3 is out of range for shape \[2, 3\]/, () => mean(x, [0, -3])],
      [/var: dim -1 appears more than once in \[1, -1\]/, () => variance(x, [1, -1])],
      [/logsumexp: dim 0.5 is not an integer/, () => logsumexp(x, 0.5)],
      [/max: dim 2 is out of range/, () => max(x, 2)],
      [/argmin: dim -3 is out of range/, () => argmin(x, -3)],
      [/topk: k 4 is out of range for dim -1 of size 3 in shape \[2, 3\]/, () => topk(x, 4)],
      [/topk: k 0 is out of range/, () => topk(x, 0)],
      [/std: give correction or unbiased, not both/, () => std(x, 1, { correction: 1, unbiased: true })],
      [/var: correction must be a finite number/, () => variance(x, 1, { correction: -1 })],
    ];
    for (const [re, f] of cases) expect(f).toThrow(re);
    x.dispose();
  });

  it('more than four separate runs of dims; empty and i32 tensors', () => {
    const x = tensor(rt, new Float32Array(2 ** 9), [2, 2, 2, 2, 2, 2, 2, 2, 2]);
    expect(() => sum(x, [0, 2, 4, 6, 8])).toThrow(/sum: reducing dims \[0, 2, 4, 6, 8\] of shape \[2, 2, 2, 2, 2, 2, 2, 2, 2\] leaves 4 kept and 5 reduced runs/);
    x.dispose();
    const e = Tensor.zeros([0, 3], rt);
    expect(() => max(e, 1)).toThrow(/max: x \[0, 3\] is empty/);
    const f = tensor(rt, [1, 2], [2]);
    const i = argmax(f);
    expect(() => sum(i)).toThrow(/sum: x \[\] is an i32 tensor/);
    for (const t of [e, f, i]) t.dispose();
  });
});

describe('Tensor methods and the functional API', () => {
  it('x.sum/mean/max/min/argmax/argmin/var/std/logsumexp/topk, F.var', async () => {
    const xs = reduceInputs(2 * 3 * 4, 11);
    const shape = [2, 3, 4];
    const x = tensor(rt, xs, shape);
    const out = tidy(() => ({
      sum: x.sum([0, 2], true),
      mean: x.mean(-1),
      max: x.max(),
      maxDim: x.max(1, true),
      min: x.min(1),
      argmax: x.argmax(),
      argmin: x.argmin(2, true),
      var: x.var(1, { correction: 0 }),
      std: x.std(),
      fvar: F.var(x, [0, 1]),
      lse: x.logsumexp([1, 2]),
      topk: x.topk(2),
    }));
    expect(out.sum.shape).toEqual([1, 3, 1]);
    const all = sum(x, []);
    expect(all.shape).toEqual([]);
    expectClose(await all.toArray(), reduceRef('sum', xs, shape, undefined), TOL.reduction, 'sum(x, []) reduces every dim, as torch');
    all.dispose();
    expectClose(await out.sum.toArray(), reduceRef('sum', xs, shape, [0, 2]), TOL.reduction, 'x.sum');
    expectClose(await out.mean.toArray(), reduceRef('mean', xs, shape, -1), TOL.reduction, 'x.mean');
    expect(out.max.shape).toEqual([]);
    expect(await out.max.item()).toBe(Math.fround(reduceRef('max', xs, shape, undefined)[0]));
    expect(out.maxDim.values.shape).toEqual([2, 1, 4]);
    expectSame(await out.min.indices.toInt32Array(), selectRef(xs, shape, 1, 1, SELECT_ORDERS.min).indices, 'x.min(1)');
    expect(out.argmax.shape).toEqual([]);
    expect((await out.argmax.toInt32Array())[0]).toBe(selectRef(xs, shape, undefined, 1, SELECT_ORDERS.max).indices[0]);
    expect(out.argmin.shape).toEqual([2, 3, 1]);
    expectClose(await out.var.toArray(), reduceRef('var', xs, shape, 1, 0), TOL.reduction, 'x.var');
    expectClose(await out.std.toArray(), reduceRef('std', xs, shape, undefined), TOL.reduction, 'x.std');
    expectClose(await out.fvar.toArray(), reduceRef('var', xs, shape, [0, 1]), TOL.reduction, 'F.var');
    expectClose(await out.lse.toArray(), reduceRef('logsumexp', xs, shape, [1, 2]), TOL.reduction, 'x.logsumexp');
    expect(out.topk.values.shape).toEqual([2, 3, 2]);
    const flat = Object.values(out).flatMap((v) => ('values' in v ? [v.values, v.indices] : [v]));
    for (const t of [x, ...flat]) t.dispose();
  });

  it('0-d tensors take dim 0 or -1, as torch', async () => {
    const x = tensor(rt, [2.5], []);
    const out = tidy(() => [sum(x, 0), mean(x, -1, true), max(x, 0).values, argmax(x, 0), topk(x, 1).values]);
    for (const t of out) expect(t.shape).toEqual([]);
    expect(await out[0].item()).toBe(2.5);
    for (const t of [x, ...out]) t.dispose();
  });
});

describe('memory', () => {
  it('no GPU buffer leaks through forward, backward and disposal; indices outlive a disposed values tensor', async () => {
    const x = tensor(rt, reduceInputs(60, 2), [3, 4, 5]).requireGrad();
    const step = () =>
      tidy(() => {
        const a = sum(variance(x, [0, 2], { keepdim: true }));
        const b = sum(topk(x, 2, 1).values);
        const c = sum(logsumexp(x, 1));
        const d = max(x, 2).values.sum().add(max(x)).add(std(x).mul(2));
        a.add(b).add(c.add(d)).backward();
      });
    step();
    x.zeroGrad();
    const before = rt.poolStats().liveBuffers;
    for (let i = 0; i < 3; i++) {
      step();
      x.zeroGrad();
    }
    expect(rt.poolStats().liveBuffers).toBe(before);
    // The backward keeps its own view of the indices: disposing the returned indices first is safe.
    const r = topk(x, 2, 1);
    r.indices.dispose();
    tidy(() => sum(r.values).backward());
    expect(x.grad).not.toBeNull();
    r.values.dispose();
    x.dispose();
  });
});

describe("the page's reduce group (src/web/gradcheck/reduce.ts)", () => {
  it('passes on this adapter, covers every kernel it names, and frees every buffer', async () => {
    const suite = new GradCheckSuite(rt);
    const live = rt.poolStats().liveBuffers;
    await reduceGroup.run(suite);
    expect(suite.results.filter((r) => !r.ok)).toEqual([]);
    for (const k of reduceGroup.kernels) expect(suite.results.some((r) => r.kernel === k), k).toBe(true);
    expect(rt.poolStats().liveBuffers).toBe(live);
  });
});
