/**
 * Seeded initialisation as torchvision's ResNet does it: Kaiming normal (fan_out, ReLU gain) for convs,
 * BatchNorm weight 1 and bias 0, and nn.Linear's default (uniform ±1/√fan_in for weight and bias).
 * Values are drawn on the GPU; each tensor gets its own seed derived from the model seed and its index.
 */
import { Tensor, type Shape } from '../autograd/tensor';
import type { GpuRuntime } from '../gpu/runtime';

export class SeedSequence {
  private i = 0;
  constructor(readonly seed: number) {}
  /** A new 32-bit seed (a hash of the base seed and a counter). */
  next(): number {
    let h = (this.seed ^ 0x9e3779b9 ^ Math.imul(++this.i, 0x85ebca6b)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
    return (h ^ (h >>> 16)) >>> 0;
  }
}

let globalSeeds = new SeedSequence(0);

/** The seeds layers draw from when none is given (as torch's global generator): reset with manualSeed(). */
export function defaultSeeds(): SeedSequence {
  return globalSeeds;
}

/** Reseed the sequence that layers built without explicit seeds draw their initial weights from. */
export function manualSeed(seed: number): void {
  globalSeeds = new SeedSequence(seed);
}

/** torch.nn.init.kaiming_normal_(w, mode='fan_out', nonlinearity='relu') for a conv weight [O, C, kh, kw]. */
export function kaimingNormalFanOut(shape: Shape, seeds: SeedSequence, rt?: GpuRuntime): Tensor {
  const fanOut = shape[0] * shape.slice(2).reduce((p, d) => p * d, 1);
  return Tensor.randn(shape, seeds.next(), 0, Math.sqrt(2 / fanOut), rt);
}

/** nn.Linear's default: kaiming_uniform_(a=√5) gives U(±1/√fan_in) for the weight; the bias also U(±1/√fan_in). */
export function linearDefault(shape: Shape, fanIn: number, seeds: SeedSequence, rt?: GpuRuntime): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return Tensor.rand(shape, seeds.next(), -bound, bound, rt);
}
