/**
 * The tune cache in the browser: the same JSON as Node's file (kernels/tune/cache.ts), kept in IndexedDB
 * (database 'webgpu-resnet-tune', one record). The training worker loads it when it creates its runtime;
 * a corrupt or stale record, or one from another adapter, is ignored with one warning line.
 */
import type { GpuRuntime } from '../gpu/runtime';
import { type TuneCacheFile, type TunedChoice, TuneTable, mergeTuneCache, readTuneCache, tuneCacheText, useTuneTable } from '../kernels/tune/cache';

const DB_NAME = 'webgpu-resnet-tune';
const STORE = 'cache';
const KEY = 'tune.json';
/** How the messages name this cache. */
export const TUNE_CACHE_SOURCE = 'in browser storage (IndexedDB)';

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    if (typeof indexedDB === 'undefined') return reject(new Error('IndexedDB is not available'));
    const r = indexedDB.open(DB_NAME, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.onblocked = () => reject(new Error('IndexedDB is blocked by another tab'));
  });
}

async function withStore<T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await openDb();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const r = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(r.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
    });
  } finally {
    db.close();
  }
}

/**
 * Load the cache and route the runtime's kernel choices through it. Logs "kernel choices: N tuned …" when it
 * holds choices for this adapter, one warning line when it is unusable (or storage is unavailable), nothing
 * when there is none. Returns the table and the parsed cache (to merge a later tuning into).
 */
export async function loadTuneCacheIdb(rt: GpuRuntime, log: (line: string) => void): Promise<{ table: TuneTable; file: TuneCacheFile | null }> {
  let text: unknown;
  try {
    text = await withStore('readonly', (s) => s.get(KEY));
  } catch (e) {
    log(`warning: tune cache ${TUNE_CACHE_SOURCE}: cannot be read (${(e as Error)?.message ?? e}); ignored (kernel choices use the heuristics)`);
    return { table: new TuneTable(), file: null };
  }
  if (text === undefined) return { table: new TuneTable(), file: null };
  const r = readTuneCache(typeof text === 'string' ? text : '', rt, TUNE_CACHE_SOURCE);
  if (r.warning) log(r.warning);
  if (r.table.size) {
    useTuneTable(rt, r.table);
    log(`kernel choices: ${r.table.size} tuned ${TUNE_CACHE_SOURCE}`);
  }
  return { table: r.table, file: r.file };
}

/** Merge newly tuned choices into the stored cache (one transaction: atomic). */
export async function saveTuneCacheIdb(rt: GpuRuntime, previous: TuneCacheFile | null, choices: readonly TunedChoice[]): Promise<TuneCacheFile> {
  const file = mergeTuneCache(previous, rt, choices);
  await withStore('readwrite', (s) => s.put(tuneCacheText(file), KEY));
  return file;
}
