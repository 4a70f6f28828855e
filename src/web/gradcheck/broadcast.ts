/**
 * The page's checks of broadcasting (autograd/ops/binary.ts, kernels/broadcast/): every binary op of binary_ops.ts
 * over reference/binary_cases.ts's shape pairs and number operands, where, expand and sumToShape, forward and
 * backward against the float64 references; and those references' backwards (summed over the broadcast dims) against
 * central finite differences.
 */
import type { PageCheckGroup, PageChecks } from './api';
import { Tensor, type Shape } from '../../autograd/tensor';
import { binaryOp, expand, sumToShape, where } from '../../autograd/ops/binary';
import { BINARY_OPS, type BinaryName } from '../../kernels/elementwise/binary_ops';
import { binaryBroadcastBackwardRef, binaryBroadcastRef, broadcastRef, sumToShapeRef, whereBackwardRef, whereRef } from '../../reference/binary';
import {
  BROADCAST_CASES, BROADCAST_FD_CASES, EXPAND_CASES, SCALAR_CASES, SUM_TO_SHAPE_CASES, WHERE_CASES, broadcastFdPair, drawOperand, scalarCaseInput,
} from '../../reference/binary_cases';
import { numel } from '../../reference/cases';
import { TOL, finiteDiff, randomArray, weightedSum } from '../../reference/math';

const str = (s: Shape) => `[${s.join(', ')}]`;
/** A gradient summed over broadcast dims is a reduction; one of the output's size is elementwise. */
const gradTol = (input: Shape, out: Shape) => (numel(input) < numel(out) ? TOL.reduction : TOL.elementwise);

/** The references' own backwards vs finite differences, with broadcasting. */
async function references(c: PageChecks): Promise<void> {
  for (const spec of BINARY_OPS) {
    for (const [sa, sb] of BROADCAST_FD_CASES) {
      const what = `${spec.name} ${str(sa)} with ${str(sb)}`;
      await c.run('reference', `${what}: reference backward vs finite differences`, async () => {
        const [a, b] = broadcastFdPair(spec, sa, sb, 7);
        const w = randomArray(binaryBroadcastRef(spec.name, a, sa, b, sb).y.length, 3);
        const [da, db] = binaryBroadcastBackwardRef(spec.name, a, sa, b, sb, w);
        c.record('reference', `${what} ref da`, da, finiteDiff((v) => weightedSum(binaryBroadcastRef(spec.name, v, sa, b, sb).y, w), a), TOL.fd);
        c.record('reference', `${what} ref db`, db, finiteDiff((v) => weightedSum(binaryBroadcastRef(spec.name, a, sa, v, sb).y, w), b), TOL.fd);
      });
    }
  }
  for (const k of WHERE_CASES) {
    await c.run('reference', `where cond ${str(k.cond)}: reference backward vs finite differences`, async () => {
      const cond = randomArray(numel(k.cond), 5).map((v) => (v > 0 ? 1 : 0));
      const [a, b, w] = [randomArray(numel(k.a), 6), randomArray(numel(k.b), 7), randomArray(numel(k.out), 8)];
      const [da, db] = whereBackwardRef(cond, k.cond, k.a, k.b, w);
      c.record('reference', `where ${str(k.cond)} ref da`, da, finiteDiff((v) => weightedSum(whereRef(cond, k.cond, v, k.a, b, k.b).y, w), a), TOL.fd);
      c.record('reference', `where ${str(k.cond)} ref db`, db, finiteDiff((v) => weightedSum(whereRef(cond, k.cond, a, k.a, v, k.b).y, w), b), TOL.fd);
    });
  }
  for (const k of EXPAND_CASES) {
    await c.run('reference', `expand ${str(k.shape)} to ${str(k.target)}: reference backward vs finite differences`, async () => {
      const [x, w] = [randomArray(numel(k.shape), 9), randomArray(numel(k.out), 10)];
      c.record('reference', `expand ${str(k.shape)} ref dx`, sumToShapeRef(w, k.out, k.shape), finiteDiff((v) => weightedSum(broadcastRef(v, k.shape, k.out), w), x), TOL.fd);
    });
  }
}

/** Binary op `name` of tensors (as, shape sa) and (bs, sb), or a number where the shape is null: y and the tensors' gradients. */
async function binaryCase(c: PageChecks, kernel: string, name: BinaryName, what: string, a: [ArrayLike<number>, Shape | null], b: [ArrayLike<number>, Shape | null]): Promise<void> {
  const [[as, sa], [bs, sb]] = [a, b];
  const { y: want, shape } = binaryBroadcastRef(name, as, sa ?? [], bs, sb ?? []);
  const w = randomArray(want.length, want.length + 3);
  const [da, db] = binaryBroadcastBackwardRef(name, as, sa ?? [], bs, sb ?? [], w);
  const ta = sa ? c.t(as, sa, true) : as[0];
  const tb = sb ? c.t(bs, sb, true) : bs[0];
  const y = c.track(binaryOp(name)(ta, tb));
  y.backward(c.t(w, shape));
  await c.compare(kernel, `${what}: y`, y, want, TOL.elementwise);
  if (typeof ta !== 'number') await c.compare(kernel, `${what}: da`, ta.grad, da, gradTol(sa!, shape));
  if (typeof tb !== 'number') await c.compare(kernel, `${what}: db`, tb.grad, db, gradTol(sb!, shape));
}

