/**
 * The unary elementwise ops, declared once each. From this table come the WGSL kernel of each op (a scalar entry
 * and its vec4 twin, forward and backward: kernels/elementwise/unary_gen.ts), its autograd op
 * (autograd/ops/unary.ts), its float64 reference (reference/unary.ts) and its gradient checks (the vitest op
 * tests and the browser page iterate UNARY_OPS over reference/cases.ts's UNARY_SHAPES). Pure data and float64
 * math: no imports.
 *
 * An entry gives:
 * - `forward`: a WGSL expression of `x` (the input element) for y = f(x);
 * - `backward`: a WGSL expression of `x`, `y` (= f(x), the forward's output) and `dy` (the upstream gradient)
 *   for dx. Only the names used are bound, so a backward that reads y alone does not keep x alive.
 * In both, `T(v)` is a constant of the element type (f32 in the scalar entry, vec4<f32> in the vec4 twin), so one
 * expression serves both: write `T(0.0)`, not `0.0`, wherever a literal meets x, y or dy in select() or a
 * comparison. The WGSL builtins (exp, abs, select, …) work on both types. `U` is the matching unsigned type.
 * - `params` (optional): named f32 parameters with their defaults, read as `p.<name>` (uniforms);
 * - `wgsl` (optional): helper functions the expressions call (the snippets below), written once for both twins:
 *   `T` is the element type and a name ending in `_T` is emitted as `_f32` and `_v4` (spec_gen.ts).
 * - `forward64` / `backward64`: the same functions in float64 (the reference), with the parameters as `p`.
 * - `kinks`: points where f is not differentiable (with `checkParams`); the finite-difference checks keep their
 *   inputs 0.05 away.
 * - `domain` (optional): the interval the checks draw inputs from, where f is real (log, sqrt, rsqrt: x > 0).
 * - `checkParams` (optional): the parameters the table-driven checks use (clamp: bounds inside the inputs).
 */
export type UnaryParams = Readonly<Record<string, number>>;

export interface UnarySpec<N extends string = string> {
  name: N;
  doc: string;
  forward: string;
  backward: string;
  forward64: (x: number, p: UnaryParams) => number;
  backward64: (x: number, y: number, dy: number, p: UnaryParams) => number;
  kinks?: readonly number[];
  params?: UnaryParams;
  wgsl?: readonly string[];
  domain?: readonly [number, number];
  checkParams?: UnaryParams;
}

function unary<const N extends string>(s: UnarySpec<N>): UnarySpec<N> {
  return s;
}

// ---- WGSL helpers (each a snippet listed in `wgsl` by the ops that call it).

/**
 * NaN and infinities made from x's bits: runtime values, so that no compiler folds them away or rejects them as
 * constants. nan_T(x) is a NaN for any x; at x = ±0, inf_T(x) is ±inf (x's sign) and neg_inf_T(x) is −inf.
 */
const SPECIAL = `fn nan_T(x: T) -> T { return bitcast<T>(bitcast<U>(x) | U(0x7fc00000u)); }
fn inf_T(x: T) -> T { return bitcast<T>(bitcast<U>(x) | U(0x7f800000u)); }
fn neg_inf_T(x: T) -> T { return bitcast<T>(bitcast<U>(x) | U(0xff800000u)); }`;

/**
 * exp with its special values selected explicitly (WGSL leaves exp() undefined at ±inf and where it overflows, and
 * SwiftShader does not give torch's values there): +inf above ln(FLT_MAX), 0 below the smallest denormal's log,
 * NaN stays NaN.
 */
const EXP = `fn exp_T(x: T) -> T {
  let inf = bitcast<T>((bitcast<U>(x) & U(0u)) | U(0x7f800000u)); // a runtime value: a constant inf is not valid WGSL
  let e = select(select(exp(x), inf, x > T(88.72283)), T(0.0), x < T(-103.97208));
  return select(e, x, (bitcast<U>(x) & U(0x7fffffffu)) > U(0x7f800000u));
}`;

/** 1 / (1 + exp(−x)) from exp(−|x|) only, which never overflows; NaN stays NaN. */
const SIGMOID = `fn sigmoid_T(x: T) -> T {
  let e = exp(-abs(x));
  return select(e, T(1.0), x >= T(0.0)) / (T(1.0) + e);
}`;

/**
 * tanh without overflow: an odd polynomial below |x| = 0.6 (fitted, relative error ≤ 2.4 ulp there), and
 * ±(1 − 2 / (exp(2|x|) + 1)) above, which saturates to ±1 where exp overflows to inf. NaN stays NaN (the
 * polynomial branch). WGSL's tanh() is not used: some platforms compute it from exp and give NaN at large |x|.
 */
