/**
 * Batch normalisation over NCHW (torch.nn.functional.batch_norm), and the same fused with ReLU.
 * Forward and backward side by side; the per-channel statistics [mean | invstd] are saved for backward.
 *
 * float16: when the data tensors (x, and batchNormAddRelu's residual) are all float16 and weight / bias are
 * float32 (or absent), the kernels run on them natively (batchnormKernelF16: f16 reads and writes, f32
 * arithmetic and statistics): the output, dx and the residual's gradient are float16, dweight / dbias float32,
 * and no float32 copy of x, dy or dx is made. Mixed cases (an f16 x with an f32 residual, f16 affine
 * parameters) go through inF32 (ops/half.ts).
 */
import { Tensor, shapeStr } from '../tensor';
import { record } from '../graph';
import { requireNonEmpty } from './check';
import { bnApply, bnBackwardApply, bnBackwardReduce, bnBackwardReduceMasked, bnReluMask, bnStatsEval, bnStatsTrain, type BnAffine, type BnDtype, type BnShape } from '../../kernels/batchnorm';
import { unaryBackward } from '../../kernels/elementwise/unary_gen';
import { inF32 } from './half';

function bnShape(op: string, x: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor | null, bias: Tensor | null): BnShape {
  if (x.shape.length !== 4) throw new Error(`${op}: input must be [N, C, H, W], got ${shapeStr(x.shape)}`);
  requireNonEmptyData(op, { x });
  requireNonEmpty(op, { runningMean, runningVar, weight, bias });
  const [n, c, h, w] = x.shape;
  for (const [name, t] of [
    ['runningMean', runningMean],
    ['runningVar', runningVar],
    ['weight', weight],
    ['bias', bias],
  ] as const) {
    if (t && t.size !== c) throw new Error(`${op}: ${name} has shape ${shapeStr(t.shape)}, expected [${c}] for input ${shapeStr(x.shape)}`);
  }
  for (const [name, t] of [['runningMean', runningMean], ['runningVar', runningVar], ['weight', weight], ['bias', bias]] as const) {
    if (t && t.dtype !== 'f32') throw new Error(`${op}: ${name} is ${t.dtype}; batch norm keeps its statistics and parameters in float32 (use .float())`);
  }
  return { n, c, hw: h * w };
}

/** requireNonEmpty for the data tensors, which may also be float16 here (the kernels run on it natively). */
function requireNonEmptyData(op: string, tensors: Record<string, Tensor>): void {
  requireNonEmpty(op, tensors, { allowF16: true });
}

/** The native kernels' data dtype for x (float16 or float32). */
function dataDtype(op: string, x: Tensor): BnDtype {
  if (x.dtype === 'f16' || x.dtype === 'f32') return x.dtype;
  throw new Error(`${op}: input x is ${x.dtype}; batch norm needs a float32 or float16 tensor`);
}

/** Whether an f16 op may run natively: weight and bias (when given) are float32. */
function affineF32(weight: Tensor | null, bias: Tensor | null): boolean {
  return (!weight || weight.dtype === 'f32') && (!bias || bias.dtype === 'f32');
}

/** The batch's statistics [mean | invstd] (training: also updates the running estimates), or the running ones. */
function statistics(x: Tensor, s: BnShape, runningMean: Tensor, runningVar: Tensor, training: boolean, momentum: number, eps: number): Tensor {
  const stats = Tensor.empty([2, s.c], 'f32', x.rt);
  if (training) bnStatsTrain(x.rt, x.buffer, stats.buffer, runningMean.buffer, runningVar.buffer, s, momentum, eps, dataDtype('batchNorm', x));
  else bnStatsEval(x.rt, runningMean.buffer, runningVar.buffer, stats.buffer, s, eps);
  return stats;
}

/**
 * The backward of y = bn(x) (relu: of max(bn(x), 0), its mask recomputed from x) for upstream g:
 * [dx, dweight, dbias] for the inputs [x, weight?, bias?]. g and dx have x's dtype (float16 or float32);
 * dweight and dbias are float32. With `mask` (batchNormAddRelu), g is not given but written here: g = mask.dy
 * where mask.y > 0, fused into the sums' pass when they run (bnBackwardReduceMasked).
 */
function bnBackward(
  g: Tensor,
  x: Tensor,
  s: BnShape,
  stats: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  training: boolean,
  relu: boolean,
  mask: { dy: Tensor; y: Tensor } | null = null,
): (Tensor | null)[] {
  const rt = x.rt;
  const dtype = dataDtype('batchNorm backward', x);
  if (g.dtype !== dtype) throw new Error(`batchNorm backward: the upstream gradient is ${g.dtype}, the input x ${dtype} ${shapeStr(x.shape)} (they must match)`);
  const affine: BnAffine = { weight: weight?.buffer ?? null, bias: bias?.buffer ?? null };
  // dweight = Σ g·x̂, dbias = Σ g per channel; training-mode dx needs both even without an affine part.
  const needSums = training || Boolean(weight?.requiresGrad) || Boolean(bias?.requiresGrad);
  const dweight = needSums ? Tensor.empty([s.c], 'f32', rt) : null;
  const dbias = needSums ? Tensor.empty([s.c], 'f32', rt) : null;
  if (mask && !needSums) {
    // g = dy where y > 0 (float16 data: the batch norm kernel's mask entry)
    if (dtype === 'f16') bnReluMask(rt, mask.dy.buffer, mask.y.buffer, g.buffer, s, 'f16');
    else unaryBackward(rt, 'relu', { y: mask.y.buffer, dy: mask.dy.buffer }, g.buffer, g.size);
  }
  if (dweight && dbias) {
    if (mask) bnBackwardReduceMasked(rt, mask.dy.buffer, mask.y.buffer, x.buffer, stats.buffer, g.buffer, dweight.buffer, dbias.buffer, s, dtype);
    else bnBackwardReduce(rt, g.buffer, x.buffer, stats.buffer, affine, dweight.buffer, dbias.buffer, s, relu, dtype);
  }
  let dx: Tensor | null = null;
  if (x.requiresGrad) {
    dx = Tensor.empty(x.shape, dtype, rt);
    const sums = training ? { dweight: dweight!.buffer, dbias: dbias!.buffer } : null;
    bnBackwardApply(rt, g.buffer, x.buffer, stats.buffer, affine, sums, dx.buffer, s, relu, dtype);
  }
  const grads: (Tensor | null)[] = [dx];
  if (weight) grads.push(dweight);
  if (bias) grads.push(dbias);
  return grads;
}