async function gpu(c: PageChecks): Promise<void> {
  for (const spec of BINARY_OPS) {
    const kernel = `${spec.name} broadcast`;
    for (const k of BROADCAST_CASES) {
      const what = `${spec.name} ${str(k.a)} with ${str(k.b)} (${k.what})`;
      const seed = numel(k.out) + k.a.length;
      const as = drawOperand(spec, 'a', numel(k.a), seed, [-2, 2]);
      const bs = drawOperand(spec, 'b', numel(k.b), seed + 1, [-2, 2]);
      await c.run(kernel, what, () => binaryCase(c, kernel, spec.name, what, [as, k.a], [bs, k.b]));
    }
    for (const k of SCALAR_CASES.filter((s) => s.op === spec.name)) {
      const xs = scalarCaseInput(spec, k);
      const what = k.side === 'a' ? `${spec.name}(${k.value}, ${str(k.shape)})` : `${spec.name}(${str(k.shape)}, ${k.value})`;
      const [x, v]: [[ArrayLike<number>, Shape], [number[], null]] = [[xs, k.shape], [[k.value], null]];
      await c.run(`${spec.name} scalar`, what, () => binaryCase(c, `${spec.name} scalar`, spec.name, what, k.side === 'a' ? v : x, k.side === 'a' ? x : v));
    }
  }
  for (const k of WHERE_CASES) {
    const what = `where cond ${str(k.cond)}${k.int ? ' (int32)' : ''}, a ${str(k.a)}, b ${str(k.b)}`;
    await c.run('where', what, async () => {
      const cv = Float64Array.from({ length: numel(k.cond) }, (_, i) => (k.int ? [0, 1, -3, 7][i % 4] : [0, 1, -0, Number.NaN, -2.5][i % 5]));
      const truth = Float64Array.from(cv, (v) => (v !== 0 ? 1 : 0)); // NaN is true, −0 false
      const [as, bs, w] = [randomArray(numel(k.a), 1), randomArray(numel(k.b), 2), randomArray(numel(k.out), 3)];
      const cond = c.track(k.int ? Tensor.fromArray(Int32Array.from(cv), k.cond, 'i32', c.rt) : c.t(cv, k.cond));
      const [a, b] = [c.t(as, k.a, true), c.t(bs, k.b, true)];
      const y = c.track(where(cond, a, b));
      y.backward(c.t(w, k.out));
      const [da, db] = whereBackwardRef(truth, k.cond, k.a, k.b, w);
      await c.compare('where', `${what}: y`, y, whereRef(truth, k.cond, as, k.a, bs, k.b).y, TOL.elementwise);
      await c.compare('where', `${what}: da`, a.grad, da, TOL.reduction);
      await c.compare('where', `${what}: db`, b.grad, db, TOL.reduction);
    });
  }
  for (const k of EXPAND_CASES) {
    const what = `expand ${str(k.shape)} to ${str(k.target)}`;
    await c.run('expand', what, async () => {
      const [xs, w] = [randomArray(numel(k.shape), 21), randomArray(numel(k.out), 22)];
      const x = c.t(xs, k.shape, true);
      const y = c.track(expand(x, k.target));
      y.backward(c.t(w, k.out));
      await c.compare('expand', `${what}: y`, y, broadcastRef(xs, k.shape, k.out), TOL.elementwise);
      await c.compare('expand', `${what}: dx`, x.grad, sumToShapeRef(w, k.out, k.shape), TOL.reduction);
    });
  }
  for (const [from, to] of SUM_TO_SHAPE_CASES) {
    const what = `sumToShape ${str(from)} to ${str(to)}`;
    await c.run('sumToShape', what, async () => {
      const [xs, w] = [randomArray(numel(from), 31), randomArray(numel(to), 32)];
      const x = c.t(xs, from, true);
      const y = c.track(sumToShape(x, to));
      y.backward(c.t(w, to));
      await c.compare('sumToShape', `${what}: y`, y, sumToShapeRef(xs, from, to), TOL.reduction);
      await c.compare('sumToShape', `${what}: dx`, x.grad, broadcastRef(w, to, from), TOL.elementwise);
    });
  }
}

/** The group, appended to PAGE_GROUPS (groups.ts): a kernel per op and form (broadcast, scalar), and where, expand, sumToShape. */
export const broadcastGroup: PageCheckGroup = {
  kernels: [...BINARY_OPS.flatMap((s) => [`${s.name} broadcast`, `${s.name} scalar`]), 'where', 'expand', 'sumToShape'],
  async run(c) {
    await references(c);
    await gpu(c);
  },
};
