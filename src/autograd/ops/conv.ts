/** 2D convolution (NCHW, groups = 1) on tensors, with its backward for x, weight and bias. */
import { Tensor } from '../tensor';
import { record } from '../graph';
import { getAutocastDtype, isGradEnabled, keep } from '../scope';
import { castRaw, roundF16, roundedRaw, toDtype } from './half';
import { accumulate } from '../../kernels/elementwise';
import { requireNonEmpty } from './check';
import { conv2dBackwardBias, conv2dBackwardData, conv2dBackwardWeight, conv2dForward, conv2dGeometry, convPlan, epilogueFuses, type ConvOptions } from '../../kernels/conv';
import { bnFold } from '../../kernels/batchnorm';
import { kernelConfig } from '../../kernels/config';
import { shapeStr } from '../tensor';

export interface Conv2dOptions extends ConvOptions {
  /** A number, or [sh, sw] with sh = sw. Default 1. */
  stride?: number | readonly [number, number];
  /** A number, or [ph, pw] with ph = pw. Default 0. */
  padding?: number | readonly [number, number];
  /**
   * float16 (autocast) only: the most bytes of float32 working copies (dy, x, dx widened) that the backward makes
   * at once; it goes through the batch in chunks of whole images that fit (default 64 MiB).
   */
  halfChunkBytes?: number;
}

const HALF_CHUNK_BYTES = 64 * 2 ** 20;

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
    // autocast: float16 input, weights rounded to float16, float32 accumulation, float16 output
    const x16 = toDtype(x, 'f16');
    const w = weight.dtype === 'f16' ? toDtype(weight, 'f32') : roundF16(weight);
    const b = bias ? (bias.dtype === 'f16' ? toDtype(bias, 'f32') : roundF16(bias)) : null;
    return conv2dHalf(x16, w, b, () => (weight.dtype === 'f16' ? castRaw(weight, 'f32') : roundedRaw(weight)), { ...o, halfOperands: true });
  }
  return conv2dF32(x, weight, bias, o);
}

/** The convolution's geometry, after checking the shapes (the bias: [O]). */
function geometry(x: Tensor, weight: Tensor, bias: Tensor | null, o: Conv2dOptions) {
  const g = conv2dGeometry(x.shape, weight.shape, square('stride', o.stride, 1), square('padding', o.padding, 0));
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== g.O)) throw new Error(`conv2d: bias [${bias.shape.join(', ')}] must be [${g.O}]`);
  return g;
}

