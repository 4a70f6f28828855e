/**
 * The binary elementwise ops of two same-shape tensors, declared once each. From this table come the WGSL kernel
 * of each op (forward, da and db, each a scalar entry and its vec4 twin: kernels/elementwise/binary_gen.ts), its
 * autograd op (autograd/ops/binary.ts), its float64 reference (reference/binary.ts) and its gradient checks (the
 * vitest op tests and the browser page iterate BINARY_OPS over reference/cases.ts's BINARY_SHAPES). Pure data.
 *
 * An entry gives:
 * - `forward`: a WGSL expression of `a` and `b` for y = f(a, b);
 * - `da`, `db`: WGSL expressions of `a`, `b`, `y` (the forward's output) and `dy` (the upstream gradient) for the
 *   gradients of a and b. An expression that is exactly `dy` launches nothing: the upstream gradient is passed on.
 * `T(v)` is a constant of the element type (f32, or vec4<f32> in the vec4 twin), as in unary_ops.ts, and `U` the
 *   matching unsigned type (u32, vec4<u32>) for bit tests: a NaN test is on the bits, since a compiler may fold `a != a`.
 * - `forward64`, `da64`, `db64`: the same functions in float64 (the reference).
 * - `kinks`: where f is not differentiable, as a function of a − b (maximum: 0); the finite-difference checks keep
 *   a − b at least 0.05 away.
 */
export interface BinarySpec<N extends string = string> {
  name: N;
  doc: string;
  forward: string;
  da: string;
  db: string;
  forward64: (a: number, b: number) => number;
  da64: (a: number, b: number, y: number, dy: number) => number;
  db64: (a: number, b: number, y: number, dy: number) => number;
  kinks?: readonly number[];
}

function binary<const N extends string>(s: BinarySpec<N>): BinarySpec<N> {
  return s;
}

export const BINARY_OPS = [
  binary({
    name: 'add',
    doc: 'a + b, elementwise. The gradients are dy and dy.',
    forward: 'a + b',
    da: 'dy',
    db: 'dy',
    forward64: (a, b) => a + b,
    da64: (_a, _b, _y, dy) => dy,
    db64: (_a, _b, _y, dy) => dy,
  }),
  binary({
    name: 'sub',
    doc: 'a − b, elementwise. The gradients are dy and −dy.',
    forward: 'a - b',
    da: 'dy',
    db: '-dy',
    forward64: (a, b) => a - b,
    da64: (_a, _b, _y, dy) => dy,
    db64: (_a, _b, _y, dy) => -dy,
  }),
  binary({
    name: 'mul',
    doc: 'a · b, elementwise. The gradients are dy·b and dy·a.',
    forward: 'a * b',
    da: 'dy * b',
    db: 'dy * a',
    forward64: (a, b) => a * b,
    da64: (_a, b, _y, dy) => dy * b,
    db64: (a, _b, _y, dy) => dy * a,
  }),
  binary({
    name: 'maximum',
    // As torch.maximum (1.13): NaN if either is NaN (WGSL's max() may drop a NaN, so it is not used). The gradient,
    // as torch's: dy to the larger, dy/2 to each at a tie, and dy to both where either is NaN (no comparison holds).
    doc: 'max(a, b), elementwise (NaN if either is NaN). The gradient goes to the larger; at a tie, dy/2 to each.',
    forward: 'select(b, a, (a > b) | ((bitcast<U>(a) & U(0x7fffffffu)) > U(0x7f800000u)))',
    da: 'select(select(dy, dy / T(2.0), a == b), T(0.0), a < b)',
    db: 'select(select(dy, dy / T(2.0), a == b), T(0.0), a > b)',
    forward64: (a, b) => (Number.isNaN(a) || a > b ? a : b),
    da64: (a, b, _y, dy) => (a < b ? 0 : a === b ? dy / 2 : dy),
    db64: (a, b, _y, dy) => (a > b ? 0 : a === b ? dy / 2 : dy),
    kinks: [0],
  }),
] as const;

export type BinaryName = (typeof BINARY_OPS)[number]['name'];

export function binarySpec(name: BinaryName): BinarySpec {
  const s = BINARY_OPS.find((o) => o.name === name);
  if (!s) throw new Error(`binary op ${name} is not declared in kernels/elementwise/binary_ops.ts`);
  return s;
}
