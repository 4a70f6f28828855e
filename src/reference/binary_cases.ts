/**
 * The cases of the broadcasting binary ops, where, expand and sumToShape (autograd/ops/binary.ts), shared by
 * test/broadcast.test.ts, test/binary.test.ts and the page's group (web/gradcheck/broadcast.ts): shape tables with
 * their expected output shapes, error cases, and seeded inputs drawn in each op's domain. Pure: no GPU.
 */
import type { BinaryName, BinarySpec } from '../kernels/elementwise/binary_ops';
import { broadcastShapes } from '../kernels/broadcast/layout';
import { binaryFdInputs, numel } from './cases';
import { randomArray } from './math';
import { broadcastIndex } from './binary';

/** A broadcast of a and b, and the output shape PyTorch gives. */
export interface BroadcastCase {
  a: number[];
  b: number[];
  out: number[];
  what: string;
}

/** GPU vs reference: every binary op runs every case (forward, da, db). */
export const BROADCAST_CASES: BroadcastCase[] = [
  { a: [2, 3], b: [3], out: [2, 3], what: 'a row over rows' },
  { a: [3], b: [2, 3], out: [2, 3], what: 'a row over rows, as a' },
  { a: [2, 1, 5], b: [1, 4, 1], out: [2, 4, 5], what: 'both stretched' },
  { a: [1], b: [7], out: [7], what: 'a one-element tensor' },
  { a: [], b: [2, 3], out: [2, 3], what: 'a 0-d tensor' },
  { a: [13, 1], b: [], out: [13, 1], what: 'a 0-d tensor as b, a trailing 1' },
  { a: [5, 7, 13], b: [7, 1], out: [5, 7, 13], what: 'odd sizes, b stretched inside and out' },
  { a: [1, 6, 5, 5], b: [6, 1, 1], out: [1, 6, 5, 5], what: 'batch 1, per-channel b (a bias)' },
  { a: [3, 1], b: [1, 4], out: [3, 4], what: 'an outer product' },
  { a: [70, 5], b: [5], out: [70, 5], what: 'db sums 70 terms (the reduction by workgroup)' },
  { a: [4, 1, 3, 1, 2], b: [3, 1, 5, 1], out: [4, 3, 3, 5, 2], what: 'five alternating groups' },
  { a: [2, 1, 3, 1, 2, 1, 3], b: [2, 1, 3, 1, 2, 1], out: [2, 2, 3, 3, 2, 2, 3], what: '7 dims that do not merge' },
  { a: [7, 13], b: [7, 13], out: [7, 13], what: 'equal shapes (the elementwise kernel)' },
  { a: [2, 2, 4], b: [2, 2, 4], out: [2, 2, 4], what: 'equal shapes (its vec4 entry)' },
  { a: [1, 4], b: [4], out: [1, 4], what: 'equal sizes, a leading 1 (the elementwise kernel)' },
];

/** The references' own backwards vs finite differences, with broadcasting (small: every element is perturbed). */
export const BROADCAST_FD_CASES: [number[], number[]][] = [
  [[2, 3], [3]],
  [[3], [2, 3]],
  [[2, 1, 3], [1, 4, 1]],
  [[], [5]],
  [[4, 1], [1]],
];

/** Shapes that do not broadcast: every op must refuse them, naming both. */
export const BROADCAST_ERRORS: [number[], number[]][] = [
  [[2, 3], [4]],
  [[2, 3], [3, 2]],
  [[5, 1, 4], [3, 5]],
  [[2], [3]],
];

/** An op with a number operand: `side` is the number `value`; the tensor operand has `shape`, drawn in `range` (else the op's domain). */
export interface ScalarCase {
  op: BinaryName;
  side: 'a' | 'b';
  value: number;
  shape: number[];
  range?: [number, number];
}

/** The scalar forms (add(x, 2), sub(1, x), pow(x, 2)…): odd sizes (the scalar entry) and multiples of 4 (the vec4 entry). */
export const SCALAR_CASES: ScalarCase[] = [
  ...(['add', 'sub', 'mul', 'div', 'maximum', 'minimum'] as const).flatMap((op): ScalarCase[] => [
    { op, side: 'b', value: 0.5, shape: [7] },
    { op, side: 'b', value: -1.5, shape: [2, 4] },
    { op, side: 'a', value: 1, shape: [13] },
    { op, side: 'a', value: -0.25, shape: [1, 8] },
  ]),
  { op: 'pow', side: 'b', value: 2, shape: [7], range: [-2, 2] },
  { op: 'pow', side: 'b', value: 3, shape: [2, 4], range: [-2, 2] },
  { op: 'pow', side: 'b', value: -2, shape: [13], range: [0.25, 2] },
  { op: 'pow', side: 'b', value: -3, shape: [7], range: [-2, -0.25] },
  { op: 'pow', side: 'b', value: 5, shape: [8], range: [-1.5, 1.5] },
  { op: 'pow', side: 'b', value: 0.5, shape: [8], range: [0.25, 2] },
  { op: 'pow', side: 'b', value: 0, shape: [7], range: [-2, 2] },
  { op: 'pow', side: 'a', value: 2, shape: [7], range: [-2, 2] },
  { op: 'pow', side: 'a', value: 0.5, shape: [4], range: [-2, 2] },
];

