/**
 * nn ops, each forward and backward side by side (torch.nn.functional's names, camelCase): softmax and
 * logSoftmax along any dim, layerNorm, and the mseLoss, binaryCrossEntropyWithLogits and nllLoss losses.
 * Everything runs on the GPU (kernels/softmax, kernels/layernorm, kernels/loss/losses.ts); a reduction to a
 * scalar loss is a GPU sum (kernels/reduce), with no readback.
 */
import { Tensor, shapeStr, type Shape } from '../tensor';
import { record } from '../graph';
import { requireNonEmpty } from './check';
import { softmaxBackward, softmaxForward, type AxisLayout } from '../../kernels/softmax';
import { layerNormBackwardData, layerNormBackwardParams, layerNormForward } from '../../kernels/layernorm';
import { bceWithLogitsBackward, bceWithLogitsForward, mseBackward, mseForward, nllBackward, nllForward, nllMean, type BceWeights, type LossGrad, type NllLayout } from '../../kernels/loss';
import { sumAxis } from '../../kernels/reduce';

const prod = (s: Shape) => s.reduce((a, b) => a * b, 1);

function requireF32(op: string, tensors: Record<string, Tensor | null | undefined>): void {
  for (const [name, t] of Object.entries(tensors)) {
    if (t && t.dtype !== 'f32') throw new Error(`${op}: ${name} ${shapeStr(t.shape)} must be a float32 tensor, got ${t.dtype}`);
  }
}

/** [outer, n, inner] around `dim` (negative counts from the end); a 0-d tensor is one element along dim 0 or −1. */
function axisOf(op: string, shape: Shape, dim: number): AxisLayout {
  const s = shape.length ? shape : [1];
  const ax = dim < 0 ? dim + s.length : dim;
  if (!Number.isInteger(dim) || ax < 0 || ax >= s.length) throw new Error(`${op}: dim ${dim} is out of range for shape ${shapeStr(shape)}`);
  return { outer: prod(s.slice(0, ax)), n: s[ax], inner: prod(s.slice(ax + 1)) };
}

function softmaxOp(op: 'softmax' | 'logSoftmax', x: Tensor, dim: number): Tensor {
  requireNonEmpty(op, { x });
  requireF32(op, { x });
  const l = axisOf(op, x.shape, dim);
  const log = op === 'logSoftmax';
  const rt = x.rt;
  const y = Tensor.empty(x.shape, 'f32', rt);
  softmaxForward(rt, x.buffer, y.buffer, l, log);
  return record(y, op, [x], (g) => {
    const dx = Tensor.empty(x.shape, 'f32', rt);
    softmaxBackward(rt, y.buffer, g.buffer, dx.buffer, l, log);
    return [dx];
  });
}

/**
 * torch.nn.functional.softmax(x, dim): exp(x − max) / Σ exp(x − max) along `dim` (negative counts from the end).
 * A slice whose elements are all −∞ gives NaN, as PyTorch.
 */
export function softmax(x: Tensor, dim: number): Tensor {
  return softmaxOp('softmax', x, dim);
}

/** torch.nn.functional.log_softmax(x, dim): (x − max) − log Σ exp(x − max) along `dim`; stable for large |x|. */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return softmaxOp('logSoftmax', x, dim);
}

/**
 * torch.nn.functional.layer_norm(x, normalizedShape, weight, bias, eps): normalises over the last
 * normalizedShape.length dims (biased variance), then · weight + bias (each optional, of shape normalizedShape).
 * Gradients for x, weight and bias.
 */
