/**
 * Host-side layout of a reduction over any set of dims of a contiguous tensor, without a permute: adjacent dims of
 * the same kind (kept or reduced) merge into one group, size-1 dims drop out, and the kernels (dims.wgsl) find a
 * term's offset from at most MAX_GROUPS kept and MAX_GROUPS reduced groups, each a (size, stride) pair.
 */

/** Kept groups and reduced groups a kernel handles (a rank-8 tensor with alternating dims has 4 of each). */
export const MAX_GROUPS = 4;

/** One group of merged dims: its size and its stride (elements) in the input. */
export type Group = readonly [size: number, stride: number];

export interface DimsLayout {
  /** Output elements: the product of the kept sizes. */
  outputs: number;
  /** Terms per output: the product of the reduced sizes. */
  n: number;
  /** Kept groups, outermost first, padded in front to MAX_GROUPS with (1, 1). */
  kept: Group[];
  /** Reduced groups, outermost first, padded in front to MAX_GROUPS with (1, 1). */
  reduced: Group[];
}

/**
 * The layout of reducing `dims` (non-negative, in range) of a contiguous tensor of `shape`. Throws, naming `op`,
 * when the dims split into more than MAX_GROUPS separate runs of either kind.
 */
export function dimsLayout(op: string, shape: readonly number[], dims: readonly number[]): DimsLayout {
  const reducedDim = new Set(dims);
  const groups: { reduced: boolean; size: number; last: number }[] = [];
  shape.forEach((size, d) => {
    if (size === 1) return;
    const reduced = reducedDim.has(d);
    const g = groups[groups.length - 1];
    if (g && g.reduced === reduced) {
      g.size *= size;
      g.last = d;
    } else groups.push({ reduced, size, last: d });
  });
  const stride = (g: { last: number }) => shape.slice(g.last + 1).reduce((p, s) => p * s, 1);
  const pick = (reduced: boolean): Group[] => groups.filter((g) => g.reduced === reduced).map((g) => [g.size, stride(g)] as const);
  const kept = pick(false);
  const red = pick(true);
  if (kept.length > MAX_GROUPS || red.length > MAX_GROUPS) {
    throw new Error(
      `${op}: reducing dims [${dims.join(', ')}] of shape [${shape.join(', ')}] leaves ${kept.length} kept and ${red.length} reduced runs of adjacent dims; ` +
        `at most ${MAX_GROUPS} of each are supported (reduce in two steps)`,
    );
  }
  const pad = (gs: Group[]): Group[] => [...Array.from({ length: MAX_GROUPS - gs.length }, () => [1, 1] as const), ...gs];
  const prod = (gs: Group[]) => gs.reduce((p, [s]) => p * s, 1);
  return { outputs: prod(kept), n: prod(red), kept: pad(kept), reduced: pad(red) };
}
