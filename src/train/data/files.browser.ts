/**
 * The browser side of the file seam: a dataset folder the user picked (an `<input webkitdirectory>`,
 * `showDirectoryPicker` or a drop) arrives as a flat list of files with their relative paths
 * ("flowers/train/rose/1.jpg"). `FileTree` rebuilds the folder tree from those paths, so that
 * `loadImageFolder` (folder.ts) walks it exactly as it walks a disk in Node.
 */
import type { DirEntry, FileLister } from './folder';

/** A picked file and its path relative to the picked folder's parent (the first segment is the folder's name). */
export interface PickedFile {
  path: string;
  file: Blob;
}

export class FileTree implements FileLister {
  private readonly dirs = new Map<string, Map<string, DirEntry>>();
  private readonly files = new Map<string, Blob>();

  constructor(picked: Iterable<PickedFile>) {
    for (const { path, file } of picked) this.add(path, file);
  }

  /** The top-level folders (normally one: the folder the user picked). */
  get roots(): string[] {
    return [...(this.dirs.get('')?.values() ?? [])].filter((e) => e.isDir).map((e) => e.name);
  }

  get fileCount(): number {
    return this.files.size;
  }

  private add(path: string, file: Blob): void {
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.length === 0) return;
    let dir = '';
    parts.forEach((name, i) => {
      const isDir = i < parts.length - 1;
      let entries = this.dirs.get(dir);
      if (!entries) this.dirs.set(dir, (entries = new Map()));
      if (!entries.has(name)) entries.set(name, { name, isDir });
      dir = dir ? `${dir}/${name}` : name;
    });
    this.files.set(dir, file);
  }

  async listDir(path: string): Promise<DirEntry[]> {
    const entries = this.dirs.get(normalise(path));
    if (!entries) throw new Error(`no folder "${path}" among the picked files`);
    return [...entries.values()];
  }

  /** The file at `path`, or null. */
  file(path: string): Blob | null {
    return this.files.get(normalise(path)) ?? null;
  }
}

function normalise(path: string): string {
  return path.split('/').filter((p) => p !== '' && p !== '.').join('/');
}