export function layerNorm(x: Tensor, normalizedShape: number | readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  const ns = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
  requireNonEmpty('layerNorm', { x, weight, bias });
  requireF32('layerNorm', { x, weight, bias });
  const tail = x.shape.slice(x.shape.length - ns.length);
  if (ns.length === 0 || ns.length > x.shape.length || tail.some((d, i) => d !== ns[i])) {
    throw new Error(`layerNorm: normalizedShape ${shapeStr(ns)} must be the last dims of x ${shapeStr(x.shape)}`);
  }
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t && (t.shape.length !== ns.length || t.shape.some((d, i) => d !== ns[i]))) {
      throw new Error(`layerNorm: ${name} ${shapeStr(t.shape)} must have the normalizedShape ${shapeStr(ns)}`);
    }
  }
  if (!(eps >= 0)) throw new Error(`layerNorm: eps must be ≥ 0, got ${eps}`);
  const rt = x.rt;
  const l = { rows: x.size / prod(ns), d: prod(ns) };
  const y = Tensor.empty(x.shape, 'f32', rt);
  const stats = Tensor.empty([l.rows, 2], 'f32', rt); // per row: mean, rstd; saved for the backward
  layerNormForward(rt, x.buffer, weight?.buffer ?? null, bias?.buffer ?? null, y.buffer, stats.buffer, l, eps);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return record(
    y,
    'layerNorm',
    inputs,
    (g) => {
      let dx: Tensor | null = null;
      if (x.requiresGrad) {
        dx = Tensor.empty(x.shape, 'f32', rt);
        layerNormBackwardData(rt, x.buffer, weight?.buffer ?? null, stats.buffer, g.buffer, dx.buffer, l);
      }
      let dw: Tensor | null = null;
      let db: Tensor | null = null;
      if (weight?.requiresGrad || bias?.requiresGrad) {
        dw = Tensor.empty(ns, 'f32', rt);
        db = Tensor.empty(ns, 'f32', rt);
        layerNormBackwardParams(rt, x.buffer, stats.buffer, g.buffer, dw.buffer, db.buffer, l);
      }
      return [dx, ...(weight ? [dw] : []), ...(bias ? [db] : [])];
    },
    [stats],
  );
}

export type LossReduction = 'mean' | 'sum' | 'none';

/** The reduction option shared by the losses. */
export interface LossOptions {
  /** 'mean' (default, a scalar), 'sum' (a scalar) or 'none' (one loss per element). */
  reduction?: LossReduction;
}

function reductionOf(op: string, opts: LossOptions): LossReduction {
  const r = opts.reduction ?? 'mean';
  if (!['mean', 'sum', 'none'].includes(r)) throw new Error(`${op}: unknown reduction '${r}' (use 'mean', 'sum' or 'none')`);
  return r;
}

/** Per-element losses reduced on the GPU: a scalar for 'mean' / 'sum' (per is consumed), per itself for 'none'. */
function reduceLoss(per: Tensor, reduction: LossReduction): Tensor {
  if (reduction === 'none') return per;
  const out = Tensor.empty([], 'f32', per.rt);
  sumAxis(per.rt, per.buffer, out.buffer, 1, per.size, 1, reduction === 'mean' ? 1 / per.size : 1);
  per.dispose();
  return out;
}

/** The upstream gradient of an elementwise loss of n elements. */
function lossGrad(g: Tensor, reduction: LossReduction, n: number, factor = 1): LossGrad {
  return { upstream: g.buffer, perElement: reduction === 'none', scale: (reduction === 'mean' ? 1 / n : 1) * factor };
}

