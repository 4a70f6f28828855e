/**
 * Getting a dataset folder from the user: `showDirectoryPicker` where the browser has it, an
 * `<input type=file webkitdirectory>` otherwise, or a folder dropped on the page. Each gives the
 * folder's files with their paths relative to the folder's parent ("flowers/train/rose/1.jpg").
 */
import type { PickedFile } from '../train/data/files.browser';

export interface PickedFolder {
  /** The folder's name: the first segment of every path. */
  root: string;
  files: PickedFile[];
}

// The File System Access API is not in TypeScript's DOM lib: the parts used here.
interface DirHandle {
  kind: 'directory';
  name: string;
  values(): AsyncIterable<DirHandle | FileHandle>;
}
interface FileHandle {
  kind: 'file';
  name: string;
  getFile(): Promise<File>;
}
type PickerWindow = Window & { showDirectoryPicker?: (options?: { mode?: 'read' }) => Promise<DirHandle> };

export function hasDirectoryPicker(): boolean {
  return typeof (window as PickerWindow).showDirectoryPicker === 'function';
}

/** Ask with showDirectoryPicker; null when the user cancels. */
export async function pickWithDirectoryPicker(): Promise<PickedFolder | null> {
  let dir: DirHandle;
  try {
    dir = await (window as PickerWindow).showDirectoryPicker!({ mode: 'read' });
  } catch (e) {
    if ((e as Error).name === 'AbortError') return null;
    throw e;
  }
  const files: PickedFile[] = [];
  const walk = async (handle: DirHandle, path: string): Promise<void> => {
    for await (const entry of handle.values()) {
      const p = `${path}/${entry.name}`;
      if (entry.kind === 'directory') await walk(entry, p);
      else files.push({ path: p, file: await entry.getFile() });
    }
  };
  await walk(dir, dir.name);
  return { root: dir.name, files };
}

/** The files of an `<input webkitdirectory>` (null when none were chosen). */
export function pickedFromInput(list: FileList | null): PickedFolder | null {
  if (!list || list.length === 0) return null;
  const files = [...list].map((file) => ({ path: file.webkitRelativePath || file.name, file }));
  return { root: files[0].path.split('/')[0], files };
}

/** A folder dropped on the page. Several dropped folders become the classes of a folder named "dropped". */
export async function pickedFromDrop(dt: DataTransfer): Promise<PickedFolder | null> {
  const entries = [...dt.items].map((item) => item.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e !== null);
  if (entries.length === 0) return null;
  const files: PickedFile[] = [];
  const single = entries.length === 1 && entries[0].isDirectory;
  const root = single ? entries[0].name : 'dropped';
  for (const e of entries) await walkEntry(e, single ? e.name : `${root}/${e.name}`, files);
  return { root, files };
}

async function walkEntry(entry: FileSystemEntry, path: string, out: PickedFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ path, file });
    return;
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  // readEntries returns the folder in batches; an empty batch ends it.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    for (const child of batch) await walkEntry(child, `${path}/${child.name}`, out);
  }
}
