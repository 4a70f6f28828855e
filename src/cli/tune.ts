/**
 * The tune cache in the CLIs (train, predict, bench): loaded at start unless --no-tune-cache, from
 * --tune-cache FILE or the user's cache folder (kernels/tune/file.node.ts), and written back after tuning.
 */
import type { GpuRuntime } from '../gpu/runtime';
import { type TuneCacheFile, type TunedChoice, TuneTable, mergeTuneCache, useTuneTable } from '../kernels/tune/cache';
import { defaultTuneCachePath, loadTuneCacheFile, saveTuneCacheFile } from '../kernels/tune/file.node';

/** The CLIs' help lines for the tune-cache flags. */
export const TUNE_CACHE_USAGE = `  --tune-cache FILE     kernel choices tuned by bench.js --tune (default: $WEBGPU_RESNET_TUNE_CACHE, else
                        $XDG_CACHE_HOME or ~/.cache, /webgpu-resnet/tune.json)
  --no-tune-cache       use the heuristic kernel choices (no cache is read or written)`;

/** The tune-cache flags as parsed. */
export interface TuneCacheFlags {
  /** --tune-cache FILE (null: the default path). */
  file: string | null;
  /** --no-tune-cache. */
  disabled: boolean;
}

/** Check the pair of flags; returns the message of a usage error, or null. */
export function tuneCacheFlagError(f: TuneCacheFlags): string | null {
  return f.disabled && f.file !== null ? '--tune-cache and --no-tune-cache exclude each other' : null;
}

/** The cache a CLI runs with: where it lives (null with --no-tune-cache), its table, and the parsed file (to merge into). */
export interface CliTuneCache {
  path: string | null;
  table: TuneTable;
  file: TuneCacheFile | null;
}

/**
 * Load the cache and route the runtime's kernel choices through it. Prints "kernel choices: N tuned from FILE"
 * when it holds choices for this adapter, one warning line when it is unusable, and nothing when the default
 * file does not exist. A --tune-cache FILE that does not exist is warned about unless it is about to be written.
 */
export async function loadCliTuneCache(rt: GpuRuntime, flags: TuneCacheFlags, log: (line: string) => void, warn: (line: string) => void, willWrite = false): Promise<CliTuneCache> {
  if (flags.disabled) return { path: null, table: new TuneTable(), file: null };
  const path = flags.file ?? defaultTuneCachePath();
  const loaded = await loadTuneCacheFile(path, rt);
  if (loaded.warning) warn(loaded.warning);
  if (loaded.missing && flags.file !== null && !willWrite) warn(`warning: tune cache ${path} does not exist; kernel choices use the heuristics`);
  if (loaded.table.size) {
    useTuneTable(rt, loaded.table);
    log(`kernel choices: ${loaded.table.size} tuned from ${path}`);
  }
  return { path, table: loaded.table, file: loaded.file };
}

/** After tuning into cache.table: route the choices through it and write the merged file (not with --no-tune-cache). */
export async function saveCliTuneCache(rt: GpuRuntime, cache: CliTuneCache, choices: readonly TunedChoice[], log: (line: string) => void): Promise<void> {
  useTuneTable(rt, cache.table);
  const changed = choices.filter((c) => c.pick !== c.heuristic).length;
  const where = cache.path ? `; wrote ${cache.path}` : ' (--no-tune-cache: not saved)';
  log(`kernel choices: ${choices.length} tuned now, ${changed} differ from the heuristic${where}`);
  if (cache.path) await saveTuneCacheFile(cache.path, (cache.file = mergeTuneCache(cache.file, rt, choices)));
}
