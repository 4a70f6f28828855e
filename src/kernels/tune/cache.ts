/**
 * The autotuner's kept choices: a table of (site, shape) → candidate, the KernelChooser that serves it, and
 * the cache format (JSON, platform-neutral; Node's file is file.node.ts, the browser's IndexedDB is
 * src/web/tune-cache.browser.ts). A cache holds one entry per adapter and kernel version; an entry is used
 * only by the adapter (vendor, architecture, device, driver description, features) and the kernels it was
 * tuned with. The shape class is the exact shape string of the site (conv2d: '8x64x56x56->64 k3x3 s1 p1';
 * matmul: 'MxNxK'; batch norm: 'NxCxHW').
 */
import type { GpuRuntime } from '../../gpu/runtime';
import { type KernelChooser, type KernelSite, setKernelChooser } from '../config';
import { kernelContracts } from '../contracts';

/** The `format` field of a cache file. */
export const TUNE_CACHE_FORMAT = 'webgpu-resnet/tune-cache';
/** The version of the file's layout that this build reads and writes. */
export const TUNE_CACHE_VERSION = 1;
/** Bump when a launcher changes its kernels' speed without changing their WGSL (the hash below misses that). */
const KERNEL_TUNE_EPOCH = 1;

/** What a cache entry is keyed by: the adapter and its driver (Dawn's description names it), and the optional features the device has. */
export interface AdapterKey {
  vendor: string;
  architecture: string;
  device: string;
  /** The adapter's description: the driver and its version (e.g. 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)'). */
  description: string;
  /** The optional features the runtime requested (sorted): they decide which kernels can run. */
  features: string[];
}

/** The key of a runtime's adapter. */
export function adapterKey(rt: Pick<GpuRuntime, 'adapter'>): AdapterKey {
  const a = rt.adapter;
  return { vendor: a.vendor, architecture: a.architecture, device: a.device, description: a.description, features: [...a.features].sort() };
}

function sameAdapter(a: AdapterKey, b: AdapterKey): boolean {
  return a.vendor === b.vendor && a.architecture === b.architecture && a.device === b.device && a.description === b.description && a.features.join(',') === b.features.join(',');
}

function adapterLabel(a: AdapterKey): string {
  return [a.vendor, a.architecture, a.device].filter((s) => s).join(' / ') || a.description || 'unknown adapter';
}

let version: string | null = null;

