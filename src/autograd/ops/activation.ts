/** Activation functions: each op's forward and backward side by side. */
import { Tensor } from '../tensor';
import { record } from '../graph';
import { requireNonEmpty } from './check';
import { reluBackward, reluForward } from '../../kernels/elementwise/relu';

/** max(x, 0), elementwise. The gradient is dy·[x > 0] (0 at exactly 0, as PyTorch). */
export function relu(x: Tensor): Tensor {
  requireNonEmpty('relu', { x });
  const y = Tensor.empty(x.shape, 'f32', x.rt);
  reluForward(x.rt, x.buffer, y.buffer, x.size);
  // The backward reads the output (y > 0 ⇔ x > 0), as PyTorch's threshold_backward does.
  return record(y, 'relu', [x], (g) => {
    const gx = Tensor.empty(x.shape, 'f32', x.rt);
    reluBackward(x.rt, y.buffer, g.buffer, gx.buffer, x.size);
    return [gx];
  });
}
