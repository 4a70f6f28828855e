/** The Node output store: files in a folder, each replaced atomically (write a temporary file, fsync, rename). */
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutputStore } from './io';

export class FolderStore implements OutputStore {
  constructor(readonly dir: string) {}

  async write(name: string, data: Uint8Array | string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, name);
    const tmp = `${path}.tmp-${process.pid}`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } catch (e) {
      await fh.close();
      await unlink(tmp).catch(() => undefined);
      throw new Error(`could not write ${path}: ${(e as Error).message}`);
    }
    await fh.close();
    await rename(tmp, path);
  }

  async read(name: string): Promise<Uint8Array | null> {
    try {
      return new Uint8Array(await readFile(join(this.dir, name)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  describe(name: string): string {
    return join(this.dir, name);
  }
}
