/**
 * float16 tensors: the casts between float16 and float32, autocast's weight rounding, and `inF32`, which runs
 * an op written for float32 on float16 tensors with float16 storage.
 *
 * How an op runs on float16 inputs (`inF32`): each float16 input is widened to a float32 copy, the float32 op
 * runs on the copies (so every sum accumulates in float32), and its output is narrowed to float16. The
 * copies are freed as soon as the forward is encoded: what the graph keeps for the backward is the float16
 * tensors. The backward widens them again, together with the upstream gradient, runs the float32 op's own
 * backward, and narrows the gradients of float16 inputs to float16. Gradients of float32 inputs (weights,
 * batch-norm parameters) stay float32, summed in float32.
 */
import { Tensor, shapeStr } from '../tensor';
import { record } from '../graph';
import { keep } from '../scope';
import { castToF16, castToF32, roundToF16 } from '../../kernels/cast';

/** A non-differentiable copy of x in `dtype` (float16 ↔ float32). */
export function castRaw(x: Tensor, dtype: 'f16' | 'f32'): Tensor {
  const out = Tensor.empty(x.shape, dtype, x.rt);
  if (dtype === 'f16') castToF16(x.rt, x.buffer, out.buffer, x.size);
  else castToF32(x.rt, x.buffer, out.buffer, x.size);
  return out;
}

/**
 * x as `dtype` (torch's x.to(dtype)): x itself when it already is, else a copy. Differentiable: the gradient
 * is cast back to x's dtype. float32 → float16 rounds to nearest (±inf beyond ±65504's range, NaN kept).
 */
export function toDtype(x: Tensor, dtype: 'f16' | 'f32'): Tensor {
  if (x.dtype === dtype) return x;
  if (x.dtype === 'i32') throw new Error(`toDtype: an int32 tensor ${shapeStr(x.shape)} cannot be cast to ${dtype}`);
  const from = x.dtype;
  const out = castRaw(x, dtype);
  return record(out, dtype === 'f16' ? 'toF16' : 'toF32', [x], (g) => [castRaw(g, from)]);
}

/**
 * A float32 tensor holding x's values rounded to float16 (autocast's cast of a weight, kept in float32 so that
 * the float32 kernels read it). The gradient passes through unchanged, as the cast's backward does.
 */
export function roundF16(x: Tensor): Tensor {
  if (x.dtype !== 'f32') throw new Error(`roundF16: needs a float32 tensor, got ${x.dtype} ${shapeStr(x.shape)}`);
  return record(roundedRaw(x), 'roundF16', [x], (g) => [g]);
}

export interface InF32Options {
  /** The output's dtype: 'f16' (storage) or 'f32' (losses). */
  out: 'f16' | 'f32';
  /** Whether the float32 op's backward reads its own output (then it is widened again for the backward). */
  savesOutput?: boolean;
  /**
   * Per input (same order): whether the float32 op's backward reads it. An input it does not read is not
   * widened again for the backward (max pool's backward reads only its argmax). Default: every input.
   */
  backwardReads?: readonly boolean[];
  /**
   * float32 inputs made only for this op that can be made again (autocast's rounded weights): their buffers
   * are freed after the forward, as the widened copies are, and `remake()` refills them for the backward.
   */
  remake?: ReadonlyMap<Tensor, () => Tensor>;
}

/** A float32 copy of x rounded to float16 (not recorded): autocast's cast of a weight, made again for a backward. */
export function roundedRaw(x: Tensor): Tensor {
  const out = Tensor.empty(x.shape, 'f32', x.rt);
  roundToF16(x.rt, x.buffer, out.buffer, x.size);
  return out;
}

/**
 * Runs `fn`, a float32 op on `inputs` (null entries pass through), with the float16 ones widened; see the
 * file's comment. `fn` receives the inputs in the same order.
 */
export function inF32(op: string, inputs: readonly (Tensor | null)[], opts: InF32Options, fn: (ins: (Tensor | null)[]) => Tensor): Tensor {
  const widened = new Map<Tensor, Tensor>(); // float32 copy → its float16 original
  const reads = new Set<Tensor>(); // the copies and remade inputs the backward reads
  const remade = new Map<Tensor, () => Tensor>();
  const ins = inputs.map((t, k) => {
    const read = opts.backwardReads?.[k] !== false;
    const remake = t && opts.remake?.get(t);
    if (t && remake) {
      remade.set(t, remake);
      if (read) reads.add(t);
      return t;
    }
    if (!t || t.dtype !== 'f16') return t;
    const w = keep(castRaw(t, 'f32'));
    w.requiresGrad = t.requiresGrad;
    if (t.name) w.name = t.name;
    widened.set(w, t);
    if (read) reads.add(w);
    return w;
  });
  const out32 = fn(ins);
  const node = out32.node;
  out32.node = null;
  let out: Tensor;
  const saved: Tensor[] = node ? node.saved : [];
  if (opts.out === 'f16') {
    out = out32.dtype === 'f16' ? out32 : castRaw(out32, 'f16');
    if (node && out !== out32) {
      keep(out32);
      out32.evictStorage();
    } else if (out !== out32) out32.dispose();
  } else {
    out = out32.view(out32.shape);
    if (node) saved.push(keep(out32));
    else out32.dispose();
  }
  for (const w of widened.keys()) {
    if (node) w.evictStorage();
    else w.dispose();
  }
  if (node) for (const r of remade.keys()) r.evictStorage();
  if (!node) return out;
  const outerInputs = node.inputs.map((t) => widened.get(t) ?? t);
  return record(
    out,
    op,
    outerInputs,
    (dy) => {
      for (const [w, orig] of widened) if (reads.has(w)) w.adoptStorage(castRaw(orig, 'f32'));
      for (const [r, remake] of remade) if (reads.has(r)) r.adoptStorage(remake());
      const restoreOut = opts.out === 'f16' && opts.savesOutput === true && out32 !== out && !out.isDisposed;
      if (restoreOut) out32.adoptStorage(castRaw(out, 'f32'));
      const dy32 = dy.dtype === 'f16' ? castRaw(dy, 'f32') : dy;
      try {
        const grads = node.backwardFn(dy32, []); // nothing to add into: the inner inputs are copies
        return grads.map((g, k) => {
          if (!g || !widened.has(node.inputs[k])) return g;
          return g.dtype === 'f16' ? g : castRaw(g, 'f16');
        });
      } finally {
        for (const w of widened.keys()) w.evictStorage();
        for (const r of remade.keys()) r.evictStorage();
        if (restoreOut) out32.evictStorage();
      }
    },
    saved,
  );
}

/** The dtype of an elementwise result: float16 when every floating input is float16, else float32. */
export function promotedDtype(tensors: readonly (Tensor | null | undefined)[]): 'f16' | 'f32' {
  let any = false;
  for (const t of tensors) {
    if (!t || t.dtype === 'i32') continue;
    if (t.dtype === 'f32') return 'f32';
    any = true;
  }
  return any ? 'f16' : 'f32';
}

export function hasHalf(tensors: readonly (Tensor | null | undefined)[]): boolean {
  return tensors.some((t) => t?.dtype === 'f16');
}
