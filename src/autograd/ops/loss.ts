/** Loss functions: each op's forward and backward side by side. */
import { Tensor, shapeStr } from '../tensor';
import { record } from '../graph';
import { requireNonEmpty } from './check';
import { inF32 } from './half';
import { crossEntropyBackward, crossEntropyForward } from '../../kernels/loss';
import { sumAxis } from '../../kernels/reduce';

export interface CrossEntropyOptions {
  /** ε in PyTorch's definition: loss = (1−ε)·nll + ε·mean over classes of (−log p). Default 0. */
  labelSmoothing?: number;
  /** 'mean' over the batch (default, a scalar), 'sum' (a scalar), or 'none' (one loss per row, shape [N]). */
  reduction?: 'mean' | 'sum' | 'none';
}

/**
 * Labels for `numClasses` classes, checked on the CPU where they are made (no GPU readback): throws an error
 * that names the first bad label, its position and the class count. PyTorch raises for a label outside
 * [0, C) too; its ignore_index (−100) is not supported here, so every negative label is refused.
 */
export function checkLabels(labels: ArrayLike<number>, numClasses: number, what = 'crossEntropy'): void {
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (!(Number.isInteger(v) && v >= 0 && v < numClasses)) {
      throw new Error(
        `${what}: label ${v} (position ${i} of ${labels.length}) is out of range for ${numClasses} classes: labels must be integers in 0..${numClasses - 1} (negative labels and PyTorch's ignore_index are not supported). Check the dataset's labels and the model's class count.`,
      );
    }
  }
}

/**
 * torch.nn.functional.cross_entropy(logits, labels, label_smoothing=ε, reduction=…) for logits [N, C] and
 * int32 labels [N], fused and numerically stable (log-softmax with the row max subtracted).
 * The backward is (softmax − target distribution) · upstream (/N for the mean).
 *
 * Labels must be in [0, C): PyTorch's ignore_index (-100) is not supported. Labels given as a CPU array
 * (Int32Array, number[]) are checked here (checkLabels) and uploaded. Labels already on the GPU (an i32
 * tensor) are not checked (that would need a CPU sync): a row with an out-of-range label gets a NaN loss and
 * NaN gradients; call checkLabels where such labels are made.
 */
export function crossEntropy(logits: Tensor, labelsIn: Tensor | ArrayLike<number>, opts: CrossEntropyOptions = {}): Tensor {
  // autocast computes losses in float32: float16 logits are widened, the loss is float32 (ops/half.ts)
  if (logits.dtype === 'f16') return inF32('cross_entropy', [logits], { out: 'f32' }, ([l]) => crossEntropy(l!, labelsIn, opts));
  const smoothing = opts.labelSmoothing ?? 0;
  const reduction = opts.reduction ?? 'mean';
  if (logits.shape.length !== 2) throw new Error(`crossEntropy: logits must be [N, C], got ${shapeStr(logits.shape)}`);
  requireNonEmpty('crossEntropy', { logits });
  let labels: Tensor;
  const ownLabels = !(labelsIn instanceof Tensor);
  if (labelsIn instanceof Tensor) {
    labels = labelsIn;
  } else {
    if (labelsIn.length !== logits.shape[0]) throw new Error(`crossEntropy: ${labelsIn.length} labels for ${logits.shape[0]} rows of logits`);
    checkLabels(labelsIn, logits.shape[1]);
    labels = Tensor.fromArray(Int32Array.from(labelsIn), [labelsIn.length], 'i32', logits.rt);
  }
  const [n, c] = logits.shape;
  if (labels.dtype !== 'i32' || labels.shape.length !== 1 || labels.shape[0] !== n) {
    throw new Error(`crossEntropy: labels must be an int32 tensor [${n}], got ${labels.dtype} ${shapeStr(labels.shape)}`);
  }
  if (!['mean', 'sum', 'none'].includes(reduction)) throw new Error(`crossEntropy: unknown reduction '${reduction}'`);
  const rt = logits.rt;

  const stats = Tensor.empty([n, 2], 'f32', rt); // per row: max, log Σ exp(x − max); saved for the backward
  const rowLoss = Tensor.empty([n], 'f32', rt);
  crossEntropyForward(rt, logits.buffer, labels.buffer, stats.buffer, rowLoss.buffer, n, c, smoothing);
  let out = rowLoss;
  if (reduction !== 'none') {
    out = Tensor.empty([], 'f32', rt);
    sumAxis(rt, rowLoss.buffer, out.buffer, 1, n, 1, reduction === 'mean' ? 1 / n : 1);
    rowLoss.dispose();
  }

  return record(
    out,
    'cross_entropy',
    [logits],
    (g) => {
      const dx = Tensor.empty(logits.shape, 'f32', rt);
      const gscale = reduction === 'mean' ? 1 / n : 1;
      crossEntropyBackward(rt, logits.buffer, labels.buffer, stats.buffer, g.buffer, dx.buffer, n, c, smoothing, gscale, reduction === 'none');
      return [dx];
    },
    ownLabels ? [stats, labels] : [stats],
  );
}
