// Broadcasting (src/autograd/ops/binary.ts, src/kernels/broadcast/): every binary op of binary_ops.ts over the shape
// pairs of src/reference/binary_cases.ts (the same tables drive the page's group, src/web/gradcheck/broadcast.ts):
// the float64 references' backwards (gradients summed over the broadcast dims) vs central finite differences, the GPU
// op (forward, da, db) vs the references, the number operands (add(x, 2), sub(1, x), pow(x, 2)), where, expand and
// sumToShape; the error messages; the kernels each form launches; and no GPU buffer leaked.
import { describe, it, expect, beforeAll, vi } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, finiteDiff, randomArray, relError, tensor, weightedSum } from './helpers/numeric';
import { BINARY_OPS } from '../src/kernels/elementwise/binary_ops';
import { stridedLayout } from '../src/kernels/broadcast';
import {
  binaryBroadcastBackwardRef, binaryBroadcastRef, broadcastRef, sumToShapeRef, whereBackwardRef, whereRef,
} from '../src/reference/binary';
import {
  BROADCAST_CASES, BROADCAST_ERRORS, BROADCAST_FD_CASES, EXPAND_CASES, EXPAND_ERRORS, SCALAR_CASES, SUM_TO_SHAPE_CASES, WHERE_CASES, WHERE_ERRORS,
  broadcastFdPair, drawOperand, scalarCaseInput,
} from '../src/reference/binary_cases';
import { numel } from '../src/reference/cases';
import { binaryOp, sumToShape } from '../src/autograd/ops/binary';
import { F, Tensor, add, broadcastTo, expand, mul, pow, sub, where } from '../src/index';
import { tidy } from '../src/autograd/scope';
import type { GpuRuntime } from '../src/gpu/runtime';
import { GradCheckSuite } from '../src/web/gradcheck-cases';
import { broadcastGroup } from '../src/web/gradcheck/broadcast';
import { PAGE_GROUPS } from '../src/web/gradcheck/groups';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

const shapeOf = (s: readonly number[]) => JSON.stringify(s);

/** Run `body` in a tidy and check that every GPU buffer it made is freed once its results are read and disposed. */
async function noLeak<T>(body: () => Promise<T>): Promise<T> {
  await rt.sync();
  const live = rt.poolStats().liveBuffers;
  const out = await body();
  await rt.sync();
  expect(rt.poolStats().liveBuffers, 'GPU buffers leaked').toBe(live);
  return out;
}

/** The entry points dispatched while `fn` runs. */
function entriesOf(fn: () => void): string[] {
  const spy = vi.spyOn(rt, 'dispatch');
  try {
    tidy(fn);
    return spy.mock.calls.map(([d]) => String(d.entry));
  } finally {
    spy.mockRestore();
  }
}

describe('reference backwards vs finite differences, summed over the broadcast dims', () => {
  describe.each(BINARY_OPS.map((s) => [s.name, s] as const))('%s', (name, spec) => {
    it.each(BROADCAST_FD_CASES.map(([sa, sb]) => [shapeOf(sa), shapeOf(sb), sa, sb] as const))('%s with %s', (_, __, sa, sb) => {
      const [a, b] = broadcastFdPair(spec, sa, sb, 7);
      const { y } = binaryBroadcastRef(name, a, sa, b, sb);
      const w = randomArray(y.length, 3);
      const [da, db] = binaryBroadcastBackwardRef(name, a, sa, b, sb, w);
      expect(relError(da, finiteDiff((v) => weightedSum(binaryBroadcastRef(name, v, sa, b, sb).y, w), a))).toBeLessThanOrEqual(TOL.fd);
      expect(relError(db, finiteDiff((v) => weightedSum(binaryBroadcastRef(name, a, sa, v, sb).y, w), b))).toBeLessThanOrEqual(TOL.fd);
    });
  });

  it.each(WHERE_CASES.map((c) => [shapeOf(c.cond), c] as const))('where, cond %s', (_, c) => {
    const cond = randomArray(numel(c.cond), 5).map((v) => (v > 0 ? 1 : 0));
    const [a, b] = [randomArray(numel(c.a), 6), randomArray(numel(c.b), 7)];
    const w = randomArray(numel(c.out), 8);
    const [da, db] = whereBackwardRef(cond, c.cond, c.a, c.b, w);
    expect(relError(da, finiteDiff((v) => weightedSum(whereRef(cond, c.cond, v, c.a, b, c.b).y, w), a))).toBeLessThanOrEqual(TOL.fd);
    expect(relError(db, finiteDiff((v) => weightedSum(whereRef(cond, c.cond, a, c.a, v, c.b).y, w), b))).toBeLessThanOrEqual(TOL.fd);
  });

  it.each(EXPAND_CASES.map((c) => [shapeOf(c.shape), shapeOf(c.target), c] as const))('expand %s to %s, and sumToShape back', (_, __, c) => {
    const x = randomArray(numel(c.shape), 9);
    const w = randomArray(numel(c.out), 10);
    // expand's gradient is sumToShape of dy; sumToShape's is expand of dy.
    expect(relError(sumToShapeRef(w, c.out, c.shape), finiteDiff((v) => weightedSum(broadcastRef(v, c.shape, c.out), w), x))).toBeLessThanOrEqual(TOL.fd);
    const wx = randomArray(x.length, 11);
    const big = randomArray(w.length, 12);
    expect(relError(broadcastRef(wx, c.shape, c.out), finiteDiff((v) => weightedSum(sumToShapeRef(v, c.out, c.shape), wx), big))).toBeLessThanOrEqual(TOL.fd);
  });
});

