// float16 (issue 19): the page's float16 group (src/web/gradcheck/half.ts: every float16 path forward and backward
// against the float64 references on float16-rounded inputs, at f16Tol), then what only Node can check: the CPU
// encoder against f16Round on a dense sweep of float32 values, float16 tensors' upload and read-back, the ops that
// refuse float16, a device without shader-f16, and that no GPU buffer leaks through any float16 op.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import type { GpuRuntime } from '../src/gpu/runtime';
import { initGpu } from '../src/gpu/init';
import { setRuntime } from '../src/gpu/current';
import { Tensor } from '../src/autograd/tensor';
import { autocast, tidy } from '../src/autograd/scope';
import { releaseGraph } from '../src/autograd/graph';
import { roundF16, toDtype } from '../src/autograd/ops/half';
import { conv2d } from '../src/autograd/ops/conv';
import { linear, matmul } from '../src/autograd/ops/linear';
import { batchNorm, batchNormAddRelu, batchNormRelu } from '../src/autograd/ops/batchnorm';
import { adaptiveAvgPool2d, maxPool2d } from '../src/autograd/ops/pool';
import { dropout } from '../src/autograd/ops/dropout';
import { crossEntropy } from '../src/autograd/ops/loss';
import { unaryOp } from '../src/autograd/ops/unary';
import { add, mul, sub } from '../src/autograd/ops/binary';
import * as F from '../src/autograd/functional';
import { hasF16 } from '../src/kernels/cast';
import { decodeF16, encodeF16, f16Bits, f16Value } from '../src/kernels/cast/half';
import { F16_ROUND, f16Round, f16RoundAll, f16Tol } from '../src/reference/half';
import { randomArray } from '../src/reference/math';
import { GradCheckSuite } from '../src/web/gradcheck-cases';
import { PAGE_GROUPS } from '../src/web/gradcheck/groups';
import { F16_SPECIAL_INPUTS, disagreements, f16SweepInputs, halfPageGroup, sameFloat } from '../src/web/gradcheck/half';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

/** The float32 value of bits `u`. */
const f32OfBits = (() => {
  const u = new Uint32Array(1);
  const f = new Float32Array(u.buffer);
  return (bits: number) => {
    u[0] = bits >>> 0;
    return f[0];
  };
})();

