/**
 * predict.js's inputs: image paths and folders expanded to a sorted list of image files, and their
 * preprocessing in bounded memory: each image is decoded, transformed into its batch slot and dropped
 * at once, with at most `concurrency` decoded originals alive, one batch at a time.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { compareCodePoints, isHidden, isImageFileName, joinPath, IMAGE_EXTENSIONS } from '../train/data/folder';
import { DataError, ImageDecodeError } from '../train/data/errors';
import type { RGBImage } from '../train/data/image';
import { sampleLength, transformSample, type TransformSpec } from '../train/data/pipeline';

/**
 * Each argument is an image file or a folder; a folder gives every image file under it (hidden entries
 * skipped, symbolic links followed once), sorted by path. Missing paths and folders without images are
 * reported together, before any work.
 */
export async function expandImagePaths(args: readonly string[], warn: (m: string) => void = () => {}): Promise<string[]> {
  const out: string[] = [];
  const missing: string[] = [];
  const empty: string[] = [];
  for (const arg of args) {
    const st = await stat(arg).catch(() => null);
    if (!st) missing.push(arg);
    else if (!st.isDirectory()) out.push(arg);
    else {
      const found: string[] = [];
      await walk(arg, found, new Set([await realpath(arg)]), warn);
      if (found.length === 0) empty.push(arg);
      out.push(...found.sort(compareCodePoints));
    }
  }
  if (missing.length) throw new DataError(`image${missing.length > 1 ? 's' : ''} not found: ${missing.join(', ')}`);
  if (empty.length) throw new DataError(`no image files (${IMAGE_EXTENSIONS.join(', ')}) in folder${empty.length > 1 ? 's' : ''} ${empty.map((d) => `"${d}"`).join(', ')}`);
  return out;
}

async function walk(dir: string, found: string[], seen: Set<string>, warn: (m: string) => void): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new DataError(`cannot list folder "${dir}" (${(e as Error).message.split('\n')[0]})`);
  }
  for (const e of entries) {
    if (isHidden(e.name)) continue;
    const path = joinPath(dir, e.name);
    const isDir = e.isSymbolicLink() ? await stat(path).then((s) => s.isDirectory(), () => false) : e.isDirectory();
    if (isDir) {
      const real = await realpath(path);
      if (seen.has(real)) {
        warn(`warning: skipping "${path}": it leads back to a folder already listed (a symbolic link loop)`);
        continue;
      }
      seen.add(real);
      await walk(path, found, seen, warn);
    } else if (isImageFileName(e.name)) found.push(path);
  }
}

export interface PreprocessedBatch {
  /** The images that decoded, in input order. */
  paths: string[];
  /** paths.length × 3 × size × size. */
  input: Float32Array;
  failed: { path: string; reason: string }[];
}

export interface PreprocessOptions {
  batchSize: number;
  spec: TransformSpec;
  decode: (path: string) => Promise<RGBImage>;
  /** Decoded originals alive at once (default 2). */
  concurrency?: number;
  /** Called with each decoded image after it is transformed (tests count live originals with it). */
  onDropped?: (path: string) => void;
}

/** The batches of `paths`, preprocessed; a file that cannot be decoded is listed in `failed`. */
export async function* preprocessedBatches(paths: readonly string[], o: PreprocessOptions): AsyncGenerator<PreprocessedBatch> {
  const per = sampleLength(o.spec.size);
  const concurrency = Math.max(1, o.concurrency ?? 2);
  for (let start = 0; start < paths.length; start += o.batchSize) {
    const chunk = paths.slice(start, start + o.batchSize);
    const input = new Float32Array(chunk.length * per);
    const ok = new Array<boolean>(chunk.length).fill(false);
    const failed: { path: string; reason: string }[] = [];
    let next = 0;
    const worker = async () => {
      while (next < chunk.length) {
        const i = next++;
        let img: RGBImage | null = null;
        try {
          img = await o.decode(chunk[i]);
        } catch (e) {
          if (!(e instanceof ImageDecodeError)) throw e;
          failed.push({ path: chunk[i], reason: e.reason });
          continue;
        }
        transformSample(img, o.spec, start + i, input, i * per);
        img = null; // the original is dropped here; only the transformed floats stay
        o.onDropped?.(chunk[i]);
        ok[i] = true;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, chunk.length) }, worker));
    const kept = chunk.filter((_, i) => ok[i]);
    let packed = input;
    if (kept.length < chunk.length) {
      packed = new Float32Array(kept.length * per);
      let n = 0;
      chunk.forEach((_, i) => {
        if (ok[i]) packed.set(input.subarray(i * per, (i + 1) * per), per * n++);
      });
    }
    failed.sort((a, b) => chunk.indexOf(a.path) - chunk.indexOf(b.path));
    yield { paths: kept, input: packed, failed };
  }
}
