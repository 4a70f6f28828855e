/**
 * What the multi-tensor optimizer updates (kernels/sgd/multi.ts, kernels/adam/multi.ts) share: the generated
 * WGSL entries that give each tensor (slot) its own range of workgroups, and on the host the split of a group's
 * tensors into dispatches, each slot's workgroups, and the bindings of empty slots.
 */
import type { GpuRuntime } from '../gpu/runtime';
import type { Access, BindingValue, KernelContract } from './contract';
import { kernelConfig } from './config';
import { gridStride } from './util';

/**
 * Slot k's part of an entry: the workgroups wg<k−1> ≤ w < wg<k> run a grid-stride loop over its n<k> units,
 * calling `<fn>_<k>(i)`. The slot is a workgroup's (uniform), so no thread runs another slot's code (a CPU driver
 * would run every branch of a per-thread choice).
 */
function slotLoop(fn: string, k: number): string {
  const start = k === 0 ? '0u' : `params.wg${k - 1}`;
  return `  if (w < params.wg${k}) {
    for (var i = (w - ${start}) * WG + lid.x; i < params.n${k}; i += (params.wg${k} - ${start}) * WG) { ${fn}_${k}(i); }
    return;
  }`;
}

/**
 * The entries of `count` slots, scalar and vec4, for each mode: `<prefix><mode>[_v4]_x<count>`, calling the slot
 * functions `<mode>[v]_<k>` (the vec4 ones with a `v` suffix).
 */
export function multiTensorEntries(modes: readonly string[], count: number, prefix = ''): string {
  const entry = (mode: string, v: boolean) => `
@compute @workgroup_size(WG)
fn ${prefix}${mode}${v ? '_v4' : ''}_x${count}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let w = wid.x;
${Array.from({ length: count }, (_, k) => slotLoop(`${mode}${v ? 'v' : ''}`, k)).join('\n')}
}`;
  return [false, true].flatMap((v) => modes.map((m) => entry(m, v))).join('\n');
}

/**
 * Run `multi` on chunks of up to `maxSlots` tensors (and of as many as `buffersPerSlot` buffers each let the
 * device bind beside `sharedBuffers`; one each where the kernel configuration's multiTensorUpdate is off, unless `requested` says
 * otherwise): tensors whose size is a multiple of 4 together (vec4 entries), the others together; a lone or empty
 * tensor goes to `single`. Every chunk is given the same entry size `entrySlots` (the full chunks'): a shorter chunk
 * (the last one) leaves its entry's last slots empty (bindEmptySlots), so that an update compiles one pipeline
 * for each layout, not one more for its last chunk (0.7 s on one llvmpipe core for SGD's).
 */
export function forEachMultiChunk<S extends { n: number }>(
  rt: GpuRuntime,
  slots: readonly S[],
  buffersPerSlot: number,
  maxSlots: number,
  requested: number | undefined,
  single: (s: S) => void,
  multi: (chunk: readonly S[], vec4: boolean, entrySlots: number) => void,
  sharedBuffers = 0,
): void {
  const fit = Math.floor((rt.limits.maxStorageBuffersPerShaderStage - sharedBuffers) / buffersPerSlot);
  const k = Math.min(maxSlots, fit, requested ?? (kernelConfig(rt).multiTensorUpdate ? maxSlots : 1));
  if (k < 2) {
    slots.forEach(single);
    return;
  }
  for (const vec4 of [true, false]) {
    const list = slots.filter((s) => s.n > 0 && (s.n % 4 === 0) === vec4);
    for (let at = 0; at < list.length; at += k) {
      const chunk = list.slice(at, at + k);
      if (chunk.length === 1) single(chunk[0]);
      else multi(chunk, vec4, k);
    }
  }
  for (const s of slots) if (s.n === 0) single(s);
}

/**
 * Each of `slots` slots' units (elements, or vec4s) and the end of its workgroup range (wg<k>: the workgroups of
 * slots 0..k), for a chunk of tensors: each gets the per-tensor kernel's workgroups (gridStride), within the
 * dispatch's limit and `maxWorkgroups` (tests). Slots past the chunk get 0 units and no workgroups.
 */
export function slotWorkgroups(rt: GpuRuntime, chunk: readonly { n: number }[], vec4: boolean, slots: number, maxWorkgroups = Infinity): { units: number[]; wgEnd: number[] } {
  const cap = Math.min(maxWorkgroups, Math.floor(rt.limits.maxComputeWorkgroupsPerDimension / chunk.length));
  const units: number[] = [];
  const wgEnd: number[] = [];
  let wg = 0;
  for (let k = 0; k < slots; k++) {
    const s = chunk[k];
    const u = s ? (vec4 ? s.n / 4 : s.n) : 0;
    if (s) wg += Math.min(cap, gridStride(rt, u)[0]);
    units.push(u);
    wgEnd.push(wg);
  }
  return { units, wgEnd };
}

/** Bytes of each empty binding: one storage offset alignment (at most 256 bytes by the WebGPU spec). */
const EMPTY_BYTES = 256;
/** The most bindings a multi-tensor contract declares (Adam's: 8 slots of 5). */
const EMPTY_RANGES = 64;
const emptyBuffers = new WeakMap<GpuRuntime, Record<Access, GPUBuffer>>();

/**
 * Bind the slots a multi-tensor launch leaves empty: forEachMultiChunk gives a shorter chunk the full chunks'
 * entry (`_x<entrySlots>`), whose slots chunkLength ≤ k < entrySlots have no units and no workgroups, so nothing
 * reads or writes them, but WebGPU wants every binding of the entry bound. Each binding `<name><k>` of such a slot
 * whose slot-0 twin `<name>0` is bound (the entry uses it) gets a 256-byte range of its own, at its contract
 * position, in one of two small buffers the runtime keeps (made once, destroyed with the runtime): one for the
 * contract's read-only bindings and one for its read-write ones, since WebGPU refuses a buffer bound both ways in
 * one dispatch.
 */
export function bindEmptySlots<B extends string>(rt: GpuRuntime, kernel: KernelContract<string, B>, bindings: { [K in B]: BindingValue }, chunkLength: number, entrySlots: number): void {
  if (kernel.bindings.length > EMPTY_RANGES) throw new Error(`bindEmptySlots: ${kernel.name} declares ${kernel.bindings.length} bindings, past ${EMPTY_RANGES}`);
  kernel.bindings.forEach(([name, access], i) => {
    const m = /^(.*?)(\d+)$/.exec(name);
    if (!m) return; // a binding all slots share
    const k = Number(m[2]);
    if (k < chunkLength || k >= entrySlots || !bindings[`${m[1]}0` as B]) return;
    bindings[name] = { buffer: emptyBuffer(rt, access), offset: i * EMPTY_BYTES, size: EMPTY_BYTES };
  });
}

function emptyBuffer(rt: GpuRuntime, access: Access): GPUBuffer {
  let buffers = emptyBuffers.get(rt);
  if (!buffers) {
    const make = (a: string) => rt.device.createBuffer({ label: `multi-tensor empty slots (${a})`, size: EMPTY_RANGES * EMPTY_BYTES, usage: GPUBufferUsage.STORAGE });
    const made = { read: make('read'), read_write: make('read_write') };
    rt.onDestroy(() => {
      made.read.destroy();
      made.read_write.destroy();
    });
    emptyBuffers.set(rt, (buffers = made));
  }
  return buffers[access];
}
