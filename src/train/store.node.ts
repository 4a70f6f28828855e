/**
 * The Node output store: files in a folder, each replaced atomically (write a temporary file, fsync, rename).
 *
 * Before a run starts, the CLI makes sure the folder can hold it (`prepare`: a probe write, a free-space
 * check), takes a lock so that two runs cannot write into one folder (`lock`, with stale locks after a
 * kill -9 taken over), and removes partial temporary files a killed run left (`removeTemporaries`). Every
 * file-system failure becomes an OutputError naming the path, the cause and what to do.
 *
 * All file-system calls go through an FsLayer, so that tests can inject the failures (a read-only or
 * full disk, permission denied) that cannot be provoked portably, e.g. as root.
 */
import * as fsp from 'node:fs/promises';
import { readFileSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { OutputError, type OutputStore } from './io';
import { outputFolder, phrase } from '../wording';
import { supervisorPid } from '../gpu/supervise.node';

export interface FileHandleLike {
  writeFile(data: Uint8Array | string): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** The file-system calls the store makes (node:fs/promises by default). */
export interface FsLayer {
  /** Non-recursive: the store creates missing parents itself, since a recursive mkdir reports EROFS as ENOENT. */
  mkdir(path: string): Promise<unknown>;
  open(path: string, flags: 'w' | 'wx'): Promise<FileHandleLike>;
  readFile(path: string): Promise<Uint8Array>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  stat(path: string): Promise<{ isDirectory(): boolean; size: number; mtimeMs: number }>;
  readdir(path: string): Promise<string[]>;
  statfs(path: string): Promise<{ bavail: number; bsize: number; blocks: number }>;
}

export const nodeFs: FsLayer = {
  mkdir: (p) => fsp.mkdir(p),
  open: (p, flags) => fsp.open(p, flags),
  readFile: async (p) => new Uint8Array(await fsp.readFile(p)),
  rename: (a, b) => fsp.rename(a, b),
  unlink: (p) => fsp.unlink(p),
  stat: (p) => fsp.stat(p),
  readdir: (p) => fsp.readdir(p),
  statfs: (p) => fsp.statfs(p),
};

/** The files a training run writes into its folder (a previous run is recognised by any of them). */
export const RUN_FILES = ['checkpoint.safetensors', 'best.safetensors', 'metrics.csv', 'steps.csv', 'summary.json', 'loss.svg', 'accuracy.svg', 'curves.png', 'confusion.png', 'report.html'];

export const LOCK_FILE = 'train.lock';

/** A temporary file of an atomic write: "<name>.tmp-<pid>" (also convert.js's), or the probe "<.write-test-<pid>". */
export const TEMP_PATTERN = /^(?:.+\.tmp|\.write-test)-(\d+)$/;

const REASONS: Record<string, [string, string]> = {
  ENOSPC: ['the disk is full', 'free some space, or choose a folder on another disk'],
  EDQUOT: ['the disk quota is used up', 'free some space, or choose a folder on another disk'],
  EROFS: ['the file system is read-only', 'choose a folder on a writable disk'],
  EACCES: ['permission denied', 'choose a folder you can write to, or change its permissions'],
  EPERM: ['operation not permitted', 'choose a folder you can write to, or change its permissions'],
  ENOTDIR: ['a part of the path is a file, not a folder', 'check the path'],
  EISDIR: ['it is a folder', 'give a file name'],
  ENOENT: ['a folder on the path does not exist', 'check the path'],
  EIO: ['an input/output error from the disk', 'check the disk'],
};

export function errorCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

/** "cannot write runs/x/a.bin: the disk is full (ENOSPC); free some space, or choose a folder on another disk" */
export function describeFsError(action: string, e: unknown, hint?: string): string {
  const code = errorCode(e);
  const known = code ? REASONS[code] : undefined;
  if (!known) return `${action}: ${(e as Error).message ?? String(e)}`;
  return `${action}: ${known[0]} (${code}); ${hint ?? known[1]}`;
}

function mb(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GB` : `${(bytes / 2 ** 20).toFixed(1)} MB`;
}

/**
 * Whether the worker of a lock whose supervisor is dead still runs after a grace period: a supervised worker kills
 * itself when its supervisor dies (gpu/supervise.node.ts), which may take a moment after a kill -9.
 */
async function workerOutlives(owner: LockInfo): Promise<boolean> {
  if (typeof owner.worker !== 'number') return false;
  for (let i = 0; i < 30 && pidAlive(owner.worker); i++) await new Promise((r) => setTimeout(r, 100));
  return pidAlive(owner.worker);
}

/** Whether process `pid` runs on this machine (EPERM: it runs, as another user). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errorCode(e) === 'EPERM';
  }
}

/**
 * Create `dir` and its missing parents one by one, so that each failure has its true cause (Node's
 * recursive mkdir reports a read-only file system as ENOENT). Throws OutputError; `label` names the folder
 * in messages ("--out runs/x" for the CLI, "the output folder runs/x" otherwise).
 */
export async function makeFolder(fs: FsLayer, dir: string, label: string): Promise<void> {
  const missing: string[] = [];
  let p = resolve(dir);
  for (;;) {
    let isDir: boolean;
    try {
      isDir = (await fs.stat(p)).isDirectory();
    } catch (e) {
      // ENOTDIR: a parent is a file, found (and named) further up.
      if (errorCode(e) !== 'ENOENT' && errorCode(e) !== 'ENOTDIR') throw new OutputError(describeFsError(`cannot use ${label}`, e));
      missing.push(p);
      const parent = dirname(p);
      if (parent === p) break;
      p = parent;
      continue;
    }
    if (!isDir) {
      throw new OutputError(p === resolve(dir) ? `${label} is a file, not a folder: choose a folder (a new one is created)` : `cannot create ${label}: ${p} is a file, not a folder`);
    }
    break;
  }
  for (const m of missing.reverse()) {
    try {
      await fs.mkdir(m);
    } catch (e) {
      if (errorCode(e) !== 'EEXIST') throw new OutputError(describeFsError(`cannot create ${label} (at ${m})`, e));
    }
  }
}

/**
 * Write `data` to `path` atomically through `<path>.tmp-<pid>`; on any failure the temporary file is
 * removed and an OutputError names the path and the cause. `inflight` tracks the temporary files being
 * written, for removal at exit.
 */
export async function writeAtomic(fs: FsLayer, path: string, data: Uint8Array | string, inflight?: Set<string>): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  inflight?.add(tmp);
  let fh: FileHandleLike | null = null;
  try {
    fh = await fs.open(tmp, 'w');
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    fh = null;
    await fs.rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await fs.unlink(tmp).catch(() => undefined);
    throw new OutputError(describeFsError(`cannot write ${path}`, e), { cause: e });
  } finally {
    inflight?.delete(tmp);
  }
}

/** Remove the temporary files ("X.tmp-PID") of processes that no longer run; returns what was removed, for a note. */
export async function removeDeadTemporaries(fs: FsLayer, dir: string, keep: (name: string) => boolean = () => false, anyPid = false): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_PATTERN.exec(name);
    if (!m || keep(name)) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || (!anyPid && pidAlive(pid))) continue;
    const path = join(dir, name);
    const size = await fs.stat(path).then((s) => s.size, () => 0);
    try {
      await fs.unlink(path);
      removed.push(`${name} (${mb(size)})`);
    } catch {
      // another process removed it, or it cannot be removed: nothing to report
    }
  }
  return removed;
}

interface LockInfo {
  pid: number;
  /** The process that writes, when `pid` is its supervisor. */
  worker?: number;
  host: string;
  started: string;
}

export class FolderStore implements OutputStore {
  /** Temporary files being written now (removed by releaseSync at exit). */
  private readonly inflight = new Set<string>();
  private locked = false;

  constructor(
    readonly dir: string,
    readonly fs: FsLayer = nodeFs,
    /** How messages name the folder. */
    readonly label = outputFolder(dir),
  ) {}

  async write(name: string, data: Uint8Array | string): Promise<void> {
    await makeFolder(this.fs, this.dir, this.label);
    await writeAtomic(this.fs, join(this.dir, name), data, this.inflight);
  }

  async read(name: string): Promise<Uint8Array | null> {
    try {
      return await this.fs.readFile(join(this.dir, name));
    } catch (e) {
      if (errorCode(e) === 'ENOENT') return null;
      throw new OutputError(describeFsError(`cannot read ${join(this.dir, name)}`, e));
    }
  }

  describe(name: string): string {
    return join(this.dir, name);
  }

  /**
   * Before any GPU work: create the folder and write, fsync and remove a probe file, so that a file in the
   * way, a read-only or full disk or a missing permission is reported now, not after the first epoch.
   * With `bytesNeeded`, also refuse when the disk has less free space than that.
   */
  async prepare(bytesNeeded = 0): Promise<void> {
    await makeFolder(this.fs, this.dir, this.label);
    const probe = join(this.dir, `.write-test-${process.pid}`);
    try {
      await writeAtomic(this.fs, probe, new Uint8Array(64 * 1024), this.inflight);
    } catch (e) {
      throw new OutputError(describeFsError(`cannot write into ${this.label}`, (e as Error).cause ?? e));
    } finally {
      await this.fs.unlink(probe).catch(() => undefined);
    }
    if (bytesNeeded > 0) await this.checkSpace(bytesNeeded);
  }

  /** Refuse when the folder's disk has less than `bytes` free (skipped where statfs is not available). */
  async checkSpace(bytes: number): Promise<void> {
    let s: { bavail: number; bsize: number; blocks: number };
    try {
      s = await this.fs.statfs(this.dir);
    } catch {
      return;
    }
    const free = Number(s.bavail) * Number(s.bsize);
    if (Number(s.blocks) > 0 && free < bytes) {
      throw new OutputError(`${this.label}: only ${mb(free)} free on its disk, and this run needs about ${mb(bytes)} (checkpoint, best weights and their temporary copies); free some space, or choose a folder on another disk`);
    }
  }

  /** The files of an earlier run in the folder. */
  async runFiles(): Promise<string[]> {
    let names: string[];
    try {
      names = await this.fs.readdir(this.dir);
    } catch {
      return [];
    }
    return RUN_FILES.filter((f) => names.includes(f));
  }

  /** Remove an earlier run's files (the CLI's --overwrite); only the files a run writes, nothing else in the folder. */
  async removeRunFiles(): Promise<string[]> {
    const removed: string[] = [];
    for (const f of await this.runFiles()) {
      try {
        await this.fs.unlink(join(this.dir, f));
        removed.push(f);
      } catch (e) {
        throw new OutputError(describeFsError(`cannot remove ${join(this.dir, f)} (${phrase('removingRunFiles')})`, e));
      }
    }
    return removed;
  }

  /** Remove partial temporary files left by a killed run. Call with the lock held (no live writer then). */
  async removeTemporaries(): Promise<string[]> {
    return removeDeadTemporaries(this.fs, this.dir, () => false, this.locked);
  }

  /**
   * Take the folder's lock file (train.lock, holding pid, host and start time). A lock of a process that
   * no longer runs on this machine (a kill -9) is taken over, and the returned note says so. A live
   * lock, or one from another machine, is an OutputError naming its owner.
   */
  async lock(): Promise<string | null> {
    await makeFolder(this.fs, this.dir, this.label);
    const path = join(this.dir, LOCK_FILE);
    // Under the CLI's supervisor (gpu/supervise.node.ts) the lock names the supervisor, the process the user
    // sees and may kill, and this process as `worker`.
    const sup = supervisorPid();
    const mine: LockInfo = { pid: sup ?? process.pid, ...(sup ? { worker: process.pid } : {}), host: hostname(), started: new Date().toISOString() };
    let note: string | null = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fh = await this.fs.open(path, 'wx');
        try {
          await fh.writeFile(JSON.stringify(mine) + '\n');
        } finally {
          await fh.close();
        }
        this.locked = true;
        return note;
      } catch (e) {
        if (errorCode(e) !== 'EEXIST') throw new OutputError(describeFsError(`cannot create the lock file ${path}`, e));
      }
      let text = '';
      let age = 0;
      try {
        text = new TextDecoder().decode(await this.fs.readFile(path));
        age = Date.now() - (await this.fs.stat(path)).mtimeMs;
      } catch (e) {
        if (errorCode(e) === 'ENOENT') continue; // released meanwhile: try again
        throw new OutputError(describeFsError(`cannot read the lock file ${path}`, e));
      }
      let owner: LockInfo | null = null;
      try {
        owner = JSON.parse(text) as LockInfo;
      } catch {
        owner = null;
      }
      const remove = `If no run is writing there, delete ${path}.`;
      if (!owner || typeof owner.pid !== 'number') {
        // Being written right now by another run, or garbage: only an old one is taken over.
        if (age < 10_000) throw new OutputError(`${this.label} is being used by another training run (its lock file ${path} was just created); wait for it, or ${phrase('otherOutputFolder')}. ${remove}`);
        note = `note: ${path} was unreadable; taking it over`;
      } else if (owner.host !== hostname()) {
        throw new OutputError(`${this.label} is locked by a training run on another machine (${owner.host}, process ${owner.pid}, started ${owner.started}); wait for it, or ${phrase('otherOutputFolder')}. ${remove}`);
      } else if (owner.pid === mine.pid || pidAlive(owner.pid) || (await workerOutlives(owner))) {
        throw new OutputError(`${this.label} is being written by another training run (process ${owner.pid}, started ${owner.started}): two runs in one folder would overwrite each other's files. Wait for it to finish, or ${phrase('otherOutputFolder')}. ${remove}`);
      } else {
        note = `note: ${path} was left by process ${owner.pid} (started ${owner.started}), which no longer runs (killed?); taking over the folder`;
      }
      // Take over only the lock that was judged stale: re-read it right before removing it.
      const again = await this.fs.readFile(path).then((b) => new TextDecoder().decode(b), () => null);
      if (again === text) await this.fs.unlink(path).catch(() => undefined);
    }
    throw new OutputError(`${this.label}: could not take its lock file ${join(this.dir, LOCK_FILE)} (another run keeps taking it); ${phrase('otherOutputFolder')}`);
  }

  /** Release the lock (normal end). */
  async unlock(): Promise<void> {
    if (!this.locked) return;
    this.locked = false;
    await this.fs.unlink(join(this.dir, LOCK_FILE)).catch(() => undefined);
  }

  /**
   * At process exit (also after process.exit on a second Ctrl-C): remove the temporary files being written
   * and our lock. Synchronous, on the real file system, as an 'exit' handler must be.
   */
  releaseSync(): void {
    for (const tmp of this.inflight) {
      try {
        unlinkSync(tmp);
      } catch {
        // already gone
      }
    }
    this.inflight.clear();
    if (!this.locked) return;
    const path = join(this.dir, LOCK_FILE);
    try {
      if ((JSON.parse(readFileSync(path, 'utf8')) as LockInfo).pid === (supervisorPid() ?? process.pid)) unlinkSync(path);
    } catch {
      // already gone
    }
    this.locked = false;
  }
}
