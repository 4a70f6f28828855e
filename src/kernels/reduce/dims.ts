/** Launchers for dims.wgsl: sum, logsumexp, var/std and tie counts over any set of dims, and their backwards. */
import type { GpuRuntime } from '../../gpu/runtime';
import dimsShader from './dims.wgsl';
import { f32Range, grid1d } from '../util';
import { withPrelude } from '../prelude';
import { defineKernel, launch } from '../contract';
import type { DimsLayout } from './layout';

export const reduceDimsKernel = defineKernel({
  name: 'reduce/dims.wgsl',
  shader: withPrelude(dimsShader, 'grid'),
  entries: ['sum_dims', 'lse_dims', 'var_dims', 'count_ties', 'expand_dims', 'lse_backward', 'var_backward', 'ties_backward'],
  uniforms: [
    ['outputs', 'u32'], ['n', 'u32'],
    ['k0', 'u32'], ['k1', 'u32'], ['k2', 'u32'], ['k3', 'u32'], ['ks0', 'u32'], ['ks1', 'u32'], ['ks2', 'u32'], ['ks3', 'u32'],
    ['r0', 'u32'], ['r1', 'u32'], ['r2', 'u32'], ['r3', 'u32'], ['rs0', 'u32'], ['rs1', 'u32'], ['rs2', 'u32'], ['rs3', 'u32'],
    ['scale', 'f32'], ['root', 'u32'],
  ],
  bindings: [['x', 'read'], ['y', 'read'], ['stat', 'read'], ['dy', 'read'], ['out', 'read_write'], ['aux', 'read_write']],
});

/** Reductions of at most this many terms run one thread per output (in order), longer ones a workgroup per output (here and in sumAxis). */
export const SERIAL_MAX_TERMS = 64;

/** A power-of-two workgroup size for reductions of n terms: 128 up to 128 terms, else 256. */
export function rowWorkgroup(n: number): number {
  return n <= 128 ? 128 : 256;
}

type Buffers = Partial<Record<'x' | 'y' | 'stat' | 'dy' | 'out' | 'aux', GPUBuffer>>;

function layoutUniforms(l: DimsLayout, scale: number, root: boolean) {
  const [[k0, ks0], [k1, ks1], [k2, ks2], [k3, ks3]] = l.kept;
  const [[r0, rs0], [r1, rs1], [r2, rs2], [r3, rs3]] = l.reduced;
  return { outputs: l.outputs, n: l.n, k0, k1, k2, k3, ks0, ks1, ks2, ks3, r0, r1, r2, r3, rs0, rs1, rs2, rs3, scale, root };
}

/** The bindings of a launch: x (and out, for a backward) span the input, the others one float per output. */
function dimsBindings(l: DimsLayout, b: Buffers, backward: boolean) {
  const range = (buf: GPUBuffer | undefined, perOutput: number) => (buf ? f32Range(buf, l.outputs * perOutput) : null);
  return { x: range(b.x, l.n), y: range(b.y, 1), stat: range(b.stat, 1), dy: range(b.dy, 1), out: range(b.out, backward ? l.n : 1), aux: range(b.aux, 1) };
}

const shapeTag = (l: DimsLayout) => `${l.outputs}x${l.n}`;

/** A forward entry: one output per workgroup, or per thread for short reductions. */
function reduceLaunch(rt: GpuRuntime, entry: 'sum_dims' | 'lse_dims' | 'var_dims' | 'count_ties', l: DimsLayout, b: Buffers, scale: number, root = false): void {
  const serial = l.n <= SERIAL_MAX_TERMS;
  launch(rt, reduceDimsKernel, {
    op: `${entry}[${shapeTag(l)}]`,
    entry,
    constants: serial ? { SERIAL: 1, WG: 256 } : { SERIAL: 0, WG: rowWorkgroup(l.n) },
    uniforms: layoutUniforms(l, scale, root),
    bindings: dimsBindings(l, b, false),
    workgroups: serial ? grid1d(rt, l.outputs, 256) : grid1d(rt, l.outputs, 1),
  });
}

/** A backward entry: one thread per input element. */
function expandLaunch(rt: GpuRuntime, entry: 'expand_dims' | 'lse_backward' | 'var_backward' | 'ties_backward', l: DimsLayout, b: Buffers, scale: number, root = false): void {
  launch(rt, reduceDimsKernel, {
    op: `${entry}[${shapeTag(l)}]`,
    entry,
    uniforms: layoutUniforms(l, scale, root),
    bindings: dimsBindings(l, b, true),
    workgroups: grid1d(rt, l.outputs * l.n),
  });
}

/** out[o] = scale · Σ of output o's terms (sum: scale 1; mean: 1/n). */
export function sumDims(rt: GpuRuntime, x: GPUBuffer, out: GPUBuffer, l: DimsLayout, scale = 1): void {
  reduceLaunch(rt, 'sum_dims', l, { x, out }, scale);
}

/** out[j] = scale · dy[output of j]: the backward of sumDims. */
export function expandDims(rt: GpuRuntime, dy: GPUBuffer, out: GPUBuffer, l: DimsLayout, scale = 1): void {
  expandLaunch(rt, 'expand_dims', l, { dy, out }, scale);
}

/** out[o] = log Σ exp(terms), shifted by their max (torch's rule for infinite maxima). */
export function logsumexpDims(rt: GpuRuntime, x: GPUBuffer, out: GPUBuffer, l: DimsLayout): void {
  reduceLaunch(rt, 'lse_dims', l, { x, out }, 1);
}

/** dx[j] = dy[o] · exp(x[j] − y[o]): the backward of logsumexpDims. */
export function logsumexpBackward(rt: GpuRuntime, x: GPUBuffer, y: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer, l: DimsLayout): void {
  expandLaunch(rt, 'lse_backward', l, { x, y, dy, out: dx }, 1);
}

/**
 * Variance (two passes: the mean, then squared deviations) with torch's `correction`, or its square root (std):
 * out[o] = Σ (x − mean)² / max(0, n − correction), mean[o] = the mean (for the backward).
 */
export function varDims(rt: GpuRuntime, x: GPUBuffer, out: GPUBuffer, mean: GPUBuffer, l: DimsLayout, correction: number, std: boolean): void {
  reduceLaunch(rt, 'var_dims', l, { x, out, aux: mean }, 1 / Math.max(0, l.n - correction), std);
}

/** The backward of varDims: dx = dy · 2 (x − mean) / (n − correction), divided by 2·std for std (0 where std is 0). */
export function varBackward(rt: GpuRuntime, x: GPUBuffer, y: GPUBuffer, mean: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer, l: DimsLayout, correction: number, std: boolean): void {
  expandLaunch(rt, 'var_backward', l, { x, y, stat: mean, dy, out: dx }, 2 / (l.n - correction), std);
}

/**
 * The backward of a max or min over whole groups of terms, as torch's max()/min() without dim: dy split evenly
 * among the terms equal to the result (NaN equals NaN). `count` is a scratch buffer of `outputs` floats.
 */
export function tiesBackward(rt: GpuRuntime, x: GPUBuffer, y: GPUBuffer, dy: GPUBuffer, count: GPUBuffer, dx: GPUBuffer, l: DimsLayout): void {
  reduceLaunch(rt, 'count_ties', l, { x, y, out: count }, 1);
  expandLaunch(rt, 'ties_backward', l, { x, y, stat: count, dy, out: dx }, 1);
}
