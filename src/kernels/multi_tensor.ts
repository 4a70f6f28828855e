/**
 * What the multi-tensor optimizer updates (kernels/sgd/multi.ts, kernels/adam/multi.ts) share: the generated
 * WGSL entries that give each tensor (slot) its own range of workgroups, and on the host the split of a group's
 * tensors into dispatches and each slot's workgroups.
 */
import type { GpuRuntime } from '../gpu/runtime';
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
 * tensor goes to `single`.
 */
export function forEachMultiChunk<S extends { n: number }>(
  rt: GpuRuntime,
  slots: readonly S[],
  buffersPerSlot: number,
  maxSlots: number,
  requested: number | undefined,
  single: (s: S) => void,
  multi: (chunk: readonly S[], vec4: boolean) => void,
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
      else multi(chunk, vec4);
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
