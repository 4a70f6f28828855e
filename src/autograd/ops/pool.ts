/** 2D pooling over NCHW: max pooling (with argmax) and adaptive average pooling, forward and backward side by side. */
import { Tensor, shapeStr } from '../tensor';
import { record } from '../graph';
import { requireNonEmpty } from './check';
import { inF32 } from './half';
import {
  adaptiveAvgPool2dBackward,
  adaptiveAvgPool2dForward,
  maxPool2dBackward,
  maxPool2dForward,
  maxPoolOutSize,
  type MaxPoolWindow,
  type PoolShape,
} from '../../kernels/pool';

export type Size2 = number | readonly [number, number];

export interface MaxPool2dOptions {
  kernelSize: Size2;
  /** Defaults to kernelSize, as in PyTorch. */
  stride?: Size2;
  padding?: Size2;
}

function pair(v: Size2): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

function dims(op: string, x: Tensor, allowF16 = false): [number, number, number, number] {
  if (x.shape.length !== 4) throw new Error(`${op}: input must be [N, C, H, W], got ${shapeStr(x.shape)}`);
  requireNonEmpty(op, { x }, { allowF16 });
  return [x.shape[0], x.shape[1], x.shape[2], x.shape[3]];
}

/**
 * torch.nn.functional.max_pool2d (dilation 1, ceil_mode off): −∞ padding, ties to the first maximum in
 * row-major window order. The argmax (i32, as return_indices gives) is saved for the backward.
 */
export function maxPool2d(x: Tensor, opts: MaxPool2dOptions): Tensor {
  const [n, c, h, w] = dims('maxPool2d', x, true);
  const [kh, kw] = pair(opts.kernelSize);
  const [sh, sw] = pair(opts.stride ?? opts.kernelSize);
  const [ph, pw] = pair(opts.padding ?? 0);
  const k: MaxPoolWindow = { kh, kw, sh, sw, ph, pw };
  const oh = maxPoolOutSize(h, kh, sh, ph);
  const ow = maxPoolOutSize(w, kw, sw, pw);
  if (!(oh >= 1 && ow >= 1)) throw new Error(`maxPool2d: input ${shapeStr(x.shape)} is smaller than the window ${kh}x${kw} (padding ${ph}x${pw})`);
  const s: PoolShape = { planes: n * c, h, w, oh, ow };
  // float16 data is pooled natively (compared in float32; each output a float16 input value, so exact).
  const dtype = x.dtype === 'f16' ? 'f16' : 'f32';
  const out = Tensor.empty([n, c, oh, ow], dtype, x.rt);
  const argmax = Tensor.empty([n, c, oh, ow], 'i32', x.rt);
  maxPool2dForward(x.rt, x.buffer, out.buffer, argmax.buffer, s, k, dtype);
  return record(
    out,
    'maxPool2d',
    [x],
    (g) => {
      // Each output's dy goes to its argmax (a race-free scatter, see maxpool.wgsl). In float16 every pass adds
      // in float32 and rounds: an input that is the maximum of m windows is rounded up to m times.
      if (g.dtype !== dtype) throw new Error(`maxPool2d backward: the upstream gradient is ${g.dtype}, the input ${dtype}`);
      const dx = Tensor.empty(x.shape, dtype, x.rt);
      maxPool2dBackward(x.rt, g.buffer, argmax.buffer, dx.buffer, s, k, dtype);
      return [dx];
    },
    [argmax],
  );
}

/** torch.nn.functional.adaptive_avg_pool2d: output [N, C, oh, ow] with PyTorch's (possibly overlapping) bins. */
export function adaptiveAvgPool2d(x: Tensor, outputSize: Size2): Tensor {
  // The backward spreads dy over the bins: it does not read x.
  if (x.dtype === 'f16') return inF32('adaptiveAvgPool2d', [x], { out: 'f16', backwardReads: [false] }, ([xi]) => adaptiveAvgPool2d(xi!, outputSize));
  const [n, c, h, w] = dims('adaptiveAvgPool2d', x);
  const [oh, ow] = pair(outputSize);
  const s: PoolShape = { planes: n * c, h, w, oh, ow };
  const out = Tensor.empty([n, c, oh, ow], 'f32', x.rt);
  adaptiveAvgPool2dForward(x.rt, x.buffer, out.buffer, s);
  return record(out, 'adaptiveAvgPool2d', [x], (g) => {
    // Each input pixel gathers dy / area from every bin that holds it.
    const dx = Tensor.empty(x.shape, 'f32', x.rt);
    adaptiveAvgPool2dBackward(x.rt, g.buffer, dx.buffer, s);
    return [dx];
  });
}