function batchNormImpl(
  op: string,
  relu: boolean,
  x: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  training: boolean,
  momentum: number,
  eps: number,
): Tensor {
  if (x.dtype === 'f16' && !affineF32(weight, bias)) {
    // float16 affine parameters: float16 storage, float32 statistics and arithmetic through copies (ops/half.ts)
    return inF32(op, [x, weight, bias], { out: 'f16' }, ([xi, wi, bi]) => batchNormImpl(op, relu, xi!, runningMean, runningVar, wi, bi, training, momentum, eps));
  }
  // float32, or float16 natively (see the file's comment)
  const dtype = dataDtype(op, x);
  const s = bnShape(op, x, runningMean, runningVar, weight, bias);
  const stats = statistics(x, s, runningMean, runningVar, training, momentum, eps);
  const out = Tensor.empty(x.shape, dtype, x.rt);
  bnApply(x.rt, x.buffer, stats.buffer, { weight: weight?.buffer ?? null, bias: bias?.buffer ?? null }, out.buffer, s, relu, null, dtype);
  const inputs = [x, weight, bias].filter((t): t is Tensor => t !== null);
  return record(out, op, inputs, (g) => bnBackward(g, x, s, stats, weight, bias, training, relu), [stats]);
}

/**
 * torch.nn.functional.batch_norm for x [N, C, H, W]. Training: normalise with the batch mean and biased
 * variance over N·H·W, and update runningMean / runningVar in place on the GPU (momentum m:
 * r = (1−m)·r + m·stat, with the unbiased variance). Eval: normalise with the running estimates.
 * weight / bias [C] may be null (1 and 0). Gradients flow to x, weight and bias.
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  training: boolean,
  momentum = 0.1,
  eps = 1e-5,
): Tensor {
  return batchNormImpl('batchNorm', false, x, runningMean, runningVar, weight, bias, training, momentum, eps);
}

/** relu(batchNorm(...)) in one pass over the data each way (the backward masks dy where the output is 0). */
export function batchNormRelu(
  x: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  training: boolean,
  momentum = 0.1,
  eps = 1e-5,
): Tensor {
  return batchNormImpl('batchNormRelu', true, x, runningMean, runningVar, weight, bias, training, momentum, eps);
}

/**
 * max(batchNorm(x, ...) + residual, 0): the end of a residual block (its last batch norm, the add of the
 * shortcut and the ReLU) in one pass forward. Backward: g = dy masked by the output > 0 is the residual's
 * gradient, and the batch norm's backward takes it as its upstream gradient; the mask is applied in the pass that
 * sums the batch norm's per-channel gradients (when they are needed), which writes g.
 */
export function batchNormAddRelu(
  x: Tensor,
  residual: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  training: boolean,
  momentum = 0.1,
  eps = 1e-5,
): Tensor {
  const op = 'batchNormAddRelu';
  const native16 = x.dtype === 'f16' && residual.dtype === 'f16' && affineF32(weight, bias);
  if (!native16 && (x.dtype === 'f16' || residual.dtype === 'f16')) {
    // float16 storage, float32 statistics and arithmetic; the backward's ReLU mask reads the output (ops/half.ts)
    const outDtype = x.dtype === 'f16' && residual.dtype === 'f16' ? 'f16' : 'f32';
    return inF32(op, [x, residual, weight, bias], { out: outDtype, savesOutput: true }, ([xi, ri, wi, bi]) =>
      batchNormAddRelu(xi!, ri!, runningMean, runningVar, wi, bi, training, momentum, eps),
    );
  }
  const s = bnShape(op, x, runningMean, runningVar, weight, bias);
  requireNonEmptyData(op, { residual });
  if (shapeStr(residual.shape) !== shapeStr(x.shape)) throw new Error(`${op}: residual ${shapeStr(residual.shape)} must match the input ${shapeStr(x.shape)}`);
  const rt = x.rt;
  const dtype = dataDtype(op, x);
  const stats = statistics(x, s, runningMean, runningVar, training, momentum, eps);
  const out = Tensor.empty(x.shape, dtype, rt);
  bnApply(rt, x.buffer, stats.buffer, { weight: weight?.buffer ?? null, bias: bias?.buffer ?? null }, out.buffer, s, true, residual.buffer, dtype);
  const inputs = [x, residual, weight, bias].filter((t): t is Tensor => t !== null);
  return record(
    out,
    op,
    inputs,
    (dy) => {
      if (dy.dtype !== dtype) throw new Error(`${op} backward: the upstream gradient is ${dy.dtype}, the output ${dtype} ${shapeStr(out.shape)} (they must match)`);
      // g = dy where out > 0: the residual's gradient and the batch norm's upstream one, written by bnBackward
      // (in the pass of its sums when they run)
      const g = Tensor.empty(x.shape, dtype, rt);
      const [dx, ...affine] = bnBackward(g, x, s, stats, weight, bias, training, false, { dy, y: out });
      return [dx, g, ...affine];
    },
    [stats],
  );
}