describe('the reference rounding f16Round', () => {
  it('gives the IEEE binary16 landmarks (largest finite, overflow threshold, subnormal step, ties to even)', () => {
    // 65504 = (2 − 2^-10)·2^15 is the largest float16; round-to-nearest takes values from 65520 (its midpoint with 2^16) to inf
    expect(f16Round(65504)).toBe(65504);
    expect(f16Round(65519.99)).toBe(65504);
    expect(f16Round(65520)).toBe(Infinity);
    expect(f16Round(-65520)).toBe(-Infinity);
    expect(f16Round(2 ** -24)).toBe(2 ** -24);
    expect(f16Round(2 ** -25)).toBe(0); // a tie between 0 and the smallest subnormal: to even (0)
    expect(f16Round(3 * 2 ** -25)).toBe(2 ** -23); // a tie between 2^-24 and 2^-23: to even (2^-23)
    expect(f16Round(1 + 2 ** -11)).toBe(1);
    expect(f16Round(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
    expect(f16Round(2049)).toBe(2048);
    expect(f16Round(2051)).toBe(2052);
    expect(Object.is(f16Round(-0), -0)).toBe(true);
    expect(f16Round(NaN)).toBeNaN();
  });
});

describe('the CPU encoder (kernels/cast/half.ts) against f16Round', () => {
  it('agrees on a dense sweep of float32 bit patterns (every exponent, both signs, subnormals, overflow, inf, NaN)', () => {
    // every 4099th bit pattern (a prime stride, ~1 million values): every exponent, ~2000 mantissas each, both signs
    const bad: string[] = [];
    for (let bits = 0; bits < 2 ** 32; bits += 4099) {
      const v = f32OfBits(bits);
      const got = f16Value(f16Bits(v));
      if (!sameFloat(got, f16Round(v)) && bad.length < 10) bad.push(`${v} (bits ${bits.toString(16)}): encoder ${got}, f16Round ${f16Round(v)}`);
    }
    expect(bad).toEqual([]);
  });

  it('agrees at every float16 value, every midpoint between neighbours (ties to even) and one float32 step either side', () => {
    const bad: string[] = [];
    for (let h = 0; h < 0x7c00; h++) {
      const v = f16Value(h);
      const next = h + 1 < 0x7c00 ? f16Value(h + 1) : 65536; // past 65504 the "next" value is 2^16 (the overflow midpoint 65520)
      const mid = (v + next) / 2;
      const fmid = Math.fround(mid);
      const up = f32OfBits(new Uint32Array(new Float32Array([fmid]).buffer)[0] + 1);
      const down = mid > 0 ? f32OfBits(new Uint32Array(new Float32Array([fmid]).buffer)[0] - 1) : 0;
      for (const x of [v, mid, up, down]) {
        for (const s of [x, -x]) {
          const got = f16Value(f16Bits(s));
          if (!sameFloat(got, f16Round(s)) && bad.length < 10) bad.push(`${s}: encoder ${got}, f16Round ${f16Round(s)}`);
        }
      }
      // midpoints are float32 values (float16's 11 significant bits plus one), so they are real ties
      expect(fmid).toBe(mid);
    }
    expect(bad).toEqual([]);
  });

  it('rounds float64 values once (not to float32 first): just off every midpoint, and random float64 values', () => {
    // 1 + 2^-11 + 2^-40 is above the tie 1 + 2^-11 (so 1 + 2^-10), and 65519.999999 below the overflow threshold
    // (so 65504); rounding to float32 first would make both ties, then 1 and inf
    expect(f16Value(f16Bits(1 + 2 ** -11 + 2 ** -40))).toBe(1 + 2 ** -10);
    expect(f16Value(f16Bits(65519.999999))).toBe(65504);
    const bad: string[] = [];
    const xs: number[] = Array.from(randomArray(10000, 3, -70000, 70000), (v, i) => v * (1 + i * 2 ** -45));
    for (let h = 0; h < 0x7c00; h += 3) {
      const v = f16Value(h);
      const mid = (v + (h + 1 < 0x7c00 ? f16Value(h + 1) : 65536)) / 2;
      for (const e of [2 ** -30, 2 ** -40, 2 ** -50]) xs.push(mid * (1 + e), mid * (1 - e), -mid * (1 + e));
    }
    for (const x of xs) {
      const got = f16Value(f16Bits(x));
      if (!sameFloat(got, f16Round(x)) && bad.length < 10) bad.push(`${x}: encoder ${got}, f16Round ${f16Round(x)}`);
    }
    expect(bad).toEqual([]);
  });

  it('decodes every bit pattern to a value that encodes back to it (NaNs to a NaN)', () => {
    const bad: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const v = f16Value(h);
      const back = f16Bits(v);
      const nan = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (nan ? !Number.isNaN(f16Value(back)) : back !== h) bad.push(h);
    }
    expect(bad).toEqual([]);
    const xs = [...F16_SPECIAL_INPUTS];
    expect(disagreements(decodeF16(encodeF16(xs), xs.length), f16RoundAll(xs))).toBe(0);
  });
});

describe('float16 tensors: upload and read-back', () => {
  it('fromArray(…, f16).toArray() gives f16Round of every value, at odd lengths (half a word of padding)', async () => {
    for (const xs of [[...F16_SPECIAL_INPUTS], [3.14159], [1, -2.5, 65519], Array.from(f16SweepInputs(1001, 5))]) {
      const t = Tensor.fromArray(xs, [xs.length], 'f16', rt);
      expect(t.dtype).toBe('f16');
      expect(t.byteLength).toBe(Math.ceil(xs.length / 2) * 4);
      expect(disagreements(await t.toArray(), f16RoundAll(xs))).toBe(0);
      t.dispose();
    }
  });

  it('float16 values survive the round trip float16 → float32 → float16 exactly', async () => {
    const xs = Array.from(f16RoundAll(f16SweepInputs(333, 7)));
    const t = Tensor.fromArray(xs, [3, 111], 'f16', rt);
    const back = tidy(() => t.float().half());
    expect(back.dtype).toBe('f16');
    expect(disagreements(await back.toArray(), xs)).toBe(0);
    t.dispose();
    back.dispose();
  });
});

describe('ops without float16 refuse a float16 tensor, naming the op and .float()', () => {
  const cases: [string, (x: Tensor) => unknown][] = [
    ['sum', (x) => F.sum(x)],
    ['mean', (x) => F.mean(x, 1)],
    ['softmax', (x) => F.softmax(x, 1)],
    ['logSoftmax', (x) => F.logSoftmax(x, 1)],
    ['layerNorm', (x) => F.layerNorm(x, [3])],
    ['mseLoss', (x) => F.mseLoss(x, x)],
    ['permute', (x) => F.permute(x, [1, 0])],
    ['cat', (x) => F.cat([x, x], 0)],
  ];
  it.each(cases)('%s', (name, op) => {
    const x = Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3], 'f16', rt);
    try {
      expect(() => tidy(() => op(x))).toThrow(new RegExp(`^${name}: .*float16 tensor.*\\.float\\(\\)`));
    } finally {
      x.dispose();
    }
  });
});

