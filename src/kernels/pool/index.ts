/** Launchers for maxpool.wgsl and avgpool.wgsl (NCHW float32, planes = N·C). */
import type { GpuRuntime } from '../../gpu/runtime';
import maxpool from './maxpool.wgsl';
import avgpool from './avgpool.wgsl';
import { f32Range, grid1d } from '../util';
import { defineKernel, launch } from '../contract';
import { f16Range, requireF16 } from '../cast';
import { halfVariant } from '../cast/variant';

const SHAPE = [['planes', 'u32'], ['h', 'u32'], ['w', 'u32'], ['oh', 'u32'], ['ow', 'u32']] as const;

export const maxPoolKernel = defineKernel({
  name: 'pool/maxpool.wgsl',
  shader: maxpool,
  entries: ['forward', 'scatter'],
  uniforms: [...SHAPE, ['kh', 'u32'], ['kw', 'u32'], ['sh', 'u32'], ['sw', 'u32'], ['ph', 'u32'], ['pw', 'u32'], ['cy', 'u32'], ['cx', 'u32'], ['my', 'u32'], ['mx', 'u32']],
  bindings: [['src', 'read'], ['dst', 'read_write'], ['argmax', 'read_write']],
});

/** maxpool.wgsl on float16 data (x / y and dy / dx in float16, compared and summed in float32; the argmax is i32). */
export const maxPoolKernelF16 = defineKernel({
  ...maxPoolKernel,
  name: 'pool/maxpool.wgsl (f16)',
  shader: halfVariant(maxpool, { scalar: ['src', 'dst'], vec4: [] }),
});

/** The data bindings' ranges and the kernel for a dtype. */
function maxPoolData(rt: GpuRuntime, op: string, dtype: 'f32' | 'f16') {
  if (dtype === 'f16') requireF16(rt, op);
  return { kernel: dtype === 'f16' ? maxPoolKernelF16 : maxPoolKernel, range: dtype === 'f16' ? f16Range : f32Range };
}

export const avgPoolKernel = defineKernel({
  name: 'pool/avgpool.wgsl',
  shader: avgpool,
  entries: ['forward', 'backward'],
  uniforms: SHAPE,
  bindings: [['src', 'read'], ['dst', 'read_write']],
});

/** A pooling geometry: `planes` = N·C input planes of h×w pooled to oh×ow. */
export interface PoolShape {
  planes: number;
  h: number;
  w: number;
  oh: number;
  ow: number;
}

/** Max pooling window: kernel, stride and (−∞) padding per axis. */
export interface MaxPoolWindow {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
}

const WG = 64;
/** Workgroup shape of the 3D-grid entries: x = column, y = row (z = plane). */
const WX = 8;
const WY = 8;

/** A 3D grid over planes of rows × cols; planes beyond the z limit are looped over by the shader. */
function planeGrid(rt: GpuRuntime, planes: number, rows: number, cols: number): [number, number, number] {
  return [Math.ceil(cols / WX), Math.ceil(rows / WY), Math.min(planes, rt.limits.maxComputeWorkgroupsPerDimension)];
}

function shapeLabel(s: PoolShape): string {
  return `${s.planes}x${s.h}x${s.w}->${s.oh}x${s.ow}`;
}

function checkPositive(op: string, fields: object): void {
  for (const [k, v] of Object.entries(fields)) {
    if (!Number.isInteger(v) || v < (k === 'ph' || k === 'pw' ? 0 : 1)) throw new Error(`${op}: ${k} = ${v} is invalid`);
  }
}

/** floor((size + 2·pad − kernel) / stride) + 1: the output size of a max pool (ceil_mode off, no dilation). */
export function maxPoolOutSize(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}

/** The max-pool uniforms; [cy, cx, my, mx] selects a scatter pass's class of outputs. */
function maxPoolParams(s: PoolShape, k: MaxPoolWindow, [cy, cx, my, mx] = [0, 0, 1, 1]) {
  const { planes, h, w, oh, ow } = s;
  const { kh, kw, sh, sw, ph, pw } = k;
  return { planes, h, w, oh, ow, kh, kw, sh, sw, ph, pw, cy, cx, my, mx };
}

function checkMaxPool(op: string, s: PoolShape, k: MaxPoolWindow): void {
  checkPositive(op, { ...s, ...k });
  if (2 * k.ph > k.kh || 2 * k.pw > k.kw) throw new Error(`${op}: padding (${k.ph}, ${k.pw}) must be at most half the kernel (${k.kh}, ${k.kw})`);
  if (s.oh !== maxPoolOutSize(s.h, k.kh, k.sh, k.ph) || s.ow !== maxPoolOutSize(s.w, k.kw, k.sw, k.pw)) {
    throw new Error(`${op}: output ${s.oh}x${s.ow} does not match the window`);
  }
}

