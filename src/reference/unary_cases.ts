/**
 * The unary ops' cases beyond reference/cases.ts's shared shapes: how a declared op's check inputs are drawn (its
 * domain, its kinks, the parameters the checks use), the parameter cases each parameterised op runs besides its
 * `checkParams` (clamp with one bound, leakyRelu's slope), and the special values every op is checked at. The
 * vitest op tests (test/unary.test.ts) and the browser page (gradcheck-cases.ts, web/gradcheck/unary.ts) both
 * use these. Pure data and seeded generators: no GPU.
 */
import type { UnaryName, UnaryParams, UnarySpec } from '../kernels/elementwise/unary_ops';
import { randomArray } from './math';
import { unaryFdInputs } from './cases';

/** The parameters a declared op's table-driven checks use. */
export const unaryCheckParams = (spec: UnarySpec): UnaryParams => spec.checkParams ?? {};

/** Seeded inputs for the GPU checks of an op: uniform in its domain, or in [−4, 4] (float32 values). */
export function unaryInputs(spec: UnarySpec, n: number, seed: number): Float64Array {
  const [lo, hi] = spec.domain ?? [-4, 4];
  return randomArray(n, seed, lo, hi);
}

/**
 * Seeded inputs for an op's finite-difference check: in [−1, 1] intersected with its domain, and at least 0.05
 * from each kink (float32 values), so that the central differences do not cross one.
 */
export function unaryFdInputsOf(spec: UnarySpec, n: number, seed: number, kinks: readonly number[] = spec.kinks ?? []): Float64Array {
  const [lo, hi] = spec.domain ? [Math.max(-1, spec.domain[0]), Math.min(1, spec.domain[1])] : [-1, 1];
  return unaryFdInputs(n, seed, kinks, lo, hi);
}

/** A parameter case: the op, its parameters, and its kinks under them (for the finite differences). */
export interface UnaryParamCase {
  label: string;
  name: UnaryName;
  params: UnaryParams;
  kinks: readonly number[];
}

/** Parameterised ops under parameters other than their checkParams. An omitted clamp bound is ±inf (as clamp() passes it). */
export const UNARY_PARAM_CASES: readonly UnaryParamCase[] = [
  { label: 'clamp with min only (−0.25)', name: 'clamp', params: { min: -0.25, max: Infinity }, kinks: [-0.25] },
  { label: 'clamp with max only (0.5)', name: 'clamp', params: { min: -Infinity, max: 0.5 }, kinks: [0.5] },
  { label: 'clamp with min > max (0.5, −0.5): max everywhere', name: 'clamp', params: { min: 0.5, max: -0.5 }, kinks: [] },
  { label: 'clamp to [0, 0]', name: 'clamp', params: { min: 0, max: 0 }, kinks: [0] },
  { label: 'leakyRelu with the default slope 0.01', name: 'leakyRelu', params: {}, kinks: [0] },
  { label: 'leakyRelu with slope 0.2', name: 'leakyRelu', params: { negativeSlope: 0.2 }, kinks: [0] },
  { label: 'leakyRelu with slope −0.5', name: 'leakyRelu', params: { negativeSlope: -0.5 }, kinks: [0] },
  { label: 'leakyRelu with slope 1 (the identity)', name: 'leakyRelu', params: { negativeSlope: 1 }, kinks: [] },
];

/** The shapes each parameter case runs (odd and vec4 sizes). */
export const UNARY_PARAM_SHAPES: number[][] = [[13], [2, 3, 4]];

/** Special and extreme inputs every op is checked at: NaN, ±inf, ±0, large and tiny |x|, and ordinary values. */
export const UNARY_SPECIAL_INPUTS: readonly number[] = [
  Number.NaN, Infinity, -Infinity, 0, -0, 1e-30, -1e-30, 1e4, -1e4, 100, -100, 30, -30, 10, -10, 5.5, -5.5, 1, -1, 0.25, -0.25,
].map(Math.fround);

/**
 * Whether a float32 result agrees with the float64 reference at a special input: NaN where it is NaN, the same
 * infinity where it is one in float32 (exp(100) overflows), and otherwise within `rel` of it plus `abs`: float32
 * rounds 1 − tanh(10)² to 0 and may flush denormals (sigmoid(−100)), which a relative bound alone would reject.
 */
export function sameSpecial(got: number, want: number, rel = 1e-5, abs = 1e-6): boolean {
  if (Number.isNaN(want)) return Number.isNaN(got);
  if (!Number.isFinite(Math.fround(want))) return got === Math.fround(want);
  return Number.isFinite(got) && Math.abs(got - want) <= rel * Math.abs(want) + abs;
}

/** Dense grids where the erf and tanh approximations are checked element by element: every region of both. */
export const UNARY_DENSE_GRID: Float64Array = Float64Array.from({ length: 4001 }, (_, i) => Math.fround(-10 + i / 200));
