/**
 * The unary elementwise ops, declared once each. From this table come the WGSL kernel of each op (a scalar entry
 * and its vec4 twin, forward and backward: kernels/elementwise/unary_gen.ts), its autograd op
 * (autograd/ops/unary.ts), its float64 reference (reference/unary.ts) and its gradient checks (the vitest op
 * tests and the browser page iterate UNARY_OPS over reference/cases.ts's UNARY_SHAPES). Pure data: no imports.
 *
 * An entry gives:
 * - `forward`: a WGSL expression of `x` (the input element) for y = f(x);
 * - `backward`: a WGSL expression of `x`, `y` (= f(x), the forward's output) and `dy` (the upstream gradient)
 *   for dx. Only the names used are bound, so a backward that reads y alone does not keep x alive.
 * In both, `T(v)` is a constant of the element type (f32 in the scalar entry, vec4<f32> in the vec4 twin), so one
 * expression serves both: write `T(0.0)`, not `0.0`, wherever a literal meets x, y or dy in select() or a
 * comparison. The WGSL builtins (exp, abs, select, …) work on both types.
 * - `forward64` / `backward64`: the same functions in float64 (the reference).
 * - `kinks`: points where f is not differentiable; the finite-difference checks keep their inputs 0.05 away.
 */
export interface UnarySpec<N extends string = string> {
  name: N;
  doc: string;
  forward: string;
  backward: string;
  forward64: (x: number) => number;
  backward64: (x: number, y: number, dy: number) => number;
  kinks?: readonly number[];
}

function unary<const N extends string>(s: UnarySpec<N>): UnarySpec<N> {
  return s;
}

export const UNARY_OPS = [
  unary({
    name: 'relu',
    // As PyTorch: NaN stays NaN (WGSL's max() may return 0 for it, so it is not used) and −0 stays −0. The backward
    // is threshold_backward: dy, or 0 where y ≤ 0 (0 at exactly 0; dy passes at a NaN input). docs/numerics.md.
    doc: 'max(x, 0), elementwise (NaN stays NaN, −0 stays −0). The gradient is dy·[x > 0] (0 at exactly 0, as PyTorch).',
    forward: 'select(x, T(0.0), x < T(0.0))',
    backward: 'select(dy, T(0.0), y <= T(0.0))',
    forward64: (x) => (x < 0 ? 0 : x),
    backward64: (_x, y, dy) => (y <= 0 ? 0 : dy),
    kinks: [0],
  }),
  unary({
    name: 'sigmoid',
    // Stable: exp of a non-positive argument only (the other select() branch may overflow to inf/inf; not chosen).
    doc: '1 / (1 + exp(−x)), elementwise, computed without overflow. The gradient is dy·y·(1 − y).',
    forward: 'select(exp(x) / (T(1.0) + exp(x)), T(1.0) / (T(1.0) + exp(-x)), x >= T(0.0))',
    backward: 'dy * y * (T(1.0) - y)',
    forward64: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
    backward64: (_x, y, dy) => dy * y * (1 - y),
  }),
] as const;

export type UnaryName = (typeof UNARY_OPS)[number]['name'];

export function unarySpec(name: UnaryName): UnarySpec {
  const s = UNARY_OPS.find((o) => o.name === name);
  if (!s) throw new Error(`unary op ${name} is not declared in kernels/elementwise/unary_ops.ts`);
  return s;
}