/** y = max over each window, argmax (i32, index h·W + w within the plane) = its first maximum. One thread per output (3D grid). */
export function maxPool2dForward(rt: GpuRuntime, x: GPUBuffer, y: GPUBuffer, argmax: GPUBuffer, s: PoolShape, k: MaxPoolWindow, dtype: 'f32' | 'f16' = 'f32'): void {
  const op = `maxpool2d[${shapeLabel(s)} k${k.kh}x${k.kw} s${k.sh}x${k.sw} p${k.ph}x${k.pw}]${dtype === 'f16' ? '.f16' : ''}`;
  checkMaxPool(op, s, k);
  const outputs = s.planes * s.oh * s.ow;
  const d = maxPoolData(rt, op, dtype);
  launch(rt, d.kernel, {
    op,
    entry: 'forward',
    constants: { WX, WY },
    uniforms: maxPoolParams(s, k),
    bindings: { src: d.range(x, s.planes * s.h * s.w), dst: d.range(y, outputs), argmax: f32Range(argmax, outputs) },
    workgroups: planeGrid(rt, s.planes, s.oh, s.ow),
  });
}

/**
 * dx = each output's dy added at its argmax: a clear (clearBuffer), then one race-free scatter pass per class of
 * outputs with disjoint windows (⌈kh/sh⌉·⌈kw/sw⌉ passes, in a fixed order). No atomics.
 */
export function maxPool2dBackward(rt: GpuRuntime, dy: GPUBuffer, argmax: GPUBuffer, dx: GPUBuffer, s: PoolShape, k: MaxPoolWindow, dtype: 'f32' | 'f16' = 'f32'): void {
  const op = `maxpool2d.backward[${shapeLabel(s)} k${k.kh}x${k.kw} s${k.sh}x${k.sw} p${k.ph}x${k.pw}]${dtype === 'f16' ? '.f16' : ''}`;
  checkMaxPool(op, s, k);
  const inputs = s.planes * s.h * s.w;
  const outputs = s.planes * s.oh * s.ow;
  const d = maxPoolData(rt, op, dtype);
  rt.clear(dx, 0, d.range(dx, inputs).size, op);
  const my = Math.ceil(k.kh / k.sh);
  const mx = Math.ceil(k.kw / k.sw);
  for (let cy = 0; cy < Math.min(my, s.oh); cy++) {
    for (let cx = 0; cx < Math.min(mx, s.ow); cx++) {
      launch(rt, d.kernel, {
        op,
        entry: 'scatter',
        constants: { WX, WY },
        uniforms: maxPoolParams(s, k, [cy, cx, my, mx]),
        bindings: { src: d.range(dy, outputs), dst: d.range(dx, inputs), argmax: f32Range(argmax, outputs) },
        workgroups: planeGrid(rt, s.planes, Math.ceil((s.oh - cy) / my), Math.ceil((s.ow - cx) / mx)),
      });
    }
  }
}

function avgPoolParams(s: PoolShape) {
  const { planes, h, w, oh, ow } = s;
  return { planes, h, w, oh, ow };
}

/** y = the mean of each adaptive bin (PyTorch's bin boundaries). One thread per output. */
export function adaptiveAvgPool2dForward(rt: GpuRuntime, x: GPUBuffer, y: GPUBuffer, s: PoolShape): void {
  const op = `adaptive_avgpool2d[${shapeLabel(s)}]`;
  checkPositive(op, s);
  const outputs = s.planes * s.oh * s.ow;
  launch(rt, avgPoolKernel, {
    op,
    entry: 'forward',
    constants: { WG },
    uniforms: avgPoolParams(s),
    bindings: { src: f32Range(x, s.planes * s.h * s.w), dst: f32Range(y, outputs) },
    workgroups: grid1d(rt, outputs, WG),
  });
}

/** dx = Σ over the bins holding each pixel of dy / bin area. One thread per input pixel (3D grid), no atomics. */
export function adaptiveAvgPool2dBackward(rt: GpuRuntime, dy: GPUBuffer, dx: GPUBuffer, s: PoolShape): void {
  const op = `adaptive_avgpool2d.backward[${shapeLabel(s)}]`;
  checkPositive(op, s);
  const inputs = s.planes * s.h * s.w;
  launch(rt, avgPoolKernel, {
    op,
    entry: 'backward',
    constants: { WX, WY },
    uniforms: avgPoolParams(s),
    bindings: { src: f32Range(dy, s.planes * s.oh * s.ow), dst: f32Range(dx, inputs) },
    workgroups: planeGrid(rt, s.planes, s.h, s.w),
  });
}