function sameShape(op: string, names: [string, string], a: Tensor, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${op}: ${names[0]} ${shapeStr(a.shape)} and ${names[1]} ${shapeStr(b.shape)} must have the same shape (broadcasting is not supported here)`);
  }
}

/** torch.nn.functional.mse_loss(input, target, reduction): (input − target)², reduced. Gradients for both. */
export function mseLoss(input: Tensor, target: Tensor, opts: LossOptions = {}): Tensor {
  requireNonEmpty('mseLoss', { input, target });
  requireF32('mseLoss', { input, target });
  sameShape('mseLoss', ['input', 'target'], input, target);
  const reduction = reductionOf('mseLoss', opts);
  const rt = input.rt;
  const n = input.size;
  const per = Tensor.empty(input.shape, 'f32', rt);
  mseForward(rt, input.buffer, target.buffer, per.buffer, n);
  return record(reduceLoss(per, reduction), 'mseLoss', [input, target], (g) =>
    [input, target].map((t, k) => {
      if (!t.requiresGrad) return null;
      const d = Tensor.empty(t.shape, 'f32', rt);
      mseBackward(rt, input.buffer, target.buffer, lossGrad(g, reduction, n, k === 0 ? 1 : -1), d.buffer, n);
      return d;
    }),
  );
}

/** Options of binaryCrossEntropyWithLogits. */
export interface BceWithLogitsOptions extends LossOptions {
  /** A rescaling weight per element, of x's shape or a trailing part of it (e.g. [C]); no gradient. */
  weight?: Tensor | null;
  /** The weight of positive examples, of a trailing part of x's shape (usually [C]); no gradient. */
  posWeight?: Tensor | null;
}

/** Leading 1s dropped, t's shape must be the last dims of `of`: then t[i % t.size] broadcasts it over `of`. */
function checkTrailing(op: string, name: string, t: Tensor, of: Shape): void {
  let s = [...t.shape];
  while (s.length && s[0] === 1) s = s.slice(1);
  const tail = of.slice(of.length - s.length);
  if (s.length > of.length || tail.some((d, i) => d !== s[i])) {
    throw new Error(`${op}: ${name} ${shapeStr(t.shape)} does not broadcast to ${shapeStr(of)} (its shape must be the last dims of the input's)`);
  }
}

/**
 * torch.nn.functional.binary_cross_entropy_with_logits(x, y, weight, pos_weight, reduction): the stable
 * max(x, 0) − x·y + log1p(exp(−|x|)) (with pos_weight p: (1 − y)·x + (1 + (p − 1)·y)·log(1 + exp(−x))), times
 * weight, reduced. Gradients for x and y; weight and posWeight are constants.
 */
export function binaryCrossEntropyWithLogits(x: Tensor, y: Tensor, opts: BceWithLogitsOptions = {}): Tensor {
  const op = 'binaryCrossEntropyWithLogits';
  const { weight, posWeight } = opts;
  requireNonEmpty(op, { x, y, weight, posWeight });
  requireF32(op, { x, y, weight, posWeight });
  sameShape(op, ['input', 'target'], x, y);
  if (weight) checkTrailing(op, 'weight', weight, x.shape);
  if (posWeight) checkTrailing(op, 'posWeight', posWeight, x.shape);
  const reduction = reductionOf(op, opts);
  const rt = x.rt;
  const n = x.size;
  const w: BceWeights = { weight: weight?.buffer ?? null, weightSize: weight?.size ?? 0, posWeight: posWeight?.buffer ?? null, posWeightSize: posWeight?.size ?? 0 };
  const per = Tensor.empty(x.shape, 'f32', rt);
  bceWithLogitsForward(rt, x.buffer, y.buffer, w, per.buffer, n);
  return record(reduceLoss(per, reduction), op, [x, y], (g) =>
    (['input', 'target'] as const).map((of, k) => {
      if (![x, y][k].requiresGrad) return null;
      const d = Tensor.empty(x.shape, 'f32', rt);
      bceWithLogitsBackward(rt, of, x.buffer, y.buffer, w, lossGrad(g, reduction, n), d.buffer, n);
      return d;
    }),
  );
}

/** Options of nllLoss. */
export interface NllLossOptions extends LossOptions {
  /** Targets equal to this contribute nothing (loss 0, not counted in the mean). Default −100, as PyTorch. */
  ignoreIndex?: number;
  /** A weight per class [C]; no gradient. */
  weight?: Tensor | null;
}

/**
 * torch.nn.functional.nll_loss(logp, target, weight, ignore_index, reduction) for log-probabilities [N, C],
 * [N, C, d1, …] or [C], and int32 targets [N], [N, d1, …] or []: −weight[t]·logp[n, t, …]; 'mean' divides by
 * the sum of the weights of the targets not ignored (NaN when there is none, as PyTorch). Targets given as a CPU
 * array are checked here (each in [0, C) or ignoreIndex); an i32 tensor is not (that would need a CPU sync): a
 * target out of range gives NaN.
 */