describe('shapes', () => {
  it.each(BROADCAST_CASES.map((c) => [shapeOf(c.a), shapeOf(c.b), c] as const))('%s with %s: the output shape is PyTorch\'s', (_, __, c) => {
    expect(binaryBroadcastRef('add', new Float64Array(numel(c.a)), c.a, new Float64Array(numel(c.b)), c.b).shape).toEqual(c.out);
  });

  it('merges neighbouring dims where the strides allow, innermost first', () => {
    expect(stridedLayout('t', [2, 3, 4], [[2, 3, 4], [4]])).toEqual({ n: 24, dims: [4, 6], strides: [[1, 4], [1, 0]] });
    expect(stridedLayout('t', [5, 7, 13], [[5, 7, 13], [7, 1]])).toEqual({ n: 455, dims: [13, 7, 5], strides: [[1, 13, 91], [0, 1, 0]] });
    expect(stridedLayout('t', [2, 3], [[2, 3], [2, 3]])).toEqual({ n: 6, dims: [6], strides: [[1], [1]] });
    expect(stridedLayout('t', [2, 3], [[], [2, 3]])).toEqual({ n: 6, dims: [6], strides: [[0], [1]] });
    expect(stridedLayout('t', [], [[], []])).toEqual({ n: 1, dims: [], strides: [[], []] });
    expect(() => stridedLayout('t', [2, 2, 2, 2, 2, 2, 2, 2, 2], [[2, 1, 2, 1, 2, 1, 2, 1, 2], [2, 1, 2, 1, 2, 1, 2, 1]])).toThrow(/9 dims after merging; the kernels index at most 8/);
  });
});

