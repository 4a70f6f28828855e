/**
 * Dropout: in training, each element is zeroed with probability p and the kept ones are scaled by 1/(1−p);
 * in evaluation (or with p = 0) it is the identity. Forward and backward side by side.
 */
import { Tensor, shapeStr } from '../tensor';
import { record } from '../graph';
import { requireNonEmpty } from './check';
import { inF32 } from './half';
import { dropoutMasked, dropoutSeeded } from '../../kernels/dropout';

/**
 * torch.nn.functional.dropout(x, p, training), with a mask drawn on the GPU from (seed, element index) by the
 * project's counter-based generator: the same seed gives the same mask, so the caller passes a fresh seed per
 * step (e.g. derived from the run's seed and the step number). The backward regenerates the same mask.
 * Eval mode and p = 0 return a view of x (no copy); p = 1 gives zeros.
 */
export function dropout(x: Tensor, p: number, training: boolean, seed: number): Tensor {
  // The backward regenerates the mask: it does not read x.
  if (x.dtype === 'f16' && training && p !== 0) return inF32('dropout', [x], { out: 'f16', backwardReads: [false] }, ([xi]) => dropout(xi!, p, training, seed));
  if (x.dtype === 'f16' && p >= 0 && p <= 1) return record(x.view(x.shape), 'dropout(identity)', [x], (g) => [g]);
  requireNonEmpty('dropout', { x });
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: the drop probability p must be in [0, 1], got ${p}`);
  if (!training || p === 0) {
    return record(x.view(x.shape), 'dropout(identity)', [x], (g) => [g]);
  }
  const y = Tensor.empty(x.shape, 'f32', x.rt);
  dropoutSeeded(x.rt, x.buffer, y.buffer, x.size, p, seed);
  return record(y, 'dropout', [x], (g) => {
    const gx = Tensor.empty(x.shape, 'f32', x.rt);
    dropoutSeeded(x.rt, g.buffer, gx.buffer, x.size, p, seed); // dx = dy · mask · 1/(1−p), the same mask
    return [gx];
  });
}

/**
 * Dropout with an explicit mask (a float32 tensor of 0s and 1s, x's shape): y = x · mask / (1−p).
 * For parity tests that import the mask PyTorch drew. The mask is read again by the backward, so keep it
 * alive until then.
 */
export function dropoutWithMask(x: Tensor, mask: Tensor, p: number): Tensor {
  requireNonEmpty('dropoutWithMask', { x, mask });
  if (mask.dtype !== 'f32' || mask.size !== x.size || mask.shape.join() !== x.shape.join()) {
    throw new Error(`dropoutWithMask: the mask (${mask.dtype} ${shapeStr(mask.shape)}) must be a float32 tensor of x's shape ${shapeStr(x.shape)}`);
  }
  const y = Tensor.empty(x.shape, 'f32', x.rt);
  dropoutMasked(x.rt, x.buffer, mask.buffer, y.buffer, x.size, p);
  return record(y, 'dropout(mask)', [x], (g) => {
    const gx = Tensor.empty(x.shape, 'f32', x.rt);
    dropoutMasked(x.rt, g.buffer, mask.buffer, gx.buffer, x.size, p);
    return [gx];
  });
}
