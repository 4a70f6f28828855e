import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, randomArray, tensor } from './helpers/numeric';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { tidy } from '../src/autograd/scope';
import { dropout, dropoutWithMask } from '../src/autograd/ops/dropout';
import { dropoutScale } from '../src/kernels/dropout';
import { dropoutMaskRef, dropoutRef, rand01Ref } from '../src/reference/dropout';
import { DROPOUT_MASK_PS, DROPOUT_P, DROPOUT_SHAPES } from '../src/reference/cases';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

const rand01 = rand01Ref;
const maskRef = dropoutMaskRef;
/** x · mask · 1/(1−p), rounded as the GPU does in float32 (the reference's scale is the kernel's). */
function applyMaskRef(x: ArrayLike<number>, mask: ArrayLike<number>, p: number): Float64Array {
  expect(Math.fround(dropoutScale(p))).toBe(Math.fround(p >= 1 ? 0 : 1 / (1 - p)));
  return dropoutRef(x, mask, p);
}

/** Forward and backward (upstream w) of f on fresh inputs; returns y, dx as arrays. */
async function run(shape: number[], xs: ArrayLike<number>, w: ArrayLike<number>, f: (x: Tensor) => Tensor) {
  const x = tensor(rt, xs, shape).requireGrad();
  const y = tidy(() => {
    const y = f(x);
    y.backward(tensor(rt, w, shape));
    return y;
  });
  const out = { y: await y.toArray(), dx: await x.grad!.toArray() };
  x.dispose();
  y.dispose();
  return out;
}

