/** 2D convolution (NCHW, groups = 1) on tensors, with its backward for x, weight and bias. */
import { Tensor } from '../tensor';
import { record } from '../graph';
import { getAutocastDtype, isGradEnabled } from '../scope';
import { inF32, roundF16, roundedRaw, toDtype } from './half';
import { requireNonEmpty } from './check';
import { conv2dBackwardBias, conv2dBackwardData, conv2dBackwardWeight, conv2dForward, conv2dGeometry, type ConvOptions } from '../../kernels/conv';

export interface Conv2dOptions extends ConvOptions {
  /** A number, or [sh, sw] with sh = sw. Default 1. */
  stride?: number | readonly [number, number];
  /** A number, or [ph, pw] with ph = pw. Default 0. */
  padding?: number | readonly [number, number];
}

function square(name: string, v: number | readonly [number, number] | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v === 'number') return v;
  if (v[0] !== v[1]) throw new Error(`conv2d: ${name} [${v[0]}, ${v[1]}] must be equal in both dimensions`);
  return v[0];
}

/**
 * torch.nn.functional.conv2d(x[N,C,H,W], weight[O,C,kh,kw], bias?[O], stride, padding) → [N,O,OH,OW].
 * Call as conv2d(x, w, b, { stride, padding }) or conv2d(x, w, b, stride, padding).
 */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv2dOptions | number = {}, padding?: number): Tensor {
  const o: Conv2dOptions = typeof opts === 'number' ? { stride: opts, padding } : opts;
  if (x.dtype === 'f16' || getAutocastDtype() === 'f16') {
    // autocast: float16 input, weights rounded to float16, float32 accumulation, float16 output (ops/half.ts)
    const x16 = toDtype(x, 'f16');
    const w = weight.dtype === 'f16' ? weight : roundF16(weight);
    const b = bias && bias.dtype !== 'f16' ? roundF16(bias) : bias;
    // The backward reads x for dW and the weight for dx only; the rounded weight is made again for it.
    const remake = new Map<Tensor, () => Tensor>();
    if (w !== weight) remake.set(w, () => roundedRaw(weight));
    const backwardReads = [weight.requiresGrad, x.requiresGrad, false];
    return inF32('conv2d', [x16, w, b], { out: 'f16', remake, backwardReads }, ([xi, wi, bi]) => conv2dF32(xi!, wi!, bi, o));
  }
  return conv2dF32(x, weight, bias, o);
}

function conv2dF32(x: Tensor, weight: Tensor, bias: Tensor | null, o: Conv2dOptions): Tensor {
  requireNonEmpty('conv2d', { x, weight, bias });
  const g = conv2dGeometry(x.shape, weight.shape, square('stride', o.stride, 1), square('padding', o.padding, 0));
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== g.O)) throw new Error(`conv2d: bias [${bias.shape.join(', ')}] must be [${g.O}]`);
  const rt = x.rt;
  const out = Tensor.empty([g.N, g.O, g.OH, g.OW], 'f32', rt);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  // Whether a backward pass will follow is the op's to tell; the kernel layer decides what it changes.
  const inference = !isGradEnabled() || !inputs.some((t) => t.requiresGrad);
  conv2dForward(rt, x.buffer, weight.buffer, bias?.buffer ?? null, out.buffer, g, inference ? { inference, ...o } : o);
  return record(out, 'conv2d', inputs, (dy) => {
    const grads: (Tensor | null)[] = [null, null, null];
    if (x.requiresGrad) {
      grads[0] = Tensor.empty(x.shape, 'f32', rt);
      conv2dBackwardData(rt, dy.buffer, weight.buffer, grads[0].buffer, g, o); // col2im(Wᵀ · dY)
    }
    if (weight.requiresGrad) {
      grads[1] = Tensor.empty(weight.shape, 'f32', rt);
      conv2dBackwardWeight(rt, x.buffer, dy.buffer, grads[1].buffer, g, o); // Σ_n dY_n · im2col(x_n)ᵀ
    }
    if (bias?.requiresGrad) {
      grads[2] = Tensor.empty([g.O], 'f32', rt);
      conv2dBackwardBias(rt, dy.buffer, grads[2].buffer, g); // Σ over batch and pixels
    }
    return grads.slice(0, inputs.length);
  });
}
