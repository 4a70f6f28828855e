/** Helpers shared by test/outsafe.test.ts (in-process) and test/dist/outsafe_cli.test.ts (the CLI). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findNonFinite } from '../../src/nn/finite';
import { readSafetensors } from '../../src/nn/weights/safetensors';

/** A pid that certainly does not run: a child that has exited. */
export function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

/** Whether tmpfs can be mounted here (root, where the container allows it): probed once, mounting nothing lasting. */
export const canMount = (() => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const dir = mkdtempSync(join(tmpdir(), 'outsafe-mnt-'));
  const ok = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' }).status === 0;
  if (ok) spawnSync('umount', [dir], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
  return ok;
})();

/** Run `body` with a tmpfs mounted (options e.g. 'size=256k' or 'size=1m,ro'), always unmounted and removed after. */
export async function withTmpfs<T>(options: string, body: (dir: string) => T | Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'outsafe-mnt-'));
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'ignore' }).status !== 0) throw new Error(`cannot mount a tmpfs on ${dir}`);
  try {
    return await body(dir);
  } finally {
    spawnSync('umount', [dir], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether every tensor of a safetensors file is finite. */
export function allFinite(bytes: Uint8Array): boolean {
  return findNonFinite(readSafetensors(bytes, 'file')).length === 0;
}
