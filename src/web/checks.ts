/**
 * Checks the page makes before (and the worker again at the start of) a run, so that problems are named
 * early and in the page's own words: which image formats a browser decodes, a picked folder's identity
 * (so that a saved run is only resumed for the same data), whether every split still holds a decodable
 * image, whether a weights file is what its name says, and the CLI's wording turned into the page's.
 */
import { DataError } from '../train/data/errors';
import { IMAGE_EXTENSIONS, loadImageFolder, type ImageFolderDataset } from '../train/data/folder';
import { FileTree, type PickedFile } from '../train/data/files.browser';
import type { DecodeFn } from '../train/data/decoder-pool';
import { SPLIT_NAMES, type Splits } from '../train/data/split';
import type { DataIdentity } from './protocol';

/** TIFF is read by the CLI (sharp) but no browser decodes it: a picked folder lists only the rest. */
export const UNDECODABLE_IN_BROWSER: readonly string[] = ['.tif', '.tiff'];
export const BROWSER_IMAGE_EXTENSIONS: readonly string[] = IMAGE_EXTENSIONS.filter((e) => !UNDECODABLE_IN_BROWSER.includes(e));

function extension(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot).toLowerCase() : '';
}

/** How many of the files are TIFF images (left out in a browser). */
export function countTiff(files: readonly PickedFile[]): number {
  return files.filter((f) => UNDECODABLE_IN_BROWSER.includes(extension(f.path))).length;
}

/** The sentence added to a folder's messages when TIFF files were left out. */
export function tiffNote(n: number): string {
  return n === 0
    ? ''
    : `${n} TIFF file${n === 1 ? ' was' : 's were'} left out: browsers cannot decode TIFF. Convert ${n === 1 ? 'it' : 'them'} to PNG or JPEG, or train with the command line (it reads TIFF).`;
}

/** A hex SHA-256 of `text` (FNV-1a where SubtleCrypto is missing, e.g. outside a secure context). */
export async function hashText(text: string): Promise<string> {
  const bytes = new TextEncoder().encode(text);
  if (globalThis.crypto?.subtle) {
    const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
  }
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return `fnv-${h.toString(16)}-${bytes.length}`;
}

/** The identity of a dataset read from picked files: its name, classes, image count and a hash of the images' paths and sizes. */
export async function folderIdentity(dataset: ImageFolderDataset, tree: FileTree): Promise<DataIdentity> {
  const paths = SPLIT_NAMES.flatMap((s) => dataset[s].map((x) => x.path)).sort();
  const lines = paths.map((p) => `${p}\t${tree.file(p)?.size ?? -1}`);
  return { root: dataset.root, classes: [...dataset.classes], images: paths.length, fingerprint: await hashText(`${dataset.classes.join('\n')}\n\n${lines.join('\n')}`) };
}

/** Scan picked files as the worker will (browser-decodable extensions only); throws a DataError that names the problem. */
export async function scanPicked(root: string, files: readonly PickedFile[]): Promise<{ tree: FileTree; dataset: ImageFolderDataset; tiff: number }> {
  const tiff = countTiff(files);
  if (files.length === 0) throw new DataError(`the folder "${root}" is empty: it holds no files. Choose the folder that holds the class folders (or train/, val/ and test/).`);
  const tree = new FileTree(files);
  try {
    const dataset = await loadImageFolder(tree, root, { extensions: BROWSER_IMAGE_EXTENSIONS });
    return { tree, dataset, tiff };
  } catch (e) {
    if (e instanceof DataError && tiff > 0) throw new DataError(`${e.message}\n${tiffNote(tiff)}`);
    throw e;
  }
}

/**
 * Every split must keep at least one image this browser decodes: a split with none would "train" and
 * "test" on nothing. Decodes each split's images in order until one succeeds (normally the first).
 */
export async function checkDecodable(root: string, splits: Splits, decode: DecodeFn): Promise<void> {
  for (const split of SPLIT_NAMES) {
    const errors: string[] = [];
    let ok = splits[split].length === 0; // an empty split was allowed by the folder scan (e.g. a 0 fraction)
    for (const sample of splits[split]) {
      try {
        await decode(sample.path);
        ok = true;
        break;
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    if (!ok) {
      throw new DataError(
        `none of the ${splits[split].length} ${split} images of "${root}" can be decoded by this browser, so there is nothing to ${split === 'train' ? 'train on' : split === 'val' ? 'validate on' : 'test on'}. ` +
          `First problem: ${errors[0]}. Replace the broken files (or convert them to PNG or JPEG) and pick the folder again.`,
      );
    }
  }
}

/** Why `head` (the first bytes of a weights file named `name`) cannot be what the name says, or null; the caller prefixes "NAME: ". */
export function weightsProblem(name: string, head: Uint8Array, size: number): string | null {
  const ext = extension(name);
  if (size === 0) return `the weights file is empty (0 bytes): download or save it again.`;
  const zip = head[0] === 0x50 && head[1] === 0x4b; // "PK": torch.save writes a zip archive
  const legacy = head[0] === 0x80 && head[1] === 0x02; // pickle protocol 2: torch.save's legacy format
  if (ext === '.pth' || ext === '.pt') {
    if (!zip && !legacy) return `not a PyTorch .pth file: torch.save writes a zip archive, and this file does not start like one. It is corrupt, truncated or of another format; download it again (torchvision's resnet*.pth files).`;
    return null;
  }
  if (ext === '.safetensors') {
    if (zip) return `named .safetensors but is a zip archive (a PyTorch .pth file?): rename it to .pth, or convert it with the command line's convert tool.`;
    if (size < 8) return `too short to be a safetensors file (${size} bytes): download or save it again.`;
    return null;
  }
  return `neither a .pth nor a .safetensors file: choose torchvision's ImageNet weights (.pth) or a .safetensors file.`;
}

/** Why a saved run's data differs from the chosen data (null when they are the same). */
export function identityMismatch(saved: DataIdentity | undefined, current: DataIdentity): string | null {
  if (!saved) return `the saved run of "${current.root}" was saved by an older version of this page, which did not record its files, so it cannot be checked against this folder`;
  if (saved.fingerprint === current.fingerprint) return null;
  const what = (d: DataIdentity) => `${d.images} images in ${d.classes.length} classes (${d.classes.join(', ')})`;
  const same = what(saved) === what(current);
  return `the saved run of "${saved.root}" was trained on other files (${what(saved)}) than the chosen folder "${current.root}" (${same ? 'the same counts, but other files or sizes' : what(current)})`;
}
