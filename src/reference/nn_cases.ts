/**
 * The numerics cases of the nn ops (softmax, logSoftmax, layerNorm, the mse / bce-with-logits / nll losses, and
 * linear on [*, in]), shared by test/nn_ops.test.ts and the gradient-check page (src/web/gradcheck/nn.ts), with
 * their seeded inputs. Pure data and float64 helpers: no GPU, no Node, no test framework.
 *
 * Coverage: rows of 1, 7, 33 and 300 (300 > 64 takes the workgroup-per-row tree kernels, shorter ones the serial
 * ones), batch 1, softmax along dim 0, 1 and −1 of a 3-D tensor, layerNorm over 1 and 2 trailing dims with and
 * without affine (and over more than 64 rows: the tree kernel of the weight gradients), every reduction of every
 * loss, ignoreIndex (−100 and a class index), class weights, weight and posWeight, and logits of ±80.
 */
import { randomArray, rng, weightedSum } from './math';
import { softmaxRef, axisLayout, type NllRefLayout } from './nn';
import { numel } from './cases';
import type { Reduction } from './loss';

/** A reference loss as an array: [loss] for a reduced loss, the losses for 'none'. */
export const lossValues = (v: number | Float64Array): ArrayLike<number> => (typeof v === 'number' ? [v] : v);
/** A scalar objective of a loss for the finite differences: w[0]·loss for a reduced loss, Σ w·loss for 'none'. */
export const lossObjective = (v: number | Float64Array, w: ArrayLike<number>): number => (typeof v === 'number' ? w[0] * v : weightedSum(v, w));
/** The upstream gradient as the references take it: a number for a reduced loss, one per element for 'none'. */
export const lossUpstream = (red: Reduction, w: ArrayLike<number>): number | ArrayLike<number> => (red === 'none' ? w : w[0]);

/** softmax / logSoftmax: shape, dim, and the scale of the inputs (uniform in ±scale; 80: large logits). */
export interface SoftmaxCase {
  shape: number[];
  dim: number;
  scale: number;
}

export const SOFTMAX_CASES: SoftmaxCase[] = [
  { shape: [1], dim: 0, scale: 3 },
  { shape: [7], dim: -1, scale: 3 },
  { shape: [1, 33], dim: 1, scale: 3 },
  { shape: [5, 300], dim: -1, scale: 3 },
  { shape: [3, 7, 5], dim: 0, scale: 3 },
  { shape: [3, 7, 5], dim: 1, scale: 3 },
  { shape: [3, 7, 5], dim: -1, scale: 3 },
  { shape: [2, 300, 3], dim: 1, scale: 3 },
  { shape: [4, 13], dim: -1, scale: 80 },
  { shape: [2, 300], dim: 1, scale: 80 },
];

/** The references' backwards vs finite differences (small: every element is differentiated). */
export const SOFTMAX_FD_CASES: SoftmaxCase[] = [
  { shape: [3, 7], dim: -1, scale: 2 },
  { shape: [3, 4, 2], dim: 1, scale: 2 },
  { shape: [5, 3], dim: 0, scale: 2 },
];

/** Seeded inputs and upstream gradient of a softmax case. */
export function softmaxInputs(c: SoftmaxCase, seed: number): { x: Float64Array; dy: Float64Array } {
  const n = numel(c.shape);
  return { x: randomArray(n, seed, -c.scale, c.scale), dy: randomArray(n, seed + 1) };
}

/** layerNorm: x's shape, normalizedShape, and which of weight and bias are given. */
export interface LayerNormCase {
  shape: number[];
  normalizedShape: number[];
  weight: boolean;
  bias: boolean;
}

export const LAYERNORM_CASES: LayerNormCase[] = [
  { shape: [1, 7], normalizedShape: [7], weight: true, bias: true },
  { shape: [13, 1], normalizedShape: [1], weight: true, bias: true },
  { shape: [3, 33], normalizedShape: [33], weight: false, bias: false },
  { shape: [5, 300], normalizedShape: [300], weight: true, bias: true },
  { shape: [2, 3, 5, 7], normalizedShape: [5, 7], weight: true, bias: true },
  { shape: [4, 3, 5], normalizedShape: [3, 5], weight: false, bias: false },
  { shape: [2, 3, 11], normalizedShape: [11], weight: true, bias: false },
  { shape: [70, 7], normalizedShape: [7], weight: true, bias: true },
];

export const LAYERNORM_FD_CASES: LayerNormCase[] = [
  { shape: [3, 7], normalizedShape: [7], weight: true, bias: true },
  { shape: [2, 3, 4], normalizedShape: [3, 4], weight: true, bias: true },
];

/** The eps of the layerNorm cases (torch's default). */
export const LAYERNORM_EPS = 1e-5;

/** Seeded x, weight, bias (null where the case has none) and upstream gradient of a layerNorm case. */
export function layerNormInputs(c: LayerNormCase, seed: number) {
  const d = numel(c.normalizedShape);
  const n = numel(c.shape);
  return {
    rows: n / d,
    d,
    x: randomArray(n, seed, -2, 2),
    weight: c.weight ? randomArray(d, seed + 1, 0.5, 1.5) : null,
    bias: c.bias ? randomArray(d, seed + 2) : null,
    dy: randomArray(n, seed + 3),
  };
}

/** mseLoss: shape and reduction. */
export const MSE_CASES: [number[], Reduction][] = [
  [[7], 'mean'],
  [[3, 5], 'sum'],
  [[1, 33], 'none'],
  [[2, 3, 7], 'mean'],
];

