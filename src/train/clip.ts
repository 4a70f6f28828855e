/**
 * torch.nn.utils.clip_grad_norm_ and clip_grad_value_ on the GPU. Nothing is read back: the total norm is
 * reduced into a 0-d tensor on the GPU, and the scaling kernel reads it there.
 */
import { Tensor } from '../autograd/tensor';
import { clampValue, normPartial, normTotal, partialCount, scaleByNorm } from '../kernels/clip';

function paramList(what: string, params: Tensor | Iterable<Tensor>): Tensor[] {
  const list = params instanceof Tensor ? [params] : [...params];
  for (const p of list) if (!(p instanceof Tensor)) throw new Error(`${what}: the parameters must be Tensors`);
  return list;
}

const gradsOf = (list: Tensor[]) => list.flatMap((p) => (p.grad ? [p.grad] : []));

/**
 * Scale the gradients of `params` in place so that their total norm (the norm of all of them as one vector) is
 * at most `maxNorm`: each is multiplied by min(1, maxNorm / (norm + 1e-6)), as torch.nn.utils.clip_grad_norm_.
 * `normType`: p > 0, or Infinity / 'inf' (the largest |g|). Parameters without a gradient are skipped.
 * Returns the total norm before clipping, as a 0-d tensor the caller owns (read it when convenient: the step
 * waits for nothing). A NaN or infinite norm is not an error here (torch's error_if_nonfinite=False).
 */
export function clipGradNorm(params: Tensor | Iterable<Tensor>, maxNorm: number, normType: number | 'inf' = 2): Tensor {
  const p = normType === 'inf' ? Infinity : normType;
  if (typeof p !== 'number' || !(p > 0)) throw new Error(`clipGradNorm: normType must be a number > 0 or 'inf', got ${String(normType)}`);
  if (typeof maxNorm !== 'number' || !(maxNorm >= 0)) throw new Error(`clipGradNorm: maxNorm must be a number ≥ 0, got ${String(maxNorm)}`);
  const list = paramList('clipGradNorm', params);
  const grads = gradsOf(list);
  if (grads.length === 0) return Tensor.zeros([], list[0]?.rt);
  const rt = grads[0].rt;
  const counts = grads.map((g) => partialCount(rt, g.size));
  const partials = Tensor.empty([counts.reduce((a, b) => a + b, 0)], 'f32', rt);
  const total = Tensor.empty([], 'f32', rt);
  let offset = 0;
  grads.forEach((g, i) => {
    normPartial(rt, g.buffer, g.size, partials.buffer, offset, p);
    offset += counts[i];
  });
  normTotal(rt, partials.buffer, offset, total.buffer, p);
  partials.dispose();
  for (const g of grads) scaleByNorm(rt, g.buffer, g.size, total.buffer, maxNorm);
  return total;
}

/** Clamp every gradient of `params` to [−clipValue, clipValue] in place, as torch.nn.utils.clip_grad_value_ (NaN stays NaN). */
export function clipGradValue(params: Tensor | Iterable<Tensor>, clipValue: number): void {
  if (typeof clipValue !== 'number' || !(clipValue >= 0)) throw new Error(`clipGradValue: clipValue must be a number ≥ 0, got ${String(clipValue)}`);
  for (const g of gradsOf(paramList('clipGradValue', params))) clampValue(g.rt, g.buffer, g.size, clipValue);
}