describe.each(BINARY_OPS.map((s) => [s.name, s] as const))('GPU vs reference: %s', (name, spec) => {
  const op = binaryOp(name);

  it.each(BROADCAST_CASES.map((c) => [shapeOf(c.a), shapeOf(c.b), c] as const))('%s with %s', async (_, __, c) => {
    const seed = numel(c.out) + c.a.length;
    const [as, bs] = [drawOperand(spec, 'a', numel(c.a), seed, [-2, 2]), drawOperand(spec, 'b', numel(c.b), seed + 1, [-2, 2])];
    const w = randomArray(numel(c.out), seed + 2);
    const got = await noLeak(async () => {
      const a = tensor(rt, as, c.a).requireGrad();
      const b = tensor(rt, bs, c.b).requireGrad();
      const y = tidy(() => {
        const y = op(a, b);
        y.backward(tensor(rt, w, c.out));
        return y;
      });
      const r = { shape: y.shape, y: await y.toArray(), da: await a.grad!.toArray(), db: await b.grad!.toArray(), aShape: a.grad!.shape, bShape: b.grad!.shape };
      for (const t of [a, b, y]) t.dispose();
      return r;
    });
    expect(got.shape).toEqual(c.out);
    expect([got.aShape, got.bShape]).toEqual([c.a, c.b]);
    const [da, db] = binaryBroadcastBackwardRef(name, as, c.a, bs, c.b, w);
    expectClose(got.y, binaryBroadcastRef(name, as, c.a, bs, c.b).y, TOL.elementwise, `${name} y`);
    // A gradient summed over broadcast dims is a reduction.
    expectClose(got.da, da, numel(c.a) < numel(c.out) ? TOL.reduction : TOL.elementwise, `${name} da`);
    expectClose(got.db, db, numel(c.b) < numel(c.out) ? TOL.reduction : TOL.elementwise, `${name} db`);
  });

  it.each(SCALAR_CASES.filter((c) => c.op === name).map((c) => [c.side === 'a' ? `${c.value} with ${shapeOf(c.shape)}` : `${shapeOf(c.shape)} with ${c.value}`, c] as const))(
    'a number operand: %s',
    async (_, c) => {
      const tv = c.side === 'a' ? 'b' : 'a';
      const xs = scalarCaseInput(spec, c);
      const w = randomArray(xs.length, 3);
      const got = await noLeak(async () => {
        const x = tensor(rt, xs, c.shape).requireGrad();
        const y = tidy(() => {
          const y = c.side === 'a' ? op(c.value, x) : op(x, c.value);
          y.backward(tensor(rt, w, c.shape));
          return y;
        });
        const r = { shape: y.shape, y: await y.toArray(), dx: await x.grad!.toArray() };
        for (const t of [x, y]) t.dispose();
        return r;
      });
      const v = [c.value];
      const ref = c.side === 'a' ? binaryBroadcastRef(name, v, [], xs, c.shape) : binaryBroadcastRef(name, xs, c.shape, v, []);
      const grads = c.side === 'a' ? binaryBroadcastBackwardRef(name, v, [], xs, c.shape, w) : binaryBroadcastBackwardRef(name, xs, c.shape, v, [], w);
      expect(got.shape).toEqual(c.shape);
      expectClose(got.y, ref.y, TOL.elementwise, `${name} y`);
      expectClose(got.dx, grads[c.side === 'a' ? 1 : 0], TOL.elementwise, `${name} d${tv}`);
    },
  );

  it.each(BROADCAST_ERRORS.map(([sa, sb]) => [shapeOf(sa), shapeOf(sb), sa, sb] as const))('refuses %s with %s, naming the op and both shapes', (_, __, sa, sb) => {
    const [a, b] = [Tensor.zeros(sa, rt), Tensor.zeros(sb, rt)];
    const str = (s: number[]) => `[${s.join(', ')}]`;
    expect(() => op(a, b)).toThrow(`${name}: shapes ${str(sa)} (a), ${str(sb)} (b) cannot be broadcast together`);
    a.dispose();
    b.dispose();
  });
});

describe('where', () => {
  it.each(WHERE_CASES.map((c) => [shapeOf(c.cond), shapeOf(c.a), shapeOf(c.b), c] as const))('cond %s, a %s, b %s', async (_, __, ___, c) => {
    // cond values: 0, −0 (false), NaN and other nonzeros (true) for float32; 0 and nonzero ints for int32.
    const nc = numel(c.cond);
    const cv = Float64Array.from({ length: nc }, (_, i) => (c.int ? [0, 1, -3, 7][i % 4] : [0, 1, -0, Number.NaN, -2.5][i % 5]));
    const [as, bs, w] = [randomArray(numel(c.a), 1), randomArray(numel(c.b), 2), randomArray(numel(c.out), 3)];
    const got = await noLeak(async () => {
      const cond = Tensor.fromArray(c.int ? Int32Array.from(cv) : Float32Array.from(cv), c.cond, c.int ? 'i32' : 'f32', rt);
      const a = tensor(rt, as, c.a).requireGrad();
      const b = tensor(rt, bs, c.b).requireGrad();
      const y = tidy(() => {
        const y = where(cond, a, b);
        y.backward(tensor(rt, w, c.out));
        return y;
      });
      const r = { shape: y.shape, y: await y.toArray(), da: await a.grad!.toArray(), db: await b.grad!.toArray() };
      for (const t of [cond, a, b, y]) t.dispose();
      return r;
    });
    const truth = Float64Array.from(cv, (v) => (v !== 0 ? 1 : 0)); // NaN is true, −0 false
    const [da, db] = whereBackwardRef(truth, c.cond, c.a, c.b, w);
    expect(got.shape).toEqual(c.out);
    expectClose(got.y, whereRef(truth, c.cond, as, c.a, bs, c.b).y, TOL.elementwise, 'where y');
    expectClose(got.da, da, TOL.reduction, 'where da');
    expectClose(got.db, db, TOL.reduction, 'where db');
  });

  it('takes numbers for a or b, and a NaN in the branch not taken stays out', async () => {
    const cond = Tensor.fromArray([1, 0, 1, 0, 1, 0, 0], [7], 'f32', rt);
    const x = tensor(rt, [1, Number.NaN, 3, 4, 5, Number.POSITIVE_INFINITY, 7], [7]).requireGrad();
    const y1 = tidy(() => where(cond, x, 0));
    const y2 = tidy(() => where(cond, -1, x));
    expect(Array.from(await y1.toArray())).toEqual([1, 0, 3, 0, 5, 0, 0]);
    expect(Array.from(await y2.toArray())).toEqual([-1, Number.NaN, -1, 4, -1, Number.POSITIVE_INFINITY, 7]);
    tidy(() => y1.backward(Tensor.ones([7], rt)));
    expect(Array.from(await x.grad!.toArray())).toEqual([1, 0, 1, 0, 1, 0, 0]);
    for (const t of [cond, x, y1, y2]) t.dispose();
  });

  it.each(WHERE_ERRORS.map((c) => [shapeOf(c.cond), shapeOf(c.a), c] as const))('refuses cond %s with a %s, naming cond', (_, __, c) => {
    const ts = [Tensor.zeros(c.cond, rt), Tensor.zeros(c.a, rt), Tensor.zeros(c.b, rt)];
    expect(() => where(ts[0], ts[1], ts[2])).toThrow(/^where: shapes .* \(cond\), .* \(a\), .* \(b\) cannot be broadcast together: at dim -\d, \w+ has size \d and \w+ has \d/);
    for (const t of ts) t.dispose();
  });
});

