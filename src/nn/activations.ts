/** Activation modules beyond ResNet's ReLU (nn/layers.ts), with torch.nn's names and options (camelCase). */
import type { Tensor } from '../autograd/tensor';
import { gelu, leakyRelu, sigmoid, silu, tanh, type GeluOptions } from '../autograd/ops/activation';
import { Module } from './module';

/** torch.nn.GELU: x·Φ(x), or its tanh approximation with `{ approximate: 'tanh' }`. */
export class GELU extends Module {
  readonly approximate: 'none' | 'tanh';
  constructor(options: GeluOptions = {}) {
    super();
    this.approximate = options.approximate ?? 'none';
    if (this.approximate !== 'none' && this.approximate !== 'tanh') throw new Error(`GELU: approximate must be 'none' or 'tanh', got ${JSON.stringify(this.approximate)}`);
  }
  forward(x: Tensor): Tensor {
    return gelu(x, { approximate: this.approximate });
  }
}

/** torch.nn.SiLU: x·sigmoid(x). */
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return silu(x);
  }
}

/** torch.nn.Tanh. */
export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

/** torch.nn.Sigmoid. */
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

/** torch.nn.LeakyReLU: x where x > 0, else negativeSlope·x (default 0.01); the slope as a number or `{ negativeSlope }`. */
export class LeakyReLU extends Module {
  readonly negativeSlope: number;
  constructor(negativeSlope: number | { negativeSlope?: number } = 0.01) {
    super();
    this.negativeSlope = typeof negativeSlope === 'number' ? negativeSlope : (negativeSlope.negativeSlope ?? 0.01);
  }
  forward(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }
}