describe('dropout: the mask generator', () => {
  it('the CPU port of the generator reproduces Tensor.rand (elementwise/fill.wgsl) bit for bit', async () => {
    const n = 4099;
    for (const seed of [0, 12345, 0xffffffff]) {
      const t = Tensor.rand([n], seed, 0, 1, rt);
      const got = await t.toArray();
      t.dispose();
      const want = Float64Array.from({ length: n }, (_, i) => rand01(seed >>> 0, i, 0));
      expect(Array.from(got)).toEqual(Array.from(want));
    }
  });

  it('dropout draws its mask from the same generator (stream 3), so it depends only on (seed, index)', async () => {
    const shape = [3, 7, 13];
    const n = 3 * 7 * 13;
    const xs = randomArray(n, 5, 0.5, 2); // no zeros, so the mask shows in the output
    for (const [p, seed] of [[0.5, 1], [0.1, 77], [0.9, 0xdeadbeef]]) {
      const { y } = await run(shape, xs, xs, (x) => dropout(x, p, true, seed));
      expect(Array.from(y)).toEqual(Array.from(applyMaskRef(xs, maskRef(n, p, seed), p)));
    }
  });

  it('is deterministic for a seed and differs between seeds', async () => {
    const n = 1000;
    const xs = randomArray(n, 6, 0.5, 2);
    const a = (await run([n], xs, xs, (x) => dropout(x, 0.5, true, 42))).y;
    const b = (await run([n], xs, xs, (x) => dropout(x, 0.5, true, 42))).y;
    const c = (await run([n], xs, xs, (x) => dropout(x, 0.5, true, 43))).y;
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  it.each([0.1, 0.3, 0.5, 0.9])('p = %f: the kept fraction is 1−p within 6 sigma over 2^20 elements, and kept values are scaled by exactly 1/(1−p)', async (p) => {
    const n = 1 << 20;
    const x = Tensor.ones([n], rt);
    const y = dropout(x, p, true, 2024);
    const out = await y.toArray();
    x.dispose();
    y.dispose();
    const scale = Math.fround(1 / (1 - p));
    let kept = 0;
    for (const v of out) {
      if (v !== 0) {
        kept++;
        if (v !== scale) throw new Error(`a kept value is ${v}, expected ${scale}`);
      }
    }
    const sigma = Math.sqrt((p * (1 - p)) / n);
    expect(Math.abs(kept / n - (1 - p))).toBeLessThan(6 * sigma);
  });
});

describe('gradient check: dropout', () => {
  it.each(DROPOUT_SHAPES.map((s) => [s]))(`dropout %j (p = ${DROPOUT_P}): the backward uses the same mask as the forward`, async (shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const xs = randomArray(n, n + 1);
    const w = randomArray(n, n + 2);
    const seed = 9000 + n;
    const mask = maskRef(n, DROPOUT_P, seed);
    const { y, dx } = await run(shape, xs, w, (x) => dropout(x, DROPOUT_P, true, seed));
    expectClose(y, applyMaskRef(xs, mask, DROPOUT_P), TOL.elementwise, 'forward');
    expectClose(dx, applyMaskRef(w, mask, DROPOUT_P), TOL.elementwise, 'backward');
    // And the same positions are zero in y and dx (w and x have no zeros of their own).
    for (let i = 0; i < n; i++) expect(y[i] === 0).toBe(dx[i] === 0);
  });

  it('eval mode and p = 0 are the identity (forward and backward)', async () => {
    const n = 33;
    const xs = randomArray(n, 3);
    const w = randomArray(n, 4);
    for (const f of [(x: Tensor) => dropout(x, 0.5, false, 1), (x: Tensor) => dropout(x, 0, true, 1), (x: Tensor) => dropout(x, 1, false, 1)]) {
      const { y, dx } = await run([n], xs, w, f);
      expect(Array.from(y)).toEqual(Array.from(Float32Array.from(xs)));
      expect(Array.from(dx)).toEqual(Array.from(Float32Array.from(w)));
    }
  });

  it('p = 1 gives zeros and zero gradients', async () => {
    const n = 13;
    const { y, dx } = await run([n], randomArray(n, 5), randomArray(n, 6), (x) => dropout(x, 1, true, 3));
    expect(Array.from(y).every((v) => v === 0)).toBe(true);
    expect(Array.from(dx).every((v) => v === 0)).toBe(true);
  });

  it.each(DROPOUT_MASK_PS)('dropoutWithMask (p = %f): forward and backward apply the explicit mask, scaled by 1/(1−p)', async (p) => {
    const shape = [2, 13, 3];
    const n = 78;
    const xs = randomArray(n, 7);
    const w = randomArray(n, 8);
    const mask = Float64Array.from(randomArray(n, 9, 0, 1), (v) => (v < 0.5 ? 0 : 1));
    const m = tensor(rt, mask, shape);
    const { y, dx } = await run(shape, xs, w, (x) => dropoutWithMask(x, m, p));
    m.dispose();
    expectClose(y, applyMaskRef(xs, mask, p), TOL.elementwise, 'forward');
    expectClose(dx, applyMaskRef(w, mask, p), TOL.elementwise, 'backward');
  });

  it('rejects a bad p, a non-integer seed and a mask of another shape', () => {
    const x = Tensor.zeros([2, 3], rt);
    const m = Tensor.zeros([3, 2], rt);
    expect(() => dropout(x, 1.5, true, 1)).toThrowError(/\[0, 1\]/);
    expect(() => dropout(x, -0.1, false, 1)).toThrowError(/\[0, 1\]/);
    expect(() => dropout(x, 0.5, true, 1.5)).toThrowError(/seed/);
    expect(() => dropoutWithMask(x, m, 0.5)).toThrowError(/shape/);
    x.dispose();
    m.dispose();
  });

  it('frees its temporaries (live GPU bytes return to the start)', async () => {
    const x = tensor(rt, randomArray(100, 3), [10, 10]).requireGrad();
    const w = tensor(rt, randomArray(100, 4), [10, 10]);
    const step = (i: number) => {
      tidy(() => dropout(dropout(x, 0.3, true, i), 0.5, false, i).backward(w));
      x.zeroGrad();
    };
    step(0);
    await rt.sync();
    const before = rt.poolStats().liveBytes;
    for (let i = 1; i < 6; i++) step(i);
    await rt.sync();
    expect(rt.poolStats().liveBytes).toBe(before);
    x.dispose();
    w.dispose();
  });
});
