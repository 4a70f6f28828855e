import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, finiteDiff, randomArray, tensor, weightedSum } from './helpers/numeric';
import { sumAxisRef, zipRef } from '../src/reference/basic';
import { ELEMENTWISE_SIZES, REDUCE_CASES } from '../src/reference/cases';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { tidy, noGrad, keep } from '../src/autograd/scope';
import { add, mul, scale, sub, reshape, flatten } from '../src/autograd/ops/basic';
import { sum, mean } from '../src/autograd/ops/reduce';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

const SIZES = [1, 7, 13, 33, 1000, 65_537];

describe('tensor creation', () => {
  it.each(SIZES)('fromArray/toArray round-trips %i values', async (n) => {
    const data = Float32Array.from(randomArray(n, n));
    const t = Tensor.fromArray(data, [n], 'f32', rt);
    expect(Array.from(await t.toArray())).toEqual(Array.from(data));
    t.dispose();
  });

  it('fill, zeros, ones', async () => {
    const t = Tensor.full([3, 5], -2.5, rt);
    expect(Array.from(await t.toArray())).toEqual(new Array(15).fill(-2.5));
    expect(Array.from(await Tensor.zeros([7], rt).toArray())).toEqual(new Array(7).fill(0));
    t.dispose();
  });

  it('rand is seeded, in range, and roughly uniform', async () => {
    const n = 100_003;
    const a = await Tensor.rand([n], 42, -2, 3, rt).toArray();
    const b = await Tensor.rand([n], 42, -2, 3, rt).toArray();
    const c = await Tensor.rand([n], 43, -2, 3, rt).toArray();
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    let m = 0;
    for (const v of a) {
      expect(v).toBeGreaterThanOrEqual(-2);
      expect(v).toBeLessThan(3);
      m += v / n;
    }
    // mean 0.5, std of the mean = 5/sqrt(12 n) ≈ 0.0046
    expect(Math.abs(m - 0.5)).toBeLessThan(0.03);
  });

  it('randn is seeded with the requested mean and std', async () => {
    const n = 100_003;
    const a = await Tensor.randn([n], 7, 1.5, 2, rt).toArray();
    const b = await Tensor.randn([n], 7, 1.5, 2, rt).toArray();
    expect(Array.from(a)).toEqual(Array.from(b));
    let m = 0;
    for (const v of a) m += v / n;
    let v2 = 0;
    for (const v of a) v2 += (v - m) ** 2 / (n - 1);
    expect(Math.abs(m - 1.5)).toBeLessThan(0.03); // std of mean ≈ 0.0063
    expect(Math.abs(Math.sqrt(v2) - 2)).toBeLessThan(0.03);
    expect(a.every(Number.isFinite)).toBe(true);
  });

  it('reshape and flatten share storage and keep values', async () => {
    const data = randomArray(2 * 3 * 5, 1);
    const t = tensor(rt, data, [2, 3, 5]);
    const r = reshape(t, [6, -1]);
    expect(r.shape).toEqual([6, 5]);
    expect(flatten(t).shape).toEqual([2, 15]);
    expect(Array.from(await r.toArray())).toEqual(Array.from(Float32Array.from(data)));
    expect(() => reshape(t, [4, 4])).toThrowError(/cannot reshape \[2, 3, 5\]/);
    t.dispose();
    // The view keeps the storage alive after the original is disposed.
    expect((await r.toArray()).length).toBe(30);
    r.dispose();
  });
});

describe('gradient check: elementwise ops (add, sub, mul, scale)', () => {
  const cases: [string, (a: Tensor, b: Tensor) => Tensor, (x: number, y: number) => number, (x: number, y: number) => [number, number]][] = [
    ['add', add, (x, y) => x + y, () => [1, 1]],
    ['sub', sub, (x, y) => x - y, () => [1, -1]],
    ['mul', mul, (x, y) => x * y, (x, y) => [y, x]],
    ['scale', (a) => scale(a, -0.75), (x) => -0.75 * x, () => [-0.75, 0]],
  ];
  for (const [name, op, f, df] of cases) {
    it.each(ELEMENTWISE_SIZES)(`gradient check: ${name} on %i elements`, async (n) => {
      const av = randomArray(n, 10 + n);
      const bv = randomArray(n, 20 + n);
      const w = randomArray(n, 30 + n);
      // (a) the float64 reference's backward against finite differences
      const loss = (x: Float64Array, y: Float64Array) => weightedSum(zipRef(x, y, f), w);
      const gaRef = Float64Array.from(av, (x, i) => w[i] * df(x, bv[i])[0]);
      const gbRef = Float64Array.from(av, (x, i) => w[i] * df(x, bv[i])[1]);
      const idx = [...Array(Math.min(n, 40)).keys()];
      expectClose(finiteDiff((x) => loss(x, bv), Float64Array.from(av), 1e-6, idx), idx.map((i) => gaRef[i]), TOL.fd, `${name} ref dA`);
      // (b) the GPU against the reference
      const a = tensor(rt, av, [n]).requireGrad();
      const b = tensor(rt, bv, [n]).requireGrad();
      const wt = tensor(rt, w, [n]);
      const y = tidy(() => {
        const y = op(a, b);
        y.backward(wt);
        return y;
      });
      expectClose(await y.toArray(), zipRef(av, bv, f), TOL.elementwise, `${name} forward`);
      expectClose(await a.grad!.toArray(), gaRef, TOL.elementwise, `${name} dA`);
      if (name !== 'scale') expectClose(await b.grad!.toArray(), gbRef, TOL.elementwise, `${name} dB`);
      else expect(b.grad).toBeNull();
      for (const t of [a, b, wt, y]) t.dispose();
    });
  }
});

