/** Helpers shared by the kernel launchers. */
import type { GpuRuntime } from '../gpu/runtime';

/**
 * Packs a uniform struct of 4-byte fields (u32, i32, f32) in declaration order. Launchers do not use it
 * directly: `launch` (contract.ts) packs a kernel's declared fields by name with it.
 */
export class Params {
  private view: DataView;
  private offset = 0;
  constructor(maxBytes = 256) {
    this.view = new DataView(new ArrayBuffer(maxBytes));
  }
  u32(v: number): this {
    this.view.setUint32(this.offset, v >>> 0, true);
    this.offset += 4;
    return this;
  }
  i32(v: number): this {
    this.view.setInt32(this.offset, v | 0, true);
    this.offset += 4;
    return this;
  }
  f32(v: number): this {
    this.view.setFloat32(this.offset, v, true);
    this.offset += 4;
    return this;
  }
  /** The packed bytes, padded to 16 bytes (WGSL uniform structs round up to their alignment). */
  bytes(): Uint8Array {
    return new Uint8Array(this.view.buffer, 0, Math.max(16, Math.ceil(this.offset / 16) * 16));
  }
}

/**
 * Workgroup counts covering `n` threads of `wg` each, folded into x and y so that neither exceeds the
 * device limit. Shaders recover the flat index as `(wid.y * num_workgroups.x + wid.x) * WG + lid.x`.
 */
export function grid1d(rt: GpuRuntime, n: number, wg = 256): [number, number] {
  const groups = Math.ceil(n / wg);
  const max = rt.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [groups, 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y];
}

/** A byte range of a float32 buffer, for binding. */
export function f32Range(buffer: GPUBuffer, elements: number, elementOffset = 0) {
  return { buffer, offset: elementOffset * 4, size: Math.max(4, elements * 4) };
}

/**
 * Workgroups for a grid-stride loop over `n` items (the vec4 elementwise kernels). A CPU driver runs a
 * workgroup per core at a time and pays per workgroup, so a few dozen large ones are fastest there;
 * a GPU wants enough to fill every core.
 */
export function gridStride(rt: GpuRuntime, n: number, wg = 256): [number] {
  const cap = rt.isSoftware ? 64 : rt.limits.maxComputeWorkgroupsPerDimension;
  return [Math.max(1, Math.min(cap, Math.ceil(n / wg)))];
}

/**
 * Bind `elements` floats starting at element `offset` of a buffer. The binding starts at the nearest
 * aligned byte offset below (minStorageBufferOffsetAlignment) and the shader adds the remainder, returned
 * as `shift` (elements). wholeVec4: the binding's size is rounded up to whole vec4s (for a shader that
 * declares it as array<vec4f>, whose last partial vec4 would otherwise be out of bounds).
 */
export function windowBinding(rt: GpuRuntime, buffer: GPUBuffer, offset: number, elements: number, wholeVec4 = false): { binding: { buffer: GPUBuffer; offset: number; size: number }; shift: number } {
  const align = Number(rt.device.limits.minStorageBufferOffsetAlignment ?? 256);
  const start = Math.floor((offset * 4) / align) * align;
  const shift = offset - start / 4;
  const bytes = Math.max(4, (shift + elements) * 4);
  const size = wholeVec4 ? Math.ceil(bytes / 16) * 16 : bytes;
  if (start + size > buffer.size) {
    throw new Error(`binding of ${elements} floats at element ${offset} overruns a buffer of ${buffer.size} bytes`);
  }
  return { binding: { buffer, offset: start, size }, shift };
}

/** The workgroup size for a kernel with one workgroup per row of `n` terms: a power of two in [32, 256], near n. */
export function rowWorkgroup(n: number): number {
  let wg = 32;
  while (wg < n && wg < 256) wg *= 2;
  return wg;
}
