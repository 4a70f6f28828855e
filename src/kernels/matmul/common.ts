/** Operand references and buffer windows shared by the matmul launchers (matmul.ts, matmul_subgroup.ts). */
import type { GpuRuntime } from '../../gpu/runtime';

/** A float32 matrix (or batch of matrices) starting `offset` elements into a buffer. */
export interface MatRef {
  buffer: GPUBuffer;
  offset?: number;
}
export type Mat = GPUBuffer | MatRef;

export function ref(m: Mat): { buffer: GPUBuffer; offset: number } {
  return 'buffer' in m ? { buffer: m.buffer, offset: m.offset ?? 0 } : { buffer: m, offset: 0 };
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

/** The checked sizes of one matmul call, with defaults filled in (see MatmulOptions in matmul.ts). */
export interface MatmulCall {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  batch: number;
  strideA: number;
  strideB: number;
  strideC: number;
  reduceBatch: boolean;
  accumulate: boolean;
  bias: Mat | null;
  biasPerRow: boolean;
}

/** A short name for error messages and profiles: matmulTN[4x64x3136x576 sum acc]. */
export function matmulOpName(k: MatmulCall, variant = ''): string {
  const form = `${k.transA ? 'T' : 'N'}${k.transB ? 'T' : 'N'}`;
  return `matmul${form}${variant}[${k.batch > 1 ? `${k.batch}x` : ''}${k.M}x${k.N}x${k.K}${k.reduceBatch ? ' sum' : ''}${k.accumulate ? ' acc' : ''}]`;
}
