// The shape ops (src/autograd/ops/shape.ts, kernels in src/kernels/shape/): the float64 references' backwards vs
// central finite differences, the GPU ops (forward and backward) vs the references over SHAPE_CASES (the same
// table and runner as the browser page's group), Python's slice bounds, the tensor methods, views, i32 tensors,
// out-of-range indices, the errors, and no leaked GPU buffer.
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, randomArray, tensor } from './helpers/numeric';
import { SHAPE_CASES, SHAPE_FD_CASES, SHAPE_OPS, shapeCaseData, shapeCaseFdCheck, shapeCaseName } from '../src/reference/shape_cases';
import { permuteRef, transposeDimsRef } from '../src/reference/shape';
import { runShapeCase, shapeGroup } from '../src/web/gradcheck/shape';
import { PAGE_GROUPS } from '../src/web/gradcheck/groups';
import * as F from '../src/autograd/functional';
import { Tensor } from '../src/autograd/tensor';
import { tidy } from '../src/autograd/scope';
import type { GpuRuntime } from '../src/gpu/runtime';

let rt: GpuRuntime;
let live0 = 0;
beforeAll(async () => {
  rt = await testRuntime();
  live0 = rt.poolStats().liveBuffers;
});

const ints = (data: number[], shape: number[]) => Tensor.fromArray(Int32Array.from(data), shape, 'i32', rt);
const arange = (n: number, shape: number[] = [n]) => tensor(rt, Array.from({ length: n }, (_, i) => i), shape);

describe('shape references: backward vs central finite differences', () => {
  it.each(SHAPE_FD_CASES.map((c, i) => [shapeCaseName(c), c, i] as const))('%s', (_, c, i) => {
    for (const r of shapeCaseFdCheck(c, 500 + i)) expectClose(r.got, r.want, TOL.fd, `${c.op} input ${r.input}`);
  });
});

describe('shape ops on the GPU vs the float64 reference', () => {
  it.each(SHAPE_CASES.map((c, i) => [shapeCaseName(c), c, i] as const))('%s', async (_, c, i) => {
    const d = shapeCaseData(c, 100 + i);
    const r = await runShapeCase(rt, c, d);
    expect(r.shape).toEqual(d.outShape);
    // Copies are exact; only gather's and indexSelect's backwards add (repeated indices).
    expect(Array.from(r.y)).toEqual(Array.from(Float32Array.from(d.y)));
    expect(r.dx.length).toBe(d.dx.length);
    r.dx.forEach((dx, k) => expectClose(dx ?? [], d.dx[k], TOL.elementwise, `${c.op} backward input ${k}`));
  });

  it('the cases and the page group cover every shape op; the group is on the page', () => {
    expect(new Set(SHAPE_CASES.map((c) => c.op))).toEqual(new Set(SHAPE_OPS));
    expect(new Set(SHAPE_FD_CASES.map((c) => c.op))).toEqual(new Set(SHAPE_OPS));
    expect(PAGE_GROUPS).toContain(shapeGroup);
  });

  it('a large permute (several workgroups, odd sizes) matches the reference', async () => {
    const shape = [3, 257, 89];
    const xs = randomArray(3 * 257 * 89, 7);
    const x = tensor(rt, xs, shape);
    const y = F.permute(x, [2, 0, 1]);
    expect(Array.from(await y.toArray())).toEqual(Array.from(Float32Array.from(permuteRef(xs, shape, [2, 0, 1]).y)));
    x.dispose();
    y.dispose();
  });
});