describe('gradient check: sum and mean', () => {
  const shapes = REDUCE_CASES;
  for (const which of ['sum', 'mean'] as const) {
    it.each(shapes)(`gradient check: ${which} of %j over axis %s`, async (shape, axis) => {
      const n = shape.reduce((p, d) => p * d, 1);
      const xv = randomArray(n, n + 5);
      const ax = axis === undefined ? -1 : axis < 0 ? axis + shape.length : axis;
      const outer = axis === undefined ? 1 : shape.slice(0, ax).reduce((p, d) => p * d, 1);
      const len = axis === undefined ? n : shape[ax];
      const inner = axis === undefined ? 1 : shape.slice(ax + 1).reduce((p, d) => p * d, 1);
      const k = which === 'mean' ? 1 / len : 1;
      const ref = sumAxisRef(xv, outer, len, inner, k);
      const w = randomArray(ref.length, 99);
      // reference backward: dL/dx[o,j,i] = w[o,i]·k, checked by finite differences
      const gRef = Float64Array.from(xv, (_, j) => w[Math.floor(j / (len * inner)) * inner + (j % inner)] * k);
      const idx = [...Array(Math.min(n, 30)).keys()];
      expectClose(finiteDiff((x) => weightedSum(sumAxisRef(x, outer, len, inner, k), w), Float64Array.from(xv), 1e-6, idx), idx.map((i) => gRef[i]), TOL.fd, 'ref');
      const x = tensor(rt, xv, shape).requireGrad();
      const wt = tensor(rt, w, axis === undefined ? [] : shape.filter((_, i) => i !== ax));
      const y = tidy(() => {
        const y = which === 'sum' ? sum(x, axis) : mean(x, axis);
        expect(y.shape).toEqual(wt.shape);
        y.backward(wt);
        return y;
      });
      expectClose(await y.toArray(), ref, TOL.reduction, `${which} forward`);
      expectClose(await x.grad!.toArray(), gRef, TOL.elementwise, `${which} backward`);
      for (const t of [x, wt, y]) t.dispose();
    });
  }
});

describe('autograd engine', () => {
  it('accumulates gradients across backward calls, and zeroGrad clears them', async () => {
    const x = tensor(rt, [1, 2, 3], [3]).requireGrad();
    for (let i = 0; i < 2; i++) tidy(() => sum(mul(x, x)).backward());
    expect(Array.from(await x.grad!.toArray())).toEqual([4, 8, 12]); // 2 × 2x
    x.zeroGrad();
    expect(x.grad).toBeNull();
    x.dispose();
  });

  it('handles a tensor used twice (diamond graph)', async () => {
    const xv = randomArray(13, 5);
    const x = tensor(rt, xv, [13]).requireGrad();
    tidy(() => {
      const y = add(x, x); // 2x
      const z = mul(y, x); // 2x²
      sum(add(z, y)).backward(); // d/dx = 4x + 2
    });
    expectClose(await x.grad!.toArray(), Float64Array.from(xv, (v) => 4 * v + 2), TOL.elementwise, 'diamond');
    x.dispose();
  });

  it('detach and noGrad stop the graph', () => {
    const x = tensor(rt, [1, 2], [2]).requireGrad();
    tidy(() => {
      expect(add(x.detach(), x.detach()).requiresGrad).toBe(false);
      expect(noGrad(() => add(x, x)).requiresGrad).toBe(false);
      expect(add(x, x).requiresGrad).toBe(true);
    });
    x.dispose();
  });

  it('frees the graph after backward, and tidy() leaves live bytes flat', () => {
    const x = tensor(rt, randomArray(1000, 3), [10, 100]).requireGrad();
    const step = () => tidy(() => sum(mean(mul(add(x, x), x), 1)).backward());
    step();
    const before = rt.poolStats().liveBytes;
    for (let i = 0; i < 50; i++) step();
    expect(rt.poolStats().liveBytes).toBe(before);
    x.dispose();
  });

  it('kept tensors survive tidy; use after dispose is a clear error', async () => {
    let kept!: Tensor;
    let lost!: Tensor;
    tidy(() => {
      kept = keep(Tensor.full([2], 1, rt));
      lost = Tensor.full([2], 1, rt);
    });
    expect(Array.from(await kept.toArray())).toEqual([1, 1]);
    expect(() => lost.buffer).toThrowError(/used after dispose/);
    kept.dispose();
  });

  it('rejects backward from a non-scalar without a gradient', () => {
    const x = tensor(rt, [1, 2], [2]).requireGrad();
    tidy(() => {
      expect(() => add(x, x).backward()).toThrowError(/upstream gradient/);
    });
    x.dispose();
  });
});