describe('expand, broadcastTo and sumToShape', () => {
  it.each(EXPAND_CASES.map((c) => [shapeOf(c.shape), shapeOf(c.target), c] as const))('expand %s to %s: values, and the gradient summed back', async (_, __, c) => {
    const xs = randomArray(numel(c.shape), 21);
    const w = randomArray(numel(c.out), 22);
    const got = await noLeak(async () => {
      const x = tensor(rt, xs, c.shape).requireGrad();
      const y = tidy(() => {
        const y = expand(x, c.target);
        y.backward(tensor(rt, w, c.out));
        return y;
      });
      const r = { shape: y.shape, y: await y.toArray(), dx: await x.grad!.toArray() };
      for (const t of [x, y]) t.dispose();
      return r;
    });
    expect(got.shape).toEqual(c.out);
    expectClose(got.y, broadcastRef(xs, c.shape, c.out), 0, 'expand y (a copy)');
    expectClose(got.dx, sumToShapeRef(w, c.out, c.shape), TOL.reduction, 'expand dx');
  });

  it.each(SUM_TO_SHAPE_CASES.map(([from, to]) => [shapeOf(from), shapeOf(to), from, to] as const))('sumToShape %s to %s, and its gradient expanded', async (_, __, from, to) => {
    const xs = randomArray(numel(from), 31);
    const w = randomArray(numel(to), 32);
    const got = await noLeak(async () => {
      const x = tensor(rt, xs, from).requireGrad();
      const y = tidy(() => {
        const y = sumToShape(x, to);
        y.backward(tensor(rt, w, to));
        return y;
      });
      const r = { shape: y.shape, y: await y.toArray(), dx: await x.grad!.toArray() };
      for (const t of [x, y]) t.dispose();
      return r;
    });
    expect(got.shape).toEqual(to);
    expectClose(got.y, sumToShapeRef(xs, from, to), TOL.reduction, 'sumToShape y');
    expectClose(got.dx, broadcastRef(w, to, from), 0, 'sumToShape dx');
  });

  it.each(EXPAND_ERRORS.map((c) => [shapeOf(c.shape), shapeOf(c.target), c] as const))('expand refuses %s to %s', (_, __, c) => {
    const x = Tensor.zeros(c.shape, rt);
    const str = (s: number[]) => `[${s.join(', ')}]`;
    expect(() => expand(x, c.target)).toThrow(`expand: cannot expand ${str(c.shape)} to ${str(c.target)}: `);
    expect(() => broadcastTo(x, c.target)).toThrow(`broadcastTo: cannot expand ${str(c.shape)} to ${str(c.target)}: `);
    x.dispose();
  });

  it('explains each refusal as torch does', () => {
    const x = Tensor.zeros([3], rt);
    expect(() => expand(x, [2, 4])).toThrow('the expanded size 4 must match the existing size 3 at non-singleton dim 1');
    expect(() => expand(x, [-1, 3])).toThrow('-1 at dim 0, a new leading dim');
    expect(() => expand(x, [0, 3])).toThrow('the result would be empty');
    expect(() => sumToShape(x, [2])).toThrow('sumToShape: cannot sum shape [3] to [2]');
    x.dispose();
  });
});