function conv2dF32(x: Tensor, weight: Tensor, bias: Tensor | null, o: Conv2dOptions): Tensor {
  requireNonEmpty('conv2d', { x, weight, bias });
  const g = geometry(x, weight, bias, o);
  const rt = x.rt;
  const out = Tensor.empty([g.N, g.O, g.OH, g.OW], 'f32', rt);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  // Whether a backward pass will follow is the op's to tell; the kernel layer decides what it changes.
  const inference = !isGradEnabled() || !inputs.some((t) => t.requiresGrad);
  conv2dForward(rt, x.buffer, weight.buffer, bias?.buffer ?? null, out.buffer, g, inference ? { inference, ...o } : o);
  return record(out, 'conv2d', inputs, (dy, into) => {
    const grads: (Tensor | null)[] = [null, null, null];
    if (x.requiresGrad) {
      // x's gradient from its other uses (a residual join), when there is one: dx is added into it in place.
      const prev = into[0]?.dtype === 'f32' && into[0].size === x.size ? into[0] : null;
      grads[0] = prev ?? Tensor.empty(x.shape, 'f32', rt);
      conv2dBackwardData(rt, dy.buffer, weight.buffer, grads[0].buffer, g, o, prev !== null); // col2im(Wᵀ · dY)
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

/** `n` images from image `i0` of an [N, …] float16 tensor, as a float32 tensor of `shape` (a copy, then widened). */
function widenImages(t: Tensor, i0: number, n: number, shape: number[]): Tensor {
  if (n === t.shape[0]) return castRaw(t, 'f32');
  const perImage = t.size / t.shape[0];
  const part = Tensor.empty(shape, 'f16', t.rt);
  t.rt.copy(t.buffer, i0 * perImage * 2, part.buffer, 0, n * perImage * 2, 'conv2d f16 chunk');
  const wide = castRaw(part, 'f32');
  part.dispose();
  return wide;
}

/**
 * conv2d on float16 x with float32 weights already rounded to float16 (`w`, `b`): the float32 kernels on a
 * widened copy, the output narrowed. The graph keeps x16 only; the rounded weight's buffer is freed after the
 * forward and made again (`remakeW`) for dx. The backward widens dy and x a chunk of images at a time
 * (`halfChunkBytes`), so its float32 working set stays bounded: the weight and bias gradients are summed over
 * the chunks in float32, dx is narrowed chunk by chunk.
 */
function conv2dHalf(x16: Tensor, w: Tensor, b: Tensor | null, remakeW: () => Tensor, o: Conv2dOptions): Tensor {
  requireNonEmpty('conv2d', { x: x16, weight: w, bias: b }, { allowF16: true });
  const g = geometry(x16, w, b, o);
  const rt = x16.rt;
  const inputs = b ? [x16, w, b] : [x16, w];
  const inference = !isGradEnabled() || !inputs.some((t) => t.requiresGrad);
  const x32 = castRaw(x16, 'f32');
  const out32 = Tensor.empty([g.N, g.O, g.OH, g.OW], 'f32', rt);
  conv2dForward(rt, x32.buffer, w.buffer, b?.buffer ?? null, out32.buffer, g, inference ? { inference, ...o } : o);
  x32.dispose();
  const out = castRaw(out32, 'f16');
  out32.dispose();
  if (inference) return out;
  // The rounded weight is made again for dx (its buffer is not held between the passes).
  keep(w);
  w.evictStorage();
  // Whole images per chunk, within the byte budget; chunk offsets must fall on 4-byte boundaries in float16.
  const perImage = Math.max(g.O * g.OH * g.OW, g.C * g.H * g.W);
  const aligned = (g.O * g.OH * g.OW) % 2 === 0 && (g.C * g.H * g.W) % 2 === 0;
  // Per image in float32: dy, x and dx, and about as much again in a Winograd or im2col workspace: ~8 copies.
  const chunk = aligned ? Math.max(1, Math.min(g.N, Math.floor((o.halfChunkBytes ?? HALF_CHUNK_BYTES) / (perImage * 4 * 8)))) : g.N;
  return record(out, 'conv2d', inputs, (dy) => {
    const wantX = x16.requiresGrad;
    const wantW = w.requiresGrad;
    const wantB = Boolean(b?.requiresGrad);
    const refilled = wantX && w.isDisposed;
    if (refilled) w.adoptStorage(remakeW());
    const dx = wantX ? Tensor.empty(x16.shape, 'f16', rt) : null;
    const dw = wantW ? Tensor.empty(w.shape, 'f32', rt) : null;
    const db = wantB ? Tensor.empty([g.O], 'f32', rt) : null;
    for (let i0 = 0; i0 < g.N; i0 += chunk) {
      const n = Math.min(chunk, g.N - i0);
      const gc = { ...g, N: n };
      const dy32 = widenImages(dy, i0, n, [n, g.O, g.OH, g.OW]);
      if (dx) {
        const dx32 = Tensor.empty([n, g.C, g.H, g.W], 'f32', rt);
        conv2dBackwardData(rt, dy32.buffer, w.buffer, dx32.buffer, gc, o); // col2im(Wᵀ · dY)
        const dx16 = castRaw(dx32, 'f16');
        dx32.dispose();
        if (n === g.N) dx.adoptStorage(dx16);
        else {
          rt.copy(dx16.buffer, 0, dx.buffer, i0 * g.C * g.H * g.W * 2, n * g.C * g.H * g.W * 2, 'conv2d f16 chunk');
          dx16.dispose();
        }
      }
      const sum = (into: Tensor, fn: (target: GPUBuffer) => void) => {
        if (i0 === 0) return fn(into.buffer);
        const part = Tensor.empty(into.shape, 'f32', rt);
        fn(part.buffer);
        accumulate(rt, into.buffer, part.buffer, into.size);
        part.dispose();
      };
      if (dw) {
        const xc = widenImages(x16, i0, n, [n, g.C, g.H, g.W]);
        sum(dw, (t) => conv2dBackwardWeight(rt, xc.buffer, dy32.buffer, t, gc, o)); // Σ_n dY_n · im2col(x_n)ᵀ
        xc.dispose();
      }
      if (db) sum(db, (t) => conv2dBackwardBias(rt, dy32.buffer, t, gc));
      dy32.dispose();
    }
    if (refilled) w.evictStorage();
    return [dx, dw, db].slice(0, inputs.length);
  });
}

/** A batch norm's eval-mode state: its running statistics, affine parameters (or null) and eps. */
export interface BatchNormEval {
  runningMean: Tensor;
  runningVar: Tensor;
  weight: Tensor | null;
  bias: Tensor | null;
  eps: number;
}

/** The fused pass's conditions but the algorithm's: the kernel configuration allows it, no gradient recorded, float32. */
function fusableTensors(x: Tensor, weight: Tensor, bias: Tensor | null, bn: BatchNormEval, residual: Tensor | null): boolean {
  const tensors = [x, weight, bias, bn.runningMean, bn.runningVar, bn.weight, bn.bias, residual].filter((t): t is Tensor => t !== null);
  if (!kernelConfig(x.rt).fuseConvBatchNorm) return false;
  if (isGradEnabled() && tensors.some((t) => t.requiresGrad)) return false;
  return getAutocastDtype() !== 'f16' && tensors.every((t) => t.dtype === 'f32');
}

/**
 * Whether conv2dBatchNormEval can run these tensors in one fused pass: inference (grad mode off, or no tensor
 * requires a gradient), float32 throughout without autocast, and a forward algorithm that fuses an epilogue
 * (Winograd, implicit GEMM; not im2col).
 */
export function conv2dBatchNormFuses(x: Tensor, weight: Tensor, bias: Tensor | null, bn: BatchNormEval, residual: Tensor | null, o: Conv2dOptions = {}): boolean {
  if (!fusableTensors(x, weight, bias, bn, residual)) return false;
  if (x.shape.length !== 4 || weight.shape.length !== 4 || x.size === 0) return false;
  const g = geometry(x, weight, bias, o);
  return epilogueFuses(convPlan(x.rt, g, 'forward', { inference: true, ...o }).algorithm);
}

/**
 * Inference: max(bn(conv2d(x, weight, bias)) (+ residual), 0) (the max with relu; bn in eval mode, with its running
 * statistics) in one pass over the output. The batch norm is folded into the convolution (one small dispatch
 * computes scale = γ/√(σ² + ε) and shift = β + (b − μ)·scale per channel); the convolution applies the scale (to
 * Winograd's transformed filters, or in the GEMM's epilogue), adds the shift as its bias, then the residual,
 * then ReLU, as it writes its output. Records no gradient: call it where conv2dBatchNormFuses says so.
 */
export function conv2dBatchNormEval(x: Tensor, weight: Tensor, bias: Tensor | null, bn: BatchNormEval, residual: Tensor | null, relu: boolean, o: Conv2dOptions = {}): Tensor {
  requireNonEmpty('conv2dBatchNormEval', { x, weight, bias, runningMean: bn.runningMean, runningVar: bn.runningVar, bnWeight: bn.weight, bnBias: bn.bias, residual });
  const g = geometry(x, weight, bias, o);
  for (const [name, t] of [['runningMean', bn.runningMean], ['runningVar', bn.runningVar], ['weight', bn.weight], ['bias', bn.bias]] as const) {
    if (t && t.size !== g.O) throw new Error(`conv2dBatchNormEval: the batch norm's ${name} has shape ${shapeStr(t.shape)}, expected [${g.O}] (the convolution's output channels)`);
  }
  const outShape = [g.N, g.O, g.OH, g.OW];
  if (residual && shapeStr(residual.shape) !== shapeStr(outShape)) throw new Error(`conv2dBatchNormEval: residual ${shapeStr(residual.shape)} must match the output ${shapeStr(outShape)}`);
  // The algorithm is conv2dForward's to check (it refuses an epilogue for im2col): the plan is made once.
  if (!fusableTensors(x, weight, bias, bn, residual)) {
    throw new Error('conv2dBatchNormEval: these tensors cannot run fused (a gradient would be recorded, a tensor is not float32, or the fusion is off); check conv2dBatchNormFuses first');
  }
  const rt = x.rt;
  const out = Tensor.empty(outShape, 'f32', rt);
  // The fold, kept inside an evaluation's derived-buffer scope while the statistics and parameters are unwritten.
  const sources = [bn.runningMean.buffer, bn.runningVar.buffer, bn.weight?.buffer ?? null, bn.bias?.buffer ?? null, bias?.buffer ?? null];
  const fold = () => {
    const [scale, shift] = [rt.alloc(g.O * 4), rt.alloc(g.O * 4)];
    bnFold(rt, sources[0]!, sources[1]!, { weight: sources[2], bias: sources[3] }, sources[4], scale, shift, g.O, bn.eps);
    return [scale, shift];
  };
  rt.derived.use(`bn-fold ${g.O} eps ${bn.eps}`, sources, fold, ([scale, shift]) =>
    conv2dForward(rt, x.buffer, weight.buffer, shift, out.buffer, g, { inference: true, ...o }, { scale, residual: residual?.buffer ?? null, relu }),
  );
  return out;
}
