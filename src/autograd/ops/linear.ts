/** Matrix products on tensors: matmul and linear (a fully connected layer), each with its backward. */
import { Tensor, shapeStr } from '../tensor';
import { record } from '../graph';
import { requireNonEmpty } from './check';
import { matmul as matmulKernel } from '../../kernels/matmul';
import { sumAxis } from '../../kernels/reduce';
import { getAutocastDtype } from '../scope';
import { inF32, roundF16, roundedRaw, toDtype } from './half';

/** Under autocast, or given a float16 tensor: a float32 operand as autocast casts it (a weight: rounded, kept float32). */
function halfOperand(t: Tensor, param: boolean): Tensor {
  if (t.dtype === 'f16') return t;
  return param ? roundF16(t) : toDtype(t, 'f16');
}

function halfMode(...ts: (Tensor | null | undefined)[]): boolean {
  return getAutocastDtype() === 'f16' || ts.some((t) => t?.dtype === 'f16');
}

/** a[M,K] · b[K,N] → [M,N]. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (halfMode(a, b)) {
    // da = g·bᵀ reads b, db = aᵀ·g reads a.
    const backwardReads = [b.requiresGrad, a.requiresGrad];
    return inF32('matmul', [halfOperand(a, false), halfOperand(b, false)], { out: 'f16', backwardReads }, ([ai, bi]) => matmulF32(ai!, bi!, true));
  }
  return matmulF32(a, b);
}

/** half: a and b (and the upstream gradient) hold float16 values (the float16 path): see MatmulOptions.halfInputs. */
function matmulF32(a: Tensor, b: Tensor, half = false): Tensor {
  requireNonEmpty('matmul', { a, b });
  if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[1] !== b.shape[0]) {
    throw new Error(`matmul: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} do not multiply (need [M,K] and [K,N])`);
  }
  const [M, K] = a.shape;
  const N = b.shape[1];
  const rt = a.rt;
  const out = Tensor.empty([M, N], 'f32', rt);
  matmulKernel(rt, a.buffer, b.buffer, out.buffer, M, N, K, { halfInputs: half });
  return record(out, 'matmul', [a, b], (g) => {
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (a.requiresGrad) {
      ga = Tensor.empty([M, K], 'f32', rt);
      matmulKernel(rt, g.buffer, b.buffer, ga.buffer, M, K, N, { transB: true, halfInputs: half }); // dL/da = g · bᵀ
    }
    if (b.requiresGrad) {
      gb = Tensor.empty([K, N], 'f32', rt);
      matmulKernel(rt, a.buffer, g.buffer, gb.buffer, K, N, M, { transA: true, halfInputs: half }); // dL/db = aᵀ · g
    }
    return [ga, gb];
  });
}

/**
 * torch.nn.functional.linear: x[*, in] · weight[out,in]ᵀ (+ bias[out]) → [*, out]. Any leading dims (none: x is
 * [in]) are flattened into the rows of one matmul and restored; the storage is contiguous, so that is a view.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (halfMode(x, weight, bias)) {
    const ins = [halfOperand(x, false), halfOperand(weight, true), bias ? halfOperand(bias, true) : null];
    // dx = g·W reads the weight, dW = gᵀ·x reads x; the rounded weight is made again for the backward.
    const remake = new Map<Tensor, () => Tensor>();
    if (ins[1] !== weight) remake.set(ins[1]!, () => roundedRaw(weight));
    const backwardReads = [weight.requiresGrad, x.requiresGrad, false];
    return inF32('linear', ins, { out: 'f16', remake, backwardReads }, ([xi, wi, bi]) => linearF32(xi!, wi!, bi, true));
  }
  return linearF32(x, weight, bias);
}

/** half: x, weight (and the upstream gradient) hold float16 values (the float16 path): see MatmulOptions.halfInputs. */
function linearF32(x: Tensor, weight: Tensor, bias?: Tensor | null, half = false): Tensor {
  requireNonEmpty('linear', { x, weight, bias });
  const inF = x.shape[x.shape.length - 1];
  const outF = weight.shape[0];
  if (x.shape.length < 1 || weight.shape.length !== 2 || weight.shape[1] !== inF || (bias && (bias.shape.length !== 1 || bias.shape[0] !== outF))) {
    throw new Error(`linear: x ${shapeStr(x.shape)}, weight ${shapeStr(weight.shape)}${bias ? `, bias ${shapeStr(bias.shape)}` : ''} do not match (need [*,in], [out,in], [out])`);
  }
  const lead = x.shape.slice(0, -1);
  const N = x.size / inF; // the rows: the product of the leading dims
  const rt = x.rt;
  const out = Tensor.empty([...lead, outF], 'f32', rt);
  matmulKernel(rt, x.buffer, weight.buffer, out.buffer, N, outF, inF, { transB: true, bias: bias?.buffer ?? null, halfInputs: half });
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(out, 'linear', inputs, (g) => {
    const grads: (Tensor | null)[] = [null, null, null];
    if (x.requiresGrad) {
      grads[0] = Tensor.empty(x.shape, 'f32', rt);
      matmulKernel(rt, g.buffer, weight.buffer, grads[0].buffer, N, inF, outF, { halfInputs: half }); // dL/dx = g · W
    }
    if (weight.requiresGrad) {
      grads[1] = Tensor.empty([outF, inF], 'f32', rt);
      matmulKernel(rt, g.buffer, x.buffer, grads[1].buffer, outF, inF, N, { transA: true, halfInputs: half }); // dL/dW = gᵀ · x
    }
    if (bias?.requiresGrad) {
      grads[2] = Tensor.empty([outF], 'f32', rt);
      sumAxis(rt, g.buffer, grads[2].buffer, 1, N, outF); // dL/db = Σ_rows g
    }
    return grads.slice(0, inputs.length);
  });
}
