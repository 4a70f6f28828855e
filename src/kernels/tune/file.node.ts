/**
 * The tune cache as a file in Node: $WEBGPU_RESNET_TUNE_CACHE, else $XDG_CACHE_HOME/webgpu-resnet/tune.json,
 * else ~/.cache/webgpu-resnet/tune.json. Reads never throw (see readTuneCache); writes are atomic (a temporary
 * file beside it, then a rename).
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { GpuRuntime } from '../../gpu/runtime';
import { type LoadedTuneCache, type TuneCacheFile, TuneTable, readTuneCache, tuneCacheText } from './cache';

/** The environment variable that names the cache file. */
export const TUNE_CACHE_ENV = 'WEBGPU_RESNET_TUNE_CACHE';

/** Where the cache file is kept unless a path is given. */
export function defaultTuneCachePath(env: Record<string, string | undefined> = process.env): string {
  if (env[TUNE_CACHE_ENV]) return env[TUNE_CACHE_ENV]!;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'webgpu-resnet', 'tune.json');
}

/** A cache file read for a runtime; `missing` when there is no file (no warning then). */
export async function loadTuneCacheFile(path: string, rt: Pick<GpuRuntime, 'adapter'>): Promise<LoadedTuneCache & { missing: boolean }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    return { table: new TuneTable(), file: null, missing, warning: missing ? null : `warning: tune cache ${path}: cannot be read (${(e as Error).message}); ignored (kernel choices use the heuristics)` };
  }
  return { ...readTuneCache(text, rt, path), missing: false };
}

/** Write a cache file atomically (its folder is created). */
export async function saveTuneCacheFile(path: string, file: TuneCacheFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, tuneCacheText(file));
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