describe('slice and narrow bounds', () => {
  // The expected values are those of Python's list(range(10))[start:end:step].
  const cases: [number | undefined, number | undefined, number, number[]][] = [
    [undefined, undefined, 1, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
    [-3, undefined, 1, [7, 8, 9]],
    [2, 100, 1, [2, 3, 4, 5, 6, 7, 8, 9]],
    [-100, 3, 1, [0, 1, 2]],
    [3, 9, 2, [3, 5, 7]],
    [1, -1, 4, [1, 5]],
    [undefined, undefined, 3, [0, 3, 6, 9]],
    [9, undefined, 5, [9]],
  ];
  it.each(cases)('range(10)[%s:%s:%s]', async (start, end, step, want) => {
    const x = arange(10);
    const y = x.slice(0, start, end, step);
    expect(Array.from(await y.toArray())).toEqual(want);
    x.dispose();
    y.dispose();
  });

  it('narrow takes a negative start; slicing a middle dim with a step', async () => {
    const x = arange(24, [2, 12]);
    const a = x.narrow(1, -5, 2);
    expect(a.shape).toEqual([2, 2]);
    expect(Array.from(await a.toArray())).toEqual([7, 8, 19, 20]);
    const b = x.slice(-1, 1, undefined, 5);
    expect(Array.from(await b.toArray())).toEqual([1, 6, 11, 13, 18, 23]);
    for (const t of [x, a, b]) t.dispose();
  });
});

describe('tensor methods, views and dtypes', () => {
  it('the methods give what the functional ops give', async () => {
    const x = tensor(rt, randomArray(2 * 3 * 4, 3), [2, 3, 4]);
    const idx = ints([2, 0, 1, 1], [4]);
    const gidx = ints([0, 2, 1, 0, 0, 2, 1, 1], [2, 1, 4]);
    // tidy: the intermediate views (reshape, unsqueeze) are freed; the pairs are returned.
    const pairs = tidy((): [Tensor, Tensor][] => [
      [x.transpose(0, -1), F.transpose(x, 0, -1)],
      [x.permute(2, 0, 1), F.permute(x, [2, 0, 1])],
      [x.permute([2, 0, 1]), F.permute(x, [2, 0, 1])],
      [x.narrow(2, 1, 2), F.narrow(x, 2, 1, 2)],
      [x.slice(1, 1), F.slice(x, 1, 1)],
      [x.gather(1, gidx), F.gather(x, 1, gidx)],
      [x.indexSelect(2, idx), F.indexSelect(x, 2, idx)],
      [x.unsqueeze(1).squeeze(), F.squeeze(F.unsqueeze(x, 1))],
      [x.unflatten(2, [2, 2]), F.unflatten(x, 2, [2, 2])],
      [x.reshape([6, 4]).t(), F.transpose(F.reshape(x, [6, 4]), 0, 1)],
      [x.contiguous(), F.contiguous(x)],
    ]);
    for (const [a, b] of pairs) {
      expect(a.shape).toEqual(b.shape);
      expect(Array.from(await a.toArray())).toEqual(Array.from(await b.toArray()));
    }
    const v = arange(3);
    const vt = v.t();
    expect(vt.shape).toEqual([3]);
    expect(vt.buffer).toBe(v.buffer);
    expect(() => x.t()).toThrow(/t: expects a tensor of at most 2 dims, got \[2, 3, 4\]/);
    for (const t of [x, idx, gidx, v, vt, ...pairs.flat()]) t.dispose();
  });

  it('contiguous, squeeze, unsqueeze and unflatten are views sharing the storage, tracked by autograd', async () => {
    const x = tensor(rt, randomArray(6, 5), [2, 3]).requireGrad();
    tidy(() => {
      const views = [F.contiguous(x), F.unsqueeze(x, 0), F.squeeze(F.unsqueeze(x, -1), -1), F.unflatten(x, 1, [3, 1])];
      for (const v of views) {
        expect(v.buffer).toBe(x.buffer);
        expect(v.requiresGrad).toBe(true);
      }
      expect(views.map((v) => v.node?.op)).toEqual(['contiguous', 'unsqueeze', 'squeeze', 'unflatten']);
      const loss = F.sum(F.add(F.reshape(F.mul(views[0], views[0]), [6]), F.reshape(views[3], [6])));
      loss.backward();
    });
    const xs = await x.toArray();
    expectClose(await x.grad!.toArray(), Array.from(xs, (v) => 2 * v + 1), TOL.elementwise, 'd/dx Σ(x² + x)');
    x.dispose();
  });

  it('i32 tensors go through the copying ops bit for bit', async () => {
    const vals = [2147483647, -2147483648, -5, 0, 7, 123456789];
    const a = ints(vals, [2, 3]);
    const b = ints([1, 2, 3], [1, 3]);
    const b22 = ints([2, 0, 1, 1], [2, 2]);
    const outs = [F.transpose(a, 0, 1), F.cat([a, b], 0), F.slice(a, 1, undefined, undefined, 2), F.gather(a, 1, b22), F.stack([a, a], 1)];
    expect(outs.map((t) => t.dtype)).toEqual(['i32', 'i32', 'i32', 'i32', 'i32']);
    const read = await Promise.all(outs.map((t) => t.toInt32Array().then((v) => Array.from(v))));
    expect(read[0]).toEqual([2147483647, 0, -2147483648, 7, -5, 123456789]);
    expect(read[1]).toEqual([...vals, 1, 2, 3]);
    expect(read[2]).toEqual([2147483647, -5, 0, 123456789]);
    expect(read[3]).toEqual([-5, 2147483647, 7, 7]);
    expect(read[4]).toEqual([2147483647, -2147483648, -5, 2147483647, -2147483648, -5, 0, 7, 123456789, 0, 7, 123456789]);
    for (const t of [a, b, b22, ...outs]) t.dispose();
  });

  it('an index outside [0, size) reads 0 and passes no gradient (gather and indexSelect)', async () => {
    const x = tensor(rt, [1, 2, 3, 4], [4]).requireGrad();
    const idx = ints([-1, 4, 2, 100, 2], [5]);
    const [y, z] = [F.gather(x, 0, idx), F.indexSelect(x, 0, idx)];
    expect(Array.from(await y.toArray())).toEqual([0, 0, 3, 0, 3]);
    expect(Array.from(await z.toArray())).toEqual([0, 0, 3, 0, 3]);
    tidy(() => F.sum(F.add(y, z)).backward());
    expect(Array.from(await x.grad!.toArray())).toEqual([0, 0, 4, 0]);
    for (const t of [x, idx, y, z]) t.dispose();
  });

  it("gather's backward with repeated indices is deterministic and sums them", async () => {
    const n = 600;
    const x = tensor(rt, randomArray(2 * 3, 1), [2, 3]).requireGrad();
    const idx = ints(Array.from({ length: 2 * n }, (_, i) => (i * 7) % 3), [2, n]);
    const g = tensor(rt, randomArray(2 * n, 2), [2, n]);
    const run = async () => {
      x.zeroGrad();
      tidy(() => F.gather(x, 1, idx).backward(g));
      return Array.from(await x.grad!.toArray());
    };
    const [a, b] = [await run(), await run()];
    expect(a).toEqual(b);
    const gs = await g.toArray();
    const want = [0, 1].flatMap((r) => [0, 1, 2].map((k) => Array.from({ length: n }, (_, j) => j).reduce((s, j) => s + ((r * n + j) * 7 % 3 === k ? gs[r * n + j] : 0), 0)));
    expectClose(a, want, TOL.elementwise, 'gather backward');
    for (const t of [x, idx, g]) t.dispose();
  });

  it('cat of one tensor twice and a transpose followed by reshape back-propagate', async () => {
    const xs = randomArray(12, 9);
    const x = tensor(rt, xs, [3, 4]).requireGrad();
    const w = randomArray(24, 10);
    const y = tidy(() => {
      const y = F.reshape(F.transpose(F.cat([x, x], 0), 0, 1), [-1]);
      y.backward(tensor(rt, w, [24]));
      return y;
    });
    const cat = [...xs, ...xs];
    expect(Array.from(await y.toArray())).toEqual(Array.from(Float32Array.from(permuteRef(cat, [6, 4], transposeDimsRef(2, 0, 1)).y)));
    // y[j * 6 + i] = cat[i][j]: x[r][j] receives w[j * 6 + r] + w[j * 6 + r + 3].
    const want = Array.from({ length: 12 }, (_, k) => w[(k % 4) * 6 + Math.floor(k / 4)] + w[(k % 4) * 6 + Math.floor(k / 4) + 3]);
    expectClose(await x.grad!.toArray(), want, TOL.elementwise, 'dx');
    x.dispose();
    y.dispose();
  });
});

describe('shape op errors', () => {
  it('name the op, the shapes and what is wrong', () => {
    const x = tensor(rt, randomArray(6, 1), [2, 3]);
    const y = tensor(rt, randomArray(8, 2), [2, 4]);
    const fidx = tensor(rt, [0, 1], [2]);
    const idx = ints([0, 1], [2]);
    const big = tensor(rt, randomArray(2 ** 9, 3), [2, 2, 2, 2, 2, 2, 2, 2, 2]);
    const [xi, idx31, idx12, fidx12] = [ints([1, 2, 3, 4, 5, 6], [2, 3]), ints([0, 0, 0], [3, 1]), ints([0, 1], [1, 2]), fidx.reshape([1, 2])];
    const cases: [() => unknown, RegExp][] = [
      [() => F.transpose(x, 0, 2), /transpose: dim 2 is out of range for shape \[2, 3\] \(expected an integer in \[-2, 1\]\)/],
      [() => F.permute(x, [0]), /permute: dims \[0\] must name each of the 2 dims of \[2, 3\] once/],
      [() => F.permute(x, [1, -1]), /permute: dims \[1, -1\] name a dim of \[2, 3\] twice/],
      [() => F.cat([x, y], 0), /cat: tensors\[1\] \[2, 4\] does not match tensors\[0\] \[2, 3\] in the dims other than dim 0/],
      [() => F.cat([], 0), /cat: expects a non-empty list of tensors/],
      [() => F.cat([x, xi], 0), /cat: tensors\[1\] is 'i32' but tensors\[0\] is 'f32'/],
      [() => F.stack([x, y]), /stack: tensors\[1\] \[2, 4\] differs from tensors\[0\] \[2, 3\]/],
      [() => F.stack([x], 3), /stack: dim 3 is out of range for shape \[2, 3\] \(expected an integer in \[-3, 2\]\)/],
      [() => F.gather(x, 1, fidx12), /gather: index must be an 'i32' tensor, got 'f32' \[1, 2\]/],
      [() => F.gather(x, 1, idx), /gather: index \[2\] must have as many dims as x \[2, 3\]/],
      [() => F.gather(x, 1, idx31), /gather: index \[3, 1\] is larger than x \[2, 3\] in dim 0/],
      [() => F.indexSelect(x, 0, fidx), /indexSelect: index must be an 'i32' tensor, got 'f32' \[2\]/],
      [() => F.indexSelect(x, 0, idx12), /indexSelect: index must be 1-D, got \[1, 2\]/],
      [() => F.indexSelect(x, -3, idx), /indexSelect: dim -3 is out of range/],
      [() => F.slice(x, 1, 0, 3, 0), /slice: step must be a positive integer, got 0/],
      [() => F.slice(x, 1, 2, 1), /slice: \[2:1:1\] of dim 1 \(size 3\) of \[2, 3\] selects no element/],
      [() => F.slice(x, 0, 0.5), /slice: start must be an integer, got 0.5/],
      [() => F.narrow(x, 1, 2, 2), /narrow: start 2, length 2 is not a non-empty range inside dim 1 \(size 3\) of \[2, 3\]/],
      [() => F.narrow(x, 1, -4, 1), /narrow: start -4, length 1 is not a non-empty range/],
      [() => F.squeeze(x, [0, -2]), /squeeze: dims \[0, -2\] name a dim of \[2, 3\] twice/],
      [() => F.unsqueeze(x, -4), /unsqueeze: dim -4 is out of range for shape \[2, 3\]/],
      [() => F.unflatten(x, 1, [2, -1]), /unflatten: sizes \[2, -1\] do not split dim 1 \(size 3\) of \[2, 3\]/],
      [() => F.unflatten(x, 1, [-1, -1]), /unflatten: sizes \[-1, -1\] do not split/],
      [() => F.permute(big, [8, 7, 6, 5, 4, 3, 2, 1, 0]), /permute: the strided view \[2, 2, 2, 2, 2, 2, 2, 2, 2\] has 9 dims that cannot be merged; the shape kernels take at most 8/],
    ];
    const live = rt.poolStats().liveBuffers;
    for (const [f, msg] of cases) expect(f).toThrow(msg);
    expect(rt.poolStats().liveBuffers, 'a refused call leaves no buffer behind').toBe(live);
    for (const t of [x, y, fidx, idx, big, xi, idx31, idx12, fidx12]) t.dispose();
  });
});

describe('memory', () => {
  it('every case frees what it allocates (forward, backward, views)', async () => {
    const live = rt.poolStats().liveBuffers;
    for (const [i, c] of SHAPE_CASES.entries()) await runShapeCase(rt, c, shapeCaseData(c, i));
    expect(rt.poolStats().liveBuffers).toBe(live);
  });

  it('the tests above left no GPU buffer behind', () => {
    expect(rt.poolStats().liveBuffers).toBe(live0);
  });
});
