/**
 * Broadcasting as the host computes it, pure (no GPU): the output shape of operands under PyTorch's rules, the
 * strided layout the broadcast kernels index (dims merged where they can be, so that the index math stays short),
 * the reduction groups of sumToShape, and expand's target shape.
 */
export type Shape = readonly number[];

/** The most dims a broadcast kernel indexes after merging (the uniforms d0..d7). */
export const MAX_DIMS = 8;

const str = (s: Shape) => `[${s.join(', ')}]`;
const prod = (s: Shape) => s.reduce((p, d) => p * d, 1);

/**
 * The shape of operands broadcast together, as PyTorch: shapes are aligned at their last dim, and at each dim the
 * sizes must be equal or 1 (a 1 stretches; a missing leading dim counts as 1). Throws, naming the op, each
 * operand's shape and the first dim (counted from the end) where they disagree.
 */
export function broadcastShapes(op: string, operands: Record<string, Shape>): number[] {
  const entries = Object.entries(operands);
  const rank = Math.max(0, ...entries.map(([, s]) => s.length));
  const out: number[] = [];
  for (let k = rank; k >= 1; k--) {
    let size = 1;
    let from = '';
    for (const [name, s] of entries) {
      const d = s.length >= k ? s[s.length - k] : 1;
      if (d === 1) continue;
      if (size !== 1 && d !== size) {
        const all = entries.map(([n, sh]) => `${str(sh)} (${n})`).join(', ');
        throw new Error(`${op}: shapes ${all} cannot be broadcast together: at dim -${k}, ${from} has size ${size} and ${name} has ${d} (sizes must be equal, or 1)`);
      }
      size = d;
      from = name;
    }
    out.push(size);
  }
  return out;
}

/** The kernel's view of a broadcast: n output elements, dims innermost first, and each operand's strides (0 where it is broadcast). */
export interface StridedLayout {
  n: number;
  dims: number[];
  strides: number[][];
}

/**
 * The strided layout of operands (each broadcastable to `out`) read at every element of the contiguous `out`. Dims of
 * size 1 are dropped, and neighbours merge where every operand's strides allow it (a run of broadcast dims, or of
 * contiguous ones), so [2, 3, 4] + [4] indexes 2 dims: [6, 4] with strides [4, 1] and [0, 1].
 */
export function stridedLayout(op: string, out: Shape, operands: Shape[]): StridedLayout {
  const dims: number[] = [];
  const strides: number[][] = operands.map(() => []);
  const stride = operands.map(() => 1);
  for (let k = 1; k <= out.length; k++) {
    const size = out[out.length - k];
    if (size === 1) continue;
    const at = operands.map((s, j) => (s.length >= k && s[s.length - k] !== 1 ? stride[j] : 0));
    const last = dims.length - 1;
    // The dim merges into the inner neighbour when, for every operand, stepping it is stepping that one size times.
    if (last >= 0 && operands.every((_, j) => at[j] === strides[j][last] * dims[last])) {
      dims[last] *= size;
    } else {
      dims.push(size);
      operands.forEach((_, j) => strides[j].push(at[j]));
    }
    operands.forEach((s, j) => {
      if (s.length >= k) stride[j] *= s[s.length - k];
    });
  }
  if (dims.length > MAX_DIMS) {
    throw new Error(`${op}: broadcasting ${operands.map(str).join(' and ')} to ${str(out)} needs ${dims.length} dims after merging; the kernels index at most ${MAX_DIMS}`);
  }
  return { n: prod(out), dims, strides };
}

/**
 * sumToShape's plan: `from` summed down to `to` (which must broadcast to `from`), as groups of neighbouring dims,
 * outermost first, each summed over (`reduced`) or kept. Dims of size 1 in `from` are dropped.
 */
export function reduceGroups(op: string, from: Shape, to: Shape): { size: number; reduced: boolean }[] {
  const lead = to.length - from.length;
  const ok = (lead <= 0 || to.slice(0, lead).every((d) => d === 1)) && to.every((d, i) => i < lead || d === 1 || d === from[i - lead]);
  if (!ok) throw new Error(`${op}: cannot sum shape ${str(from)} to ${str(to)}: ${str(to)} must broadcast to ${str(from)}`);
  const groups: { size: number; reduced: boolean }[] = [];
  from.forEach((size, i) => {
    if (size === 1) return;
    const t = i + lead >= 0 ? to[i + lead] : 1;
    const reduced = t === 1;
    const last = groups[groups.length - 1];
    if (last && last.reduced === reduced) last.size *= size;
    else groups.push({ size, reduced });
  });
  return groups;
}

/**
 * The shape `x` expands to, as torch.Tensor.expand: `target` may add leading dims; a −1 keeps the dim; any other
 * size must equal the existing one, or stretch a size-1 dim.
 */
export function expandShape(op: string, shape: Shape, target: Shape): number[] {
  const lead = target.length - shape.length;
  const fail = (why: string) => new Error(`${op}: cannot expand ${str(shape)} to ${str(target)}: ${why}`);
  if (lead < 0) throw fail(`the target has ${target.length} dims, fewer than the tensor's ${shape.length}`);
  return target.map((t, i) => {
    if (!Number.isInteger(t) || t < -1) throw fail(`size ${t} at dim ${i} is not a size (a non-negative integer, or -1 to keep the dim)`);
    if (i < lead) {
      if (t === -1) throw fail(`-1 at dim ${i}, a new leading dim (only existing dims can be kept)`);
      return t;
    }
    const d = shape[i - lead];
    if (t === -1 || t === d) return d;
    if (d !== 1) throw fail(`the expanded size ${t} must match the existing size ${d} at non-singleton dim ${i}`);
    return t;
  });
}