const TANH = `fn tanh_T(x: T) -> T {
  let t = abs(x);
  let s = x * x;
  let poly = fma(fma(fma(fma(T(0.015612626448273659), s, T(-0.05221180245280266)), s, T(0.13313116133213043)), s, T(-0.33332598209381104)) * s, x, x);
  let big = T(1.0) - T(2.0) / (exp(T(2.0) * t) + T(1.0));
  return select(poly, select(big, -big, x < T(0.0)), t >= T(0.6));
}`;

/**
 * erf in float32 (WGSL has none): x·(1 + P(x²)) for |x| ≤ 0.921875 and ±(1 − exp(Q(|x|))) above, with P of
 * degree 5 and Q of degree 7 fitted to erf and log(erfc) (weighted minimax). Absolute error ≤ 6e-8 for every x
 * in float32 with an exact exp (the GPU's exp adds its own); Q → −∞ as |x| grows, so erf is exactly ±1 from
 * |x| = 4 on, with no overflow to NaN. NaN stays NaN.
 */
const ERF = `fn erf_T(x: T) -> T {
  let t = abs(x);
  let s = x * x;
  let p = fma(fma(fma(fma(fma(T(-0.0005834971088916063), s, T(0.004956400487571955)), s, T(-0.026734981685876846)), s, T(0.11280621588230133)), s, T(-0.3761230707168579)), s, T(0.12837906181812286));
  let small = fma(p, x, x);
  var q = fma(fma(fma(T(-2.118406155204866e-05), t, T(0.00043547575478442013)), t, T(-0.004175891634076834)), t, T(0.025131922215223312));
  q = fma(fma(fma(fma(q, t, T(-0.10829906165599823)), t, T(-0.6333299875259399)), t, T(-1.1295231580734253)), t, T(0.00017635824042372406));
  let big = T(1.0) - exp(q);
  return select(small, select(big, -big, x < T(0.0)), t > T(0.921875));
}`;

/** gelu's gradient Φ(x) + x·φ(x) (erf form). */
const GELU_GRAD = `fn gelu_grad_T(x: T) -> T {
  return T(0.5) * (T(1.0) + erf_T(x * T(0.7071067811865476))) + x * T(0.3989422804014327) * exp(T(-0.5) * x * x);
}`;

/**
 * gelu's tanh form, as x·sigmoid(2u) with u = √(2/π)(x + 0.044715x³): 0.5·(1 + tanh(u)) = sigmoid(2u), without
 * the cancellation of 1 + tanh(u) at x ≪ 0. The gradient is s·(1 + x(1 − s)·2√(2/π)(1 + 3·0.044715x²)).
 */
const GELU_TANH = `fn gelu_tanh_s_T(x: T) -> T {
  return sigmoid_T(T(1.5957691216057308) * fma(T(0.044715) * x, x * x, x));
}
fn gelu_tanh_grad_T(x: T) -> T {
  let s = gelu_tanh_s_T(x);
  return s * (T(1.0) + x * (T(1.0) - s) * T(1.5957691216057308) * fma(T(0.134145) * x, x, T(1.0)));
}`;

/** silu's gradient s·(1 + x(1 − s)), s = sigmoid(x). */
const SILU_GRAD = `fn silu_grad_T(x: T) -> T {
  let s = sigmoid_T(x);
  return s * (T(1.0) + x * (T(1.0) - s));
}`;

/** torch.clamp: max(x, lo) then min(·, hi) by comparisons (WGSL's min/max may drop a NaN): NaN stays NaN, lo > hi gives hi. */
const CLAMP = `fn clamp_T(x: T, lo: T, hi: T) -> T {
  let y = select(x, lo, x < lo);
  return select(y, hi, y > hi);
}`;

// ---- float64 helpers (the references).

/** erf(x) for 0 ≤ x < 2.5: 2/√π·exp(−x²)·Σ (2x²)ⁿ·x / (1·3·…·(2n+1)) (all terms positive: no cancellation). */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200 && term > 1e-17 * sum; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
}

/** erfc(x) for x ≥ 2.5: exp(−x²)/√π / (x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), by Lentz's method; 0 from 27 (underflow). */
function erfcFraction(x: number): number {
  if (x >= 27) return 0;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    d = x + (n / 2) * d;
    d = 1 / (d === 0 ? 1e-300 : d);
    c = x + n / 2 / c;
    if (c === 0) c = 1e-300;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / (Math.sqrt(Math.PI) * f);
}