/** binaryCrossEntropyWithLogits: shape, reduction, the shapes of weight and posWeight (null: none), logit scale. */
export interface BceCase {
  shape: number[];
  reduction: Reduction;
  weight: number[] | null;
  posWeight: number[] | null;
  scale: number;
}

export const BCE_CASES: BceCase[] = [
  { shape: [1, 1], reduction: 'mean', weight: null, posWeight: null, scale: 4 },
  { shape: [7], reduction: 'mean', weight: null, posWeight: null, scale: 4 },
  { shape: [3, 5], reduction: 'sum', weight: [5], posWeight: null, scale: 4 },
  { shape: [4, 7], reduction: 'none', weight: null, posWeight: [7], scale: 4 },
  { shape: [2, 3, 5], reduction: 'mean', weight: [2, 3, 5], posWeight: [5], scale: 4 },
  { shape: [6, 7], reduction: 'sum', weight: null, posWeight: null, scale: 80 },
  { shape: [3, 33], reduction: 'none', weight: [1, 33], posWeight: [33], scale: 80 },
];

export const BCE_FD_CASES: BceCase[] = [
  { shape: [3, 5], reduction: 'mean', weight: [5], posWeight: [5], scale: 4 },
  { shape: [7], reduction: 'none', weight: null, posWeight: null, scale: 4 },
  { shape: [2, 3], reduction: 'sum', weight: null, posWeight: [3], scale: 4 },
];

/** Seeded logits, soft targets in [0, 1], weight, posWeight and upstream gradient of a bce case. */
export function bceInputs(c: BceCase, seed: number) {
  const n = numel(c.shape);
  // Logits at least 0.01 from 0, where |x| (in the stable form) has its kink: the finite differences stay on one side.
  const x = randomArray(n, seed, -c.scale, c.scale).map((v) => (Math.abs(v) < 0.01 ? Math.fround(v < 0 ? v - 0.01 : v + 0.01) : v));
  return {
    x,
    y: randomArray(n, seed + 1, 0, 1),
    weight: c.weight ? randomArray(numel(c.weight), seed + 2, 0.5, 2) : null,
    posWeight: c.posWeight ? randomArray(numel(c.posWeight), seed + 3, 0.5, 3) : null,
    upstream: randomArray(c.reduction === 'none' ? n : 1, seed + 4, 0.5, 2),
  };
}

/** nllLoss: logp's shape, reduction, class weights or not, ignoreIndex, and how many targets are set to it. */
export interface NllCase {
  shape: number[];
  reduction: Reduction;
  weight: boolean;
  ignoreIndex: number;
  ignored: number;
}

export const NLL_CASES: NllCase[] = [
  { shape: [7, 5], reduction: 'mean', weight: false, ignoreIndex: -100, ignored: 0 },
  { shape: [1, 13], reduction: 'sum', weight: false, ignoreIndex: -100, ignored: 0 },
  { shape: [5, 7], reduction: 'none', weight: true, ignoreIndex: -100, ignored: 0 },
  { shape: [4], reduction: 'mean', weight: false, ignoreIndex: -100, ignored: 0 },
  { shape: [3, 5, 4], reduction: 'mean', weight: true, ignoreIndex: -100, ignored: 2 },
  { shape: [2, 3, 2, 3], reduction: 'none', weight: false, ignoreIndex: -100, ignored: 3 },
  { shape: [9, 4], reduction: 'mean', weight: true, ignoreIndex: -100, ignored: 3 },
  { shape: [6, 3], reduction: 'sum', weight: true, ignoreIndex: 1, ignored: 2 },
  { shape: [33, 300], reduction: 'mean', weight: false, ignoreIndex: -100, ignored: 4 },
];

export const NLL_FD_CASES: NllCase[] = [
  { shape: [4, 5], reduction: 'mean', weight: true, ignoreIndex: -100, ignored: 1 },
  { shape: [2, 3, 4], reduction: 'none', weight: false, ignoreIndex: -100, ignored: 1 },
  { shape: [3, 4], reduction: 'sum', weight: true, ignoreIndex: 2, ignored: 1 },
];

/** logp [N, C, S] of a case (the layout of the reference), and the target shape. */
export function nllLayout(c: NllCase): NllRefLayout & { targetShape: number[] } {
  if (c.shape.length === 1) return { n: 1, classes: c.shape[0], inner: 1, targetShape: [] };
  return { n: c.shape[0], classes: c.shape[1], inner: numel(c.shape.slice(2)), targetShape: [c.shape[0], ...c.shape.slice(2)] };
}

/** Seeded log-probabilities (log-softmax over the class dim, rounded to f32), targets (some ignored), class weights, upstream. */
export function nllInputs(c: NllCase, seed: number) {
  const l = nllLayout(c);
  const logits = randomArray(numel(c.shape), seed, -3, 3);
  const logp = softmaxRef(logits, axisLayout(c.shape.length === 1 ? [c.shape[0]] : c.shape, c.shape.length === 1 ? 0 : 1), true).map(Math.fround);
  const r = rng(seed + 1);
  const m = l.n * l.inner;
  const target = Int32Array.from({ length: m }, () => Math.floor(r() * l.classes));
  for (let k = 0; k < c.ignored; k++) target[Math.floor(r() * m)] = c.ignoreIndex;
  return {
    layout: l,
    logp,
    target,
    weight: c.weight ? randomArray(l.classes, seed + 2, 0.5, 2) : null,
    upstream: randomArray(c.reduction === 'none' ? m : 1, seed + 3, 0.5, 2),
  };
}

/** linear on [*, in]: x's shape, out features, with bias. */
export const LINEAR_ND_CASES: [number[], number, boolean][] = [
  [[2, 3, 5, 7], 4, true],
  [[7], 3, true],
  [[1, 1, 13], 5, false],
];
