/**
 * The page's checks of the reductions (autograd/ops/reduce.ts), over the cases of reference/reduce_cases.ts: the
 * references' backwards vs finite differences, and every op's forward and backward on the page's adapter vs the
 * float64 references (dims lists, keepdim, ties, NaN and −inf).
 */
import type { Tensor } from '../../autograd/tensor';
import { argmax, argmin, logsumexp, max, mean, min, std, sum, topk, variance, type ValuesIndices } from '../../autograd/ops/reduce';
import {
  SELECT_ORDERS, reduceBackwardRef, reduceRef, reducedShapeRef, selectBackwardRef, selectRef, selectRows, type ReduceRefName, type RefDims, type SelectRefOrder,
} from '../../reference/reduce';
import {
  REDUCE_DIMS_CASES, REDUCE_DIMS_OPS, REDUCE_FD_CASES, SELECT_CASES, SELECT_FD_CASES, TOPK_CASES, reduceInputs, type InputKind,
} from '../../reference/reduce_cases';
import { TOL, distinctArray, finiteDiff, randomArray, weightedSum } from '../../reference/math';
import type { PageCheckGroup, PageChecks } from './api';

const numel = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);

/** The page's name of each op ('sum dims'/'mean dims': the built-in 'sum' checks cover one axis). */
const KERNEL: Record<ReduceRefName, string> = { sum: 'sum dims', mean: 'mean dims', var: 'var', std: 'std', logsumexp: 'logsumexp', max: 'max', min: 'min' };

/** The op of a reference name over dims (max/min: without dim), var/std at `correction`; test/reduce.test.ts uses it too. */
export function reduceOp(name: ReduceRefName, dims: RefDims, keepdim: boolean, correction = 1): (x: Tensor) => Tensor {
  const d = dims as number | number[] | undefined;
  const ops: Record<ReduceRefName, (x: Tensor) => Tensor> = {
    sum: (x) => sum(x, d, keepdim),
    mean: (x) => mean(x, d, keepdim),
    var: (x) => variance(x, d, { correction, keepdim }),
    std: (x) => std(x, d, { correction, keepdim }),
    logsumexp: (x) => logsumexp(x, d ?? [], keepdim),
    max: (x) => max(x),
    min: (x) => min(x),
  };
  return ops[name];
}

/** Elements that differ (NaN equals NaN): the error recorded for exact checks. */
function mismatches(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  return Array.from(a).filter((v, i) => !(v === b[i] || (Number.isNaN(v) && Number.isNaN(b[i])))).length;
}

async function reductions(c: PageChecks): Promise<void> {
  let seed = 1;
  for (const k of REDUCE_DIMS_CASES) {
    const n = numel(k.shape);
    const terms = n / numel(reducedShapeRef(k.shape, k.dims, false));
    for (const name of REDUCE_DIMS_OPS) {
      const what = `${name} [${k.shape}] dims ${JSON.stringify(k.dims ?? 'all')}${k.keepdim ? ' keepdim' : ''}`;
      await c.run(KERNEL[name], what, async () => {
        const correction = terms === 1 ? 0 : 1;
        const xs = reduceInputs(n, seed++);
        const want = reduceRef(name, xs, k.shape, k.dims, correction);
        const w = randomArray(want.length, seed++);
        const x = c.t(xs, k.shape, true);
        const y = c.track(reduceOp(name, k.dims, k.keepdim, correction)(x));
        y.backward(c.t(w, y.shape));
        await c.compare(KERNEL[name], `${what}: y`, y, want, TOL.reduction);
        await c.compare(KERNEL[name], `${what}: dx`, x.grad, reduceBackwardRef(name, xs, k.shape, k.dims, w, correction), TOL.reduction);
      });
    }
  }
  for (const k of REDUCE_DIMS_CASES.filter((q) => q.dims === undefined)) {
    for (const kind of ['random', 'ties', 'equal', 'nan'] as InputKind[]) {
      for (const name of ['max', 'min'] as const) {
        const what = `${name}() of [${k.shape}], ${kind} inputs (gradient split among ties)`;
        await c.run(name, what, async () => {
          const xs = reduceInputs(numel(k.shape), seed++, kind);
          const x = c.t(xs, k.shape, true);
          const y = c.track(reduceOp(name, undefined, false, 1)(x));
          y.backward(c.t([0.75], []));
          c.record(name, `${what}: y`, [mismatches(await y.toArray(), Float32Array.from(reduceRef(name, xs, k.shape, undefined)))], [0], 0);
          await c.compare(name, `${what}: dx`, x.grad, reduceBackwardRef(name, xs, k.shape, undefined, [0.75]), TOL.elementwise);
        });
      }
    }
  }
  await c.run('logsumexp', 'logsumexp with −inf terms and a row of −inf', async () => {
    const xs = reduceInputs(6 * 13, seed++, '-inf').map((v, i) => (i < 13 ? -Infinity : v));
    const y = c.track(logsumexp(c.t(xs, [6, 13]), 1));
    c.record('logsumexp', 'logsumexp −inf: non-finite outputs as the reference', [mismatches((await y.toArray()).map((v) => (Number.isFinite(v) ? 0 : v)), reduceRef('logsumexp', xs, [6, 13], 1).map((v) => (Number.isFinite(v) ? 0 : v)))], [0], 0);
  });
}