describe('a device without shader-f16', () => {
  let bare: GpuRuntime;
  beforeAll(async () => {
    bare = await initGpu({ features: [] });
    setRuntime(rt);
  });
  afterAll(() => {
    bare?.destroy();
  });

  it("refuses float16 tensors with an error naming 'shader-f16' and the adapter, and leaks nothing", async () => {
    expect(hasF16(bare)).toBe(false);
    const live = bare.poolStats().liveBuffers;
    const clear = /'shader-f16'.*float32/;
    expect(() => Tensor.fromArray([1, 2], [2], 'f16', bare)).toThrow(clear);
    expect(() => Tensor.empty([2], 'f16', bare)).toThrow(clear);
    expect(() => Tensor.fromArray([1, 2], [2], 'f16', bare)).toThrow(bare.adapter.name);
    const x = Tensor.fromArray([1, 2, 3, 4], [1, 1, 2, 2], 'f32', bare);
    const w = Tensor.fromArray([1], [1, 1, 1, 1], 'f32', bare);
    expect(() => tidy(() => x.half())).toThrow(clear);
    expect(() => tidy(() => autocast(() => conv2d(x, w)))).toThrow(clear);
    // autocast({ enabled: false }) runs the float32 path on the same device
    const y = tidy(() => autocast(() => conv2d(x, w), { enabled: false }));
    expect(y.dtype).toBe('f32');
    expect(Array.from(await y.toArray())).toEqual([1, 2, 3, 4]);
    for (const t of [x, w, y]) t.dispose();
    await bare.sync();
    expect(bare.poolStats().liveBuffers).toBe(live);
  });

  it("runs the page's float16 group as exactly one check, which passes", async () => {
    const suite = new GradCheckSuite(bare);
    await halfPageGroup.run(suite);
    expect(suite.results.map((r) => [r.kernel, r.ok, r.message])).toEqual([['float16', true, undefined]]);
    expect(suite.results[0].name).toMatch(/shader-f16/);
  });
});

