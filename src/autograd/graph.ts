/**
 * The autograd graph: each op output holds a GradNode with its inputs and a backward closure written
 * next to the forward (see ops/*.ts). backward() walks the graph in reverse topological order.
 */
import { isGradEnabled, keep, tidy } from './scope';
import { Tensor, shapeStr } from './tensor';
import { accumulate as accumulateF32 } from '../kernels/elementwise';
import { accumulateF16 } from '../kernels/cast';
import { castRaw } from './ops/half';

/** out += g for gradients of either float dtype (float16 ones are summed in float32 and rounded once). */
function accumulate(out: Tensor, g: Tensor): void {
  if (out.dtype === 'f16') accumulateF16(out.rt, out.buffer, g.buffer, g.size);
  else accumulateF32(out.rt, out.buffer, g.buffer, g.size);
}

/**
 * An op's backward: the gradients of its inputs, given its output's. `into[k]`, where defined, is the gradient
 * that input k has received already from its other uses (a residual join): the backward may add its gradient
 * for input k into that tensor, in place and in the same pass that computes it, and return that very tensor
 * as input k's gradient, which backward() then does not add again (conv2d's data gradient does, saving the
 * separate accumulate pass). It may also ignore it and return a new tensor, as most ops do.
 */
export type BackwardFn = (grad: Tensor, into: readonly (Tensor | undefined)[]) => (Tensor | null)[];

export class GradNode {
  constructor(
    readonly op: string,
    readonly inputs: Tensor[],
    readonly backwardFn: BackwardFn,
    /** Tensors created by the op only for its backward pass; disposed when the node is released. */
    readonly saved: Tensor[],
  ) {}
  release(): void {
    for (const t of this.saved) t.dispose();
    this.saved.length = 0;
  }
}

/**
 * Attach a backward to an op's output when grad mode is on and an input needs a gradient.
 * `saved` are tensors the op made for its own backward: they are owned by the node (not by any scope)
 * and disposed after backward runs, or at once when no graph is recorded.
 */
export function record(out: Tensor, op: string, inputs: Tensor[], backward: BackwardFn, saved: Tensor[] = []): Tensor {
  if (isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    for (const s of saved) keep(s);
    out.requiresGrad = true;
    out.node = new GradNode(op, inputs, backward, saved);
  } else {
    for (const s of saved) s.dispose();
  }
  return out;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS (ResNet graphs are deep enough to make recursion uncomfortable).
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i];
      if (next.node && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

/** Add g into the leaf's .grad (the leaf owns its grad, outside any scope). Consumes g. */
function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (!leaf.grad) {
    leaf.grad = keep(g);
    return;
  }
  accumulate(leaf.grad, g);
  g.dispose();
}

function copyOf(t: Tensor): Tensor {
  const c = Tensor.empty(t.shape, t.dtype, t.rt);
  t.rt.copy(t.buffer, 0, c.buffer, 0, t.byteLength, 'copy');
  return c;
}

export interface BackwardOptions {
  /**
   * Keep the graph (and the tensors its ops saved) for another backward() through it, as PyTorch's
   * retain_graph. The last backward() through a graph must not retain it, or call releaseGraph(), or those
   * saved tensors stay allocated.
   */
  retainGraph?: boolean;
}

/** Op outputs whose graph an earlier backward() freed: a second backward through them is an error, as in PyTorch. */
const freedGraphs = new WeakSet<Tensor>();

function secondBackwardError(t: Tensor, root: boolean): Error {
  return new Error(
    `backward(): ${root ? 'this tensor' : `tensor ${shapeStr(t.shape)} of its graph`} (${shapeStr(t.shape)}) was already back-propagated and its graph freed. ` +
      'To call backward() through the same graph again, pass { retainGraph: true } to every backward() but the last.',
  );
}

/** Free a graph kept by backward(…, { retainGraph: true }) without back-propagating through it again. */
export function releaseGraph(root: Tensor): void {
  for (const t of topoOrder(root)) {
    t.node?.release();
    t.node = null;
    freedGraphs.add(t);
  }
}