/** The kernels' version: a hash of every kernel contract's name and WGSL, and an epoch bumped by hand. */
export function kernelVersion(): string {
  if (version) return version;
  let h = 0x811c9dc5;
  const text = `${KERNEL_TUNE_EPOCH}\n${kernelContracts.map((k) => `${k.name}\n${k.shader}`).join('\n')}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return (version = `${KERNEL_TUNE_EPOCH}-${h.toString(16).padStart(8, '0')}`);
}

/** One tuned site and shape: the pick, the heuristic's pick, and each candidate's measured ms. */
export interface TunedChoice {
  site: KernelSite;
  shape: string;
  pick: string;
  heuristic: string;
  /** Median ms of one launch per candidate (a candidate given up after one window has that window's time). */
  times: Record<string, number>;
  /** The timer: 'timestamp' or 'wall'. */
  timer: string;
}

/** One adapter's choices for one kernel version. */
export interface TuneCacheEntry {
  adapter: AdapterKey;
  kernelVersion: string;
  /** ISO date of the last tuning. */
  tunedAt: string;
  choices: TunedChoice[];
}

/** A cache file. */
export interface TuneCacheFile {
  format: typeof TUNE_CACHE_FORMAT;
  version: number;
  entries: TuneCacheEntry[];
}

const key = (site: string, shape: string) => `${site} ${shape}`;

/** Picks by site and shape. */
export class TuneTable {
  private readonly picks = new Map<string, TunedChoice>();

  constructor(choices: Iterable<TunedChoice> = []) {
    for (const c of choices) this.set(c);
  }

  /** Add or replace a site and shape's choice. */
  set(c: TunedChoice): void {
    this.picks.set(key(c.site, c.shape), c);
  }

  /** The pick for a site and shape, if tuned. */
  get(site: KernelSite, shape: string): string | undefined {
    return this.picks.get(key(site, shape))?.pick;
  }

  get size(): number {
    return this.picks.size;
  }

  /** Every choice, in the order they were added. */
  choices(): TunedChoice[] {
    return [...this.picks.values()];
  }
}

/**
 * A chooser that serves `table`: its pick where the site and shape were tuned and the pick is one of the
 * call's candidates, else `fallback`'s (by default the heuristic's).
 */
export function tableChooser(table: TuneTable, fallback?: KernelChooser): KernelChooser {
  return <T>(rt: GpuRuntime, choice: { site: KernelSite; shape: string; candidates: readonly T[]; heuristic: T }): T | undefined => {
    const pick = table.get(choice.site, choice.shape);
    if (pick !== undefined) {
      const c = choice.candidates.find((x) => String(x) === pick);
      if (c !== undefined) return c;
    }
    return fallback ? fallback(rt, choice) : undefined;
  };
}

/** Route a runtime's kernel choices through `table` (untuned shapes keep the heuristic). Returns a restore function. */
export function useTuneTable(rt: GpuRuntime, table: TuneTable): () => void {
  return setKernelChooser(rt, tableChooser(table));
}

/** A cache read for one runtime: its table (empty when unusable), the whole file (to merge into), and at most one warning. */
export interface LoadedTuneCache {
  table: TuneTable;
  /** The parsed file when its format is readable (other adapters' entries are kept on a write), else null. */
  file: TuneCacheFile | null;
  /** One line saying why nothing was used (corrupt, another format version, another adapter, stale kernels). */
  warning: string | null;
}

/**
 * Parse a cache's text for a runtime. Never throws: a corrupt file, another format version, an entry for
 * another adapter only, or choices made for other kernels give an empty table and one warning line.
 */
export function readTuneCache(text: string, rt: Pick<GpuRuntime, 'adapter'>, source: string): LoadedTuneCache {
  const ignored = (why: string, file: TuneCacheFile | null = null): LoadedTuneCache => ({ table: new TuneTable(), file, warning: `warning: tune cache ${source}: ${why}; ignored (kernel choices use the heuristics)` });
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return ignored(`not valid JSON (${(e as Error).message})`);
  }
  const d = data as Partial<TuneCacheFile> | null;
  if (!d || typeof d !== 'object' || d.format !== TUNE_CACHE_FORMAT) return ignored(`not a tune cache (no "format": "${TUNE_CACHE_FORMAT}")`);
  if (d.version !== TUNE_CACHE_VERSION) return ignored(`written in format version ${JSON.stringify(d.version)}; this build reads version ${TUNE_CACHE_VERSION}`);
  const bad = badEntries(d.entries);
  if (bad) return ignored(`corrupt: ${bad}`);
  const file = d as TuneCacheFile;
  const here = adapterKey(rt);
  const mine = file.entries.filter((e) => sameAdapter(e.adapter, here));
  if (!mine.length) {
    const others = file.entries.map((e) => adapterLabel(e.adapter));
    return ignored(`tuned on another adapter (${others.length ? [...new Set(others)].join('; ') : 'no entries'}), not on ${adapterLabel(here)} (${here.description})`, file);
  }
  const current = mine.find((e) => e.kernelVersion === kernelVersion());
  if (!current) return ignored(`stale: tuned for kernel version ${mine.map((e) => e.kernelVersion).join(', ')}, these kernels are ${kernelVersion()}; tune again`, file);
  return { table: new TuneTable(current.choices), file, warning: null };
}

/** Why a file's entries are malformed, or null when they are well formed. */
function badEntries(entries: unknown): string | null {
  if (!Array.isArray(entries)) return '"entries" is not a list';
  const str = (v: unknown) => typeof v === 'string';
  for (const [i, e] of entries.entries()) {
    const a = e?.adapter;
    if (!a || !['vendor', 'architecture', 'device', 'description'].every((k) => str(a[k])) || !Array.isArray(a.features) || !a.features.every(str)) return `entry ${i} has no well-formed "adapter"`;
    if (!str(e.kernelVersion) || !Array.isArray(e.choices)) return `entry ${i} has no "kernelVersion" or "choices"`;
    for (const c of e.choices as unknown[]) {
      const t = c as Partial<TunedChoice> | null;
      if (!t || !str(t.site) || !str(t.shape) || !str(t.pick) || !str(t.heuristic)) return `entry ${i} has a malformed choice ${JSON.stringify(c)}`;
    }
  }
  return null;
}

/**
 * The file after a tuning: `previous`'s entries for other adapters kept, this adapter's entries for other
 * kernel versions dropped, and this adapter's current entry updated with `choices` (same site and shape replaced).
 */
export function mergeTuneCache(previous: TuneCacheFile | null, rt: Pick<GpuRuntime, 'adapter'>, choices: readonly TunedChoice[], tunedAt = new Date().toISOString()): TuneCacheFile {
  const here = adapterKey(rt);
  const others = (previous?.entries ?? []).filter((e) => !sameAdapter(e.adapter, here));
  const old = (previous?.entries ?? []).find((e) => sameAdapter(e.adapter, here) && e.kernelVersion === kernelVersion());
  const table = new TuneTable(old?.choices ?? []);
  for (const c of choices) table.set(c);
  return { format: TUNE_CACHE_FORMAT, version: TUNE_CACHE_VERSION, entries: [...others, { adapter: here, kernelVersion: kernelVersion(), tunedAt, choices: table.choices() }] };
}

/** The file's text (stable key order, one choice per line group). */
export function tuneCacheText(file: TuneCacheFile): string {
  return `${JSON.stringify(file, null, 1)}\n`;
}