describe("the gradient-check page's float16 group", () => {
  it('is registered, passes every check on this adapter (which has shader-f16), covers its kernel and leaks no buffer', async () => {
    expect(PAGE_GROUPS).toContain(halfPageGroup);
    expect(hasF16(rt)).toBe(true);
    await rt.sync();
    const before = rt.poolStats().liveBuffers;
    const suite = new GradCheckSuite(rt);
    await halfPageGroup.run(suite);
    await rt.sync();
    expect(suite.results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.error} > ${r.tol} ${r.message ?? ''}`)).toEqual([]);
    for (const k of halfPageGroup.kernels) expect(suite.results.filter((r) => r.kernel === k).length, k).toBeGreaterThan(0);
    // every path of the group ran: casts, conv2d, linear, matmul, batch norms, pools, dropout, cross-entropy, unary, binary, accumulation
    for (const what of ['x.half()', 'x.float()', 'roundF16', 'conv2d', 'linear', 'matmul', 'batchNorm ', 'batchNormRelu', 'batchNormAddRelu', 'maxPool2d', 'adaptiveAvgPool2d', 'dropout', 'crossEntropy', 'gelu', 'add', 'mul', 'accumulation']) {
      expect(suite.results.filter((r) => r.name.includes(what)).length, what).toBeGreaterThan(0);
    }
    expect(rt.poolStats().liveBuffers).toBe(before);
  }, 120_000);

  it('f16Tol: a float32 result is held below one float16 rounding, a float16 one allows one per rounding', () => {
    // the group's float32 outputs (k ≤ 1007): a float16 rounding where the design has none would fail them
    expect(f16Tol(1007, 0)).toBeLessThan(2 ** -11);
    expect(f16Tol(1, 1)).toBeGreaterThan(F16_ROUND);
    expect(f16Tol(1, 1)).toBeLessThan(1.001 * F16_ROUND);
    expect(f16Tol(10, 3)).toBeCloseTo(3 * F16_ROUND + 40 * 2 ** -24, 12);
  });
});

describe('no GPU buffer leaks through a float16 op, forward and backward', () => {
  /** Seeded values of a shape (float32 values; f16 tensors round them). */
  const vals = (shape: number[], seed: number) => randomArray(shape.reduce((a, b) => a * b, 1), seed);
  const h = (shape: number[], seed: number, grad = true) => {
    const t = Tensor.fromArray(vals(shape, seed), shape, 'f16', rt);
    return grad ? t.requireGrad() : t;
  };
  const f = (shape: number[], seed: number, grad = true) => {
    const t = Tensor.fromArray(vals(shape, seed), shape, 'f32', rt);
    return grad ? t.requireGrad() : t;
  };
  const bn = (C: number) => [f([C], 1, false), Tensor.fromArray(new Float32Array(C).fill(1), [C], 'f32', rt), f([C], 2), f([C], 3)] as const;

  /** [name, make the leaves, the op on them]. */
  const ops: [string, () => Tensor[], (t: Tensor[]) => Tensor][] = [
    ['conv2d under autocast, x f16', () => [h([2, 3, 5, 5], 1), f([4, 3, 3, 3], 2), f([4], 3)], ([x, w, b]) => autocast(() => conv2d(x, w, b, { padding: 1 }))],
    ['conv2d under autocast, x f32', () => [f([1, 3, 5, 5], 1), f([4, 3, 3, 3], 2)], ([x, w]) => autocast(() => conv2d(x, w, null, { stride: 2 }))],
    ['linear under autocast', () => [h([3, 5], 1), f([4, 5], 2), f([4], 3)], ([x, w, b]) => autocast(() => linear(x, w, b))],
    ['matmul f16 · f32', () => [h([3, 5], 1), f([5, 2], 2)], ([a, b]) => matmul(a, b)],
    ['batchNorm training', () => { const [rm, rv, w, b] = bn(3); return [h([2, 3, 2, 3], 1), rm, rv, w, b]; }, ([x, rm, rv, w, b]) => batchNorm(x, rm, rv, w, b, true)],
    ['batchNorm eval', () => { const [rm, rv, w, b] = bn(3); return [h([2, 3, 2, 3], 1), rm, rv, w, b]; }, ([x, rm, rv, w, b]) => batchNorm(x, rm, rv, w, b, false)],
    ['batchNormRelu training', () => { const [rm, rv, w, b] = bn(3); return [h([1, 3, 3, 3], 1), rm, rv, w, b]; }, ([x, rm, rv, w, b]) => batchNormRelu(x, rm, rv, w, b, true)],
    ['batchNormAddRelu, residual f16', () => { const [rm, rv, w, b] = bn(3); return [h([2, 3, 2, 2], 1), h([2, 3, 2, 2], 4), rm, rv, w, b]; }, ([x, r, rm, rv, w, b]) => batchNormAddRelu(x, r, rm, rv, w, b, true)],
    ['batchNormAddRelu, residual f32', () => { const [rm, rv, w, b] = bn(3); return [h([2, 3, 2, 2], 1), f([2, 3, 2, 2], 4), rm, rv, w, b]; }, ([x, r, rm, rv, w, b]) => batchNormAddRelu(x, r, rm, rv, w, b, false)],
    ['maxPool2d', () => [h([1, 2, 5, 5], 1)], ([x]) => maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 })],
    ['adaptiveAvgPool2d', () => [h([2, 2, 5, 3], 1)], ([x]) => adaptiveAvgPool2d(x, [2, 2])],
    ['dropout training', () => [h([3, 7], 1)], ([x]) => dropout(x, 0.3, true, 11)],
    ['dropout eval', () => [h([3, 7], 1)], ([x]) => dropout(x, 0.3, false, 11)],
    ['crossEntropy', () => [h([3, 5], 1), Tensor.fromArray([0, 4, 2], [3], 'i32', rt)], ([x, l]) => crossEntropy(x, l)],
    ['relu', () => [h([7], 1)], ([x]) => unaryOp('relu')(x)],
    ['gelu', () => [h([7], 1)], ([x]) => unaryOp('gelu')(x)],
    ['sigmoid', () => [h([7], 1)], ([x]) => unaryOp('sigmoid')(x)],
    ['exp', () => [h([7], 1)], ([x]) => unaryOp('exp')(x)],
    ['add f16 + f16', () => [h([7], 1), h([7], 2)], ([a, b]) => add(a, b)],
    ['mul f16 · f32', () => [h([7], 1), f([7], 2)], ([a, b]) => mul(a, b)],
    ['sub f16 − f16, broadcast', () => [h([2, 3, 4], 1), h([3, 1], 2)], ([a, b]) => sub(a, b)],
    ['mul f16 · number', () => [h([7], 1)], ([a]) => mul(a, 3)],
    ['toDtype f32 → f16', () => [f([7], 1)], ([x]) => toDtype(x, 'f16')],
    ['toDtype f16 → f32', () => [h([7], 1)], ([x]) => toDtype(x, 'f32')],
    ['roundF16', () => [f([7], 1)], ([x]) => roundF16(x)],
  ];

  it.each(ops.map(([name, leaves, op]) => [name, leaves, op] as const))('%s: once, twice (retainGraph), and retained then released', async (_, makeLeaves, op) => {
    await rt.sync();
    const before = rt.poolStats().liveBuffers;
    for (const mode of ['once', 'twice', 'released'] as const) {
      const leaves = makeLeaves();
      tidy(() => {
        const y = op(leaves);
        const dy = Tensor.fromArray(randomArray(y.size, 9), y.shape, 'f32', rt);
        if (mode === 'once') y.backward(dy);
        else if (mode === 'twice') {
          y.backward(dy, { retainGraph: true });
          y.backward(dy);
        } else {
          y.backward(dy, { retainGraph: true });
          releaseGraph(y);
        }
      });
      const grads = leaves.map((t) => t.grad).filter((g): g is Tensor => g !== null);
      expect(grads.length).toBeGreaterThan(0);
      for (const g of grads) expect((await g.toArray()).every((v) => Number.isFinite(v))).toBe(true);
      for (const t of leaves) t.dispose();
    }
    await rt.sync();
    expect(rt.poolStats().liveBuffers).toBe(before);
  });
});
