/**
 * The binary elementwise ops, declared once each. From this table come the WGSL kernels of each op (forward, da and
 * db: for same-shape tensors a scalar entry and its vec4 twin, kernels/elementwise/binary_gen.ts; for broadcast
 * shapes and a number operand, kernels/broadcast/), its autograd op (autograd/ops/binary.ts), its float64 reference
 * (reference/binary.ts) and its gradient checks (the vitest op tests and the browser page iterate BINARY_OPS over
 * reference/cases.ts's BINARY_SHAPES and reference/binary_cases.ts's broadcast cases). Pure data.
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
 * - `domain`: where the checks draw inputs, when not their default range: `a`, `b` as [lo, hi], and `bMinAbs`, a
 *   least |b| (div: away from its pole at b = 0).
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
  domain?: { a?: readonly [number, number]; b?: readonly [number, number]; bMinAbs?: number };
}

function binary<const N extends string>(s: BinarySpec<N>): BinarySpec<N> {
  return s;
}

/** A NaN test on the bits (a compiler may fold `x != x` to false). */
const isNan = (x: string) => `((bitcast<U>(${x}) & U(0x7fffffffu)) > U(0x7f800000u))`;

/**
 * WGSL for base^e with C's pow special cases, as torch.pow: exp2(e·log2|base|), negated for a negative base and an
 * odd integer e; NaN for a negative base and a non-integer e (log2 of a negative); 0 or inf for a base of ±0 or ±inf,
 * by the sign of e; 1 where e is 0, base is 1, or |base| is 1 and e is ±inf. WGSL's pow() is undefined for base ≤ 0,
 * and llvmpipe folds exp2(e·log2(0)) to 0 for e < 0, so zero and infinite bases are selected apart. The sign is the
 * sign bit, so that (−0)^(−1) is −inf as in C. e = 1, 2 and 3 multiply.
 */
function powWgsl(base: string, e: string): string {
  const m = `abs(${base})`;
  const neg = `(bitcast<U>(${base}) >= U(0x80000000u))`;
  const int = `(floor(${e}) == ${e})`;
  const odd = `(fract(${e} * T(0.5)) == T(0.5))`;
  // |base| is 0 or inf (and e is not NaN): inf (m + 1/m) where e < 0 for 0, e > 0 for inf; else 0.
  const edge = `(((${m} == T(0.0)) | (${m} > T(3.4e38))) & !${isNan(e)})`;
  const edgeValue = `select(T(0.0), ${m} + T(1.0) / ${m}, (${e} < T(0.0)) == (${m} == T(0.0)))`;
  const mag = `select(exp2(${e} * log2(select(${base}, ${m}, ${int}))), ${edgeValue}, ${edge})`;
  const one = `((${e} == T(0.0)) | (${base} == T(1.0)) | ((${m} == T(1.0)) & (abs(${e}) > T(3.4e38))))`;
  const general = `select(${mag}, -${mag}, ${neg} & ${odd})`;
  // e = 1, 2, 3 by multiplication (x.pow(2) of an integer is exact, as torch's).
  const small = `select(select(select(${general}, ${base}, ${e} == T(1.0)), ${base} * ${base}, ${e} == T(2.0)), ${base} * ${base} * ${base}, ${e} == T(3.0))`;
  return `select(${small}, T(1.0), ${one})`;
}

/** base^e in float64 with the same special cases (JS's Math.pow gives NaN for 1^NaN and (±1)^±inf; C gives 1). */
function pow64(base: number, e: number): number {
  return e === 0 || base === 1 || (Math.abs(base) === 1 && Math.abs(e) === Infinity) ? 1 : Math.pow(base, e);
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
    forward: `select(b, a, (a > b) | ${isNan('a')})`,
    da: 'select(select(dy, dy / T(2.0), a == b), T(0.0), a < b)',
    db: 'select(select(dy, dy / T(2.0), a == b), T(0.0), a > b)',
    forward64: (a, b) => (Number.isNaN(a) || a > b ? a : b),
    da64: (a, b, _y, dy) => (a < b ? 0 : a === b ? dy / 2 : dy),
    db64: (a, b, _y, dy) => (a > b ? 0 : a === b ? dy / 2 : dy),
    kinks: [0],
  }),
  binary({
    name: 'minimum',
    // As torch.minimum, mirroring maximum: NaN if either is NaN, dy/2 to each at a tie, dy to both at a NaN.
    doc: 'min(a, b), elementwise (NaN if either is NaN). The gradient goes to the smaller; at a tie, dy/2 to each.',
    forward: `select(b, a, (a < b) | ${isNan('a')})`,
    da: 'select(select(dy, dy / T(2.0), a == b), T(0.0), a > b)',
    db: 'select(select(dy, dy / T(2.0), a == b), T(0.0), a < b)',
    forward64: (a, b) => (Number.isNaN(a) || a < b ? a : b),
    da64: (a, b, _y, dy) => (a > b ? 0 : a === b ? dy / 2 : dy),
    db64: (a, b, _y, dy) => (a < b ? 0 : a === b ? dy / 2 : dy),
    kinks: [0],
  }),
  binary({
    name: 'div',
    // torch's div backward: dy / b and −dy·((a / b) / b).
    doc: 'a / b, elementwise. The gradients are dy / b and −dy·(a / b) / b.',
    forward: 'a / b',
    da: 'dy / b',
    db: '-dy * (a / b / b)',
    forward64: (a, b) => a / b,
    da64: (_a, b, _y, dy) => dy / b,
    db64: (a, b, _y, dy) => -dy * (a / b / b),
    domain: { bMinAbs: 0.25 },
  }),
  binary({
    name: 'pow',
    // torch's pow_backward_self and pow_backward_exponent: da = 0 where b = 0, else dy·b·a^(b−1); db = 0 where
    // a = 0 and b ≥ 0, else dy·y·log(a) (NaN for a negative a, as torch).
    doc: 'a^b, elementwise, with C\'s special cases (0^0 = 1, a negative base needs an integer exponent). The gradients are dy·b·a^(b−1) and dy·y·log(a).',
    forward: powWgsl('a', 'b'),
    da: `select(dy * (b * ${powWgsl('a', '(b - T(1.0))')}), T(0.0), b == T(0.0))`,
    db: 'select(dy * (y * log(a)), T(0.0), (a == T(0.0)) & (b >= T(0.0)))',
    forward64: pow64,
    da64: (a, b, _y, dy) => (b === 0 ? 0 : dy * (b * pow64(a, b - 1))),
    db64: (a, b, y, dy) => (a === 0 && b >= 0 ? 0 : dy * (y * Math.log(a))),
    domain: { a: [0.25, 2], b: [-2, 2] },
  }),
] as const;

export type BinaryName = (typeof BINARY_OPS)[number]['name'];

export function binarySpec(name: BinaryName): BinarySpec {
  const s = BINARY_OPS.find((o) => o.name === name);
  if (!s) throw new Error(`binary op ${name} is not declared in kernels/elementwise/binary_ops.ts`);
  return s;
}
