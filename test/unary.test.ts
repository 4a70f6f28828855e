// Gradient checks of every unary op declared in src/kernels/elementwise/unary_ops.ts (the same table drives the
// browser page's gradcheck): the float64 reference's backward vs central finite differences, and the GPU op
// (forward and backward, scalar and vec4 entries) vs the float64 reference over UNARY_SHAPES, each op in its
// domain with its check parameters; then the parameter cases, special values (NaN, ±inf, ±0, large |x|), the
// erf and tanh approximations on a dense grid, and the functional API (F.gelu, F.clamp, …, Tensor methods).
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, finiteDiff, randomArray, relError, tensor, weightedSum } from './helpers/numeric';
import { UNARY_OPS, erf64, erfc64, type UnaryName, type UnaryParams } from '../src/kernels/elementwise/unary_ops';
import { unaryBackwardRef, unaryRef } from '../src/reference/unary';
import { UNARY_FD_SIZE, UNARY_SHAPES, numel } from '../src/reference/cases';
import {
  UNARY_DENSE_GRID, UNARY_PARAM_CASES, UNARY_PARAM_SHAPES, UNARY_SPECIAL_INPUTS, sameSpecial, unaryCheckParams, unaryFdInputsOf, unaryInputs,
} from '../src/reference/unary_cases';
import { unaryOp } from '../src/autograd/ops/unary';
import * as F from '../src/autograd/functional';
import * as root from '../src/index';
import { Tensor } from '../src/autograd/tensor';
import type { GpuRuntime } from '../src/gpu/runtime';
import { tidy } from '../src/autograd/scope';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