/** Reverse-mode differentiation from `root`. Leaf gradients accumulate into `.grad`; the graph is freed. */
export function backward(root: Tensor, grad?: Tensor, opts: BackwardOptions = {}): void {
  if (freedGraphs.has(root)) throw secondBackwardError(root, true);
  if (!root.requiresGrad) throw new Error(`backward(): tensor ${shapeStr(root.shape)} does not require grad (no input of its graph has requiresGrad)`);
  if (!grad && root.size !== 1) throw new Error(`backward(): give an upstream gradient for the non-scalar output ${shapeStr(root.shape)}`);
  if (grad && grad.size !== root.size) throw new Error(`backward(): gradient ${shapeStr(grad.shape)} does not match output ${shapeStr(root.shape)}`);
  let seed = grad ? copyOf(grad) : Tensor.full(root.shape, 1, root.rt);
  if (seed.dtype !== root.dtype && root.dtype !== 'i32') {
    const cast = castRaw(seed, root.dtype === 'f16' ? 'f16' : 'f32');
    seed.dispose();
    seed = cast;
  }
  if (!root.node) {
    accumulateLeaf(root, seed);
    return;
  }
  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  for (const t of topoOrder(root)) {
    const node = t.node!;
    const g = grads.get(t);
    grads.delete(t);
    if (!opts.retainGraph) {
      t.node = null;
      freedGraphs.add(t);
    }
    if (!g) {
      if (!opts.retainGraph) node.release();
      continue;
    }
    // The gradients that inputs used once by this node have received already, to add into (see BackwardFn).
    const into = node.inputs.map((input) => (input.node && input.requiresGrad && node.inputs.indexOf(input) === node.inputs.lastIndexOf(input) ? grads.get(input) : undefined));
    const ins = tidy(() => node.backwardFn(g, into));
    // Gradients the op added into `into` in place: already where they belong.
    const added = new Set(ins.filter((raw, k) => raw && raw === into[k]));
    // A gradient tensor may be returned for several inputs (add returns [g, g]); every use but the last
    // gets a copy, because accumulating consumes (disposes) the tensor it is given.
    const remaining = new Map<Tensor, number>();
    node.inputs.forEach((input, k) => {
      const raw = ins[k];
      if (raw && input.requiresGrad && !added.has(raw)) remaining.set(raw, (remaining.get(raw) ?? 0) + 1);
    });
    const consumed = new Set<Tensor>();
    node.inputs.forEach((input, k) => {
      const raw = ins[k];
      if (!raw || !input.requiresGrad) return;
      if (added.has(raw)) {
        if (raw !== into[k]) throw new Error(`backward of ${node.op}: the gradient for input ${k} is the one it added into for another input`);
        consumed.add(raw);
        return;
      }
      if (raw.size !== input.size) {
        throw new Error(`backward of ${node.op}: gradient ${shapeStr(raw.shape)} for input ${k} does not match its shape ${shapeStr(input.shape)}`);
      }
      if (raw.dtype !== input.dtype) {
        throw new Error(`backward of ${node.op}: gradient for input ${k} is ${raw.dtype}, its input ${input.dtype} (an op's backward must return its inputs' dtypes)`);
      }
      const left = remaining.get(raw)! - 1;
      remaining.set(raw, left);
      let gi = left > 0 ? copyOf(raw) : raw;
      if (left === 0) consumed.add(raw);
      if (gi.shape.join() !== input.shape.join()) {
        const v = gi.view(input.shape);
        gi.dispose();
        gi = v;
      }
      if (!input.node && freedGraphs.has(input)) {
        gi.dispose();
        throw secondBackwardError(input, false);
      }
      if (!input.node) accumulateLeaf(input, gi);
      else {
        const prev = grads.get(input);
        if (prev) {
          accumulate(prev, gi);
          gi.dispose();
        } else grads.set(input, gi);
      }
    });
    // Gradients nobody took (inputs without requiresGrad) and the upstream gradient are freed here.
    for (const raw of ins) if (raw && !consumed.has(raw)) raw.dispose();
    if (!consumed.has(g)) g.dispose();
    if (!opts.retainGraph) node.release();
  }
  for (const g of grads.values()) g.dispose();
}
