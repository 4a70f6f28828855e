/**
 * Launchers of the shape ops' kernels: copies between a contiguous array and a strided view (strided.wgsl: permute,
 * transpose, narrow, slice, cat) and indexing along one dim (gather.wgsl: gather, indexSelect). Shapes are collapsed
 * on the host (size-1 dims dropped, neighbours that stay contiguous merged) to at most MAX_DIMS dims.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import strided from './strided.wgsl';
import gather from './gather.wgsl';
import { f32Range, grid1d } from '../util';
import { withPrelude } from '../prelude';
import { defineKernel, launch } from '../contract';

/** The most dims a shape kernel takes after collapsing. */
export const MAX_DIMS = 8;

type Slot<P extends string> = `${P}${number}`;

/** The uniform fields `<prefix>0` … `<prefix>7`. */
function slotFields<const P extends string>(prefix: P): (readonly [Slot<P>, 'u32'])[] {
  return Array.from({ length: MAX_DIMS }, (_, i) => [`${prefix}${i}` as Slot<P>, 'u32'] as const);
}

/** Values for `<prefix>0` … `<prefix>7`, right-aligned: the leading unused slots get `fill`. */
function slotValues<P extends string>(prefix: P, values: readonly number[], fill: number): Record<Slot<P>, number> {
  const out = {} as Record<Slot<P>, number>;
  const lead = MAX_DIMS - values.length;
  for (let i = 0; i < MAX_DIMS; i++) out[`${prefix}${i}` as Slot<P>] = i < lead ? fill : values[i - lead];
  return out;
}

/** strided.wgsl: strided_gather (view → contiguous) and strided_scatter (contiguous → view). */
export const stridedKernel = defineKernel({
  name: 'shape/strided.wgsl',
  shader: withPrelude(strided, 'grid'),
  entries: ['strided_gather', 'strided_scatter'],
  uniforms: [['n', 'u32'], ['offset', 'u32'], ...slotFields('size'), ...slotFields('stride')],
  bindings: [['src', 'read'], ['dst', 'read_write']],
});

/** gather.wgsl: gather_forward (gather, indexSelect) and gather_backward (their index-add). */
export const gatherKernel = defineKernel({
  name: 'shape/gather.wgsl',
  shader: withPrelude(gather, 'grid'),
  entries: ['gather_forward', 'gather_backward'],
  uniforms: [['n', 'u32'], ['dim', 'u32'], ...slotFields('xsize'), ...slotFields('osize'), ...slotFields('istride')],
  bindings: [['src', 'read'], ['idx', 'read'], ['dst', 'read_write']],
});

const prod = (a: readonly number[]) => a.reduce((p, d) => p * d, 1);

/** Row-major strides of a contiguous shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let k = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = k;
    k *= shape[d];
  }
  return s;
}

/** A strided view of a buffer: element i (row-major over `sizes`) is at `offset + Σ_d c_d · strides[d]`. */
export interface StridedView {
  offset: number;
  sizes: readonly number[];
  strides: readonly number[];
}

/** The same view with size-1 dims dropped and neighbours merged where stride[d] = size[d+1] · stride[d+1]. */
export function collapseView(v: StridedView): StridedView {
  const sizes: number[] = [];
  const strides: number[] = [];
  v.sizes.forEach((n, d) => {
    if (n === 1) return;
    const last = sizes.length - 1;
    if (last >= 0 && strides[last] === n * v.strides[d]) {
      sizes[last] *= n;
      strides[last] = v.strides[d];
    } else {
      sizes.push(n);
      strides.push(v.strides[d]);
    }
  });
  return { offset: v.offset, sizes, strides };
}

function tooManyDims(op: string, what: string, dims: number): Error {
  return new Error(`${op}: ${what} has ${dims} dims that cannot be merged; the shape kernels take at most ${MAX_DIMS}`);
}

/** One past the largest offset the view reaches. */
function viewExtent(v: StridedView): number {
  return v.offset + v.sizes.reduce((e, n, d) => e + (n - 1) * v.strides[d], 0) + 1;
}

/** The view collapsed; throws (naming op) when it keeps more than MAX_DIMS dims. Ops call it before allocating. */
export function fitView(op: string, view: StridedView): StridedView {
  const v = collapseView(view);
  if (v.sizes.length > MAX_DIMS) throw tooManyDims(op, `the strided view [${view.sizes.join(', ')}]`, v.sizes.length);
  return v;
}

function stridedCopy(rt: GpuRuntime, entry: 'strided_gather' | 'strided_scatter', src: GPUBuffer, dst: GPUBuffer, view: StridedView, op: string): void {
  const v = fitView(op, view);
  const n = prod(v.sizes);
  const extent = viewExtent(v);
  launch(rt, stridedKernel, {
    op: `${op}[${v.sizes.join('x')} strides ${v.strides.join(',')} +${v.offset}]`,
    entry,
    uniforms: Object.assign({ n, offset: v.offset }, slotValues('size', v.sizes, 1), slotValues('stride', v.strides, 0)),
    bindings: entry === 'strided_gather' ? { src: f32Range(src, extent), dst: f32Range(dst, n) } : { src: f32Range(src, n), dst: f32Range(dst, extent) },
    workgroups: grid1d(rt, n),
  });
}