/** Check one selection's values, indices and dx against the reference. */
async function checkSelect(c: PageChecks, kernel: string, what: string, r: ValuesIndices, x: Tensor, xs: ArrayLike<number>, shape: number[], dim: number | undefined, k: number, order: SelectRefOrder, w: ArrayLike<number>): Promise<void> {
  const ref = selectRef(xs, shape, dim, k, order);
  c.track(r.indices);
  r.values.backward(c.t(w, r.values.shape));
  c.record(kernel, `${what}: values`, [mismatches(await r.values.toArray(), Float32Array.from(ref.values))], [0], 0);
  c.record(kernel, `${what}: indices`, [mismatches(await r.indices.toInt32Array(), ref.indices)], [0], 0);
  await c.compare(kernel, `${what}: dx`, x.grad, selectBackwardRef(shape, dim, k, ref.indices, w), TOL.elementwise);
}

async function selections(c: PageChecks): Promise<void> {
  let seed = 500;
  for (const k of SELECT_CASES) {
    const [outer, , inner] = selectRows(k.shape, k.dim);
    for (const kind of ['random', 'ties', 'equal', 'nan'] as InputKind[]) {
      for (const name of ['max', 'min'] as const) {
        const what = `[${k.shape}] dim ${k.dim ?? 'none'}${k.keepdim ? ' keepdim' : ''}, ${kind} inputs`;
        const order = SELECT_ORDERS[name];
        if (k.dim !== undefined) {
          await c.run(name, `${name} ${what}`, async () => {
            const xs = reduceInputs(numel(k.shape), seed++, kind);
            const x = c.t(xs, k.shape, true);
            const r = (name === 'max' ? max : min)(x, k.dim!, k.keepdim);
            c.track(r.values);
            await checkSelect(c, name, `${name} ${what}`, r, x, xs, k.shape, k.dim, 1, order, randomArray(outer * inner, seed++));
          });
        }
        const arg = name === 'max' ? 'argmax' : 'argmin';
        await c.run(arg, `${arg} ${what}`, async () => {
          const xs = reduceInputs(numel(k.shape), seed++, kind);
          const i = c.track((name === 'max' ? argmax : argmin)(c.t(xs, k.shape), k.dim, k.keepdim));
          c.record(arg, `${arg} ${what}`, [mismatches(await i.toInt32Array(), selectRef(xs, k.shape, k.dim, 1, order).indices)], [0], 0);
        });
      }
    }
  }
  for (const [shape, dim, k] of TOPK_CASES) {
    const [outer, , inner] = selectRows(shape, dim);
    for (const kind of ['random', 'ties', 'nan'] as InputKind[]) {
      for (const largest of [true, false]) {
        const what = `topk [${shape}] dim ${dim} k ${k} ${largest ? 'largest' : 'smallest'}, ${kind} inputs`;
        await c.run('topk', what, async () => {
          const xs = reduceInputs(numel(shape), seed++, kind);
          const x = c.t(xs, shape, true);
          const r = topk(x, k, dim, largest);
          c.track(r.values);
          await checkSelect(c, 'topk', what, r, x, xs, shape, dim, k, largest ? SELECT_ORDERS.topkLargest : SELECT_ORDERS.topkSmallest, randomArray(outer * k * inner, seed++));
        });
      }
    }
  }
}

async function references(c: PageChecks): Promise<void> {
  await c.run('reference', 'reduction references vs finite differences', async () => {
    for (const k of REDUCE_FD_CASES) {
      for (const name of [...REDUCE_DIMS_OPS, 'max', 'min'] as ReduceRefName[]) {
        const extreme = name === 'max' || name === 'min';
        const x = extreme ? distinctArray(numel(k.shape), 3) : randomArray(numel(k.shape), 3, -2, 2);
        const dims = extreme ? undefined : k.dims;
        const w = randomArray(reduceRef(name, x, k.shape, dims).length, 4);
        const fd = finiteDiff((v) => weightedSum(reduceRef(name, v, k.shape, dims), w), x);
        c.record('reference', `${name} ref [${k.shape}] dims ${JSON.stringify(dims ?? 'all')} backward`, reduceBackwardRef(name, x, k.shape, dims, w), fd, TOL.fd);
      }
    }
    for (const [shape, dim, k] of SELECT_FD_CASES) {
      const x = distinctArray(numel(shape), 5);
      for (const [which, order] of Object.entries(SELECT_ORDERS)) {
        const { indices } = selectRef(x, shape, dim, k, order);
        const w = randomArray(indices.length, 6);
        const fd = finiteDiff((v) => weightedSum(selectRef(v, shape, dim, k, order).values, w), x);
        c.record('reference', `selection ref (${which}) [${shape}] dim ${dim ?? 'none'} k ${k} backward`, selectBackwardRef(shape, dim, k, indices, w), fd, TOL.fd);
      }
    }
  });
}

/** The reductions' page checks (appended to PAGE_GROUPS in groups.ts). */
export const reduceGroup: PageCheckGroup = {
  kernels: [...Object.values(KERNEL), 'argmax', 'argmin', 'topk'],
  async run(c) {
    await references(c);
    await reductions(c);
    await selections(c);
  },
};