/** erfc(x) in float64, relative error ≤ 1e-11 (also in the tail, where 1 − erf would cancel). */
export function erfc64(x: number): number {
  if (Number.isNaN(x)) return x;
  if (x < 0) return 2 - erfc64(-x);
  return x < 2.5 ? 1 - erfSeries(x) : erfcFraction(x);
}

/** erf(x) in float64 (relative error ≤ 1e-15). */
export function erf64(x: number): number {
  if (Number.isNaN(x)) return x;
  const t = Math.abs(x);
  const r = t < 2.5 ? erfSeries(t) : 1 - erfcFraction(t);
  return x < 0 ? -r : r;
}

/** The standard normal CDF Φ(x) = erfc(−x/√2)/2. */
const normalCdf = (x: number) => 0.5 * erfc64(-x * Math.SQRT1_2);
/** tanh-gelu's inner argument √(2/π)(x + 0.044715x³). */
const geluTanhInner = (x: number) => Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);

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
    // Stable: exp of a non-positive argument only (sigmoid_T).
    doc: '1 / (1 + exp(−x)), elementwise, computed without overflow. The gradient is dy·y·(1 − y).',
    forward: 'sigmoid_T(x)',
    backward: 'dy * y * (T(1.0) - y)',
    wgsl: [SIGMOID],
    forward64: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
    backward64: (_x, y, dy) => dy * y * (1 - y),
  }),
  unary({
    name: 'exp',
    doc: 'exp(x), elementwise (inf where it overflows, as PyTorch). The gradient is dy·y.',
    forward: 'exp_T(x)',
    backward: 'dy * y',
    wgsl: [EXP],
    forward64: (x) => Math.exp(x),
    backward64: (_x, y, dy) => dy * y,
  }),
  unary({
    name: 'log',
    // WGSL leaves log() of x ≤ 0, +inf and NaN undefined (SwiftShader's log(NaN) is not NaN): the special values
    // are selected explicitly; +inf and NaN pass through as they are.
    doc: 'The natural logarithm, elementwise: −inf at ±0, NaN below 0, +inf at +inf, as PyTorch. The gradient is dy / x.',
    forward: 'select(select(select(log(x), neg_inf_T(x), x == T(0.0)), nan_T(x), x < T(0.0)), x, ((bitcast<U>(x) & U(0x7fffffffu)) > U(0x7f800000u)) | (bitcast<U>(x) == U(0x7f800000u)))',
    backward: 'dy / x',
    wgsl: [SPECIAL],
    forward64: (x) => Math.log(x),
    backward64: (x, _y, dy) => dy / x,
    domain: [0.1, 4],
  }),
  unary({
    name: 'sqrt',
    doc: 'The square root, elementwise: NaN below 0, −0 at −0, as PyTorch. The gradient is dy / (2y).',
    forward: 'select(sqrt(x), nan_T(x), x < T(0.0))',
    backward: 'dy / (T(2.0) * y)',
    wgsl: [SPECIAL],
    forward64: (x) => Math.sqrt(x),
    backward64: (_x, y, dy) => dy / (2 * y),
    domain: [0.1, 4],
  }),
  unary({
    name: 'rsqrt',
    // 1 / sqrt(x) rather than inverseSqrt(), whose accuracy WGSL leaves to the platform (2 ulp at best).
    doc: '1 / √x, elementwise: ±inf at ±0 and NaN below 0, as PyTorch. The gradient is −dy·y³ / 2.',
    forward: 'select(select(T(1.0) / sqrt(x), inf_T(x), x == T(0.0)), nan_T(x), x < T(0.0))',
    backward: 'T(-0.5) * dy * y * y * y',
    wgsl: [SPECIAL],
    forward64: (x) => 1 / Math.sqrt(x),
    backward64: (_x, y, dy) => -0.5 * dy * y * y * y,
    domain: [0.1, 4],
  }),
  unary({
    name: 'abs',
    // PyTorch's gradient is dy·sign(x), and its sign kernels give 0 at 0 and at NaN.
    doc: '|x|, elementwise. The gradient is dy·sign(x): 0 at 0 (and at NaN), as PyTorch.',
    forward: 'abs(x)',
    backward: 'select(select(T(0.0), -dy, x < T(0.0)), dy, x > T(0.0))',
    forward64: (x) => Math.abs(x),
    backward64: (x, _y, dy) => (x > 0 ? dy : x < 0 ? -dy : 0),
    kinks: [0],
  }),
  unary({
    name: 'neg',
    doc: '−x, elementwise. The gradient is −dy.',
    forward: '-x',
    backward: '-dy',
    forward64: (x) => -x,
    backward64: (_x, _y, dy) => -dy,
  }),
  unary({
    name: 'tanh',
    doc: 'tanh(x), elementwise, saturating to ±1 without overflow. The gradient is dy·(1 − y²).',
    forward: 'tanh_T(x)',
    backward: 'dy * (T(1.0) - y * y)',
    wgsl: [TANH],
    forward64: (x) => Math.tanh(x),
    backward64: (_x, y, dy) => dy * (1 - y * y),
  }),
  unary({
    name: 'gelu',
    doc: "x·Φ(x) = x·(1 + erf(x/√2))/2, elementwise (F.gelu's default, approximate 'none'). The gradient is dy·(Φ(x) + x·φ(x)).",
    forward: 'T(0.5) * x * (T(1.0) + erf_T(x * T(0.7071067811865476)))',
    backward: 'dy * gelu_grad_T(x)',
    wgsl: [ERF, GELU_GRAD],
    forward64: (x) => x * normalCdf(x),
    backward64: (x, _y, dy) => dy * (normalCdf(x) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI)),
  }),
  unary({
    name: 'geluTanh',
    doc: "gelu's tanh approximation x·(1 + tanh(√(2/π)(x + 0.044715x³)))/2, elementwise (F.gelu with approximate 'tanh'), as PyTorch's formula and its gradient.",
    forward: 'x * gelu_tanh_s_T(x)',
    backward: 'dy * gelu_tanh_grad_T(x)',
    wgsl: [SIGMOID, GELU_TANH],
    // PyTorch's formulas (GeluKernel.cpp), in float64.
    forward64: (x) => 0.5 * x * (1 + Math.tanh(geluTanhInner(x))),
    backward64: (x, _y, dy) => {
      const t = Math.tanh(geluTanhInner(x));
      return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * Math.sqrt(2 / Math.PI) * (1 + 3 * 0.044715 * x * x));
    },
  }),
  unary({
    name: 'silu',
    doc: 'x·sigmoid(x), elementwise, without overflow. The gradient is dy·s·(1 + x(1 − s)), s = sigmoid(x).',
    forward: 'x * sigmoid_T(x)',
    backward: 'dy * silu_grad_T(x)',
    wgsl: [SIGMOID, SILU_GRAD],
    forward64: (x) => x / (1 + Math.exp(-x)),
    backward64: (x, _y, dy) => {
      const s = 1 / (1 + Math.exp(-x));
      return dy * s * (1 + x * (1 - s));
    },
  }),
  unary({
    name: 'leakyRelu',
    // As PyTorch's leaky_relu and its backward: x > 0 ? x : x·slope, so 0 and NaN take the negative branch.
    doc: 'x where x > 0, else negativeSlope·x (default 0.01), elementwise. The gradient is dy where x > 0, else negativeSlope·dy (also at 0), as PyTorch.',
    forward: 'select(x * T(p.negativeSlope), x, x > T(0.0))',
    backward: 'select(dy * T(p.negativeSlope), dy, x > T(0.0))',
    params: { negativeSlope: 0.01 },
    forward64: (x, p) => (x > 0 ? x : x * p.negativeSlope),
    backward64: (x, _y, dy, p) => (x > 0 ? dy : dy * p.negativeSlope),
    kinks: [0],
  }),
  unary({
    name: 'clamp',
    // An omitted bound is ±inf (a no-op: no x compares beyond it). PyTorch's clamp_backward passes dy where
    // min ≤ x ≤ max, both inclusive, and 0 elsewhere (NaN included).
    doc: 'min(max(x, min), max), elementwise (NaN stays NaN; min > max gives max, as PyTorch). The gradient is dy where min ≤ x ≤ max, else 0.',
    forward: 'clamp_T(x, T(p.min), T(p.max))',
    backward: 'select(T(0.0), dy, (x >= T(p.min)) & (x <= T(p.max)))',
    params: { min: -Infinity, max: Infinity },
    wgsl: [CLAMP],
    forward64: (x, p) => (Number.isNaN(x) ? x : Math.min(Math.max(x, p.min), p.max)),
    backward64: (x, _y, dy, p) => (x >= p.min && x <= p.max ? dy : 0),
    checkParams: { min: -0.5, max: 0.75 },
    kinks: [-0.5, 0.75],
  }),
] as const;

export type UnaryName = (typeof UNARY_OPS)[number]['name'];

/** The declaration of unary op `name`. */
export function unarySpec(name: UnaryName): UnarySpec {
  const s = UNARY_OPS.find((o) => o.name === name);
  if (!s) throw new Error(`unary op ${name} is not declared in kernels/elementwise/unary_ops.ts`);
  return s;
}