/** where: cond, a and b broadcast together (cond int32 where `int`), and the output shape. */
export const WHERE_CASES: { cond: number[]; a: number[]; b: number[]; out: number[]; int: boolean }[] = [
  { cond: [2, 3], a: [2, 3], b: [2, 3], out: [2, 3], int: false },
  { cond: [2, 1], a: [3], b: [], out: [2, 3], int: false },
  { cond: [5, 1, 7], a: [1, 4, 1], b: [4, 7], out: [5, 4, 7], int: true },
  { cond: [1], a: [7], b: [1, 7], out: [1, 7], int: true },
  { cond: [13], a: [1], b: [13], out: [13], int: false },
];

/** where with a cond that does not broadcast with a and b. */
export const WHERE_ERRORS: { cond: number[]; a: number[]; b: number[] }[] = [
  { cond: [4], a: [2, 3], b: [2, 3] },
  { cond: [2, 3], a: [3, 1], b: [3] },
];

/** expand(x of shape, target) and the result's shape (−1 keeps a dim). */
export const EXPAND_CASES: { shape: number[]; target: number[]; out: number[] }[] = [
  { shape: [3], target: [2, 3], out: [2, 3] },
  { shape: [2, 1], target: [2, 5], out: [2, 5] },
  { shape: [1, 3, 1], target: [4, -1, 5], out: [4, 3, 5] },
  { shape: [], target: [2, 3], out: [2, 3] },
  { shape: [7], target: [1, 7], out: [1, 7] },
  { shape: [2, 1, 3], target: [2, 2, -1, 3], out: [2, 2, 1, 3] },
  { shape: [1, 13], target: [33, 13], out: [33, 13] },
];

/** expand targets it must refuse. */
export const EXPAND_ERRORS: { shape: number[]; target: number[] }[] = [
  { shape: [3], target: [2, 4] },
  { shape: [2, 3], target: [3] },
  { shape: [3], target: [-1, 3] },
  { shape: [2], target: [2.5] },
];

/** sumToShape(x of `from`, to): the reduction behind every broadcast gradient. */
export const SUM_TO_SHAPE_CASES: [number[], number[]][] = [
  [[2, 3], [3]],
  [[2, 3, 4], [3, 1]],
  [[4, 3, 2, 5], [3, 1, 5]],
  [[130, 3], [1, 3]],
  [[3, 100], [3, 1]],
  [[5, 7], []],
  [[5, 7], [5, 7]],
];

/**
 * n seeded values of operand `which` of an op, rounded to float32: in `range`, or the op's declared domain for that
 * operand; b at least `domain.bMinAbs` from 0 (pushed outwards).
 */
export function drawOperand(spec: BinarySpec, which: 'a' | 'b', n: number, seed: number, range: readonly [number, number] = [-1, 1]): Float64Array {
  const [lo, hi] = spec.domain?.[which] ?? range;
  const v = randomArray(n, seed, lo, hi);
  const m = which === 'b' ? (spec.domain?.bMinAbs ?? 0) : 0;
  return m ? v.map((x) => Math.fround(x < 0 ? x - m : x + m)) : v;
}

/** The tensor operand of a scalar case: in the case's range, else the op's domain for that operand (else [−2, 2]). */
export function scalarCaseInput(spec: BinarySpec, c: ScalarCase): Float64Array {
  const n = numel(c.shape);
  return c.range ? randomArray(n, n + 5, c.range[0], c.range[1]) : drawOperand(spec, c.side === 'a' ? 'b' : 'a', n, n + 5, [-2, 2]);
}

/**
 * a, b (same shape) for a binary op's finite-difference check: in its domain, and with a − b at least 0.05 from each
 * kink (cases.ts's binaryFdInputs, for the ops without a domain).
 */
export function binaryFdPair(spec: BinarySpec, n: number, seed: number): [Float64Array, Float64Array] {
  if (!spec.domain) return binaryFdInputs(n, seed, spec.kinks);
  if (spec.kinks?.length) throw new Error(`${spec.name}: a declared domain with kinks is not drawn for finite differences`);
  return [drawOperand(spec, 'a', n, seed), drawOperand(spec, 'b', n, seed + 1000)];
}

/**
 * a, b (same shape) for the GPU checks: in the op's domain (else `range`), with ties (every 5th b equals a; not for
 * ops with a domain, whose b may not take a's values).
 */
export function binaryGpuPair(spec: BinarySpec, n: number, seed: number, range: readonly [number, number] = [-1, 1]): [Float64Array, Float64Array] {
  const a = drawOperand(spec, 'a', n, seed, range);
  const b = drawOperand(spec, 'b', n, seed + 1, range);
  return [a, spec.domain ? b : b.map((v, i) => (i % 5 === 0 ? a[i] : v))];
}

/**
 * a (shape sa), b (shape sb) for a finite-difference check with broadcasting: in the op's domain, and, for an op with
 * kinks, with a − b at least 0.05 from each at every output element (the next seed is tried until it is).
 */
export function broadcastFdPair(spec: BinarySpec, sa: number[], sb: number[], seed: number): [Float64Array, Float64Array] {
  const out = broadcastShapes(spec.name, { a: sa, b: sb });
  const [ia, ib] = [broadcastIndex(sa, out), broadcastIndex(sb, out)];
  for (let s = seed; s < seed + 1000; s++) {
    const a = drawOperand(spec, 'a', numel(sa), s);
    const b = drawOperand(spec, 'b', numel(sb), s + 1000);
    if (ia.every((j, i) => (spec.kinks ?? []).every((k) => Math.abs(a[j] - b[ib[i]] - k) >= 0.05))) return [a, b];
  }
  throw new Error(`${spec.name}: no seed from ${seed} drew inputs away from its kinks for ${JSON.stringify([sa, sb])}`);
}