/** The GPU op's y and dx for inputs xs and upstream w (op: a declared op with parameters, or any x ↦ y). */
async function runOp(op: UnaryName | ((x: Tensor) => Tensor), xs: ArrayLike<number>, w: ArrayLike<number>, shape: number[], params?: UnaryParams) {
  const f = typeof op === 'string' ? unaryOp(op, params) : op;
  const x = tensor(rt, xs, shape).requireGrad();
  const y = tidy(() => {
    const y = f(x);
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
  const p = unaryCheckParams(spec);

  it('reference backward matches central finite differences (in its domain, away from kinks)', () => {
    const x = unaryFdInputsOf(spec, UNARY_FD_SIZE, 1);
    const w = randomArray(UNARY_FD_SIZE, 2);
    const fd = finiteDiff((v) => weightedSum(unaryRef(name, v, p), w), x);
    expect(relError(unaryBackwardRef(name, x, w, p), fd)).toBeLessThanOrEqual(TOL.fd);
  });

  it.each(UNARY_SHAPES.map((s) => [s]))('%j: GPU forward and backward match the float64 reference', async (shape) => {
    const n = numel(shape);
    const xs = unaryInputs(spec, n, n + 11);
    const w = randomArray(n, n + 12);
    const { y, dx } = await runOp(name, xs, w, shape, p);
    expectClose(y, unaryRef(name, xs, p), TOL.elementwise, `${name} forward`);
    expectClose(dx, unaryBackwardRef(name, xs, w, p), TOL.elementwise, `${name} backward`);
  });

  it('matches the reference at NaN, ±inf, ±0, tiny and large |x| (no NaN from overflow where the reference has none)', async () => {
    const xs = UNARY_SPECIAL_INPUTS;
    const w = xs.map(() => 1);
    const { y, dx } = await runOp(name, xs, w, [xs.length], p);
    const [ry, rdx] = [unaryRef(name, xs, p), unaryBackwardRef(name, xs, w, p)];
    const bad = (got: ArrayLike<number>, want: ArrayLike<number>) => xs.flatMap((x, i) => (sameSpecial(got[i], want[i]) ? [] : [`x=${x}: ${got[i]} vs ${want[i]}`]));
    expect(bad(y, ry), `${name} forward`).toEqual([]);
    expect(bad(dx, rdx), `${name} backward`).toEqual([]);
  });
});

describe.each(UNARY_PARAM_CASES.map((c) => [c.label, c] as const))('parameters: %s', (_, c) => {
  const spec = UNARY_OPS.find((s) => s.name === c.name)!;

  it('reference backward matches central finite differences', () => {
    const x = unaryFdInputsOf(spec, UNARY_FD_SIZE, 3, c.kinks);
    const w = randomArray(UNARY_FD_SIZE, 4);
    const fd = finiteDiff((v) => weightedSum(unaryRef(c.name, v, c.params), w), x);
    expect(relError(unaryBackwardRef(c.name, x, w, c.params), fd)).toBeLessThanOrEqual(TOL.fd);
  });

  it.each(UNARY_PARAM_SHAPES.map((s) => [s]))('%j: GPU forward and backward match the float64 reference', async (shape) => {
    const n = numel(shape);
    const xs = randomArray(n, n + 21, -2, 2);
    const w = randomArray(n, n + 22);
    const { y, dx } = await runOp(c.name, xs, w, shape, c.params);
    expectClose(y, unaryRef(c.name, xs, c.params), TOL.elementwise, `${c.label} forward`);
    expectClose(dx, unaryBackwardRef(c.name, xs, w, c.params), TOL.elementwise, `${c.label} backward`);
  });
});

describe('special values, as PyTorch', () => {
  it('log, sqrt and rsqrt: NaN below 0, log(±0) = −inf, rsqrt(±0) = ±inf, sqrt(−0) = −0', async () => {
    const xs = [-1, -0, 0, -Infinity, 4];
    const w = xs.map(() => 1);
    const log = await runOp('log', xs, w, [xs.length]);
    expect(Array.from(log.y)).toEqual([NaN, -Infinity, -Infinity, NaN, Math.fround(Math.log(4))]);
    const sqrt = await runOp('sqrt', xs, w, [xs.length]);
    expect(Array.from(sqrt.y)).toEqual([NaN, -0, 0, NaN, 2]);
    expect(Object.is(sqrt.y[1], -0)).toBe(true);
    const rsqrt = await runOp('rsqrt', xs, w, [xs.length]);
    expect(Array.from(rsqrt.y)).toEqual([NaN, -Infinity, Infinity, NaN, 0.5]);
  });

  it('abs: gradient 0 at ±0; clamp: gradient dy at the bounds themselves (inclusive) and 0 at NaN', async () => {
    const abs = await runOp('abs', [0, -0, 2, -3], [5, 5, 5, 5], [4]);
    expect(Array.from(abs.dx)).toEqual([0, 0, 5, -5]);
    const clamp = await runOp('clamp', [-0.5, 0.75, -0.6, 0.8, 0.1, NaN, -Infinity, Infinity], [1, 2, 3, 4, 5, 6, 7, 8], [8], { min: -0.5, max: 0.75 });
    expect(Array.from(clamp.y)).toEqual([-0.5, 0.75, -0.5, 0.75, Math.fround(0.1), NaN, -0.5, 0.75]);
    expect(Array.from(clamp.dx)).toEqual([1, 2, 0, 0, 5, 0, 0, 0]);
  });

  it('clamp with one bound leaves ±inf beyond the other side; leakyRelu at 0 takes the slope, as torch', async () => {
    const lo = await runOp((x) => F.clamp(x, 0), [-Infinity, Infinity, -1, 3], [1, 1, 1, 1], [4]);
    expect(Array.from(lo.y)).toEqual([0, Infinity, 0, 3]);
    expect(Array.from(lo.dx)).toEqual([0, 1, 0, 1]);
    const hi = await runOp((x) => F.clamp(x, null, 1), [-Infinity, Infinity, -1, 3], [1, 1, 1, 1], [4]);
    expect(Array.from(hi.y)).toEqual([-Infinity, 1, -1, 1]);
    expect(Array.from(hi.dx)).toEqual([1, 0, 1, 0]);
    const lr = await runOp((x) => F.leakyRelu(x, 0.25), [0, -0, -4, 4, NaN], [8, 8, 8, 8, 8], [5]);
    expect(Array.from(lr.y)).toEqual([0, -0, -1, 4, NaN]);
    expect(Array.from(lr.dx)).toEqual([2, 2, 2, 8, 2]);
  });

  it('tanh, sigmoid, silu and both gelus saturate at large |x| without NaN', async () => {
    const xs = [-1e4, -100, -30, 30, 100, 1e4];
    const w = xs.map(() => 1);
    for (const name of ['tanh', 'sigmoid', 'silu', 'gelu', 'geluTanh'] as const) {
      const { y, dx } = await runOp(name, xs, w, [xs.length]);
      expect([...y, ...dx].every(Number.isFinite), name).toBe(true);
    }
    expect(Array.from((await runOp('tanh', xs, w, [6])).y)).toEqual([-1, -1, -1, 1, 1, 1]);
  });
});

describe('the erf and tanh approximations', () => {
  it('the float64 erf and erfc agree with known values (and erfc keeps its relative accuracy in the tail)', () => {
    expect(erf64(0.5)).toBeCloseTo(0.5204998778130465, 15);
    expect(erf64(-2)).toBeCloseTo(-0.9953222650189527, 15);
    expect(erf64(3)).toBeCloseTo(0.9999779095030014, 15);
    expect(Math.abs(erfc64(5) / 1.5374597944280349e-12 - 1)).toBeLessThan(1e-11);
    expect(Math.abs(erfc64(10) / 2.088487583762545e-45 - 1)).toBeLessThan(1e-11);
    expect(erfc64(-1)).toBeCloseTo(1.8427007929497148, 15);
    expect([erf64(Infinity), erf64(-Infinity), erfc64(Infinity)]).toEqual([1, -1, 0]);
  });

  it.each([['gelu'], ['geluTanh'], ['tanh'], ['silu'], ['sigmoid']] as const)('%s on a dense grid over [−10, 10]: every element within 1e-5 of the reference, relative to |ref| + 0.05', async (name) => {
    // The floor 0.05 admits float32's cancellation where y → ±1 (1 − y² in tanh's gradient; 1 + erf at gelu's
    // negative tail, as PyTorch's own float32 formula): at most 2e-6 on llvmpipe.
    const xs = UNARY_DENSE_GRID;
    const w = xs.map(() => 1);
    const { y, dx } = await runOp(name, xs, w, [xs.length]);
    const [ry, rdx] = [unaryRef(name, xs), unaryBackwardRef(name, xs, w)];
    const worst = (got: ArrayLike<number>, want: ArrayLike<number>) => Math.max(...Array.from(want, (v, i) => Math.abs(got[i] - v) / (Math.abs(v) + 0.05)));
    expect(worst(y, ry)).toBeLessThan(TOL.elementwise);
    expect(worst(dx, rdx)).toBeLessThan(TOL.elementwise);
    expectClose(y, ry, TOL.elementwise, `${name} forward`);
    expectClose(dx, rdx, TOL.elementwise, `${name} backward`);
  });
});

describe('functional API and Tensor methods', () => {
  const xs = randomArray(13, 77, -3, 3);
  const pos = randomArray(13, 78, 0.1, 3);

  it('F.gelu defaults to the erf form; approximate: "tanh" is the tanh form; an unknown form throws', async () => {
    expectClose((await runOp((x) => F.gelu(x), xs, xs, [13])).y, unaryRef('gelu', xs), TOL.elementwise, 'gelu');
    expectClose((await runOp((x) => F.gelu(x, { approximate: 'none' }), xs, xs, [13])).y, unaryRef('gelu', xs), TOL.elementwise, 'gelu none');
    expectClose((await runOp((x) => F.gelu(x, { approximate: 'tanh' }), xs, xs, [13])).y, unaryRef('geluTanh', xs), TOL.elementwise, 'gelu tanh');
    const x = tensor(rt, xs, [13]);
    expect(() => F.gelu(x, { approximate: 'erf' as never })).toThrow(/gelu: approximate must be 'none' or 'tanh', got "erf"/);
    x.dispose();
  });

  it('F.leakyRelu takes a number or { negativeSlope } (default 0.01)', async () => {
    for (const [f, slope] of [[(x: Tensor) => F.leakyRelu(x), 0.01], [(x: Tensor) => F.leakyRelu(x, 0.3), 0.3], [(x: Tensor) => F.leakyRelu(x, { negativeSlope: 0.2 }), 0.2]] as const) {
      const { y, dx } = await runOp(f, xs, xs, [13]);
      expectClose(y, unaryRef('leakyRelu', xs, { negativeSlope: slope }), TOL.elementwise, `leakyRelu ${slope}`);
      expectClose(dx, unaryBackwardRef('leakyRelu', xs, xs, { negativeSlope: slope }), TOL.elementwise, `leakyRelu ${slope} dx`);
    }
  });

  it('F.clamp(x, min, max), F.clamp(x, { min, max }) and x.clamp(): either bound may be omitted, not both', async () => {
    const cases: [(x: Tensor) => Tensor, UnaryParams][] = [
      [(x) => F.clamp(x, -1, 2), { min: -1, max: 2 }],
      [(x) => F.clamp(x, { min: -1 }), { min: -1 }],
      [(x) => F.clamp(x, { max: 0.5 }), { max: 0.5 }],
      [(x) => F.clamp(x, undefined, 0.5), { max: 0.5 }],
      [(x) => x.clamp(-0.5), { min: -0.5 }],
      [(x) => x.clamp(null, 1.5), { max: 1.5 }],
    ];
    for (const [f, p] of cases) {
      const { y, dx } = await runOp(f, xs, xs, [13]);
      expectClose(y, unaryRef('clamp', xs, p), TOL.elementwise, `clamp ${JSON.stringify(p)}`);
      expectClose(dx, unaryBackwardRef('clamp', xs, xs, p), TOL.elementwise, `clamp ${JSON.stringify(p)} dx`);
    }
    const x = tensor(rt, xs, [13]);
    expect(() => F.clamp(x)).toThrow('clamp: at least one of min and max must be given (x [13])');
    expect(() => F.clamp(x, {})).toThrow(/at least one of min and max/);
    expect(() => F.clamp(x, { min: 0 }, 1)).toThrow(/give max in the options object/);
    expect(() => F.clamp(x, 'a' as never)).toThrow('clamp: min must be a number, got string (tensor bounds are not supported)');
    expect(() => unaryOp('clamp', { lo: 1 } as never)(x)).toThrow("clamp: no parameter named 'lo' (declared: min, max)");
    x.dispose();
  });

  it('F.exp, F.log, F.sqrt, F.rsqrt, F.abs, F.neg, F.tanh, F.sigmoid, F.silu and the Tensor methods are the declared ops', async () => {
    const fns: [UnaryName, (x: Tensor) => Tensor, ((x: Tensor) => Tensor) | null, Float64Array][] = [
      ['exp', F.exp, (x) => x.exp(), xs],
      ['log', F.log, (x) => x.log(), pos],
      ['sqrt', F.sqrt, (x) => x.sqrt(), pos],
      ['rsqrt', F.rsqrt, (x) => x.rsqrt(), pos],
      ['abs', F.abs, (x) => x.abs(), xs],
      ['neg', F.neg, (x) => x.neg(), xs],
      ['tanh', F.tanh, (x) => x.tanh(), xs],
      ['sigmoid', F.sigmoid, (x) => x.sigmoid(), xs],
      ['relu', F.relu, (x) => x.relu(), xs],
      ['silu', F.silu, null, xs],
    ];
    for (const [name, f, method, v] of fns) {
      const [want, wantDx] = [unaryRef(name, v), unaryBackwardRef(name, v, v)];
      for (const [what, g] of [[`F.${name}`, f], [`x.${name}()`, method]] as const) {
        if (!g) continue;
        const { y, dx } = await runOp(g, v, v, [13]);
        expectClose(y, want, TOL.elementwise, what);
        expectClose(dx, wantDx, TOL.elementwise, `${what} dx`);
      }
    }
  });

  it('an empty or int32 input throws, naming the op; the ops free their temporaries', async () => {
    const e = Tensor.empty([0, 3], 'f32', rt);
    expect(() => F.exp(e)).toThrow(/exp: x \[0, 3\] is empty/);
    e.dispose();
    const i = Tensor.fromArray(Int32Array.from([1, 2]), [2], 'i32', rt);
    expect(() => F.tanh(i)).toThrow("tanh: x must be an 'f32' tensor, got 'i32'");
    i.dispose();
    const x = tensor(rt, xs, [13]).requireGrad();
    const w = tensor(rt, xs, [13]);
    const run = () => tidy(() => F.clamp(F.gelu(F.leakyRelu(x.exp().log(), 0.1), { approximate: 'tanh' }), -1, 1).backward(w));
    run();
    x.zeroGrad();
    await rt.sync();
    const live = rt.poolStats().liveBuffers;
    run();
    x.zeroGrad();
    await rt.sync();
    expect(rt.poolStats().liveBuffers).toBe(live);
    x.dispose();
    w.dispose();
  });
});

describe('package root and nn modules', () => {
  it('F.*, the root and the nn modules export the unary ops and activations', () => {
    for (const name of ['exp', 'log', 'sqrt', 'rsqrt', 'abs', 'neg', 'tanh', 'sigmoid', 'relu', 'gelu', 'silu', 'leakyRelu', 'clamp'] as const) {
      expect(typeof root.F[name], `F.${name}`).toBe('function');
      expect(root[name], name).toBe(root.F[name]);
    }
    for (const M of [root.GELU, root.SiLU, root.Tanh, root.Sigmoid, root.LeakyReLU]) expect(new M().parameters()).toEqual([]);
  });

  it('GELU, SiLU, Tanh, Sigmoid and LeakyReLU run their ops (with their options), forward and backward', async () => {
    const xs = randomArray(33, 91, -3, 3);
    const cases: [root.Module, UnaryName, UnaryParams?][] = [
      [new root.GELU(), 'gelu'],
      [new root.GELU({ approximate: 'tanh' }), 'geluTanh'],
      [new root.SiLU(), 'silu'],
      [new root.Tanh(), 'tanh'],
      [new root.Sigmoid(), 'sigmoid'],
      [new root.LeakyReLU(), 'leakyRelu'],
      [new root.LeakyReLU(0.2), 'leakyRelu', { negativeSlope: 0.2 }],
      [new root.LeakyReLU({ negativeSlope: 0.3 }), 'leakyRelu', { negativeSlope: 0.3 }],
    ];
    for (const [m, name, p] of cases) {
      const { y, dx } = await runOp((x) => m.forward(x), xs, xs, [3, 11]);
      expectClose(y, unaryRef(name, xs, p), TOL.elementwise, `${m.constructor.name} ${name}`);
      expectClose(dx, unaryBackwardRef(name, xs, xs, p), TOL.elementwise, `${m.constructor.name} ${name} dx`);
    }
    expect(() => new root.GELU({ approximate: 'fast' as never })).toThrow(/GELU: approximate must be 'none' or 'tanh', got "fast"/);
  });
});
