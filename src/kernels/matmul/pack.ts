/**
 * Operands of the packed kernels (subgroup.ts, vec4.ts): X = op(A) as [K, M] and Y = op(B) as [K, N], rows of
 * vec4. An operand already in that layout is used in place when its columns, offset and batch stride are
 * multiples of 4; otherwise matmul_pack.wgsl packs (and, for a transposed source, transposes) it first: one
 * pass over the operand, O(MK) or O(KN), small next to the O(MNK) product.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import packShader from './matmul_pack.wgsl';
import { windowBinding } from '../util';
import { defineKernel, launch } from '../contract';

export const matmulPackKernel = defineKernel({
  name: 'matmul/matmul_pack.wgsl',
  shader: packShader,
  entries: ['main', 'main_v4'],
  uniforms: [
    ['rows', 'u32'], ['cols', 'u32'], ['ld4', 'u32'], ['ldS', 'u32'],
    ['strideS', 'u32'], ['offS', 'u32'], ['strideD4', 'u32'], ['rowBase', 'u32'],
    ['transpose', 'u32'],
  ],
  // srcV: the source again, as vec4 (main_v4).
  bindings: [['src', 'read', ['srcV']], ['dst', 'read_write']],
});
import { type ConvGather, type Mat, type Operand, ref } from './common';

/**
 * Pack `matrices` matrices of `rows` × `cols` (z-th at z·strideS floats from S, element (r, c) at
 * r·ldS + c, or c·ldS + r when `transpose`) into rows of ceil(cols / 4) vec4, zero-padded, one matrix after
 * the other. Returns the packed operand (a pooled scratch buffer: release it after use).
 */
export function packOperand(rt: GpuRuntime, S: Mat, rows: number, cols: number, ldS: number, transpose: boolean, matrices: number, strideS: number, name: string): Operand {
  const s = ref(S);
  const ld4 = Math.ceil(cols / 4);
  const bytes = Math.max(16, matrices * rows * ld4 * 16);
  const scratch = rt.alloc(bytes);
  const span = (matrices - 1) * strideS + (transpose ? (cols - 1) * ldS + rows : (rows - 1) * ldS + cols);
  // Aligned transposes read the source as vec4, a 4 × 4 block per thread (entry point main_v4).
  const quads = transpose && rows % 4 === 0 && ldS % 4 === 0 && s.offset % 4 === 0 && (matrices === 1 || strideS % 4 === 0);
  const src = windowBinding(rt, s.buffer, s.offset, span, quads);
  const rowsPerGroup = quads ? 32 : 8;
  const maxRows = rt.limits.maxComputeWorkgroupsPerDimension * rowsPerGroup;
  for (let rowBase = 0; rowBase < rows; rowBase += maxRows) {
    launch(rt, matmulPackKernel, {
      op: `matmul-pack[${name} ${matrices > 1 ? `${matrices}x` : ''}${rows}x${cols}${transpose ? ' T' : ''}]`,
      entry: quads ? 'main_v4' : 'main',
      uniforms: { rows, cols, ld4, ldS, strideS, offS: src.shift, strideD4: rows * ld4, rowBase, transpose },
      bindings: { src: src.binding, dst: { buffer: scratch, offset: 0, size: bytes } },
      workgroups: [Math.ceil(ld4 / 8), Math.ceil(Math.min(maxRows, rows - rowBase) / rowsPerGroup), matrices],
    });
  }
  return packedView(scratch, rows, cols, matrices, scratch);
}

/** The operand in `buf` that packOperand wrote for `matrices` matrices of rows × cols (`scratch`: buf, or null when kept). */
function packedView(buf: GPUBuffer, rows: number, cols: number, matrices: number, scratch: GPUBuffer | null): Operand {
  const ld4 = Math.ceil(cols / 4);
  const bytes = Math.max(16, matrices * rows * ld4 * 16);
  return { binding: { buffer: buf, offset: 0, size: bytes }, off4: 0, ld4, stride4: matrices > 1 ? rows * ld4 : 0, scratch };
}

/**
 * `use` with packOperand's packing of S, for a source that stays unwritten from one use to the next, such as a
 * convolution's weights during an evaluation. Inside the runtime's derived-buffer scope (GpuRuntime.derived) the
 * packed copy is made once and served again for as long as S's buffer is unwritten; outside a scope it is made
 * and released after `use`. `use` must not release the operand.
 */
export function withPackedOperand<T>(rt: GpuRuntime, S: Mat, rows: number, cols: number, ldS: number, transpose: boolean, matrices: number, strideS: number, name: string, use: (op: Operand) => T): T {
  const s = ref(S);
  const key = `packed ${name} ${matrices}x${rows}x${cols} ld${ldS} s${strideS} at ${s.offset}${transpose ? ' T' : ''}`;
  const make = () => [packOperand(rt, S, rows, cols, ldS, transpose, matrices, strideS, name).scratch as GPUBuffer];
  return rt.derived.use(key, [s.buffer], make, ([buf]) => use(packedView(buf, rows, cols, matrices, null)));
}

/**
 * op(S) as a [K, cols] row-major matrix of vec4 rows, for each of `batch` matrices (one if stride is 0).
 * `rowMajor`: S is stored [K, cols] already (else [cols, K], and is transposed while packing).
 */
export function asOperand(rt: GpuRuntime, S: Mat, K: number, cols: number, rowMajor: boolean, stride: number, batch: number, name: string): Operand {
  const s = ref(S);
  const matrices = stride === 0 ? 1 : batch;
  if (rowMajor && cols % 4 === 0 && s.offset % 4 === 0 && stride % 4 === 0) {
    const w = windowBinding(rt, s.buffer, s.offset, (matrices - 1) * stride + K * cols);
    return { binding: w.binding, off4: w.shift / 4, ld4: cols / 4, stride4: stride / 4, scratch: null };
  }
  return packOperand(rt, S, K, cols, rowMajor ? cols : K, !rowMajor, matrices, stride, name);
}

/** Release the scratch buffers of packed operands (once the dispatches that read them are encoded). */
export function releaseOperands(rt: GpuRuntime, ...ops: (Operand | ConvGather)[]): void {
  for (const o of ops) if ('scratch' in o && o.scratch) rt.release(o.scratch);
}