export function nllLoss(logp: Tensor, targetIn: Tensor | ArrayLike<number>, opts: NllLossOptions = {}): Tensor {
  const op = 'nllLoss';
  const ignoreIndex = opts.ignoreIndex ?? -100;
  const weight = opts.weight ?? null;
  requireNonEmpty(op, { logp, weight });
  requireF32(op, { logp, weight });
  const reduction = reductionOf(op, opts);
  if (!Number.isInteger(ignoreIndex)) throw new Error(`${op}: ignoreIndex must be an integer, got ${ignoreIndex}`);
  const batched = logp.shape.length >= 2;
  const c = batched ? logp.shape[1] : logp.shape[0];
  if (logp.shape.length === 0) throw new Error(`${op}: logp must be [N, C], [N, C, d1, …] or [C], got ${shapeStr(logp.shape)}`);
  const targetShape = batched ? [logp.shape[0], ...logp.shape.slice(2)] : [];
  if (weight && (weight.shape.length !== 1 || weight.shape[0] !== c)) throw new Error(`${op}: weight ${shapeStr(weight.shape)} must be [${c}] (one per class)`);
  const own = !(targetIn instanceof Tensor);
  let target: Tensor;
  if (targetIn instanceof Tensor) {
    target = targetIn;
    if (target.dtype !== 'i32' || target.shape.length !== targetShape.length || target.shape.some((d, i) => d !== targetShape[i])) {
      throw new Error(`${op}: target must be an int32 tensor ${shapeStr(targetShape)} for logp ${shapeStr(logp.shape)}, got ${target.dtype} ${shapeStr(target.shape)}`);
    }
  } else {
    const m = prod(targetShape);
    if (targetIn.length !== m) throw new Error(`${op}: ${targetIn.length} targets for logp ${shapeStr(logp.shape)} (need ${m}, shape ${shapeStr(targetShape)})`);
    for (let i = 0; i < targetIn.length; i++) {
      const t = targetIn[i];
      if (!(Number.isInteger(t) && ((t >= 0 && t < c) || t === ignoreIndex))) {
        throw new Error(`${op}: target ${t} (position ${i} of ${targetIn.length}) is out of range for ${c} classes: targets must be integers in 0..${c - 1} or ignoreIndex (${ignoreIndex})`);
      }
    }
    target = Tensor.fromArray(Int32Array.from(targetIn), targetShape, 'i32', logp.rt);
  }
  const rt = logp.rt;
  const l: NllLayout = { n: batched ? logp.shape[0] : 1, classes: c, inner: batched ? prod(logp.shape.slice(2)) : 1, ignoreIndex, weight: weight?.buffer ?? null };
  const m = l.n * l.inner;
  let out: Tensor;
  let sums: Tensor | null = null; // 'mean': [Σ loss, Σ weight], saved for the backward
  if (reduction === 'mean') {
    const per = Tensor.empty([2, m], 'f32', rt);
    nllForward(rt, logp.buffer, target.buffer, l, per.buffer, true);
    sums = Tensor.empty([2], 'f32', rt);
    sumAxis(rt, per.buffer, sums.buffer, 2, m, 1);
    per.dispose();
    out = Tensor.empty([], 'f32', rt);
    nllMean(rt, sums.buffer, out.buffer);
  } else {
    const per = Tensor.empty(targetShape, 'f32', rt);
    nllForward(rt, logp.buffer, target.buffer, l, per.buffer, false);
    out = reduceLoss(per, reduction);
  }
  return record(
    out,
    op,
    [logp],
    (g) => {
      const d = Tensor.empty(logp.shape, 'f32', rt);
      nllBackward(rt, target.buffer, l, { upstream: g.buffer, perElement: reduction === 'none', scale: 1 }, sums?.buffer ?? null, d.buffer);
      return [d];
    },
    [...(sums ? [sums] : []), ...(own ? [target] : [])],
  );
}