describe('the API', () => {
  it('exports the functional forms from the root and F, and Tensor methods take tensors or numbers', async () => {
    for (const name of ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'where', 'expand', 'broadcastTo'] as const) expect(typeof F[name]).toBe('function');
    const x = tensor(rt, [1, 2, 3, 4, 5, 6], [2, 3]);
    const r = tensor(rt, [10, 20, 30], [3]);
    const outs = tidy(() => [x.add(r), x.sub(1), x.mul(r), x.div(2), x.pow(2), x.maximum(3.5), x.minimum(r), r.expand(2, 3), r.expand([2, -1]), sub(1, x), add(2, x)]);
    const vals = await Promise.all(outs.map(async (t) => Array.from(await t.toArray())));
    expect(vals).toEqual([
      [11, 22, 33, 14, 25, 36],
      [0, 1, 2, 3, 4, 5],
      [10, 40, 90, 40, 100, 180],
      [0.5, 1, 1.5, 2, 2.5, 3],
      [1, 4, 9, 16, 25, 36],
      [3.5, 3.5, 3.5, 4, 5, 6],
      [1, 2, 3, 4, 5, 6],
      [10, 20, 30, 10, 20, 30],
      [10, 20, 30, 10, 20, 30],
      [0, -1, -2, -3, -4, -5],
      [3, 4, 5, 6, 7, 8],
    ]);
    for (const t of [x, r, ...outs]) t.dispose();
  });

  it('refuses two numbers, int32 operands and empty tensors, naming the op', () => {
    const i = Tensor.fromArray([1, 2], [2], 'i32', rt);
    const e = Tensor.zeros([0, 3], rt);
    const x = Tensor.zeros([3], rt);
    expect(() => add(1, 2)).toThrow('add: a (1) and b (2) are both numbers; give at least one tensor');
    expect(() => mul(i, 2)).toThrow('mul: a [2] is an i32 tensor; mul takes float32 tensors');
    expect(() => pow(x, e)).toThrow('pow: b [0, 3] is empty');
    expect(() => expand(i, [3, 2])).toThrow('expand: x [2] is an i32 tensor; expand takes float32 tensors');
    for (const t of [i, e, x]) t.dispose();
  });

  it('same shapes run the vec4 elementwise kernel; a number operand one kernel, no broadcasting', () => {
    const a = Tensor.ones([2, 2, 4], rt).requireGrad();
    const b = Tensor.ones([2, 2, 4], rt).requireGrad();
    const bias = Tensor.ones([4], rt);
    expect(entriesOf(() => add(a, b))).toEqual(['add_forward_v4']);
    expect(entriesOf(() => add(a, b).backward(Tensor.ones([2, 2, 4], rt)))).toEqual(['add_forward_v4', 'fill']); // dy passes to both
    a.zeroGrad();
    b.zeroGrad();
    expect(entriesOf(() => pow(a, 2))).toEqual(['pow_forward_sb_v4']);
    expect(entriesOf(() => pow(a, 2).backward(Tensor.ones([2, 2, 4], rt)))).toEqual(['pow_forward_sb_v4', 'fill', 'pow_da_sb_v4']);
    expect(entriesOf(() => sub(1, Tensor.ones([7], rt)))).toEqual(['fill', 'sub_forward_sa']);
    expect(entriesOf(() => add(a, bias))).toEqual(['add_forward']);
    for (const t of [a, b, bias]) t.dispose();
  });
});

describe("the page's group (src/web/gradcheck/broadcast.ts)", () => {
  it('passes on this adapter, with a check of every kernel it names and no buffer leaked', async () => {
    const suite = new GradCheckSuite(rt);
    await noLeak(() => broadcastGroup.run(suite));
    expect(suite.results.filter((r) => !r.ok).map((r) => `${r.kernel} ${r.name}: ${r.message ?? r.error}`)).toEqual([]);
    expect(broadcastGroup.kernels.filter((k) => !suite.results.some((r) => r.kernel === k))).toEqual([]);
    expect(PAGE_GROUPS).toContain(broadcastGroup);
  }, 120_000);
});
