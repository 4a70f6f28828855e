/**
 * An OutputStore in the browser's IndexedDB, one namespace per run, so that a stopped run (its
 * checkpoint, best weights and reports) survives a page reload and can be resumed. Each write is one
 * IndexedDB transaction, so it is atomic. When IndexedDB is unavailable or full, the files are kept in
 * memory instead (the run then resumes within this page session only) and `onWarning` says so.
 */
import type { OutputStore } from '../train/io';

const DB_NAME = 'webgpu-resnet';
const FILES = 'files';

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    if (typeof indexedDB === 'undefined') return reject(new Error('IndexedDB is not available'));
    const r = indexedDB.open(DB_NAME, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(FILES);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.onblocked = () => reject(new Error('IndexedDB is blocked by another tab'));
  });
}

export class IdbStore implements OutputStore {
  private memory = new Map<string, Uint8Array>();
  private warned = false;

  private constructor(
    private db: IDBDatabase | null,
    readonly run: string,
    private readonly onWarning: (message: string) => void,
  ) {}

  /** The store of run `run`; falls back to memory when IndexedDB cannot be opened. */
  static async open(run: string, onWarning: (message: string) => void = () => {}): Promise<IdbStore> {
    let db: IDBDatabase | null = null;
    try {
      db = await openDb();
    } catch (e) {
      onWarning(`warning: browser storage is unavailable (${(e as Error).message}); outputs are kept in memory for this page session only`);
    }
    return new IdbStore(db, run, onWarning);
  }

  private key(name: string): string {
    return `${this.run}/${name}`;
  }

  private files(mode: IDBTransactionMode): IDBObjectStore {
    return this.db!.transaction(FILES, mode).objectStore(FILES);
  }

  async write(name: string, data: Uint8Array | string): Promise<void> {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data.slice();
    if (this.db) {
      try {
        const tx = this.db.transaction(FILES, 'readwrite');
        tx.objectStore(FILES).put(bytes, this.key(name));
        await new Promise<void>((resolve, reject) => {
          tx.oncomplete = () => resolve();
          tx.onerror = () => reject(tx.error);
          tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
        });
        this.memory.delete(name);
        return;
      } catch (e) {
        if (!this.warned) {
          this.warned = true;
          this.onWarning(`warning: cannot save ${name} in browser storage (${(e as Error)?.message ?? e}); keeping it in memory, so a page reload loses it`);
        }
      }
    }
    this.memory.set(name, bytes);
  }

  async read(name: string): Promise<Uint8Array | null> {
    const m = this.memory.get(name);
    if (m) return m;
    if (!this.db) return null;
    const v = await request(this.files('readonly').get(this.key(name)));
    return v instanceof Uint8Array ? v : v ? new Uint8Array(v as ArrayBuffer) : null;
  }

  /** Whether `name` exists, without reading it. */
  async has(name: string): Promise<boolean> {
    if (this.memory.has(name)) return true;
    if (!this.db) return false;
    return (await request(this.files('readonly').count(this.key(name)))) > 0;
  }

  /** Remove every file of this run. */
  async clear(): Promise<void> {
    this.memory.clear();
    if (!this.db) return;
    await request(this.files('readwrite').delete(IDBKeyRange.bound(`${this.run}/`, `${this.run}/\uffff`)));
  }

  describe(name: string): string {
    return `browser storage ${this.key(name)}`;
  }

  close(): void {
    this.db?.close();
    this.db = null;
  }
}