/** dst[i] = src[view(i)]: the view read into a contiguous array of its numel elements (any 4-byte dtype). */
export function stridedGather(rt: GpuRuntime, src: GPUBuffer, dst: GPUBuffer, view: StridedView, op: string): void {
  stridedCopy(rt, 'strided_gather', src, dst, view, op);
}

/** dst[view(i)] = src[i]: a contiguous array written into the view; other elements of dst are left as they are. */
export function stridedScatter(rt: GpuRuntime, src: GPUBuffer, dst: GPUBuffer, view: StridedView, op: string): void {
  stridedCopy(rt, 'strided_scatter', src, dst, view, op);
}

/**
 * Indexing along `dim` of a contiguous x: out[c] = x[c with c_dim = index[Σ_d c_d · indexStrides[d]]]. `outSizes`
 * has x's rank, with outSizes[d] ≤ xSizes[d] off `dim`. gather: the index has the output's shape (its contiguous
 * strides); indexSelect: a 1-D index (stride 1 at dim, 0 elsewhere).
 */
export interface IndexGeometry {
  dim: number;
  xSizes: readonly number[];
  outSizes: readonly number[];
  indexStrides: readonly number[];
}

/** The geometry with size-1 dims off `dim` dropped and neighbours off `dim` merged where x, out and index allow. */
export function collapseIndexGeometry(g: IndexGeometry): IndexGeometry {
  const xs: number[] = [];
  const os: number[] = [];
  const is: number[] = [];
  let dim = -1;
  g.xSizes.forEach((n, d) => {
    if (d === g.dim) {
      dim = xs.length;
    } else if (n === 1) {
      return;
    } else {
      const last = xs.length - 1;
      // Merge into the previous dim when both are off `dim`, out covers x along this one, and the index strides chain.
      if (last >= 0 && last !== dim && g.outSizes[d] === n && is[last] === g.outSizes[d] * g.indexStrides[d]) {
        xs[last] *= n;
        os[last] *= n;
        is[last] = g.indexStrides[d];
        return;
      }
    }
    xs.push(n);
    os.push(g.outSizes[d]);
    is.push(g.indexStrides[d]);
  });
  return { dim, xSizes: xs, outSizes: os, indexStrides: is };
}

/** The geometry collapsed; throws (naming op) when it keeps more than MAX_DIMS dims. Ops call it before allocating. */
export function fitIndexGeometry(op: string, geometry: IndexGeometry): IndexGeometry {
  const g = collapseIndexGeometry(geometry);
  if (g.xSizes.length > MAX_DIMS) throw tooManyDims(op, `x [${geometry.xSizes.join(', ')}]`, g.xSizes.length);
  return g;
}

function indexLaunch(rt: GpuRuntime, entry: 'gather_forward' | 'gather_backward', src: GPUBuffer, index: GPUBuffer, dst: GPUBuffer, geometry: IndexGeometry, op: string): void {
  const g = fitIndexGeometry(op, geometry);
  const xn = prod(g.xSizes);
  const on = prod(g.outSizes);
  const indexExtent = g.outSizes.reduce((e, n, d) => e + (n - 1) * g.indexStrides[d], 0) + 1;
  const forward = entry === 'gather_forward';
  const n = forward ? on : xn;
  launch(rt, gatherKernel, {
    op: `${op}[${g.xSizes.join('x')} -> ${g.outSizes.join('x')} dim ${g.dim}]`,
    entry,
    uniforms: {
      n,
      dim: MAX_DIMS - g.xSizes.length + g.dim,
      ...slotValues('xsize', g.xSizes, 1),
      ...slotValues('osize', g.outSizes, 1),
      ...slotValues('istride', g.indexStrides, 0),
    },
    bindings: { src: f32Range(src, forward ? xn : on), idx: f32Range(index, indexExtent), dst: f32Range(dst, n) },
    workgroups: grid1d(rt, n),
  });
}

/** out = x indexed along the geometry's dim (gather, indexSelect); an index outside [0, x.size(dim)) gives 0. */
export function indexForward(rt: GpuRuntime, x: GPUBuffer, index: GPUBuffer, out: GPUBuffer, geometry: IndexGeometry, op: string): void {
  indexLaunch(rt, 'gather_forward', x, index, out, geometry, op);
}

/**
 * dx[c] = Σ over the entries j of c's line whose index is c_dim of dy[…j…] (the index-add backward of indexForward),
 * summed in order by one thread per dx element (deterministic; out.size(dim) terms per element). Writes all of dx.
 */
export function indexBackward(rt: GpuRuntime, dy: GPUBuffer, index: GPUBuffer, dx: GPUBuffer, geometry: IndexGeometry, op: string): void {
  indexLaunch(rt, 'gather_backward', dy, index, dx, geometry, op);
}
