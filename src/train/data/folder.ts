/**
 * torchvision-style ImageFolder over an abstract directory lister (Node supplies one in fs.node.ts,
 * a browser its own). Two layouts:
 *   ROOT/{train,val,test}/CLASS/...   the recipe's layout (`valid` is accepted for `val`);
 *   ROOT/CLASS/...                    split here, seeded and stratified by class.
 * Every problem with the folder is reported as a DataError before any image is read.
 */
import { DataError } from './errors';
import { DEFAULT_SPLIT_FRACTIONS, SPLIT_NAMES, checkFractions, stratifiedSplit } from './split';
import type { Sample, SplitFractions, SplitName, Splits } from './split';

export interface DirEntry {
  name: string;
  isDir: boolean;
}

/** The platform's directory listing; rejects when `path` is missing or not a folder. */
export interface FileLister {
  listDir(path: string): Promise<DirEntry[]>;
  /**
   * Optional: an identity of the folder itself (device and inode on Node), the same for every path
   * that reaches it through symbolic links; null when unknown. Used to read each folder once.
   */
  dirId?(path: string): Promise<string | null>;
}

export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp', '.bmp', '.gif', '.tif', '.tiff'];

export function isHidden(name: string): boolean {
  return name.startsWith('.');
}

export function isImageFileName(name: string, extensions: readonly string[] = IMAGE_EXTENSIONS): boolean {
  const dot = name.lastIndexOf('.');
  return !isHidden(name) && dot > 0 && extensions.includes(name.slice(dot).toLowerCase());
}

/**
 * Order strings by Unicode code point, as Python's `sorted` does (JS's default sort uses UTF-16 units).
 * A lone surrogate (an undecodable file-name byte, see fs.node.ts) is its own code point, as in Python.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a.charCodeAt(i) === b.charCodeAt(i)) continue;
    if (i > 0 && isHigh(a.charCodeAt(i - 1))) {
      // Both share a high surrogate at i - 1: it starts a code point ≥ U+10000 where a low one follows.
      const pairA = isLow(a.charCodeAt(i));
      const pairB = isLow(b.charCodeAt(i));
      if (pairA !== pairB) return pairA ? 1 : -1;
      if (pairA) return a.codePointAt(i - 1)! - b.codePointAt(i - 1)!;
    }
    return a.codePointAt(i)! - b.codePointAt(i)!;
  }
  return a.length - b.length;
}

const isHigh = (u: number) => u >= 0xd800 && u <= 0xdbff;
const isLow = (u: number) => u >= 0xdc00 && u <= 0xdfff;

export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

export type DatasetLayout = 'split-folders' | 'class-folders';

export interface ImageFolderDataset extends Splits {
  root: string;
  layout: DatasetLayout;
  /** Sorted class names; a sample's label indexes this list. */
  classes: string[];
  /** A human-readable account of the classes and the split (and any warnings), for printing. */
  description: string;
  /** Problems that did not stop the scan (a folder reached twice through symbolic links), also in `description`. */
  warnings: string[];
}

export interface ImageFolderOptions {
  /** For a folder without train/val/test: the split fractions (default 0.5 / 0.25 / 0.25). */
  fractions?: SplitFractions;
  /** Seed of that split (default 0). */
  seed?: number;
  /** The file extensions read as images (default IMAGE_EXTENSIONS; a browser lists only those it can decode). */
  extensions?: readonly string[];
}

/** Scan `root`, validate it and return the three splits. */
export async function loadImageFolder(fs: FileLister, root: string, options: ImageFolderOptions = {}): Promise<ImageFolderDataset> {
  const fractions = options.fractions ?? DEFAULT_SPLIT_FRACTIONS;
  const seed = options.seed ?? 0;
  checkFractions(fractions);
  let entries: DirEntry[];
  try {
    entries = await fs.listDir(root);
  } catch (e) {
    throw new DataError(
      `dataset folder "${root}" was not found or cannot be read (${reason(e)}). ` +
        'Give a folder that holds train/, val/ and test/ with one subfolder per class in each, or one subfolder per class.',
    );
  }
  const dirs = visibleDirs(entries);
  const splitDirs = findSplitDirs(root, dirs);
  const ext = options.extensions ?? IMAGE_EXTENSIONS;
  const scan = new ScanState(fs);
  await scan.firstVisit(root);
  return splitDirs ? loadSplitFolders(scan, root, splitDirs, ext) : loadClassFolders(scan, root, entries, fractions, seed, ext);
}

/**
 * What a scan has seen: each folder's identity (FileLister.dirId) and the first path that reached it, so a
 * folder reached again through a symbolic link (a loop, or two links to one folder) is read once, with a
 * warning, rather than forever or twice.
 */
class ScanState {
  readonly warnings: string[] = [];
  private readonly seen = new Map<string, string>();
  constructor(readonly fs: FileLister) {}

  /** True the first time `dir` (by identity) is met; otherwise records a warning and returns false. */
  async firstVisit(dir: string): Promise<boolean> {
    const id = this.fs.dirId ? await this.fs.dirId(dir) : null;
    if (id === null) return true;
    const first = this.seen.get(id);
    if (first === undefined) {
      this.seen.set(id, dir);
      return true;
    }
    const loop = dir.startsWith(first.endsWith('/') ? first : `${first}/`);
    this.warnings.push(
      `skipped folder "${dir}": it is "${first}" again, reached through a symbolic link` +
        `${loop ? ' that loops back to a folder above it' : ''}; each folder is read once`,
    );
    return false;
  }
}

function visibleDirs(entries: DirEntry[]): string[] {
  return entries
    .filter((e) => e.isDir && !isHidden(e.name))
    .map((e) => e.name)
    .sort(compareCodePoints);
}

/** The folder name of each split, or null when `root` has no split folders at all. */
function findSplitDirs(root: string, dirs: string[]): Record<SplitName, string> | null {
  const has = (n: string) => dirs.includes(n);
  if (!['train', 'val', 'valid', 'test'].some(has)) return null;
  if (has('val') && has('valid')) {
    throw new DataError(`dataset folder "${root}" has both val/ and valid/; keep one of them (they name the same split).`);
  }
  const val = has('valid') ? 'valid' : 'val';
  const missing = [has('train') ? '' : 'train', has(val) ? '' : 'val', has('test') ? '' : 'test'].filter(Boolean);
  if (missing.length > 0) {
    const present = dirs.filter((d) => ['train', 'val', 'valid', 'test'].includes(d));
    throw new DataError(
      `dataset folder "${root}" has ${present.map((d) => `${d}/`).join(' and ')} but no ${missing.map((d) => `${d}/`).join(' or ')}. ` +
        `Add ${missing.map((d) => joinPath(root, d) + '/').join(' and ')} with the same class subfolders as the other splits, ` +
        `or put the class folders directly in "${root}" to have them split automatically.`,
    );
  }
  return { train: 'train', val, test: 'test' };
}

interface ClassScan {
  classes: string[];
  /** Image paths per class, in torchvision's order. */
  files: string[][];
  otherFiles: number;
}

async function scanClasses(state: ScanState, dir: string, classes: string[], ext: readonly string[]): Promise<ClassScan> {
  const scan: ClassScan = { classes, files: [], otherFiles: 0 };
  for (const name of classes) {
    const found: { dir: string; name: string }[] = [];
    scan.otherFiles += await collectImages(state, joinPath(dir, name), found, ext);
    // torchvision walks sorted(os.walk(class_dir)) and sorts the names in each folder.
    found.sort((a, b) => compareCodePoints(a.dir, b.dir) || compareCodePoints(a.name, b.name));
    scan.files.push(found.map((f) => joinPath(f.dir, f.name)));
  }
  return scan;
}

/** Images under `dir` (recursively, hidden entries skipped, each folder once); returns the count of other files. */
async function collectImages(state: ScanState, dir: string, found: { dir: string; name: string }[], ext: readonly string[]): Promise<number> {
  if (!(await state.firstVisit(dir))) return 0;
  // In name order, so which of two paths to one folder is read (the first) does not depend on the file system.
  const entries = (await listSubfolder(state.fs, dir)).sort((a, b) => compareCodePoints(a.name, b.name));
  let other = 0;
  for (const e of entries) {
    if (isHidden(e.name)) continue;
    if (e.isDir) other += await collectImages(state, joinPath(dir, e.name), found, ext);
    else if (isImageFileName(e.name, ext)) found.push({ dir, name: e.name });
    else other++;
  }
  return other;
}

async function listSubfolder(fs: FileLister, dir: string): Promise<DirEntry[]> {
  try {
    return await fs.listDir(dir);
  } catch (e) {
    throw new DataError(`cannot list folder "${dir}" (${reason(e)}); check that it is readable.`);
  }
}

async function loadSplitFolders(state: ScanState, root: string, splitDirs: Record<SplitName, string>, ext: readonly string[]): Promise<ImageFolderDataset> {
  const listed: Record<string, string[]> = {};
  for (const split of SPLIT_NAMES) {
    const dir = joinPath(root, splitDirs[split]);
    await state.firstVisit(dir);
    listed[split] = visibleDirs(await listSubfolder(state.fs, dir));
  }
  checkSameClasses(root, splitDirs, listed);
  const classes = listed.train;
  checkClassCount(root, classes);
  const scans = {} as Record<SplitName, ClassScan>;
  for (const split of SPLIT_NAMES) scans[split] = await scanClasses(state, joinPath(root, splitDirs[split]), classes, ext);
  checkImages(root, SPLIT_NAMES.map((s) => ({ prefix: `${splitDirs[s]}/`, scan: scans[s] })), state.warnings, ext);
  const splits = {} as Splits;
  for (const split of SPLIT_NAMES) splits[split] = toSamples(scans[split]);
  const source = splitDirs.val === 'val' ? 'its train/, val/ and test/ folders' : 'its train/, valid/ (as val) and test/ folders';
  const other = SPLIT_NAMES.reduce((n, s) => n + scans[s].otherFiles, 0);
  const description = describe(root, classes, splits, `from ${source}`, other, state.warnings, ext);
  return { root, layout: 'split-folders', classes, ...splits, description, warnings: state.warnings };
}

async function loadClassFolders(
  state: ScanState,
  root: string,
  entries: DirEntry[],
  fractions: SplitFractions,
  seed: number,
  ext: readonly string[],
): Promise<ImageFolderDataset> {
  const classes = visibleDirs(entries);
  if (classes.length === 0) {
    const loose = entries.filter((e) => !e.isDir && isImageFileName(e.name, ext)).length;
    throw new DataError(
      loose > 0
        ? `dataset folder "${root}" holds ${loose} images but no class subfolders. ` +
            `Put each class's images in its own subfolder, e.g. ${joinPath(root, 'CLASS_NAME/image.jpg')}.`
        : `no images found in "${root}": it has no subfolders. ` +
            `Expected ${joinPath(root, 'train/CLASS/*.jpg')} (and val/, test/) or ${joinPath(root, 'CLASS/*.jpg')}.`,
    );
  }
  checkClassCount(root, classes);
  const scan = await scanClasses(state, root, classes, ext);
  checkImages(root, [{ prefix: '', scan }], state.warnings, ext);
  const splits = stratifiedSplit(toSamples(scan), classes, fractions, seed);
  const pct = (x: number) => `${+(x * 100).toFixed(1)}%`;
  const how =
    `no train/val/test folders, so each class was split ` +
    `${pct(fractions.train)} / ${pct(fractions.val)} / ${pct(fractions.test)} at random (seed ${seed})`;
  const description = describe(root, classes, splits, how, scan.otherFiles, state.warnings, ext);
  return { root, layout: 'class-folders', classes, ...splits, description, warnings: state.warnings };
}

function toSamples(scan: ClassScan): Sample[] {
  return scan.files.flatMap((paths, label) => paths.map((path) => ({ path, label })));
}

function checkSameClasses(root: string, splitDirs: Record<SplitName, string>, listed: Record<string, string[]>): void {
  const union = [...new Set(SPLIT_NAMES.flatMap((s) => listed[s]))].sort(compareCodePoints);
  const lines = SPLIT_NAMES.flatMap((s) => {
    const lacks = union.filter((c) => !listed[s].includes(c));
    if (lacks.length === 0) return [];
    return [`  ${splitDirs[s]}/ has ${listed[s].length} class folders and lacks: ${lacks.join(', ')}`];
  });
  if (lines.length === 0) return;
  throw new DataError(
    `the class folders differ between the splits of "${root}":\n${lines.join('\n')}\n` +
      'Every split needs the same class subfolders: add the missing ones or remove the extra ones.',
  );
}

function checkClassCount(root: string, classes: string[]): void {
  if (classes.length >= 2) return;
  throw new DataError(
    `dataset folder "${root}" has only one class folder ("${classes[0]}"); a classifier needs at least two. ` +
      `If "${classes[0]}" holds the class folders, give that folder instead.`,
  );
}

function checkImages(root: string, parts: { prefix: string; scan: ClassScan }[], warnings: string[], ext: readonly string[]): void {
  const notes = warnings.map((w) => `\n  (${w})`).join('');
  const extensionList = ext.join(', ');
  const total = parts.reduce((n, p) => n + p.scan.files.reduce((m, f) => m + f.length, 0), 0);
  if (total === 0) {
    const other = parts.reduce((n, p) => n + p.scan.otherFiles, 0);
    throw new DataError(
      `no images found in "${root}" (looked for ${extensionList} in its class folders` +
        `${other > 0 ? `; ${other} files with other extensions were ignored` : ''}). ` +
        'Put the images in one subfolder per class.' + notes,
    );
  }
  const empty = parts.flatMap((p) => p.scan.classes.filter((_, i) => p.scan.files[i].length === 0).map((c) => p.prefix + c));
  if (empty.length === 0) return;
  throw new DataError(
    `class folders without images in "${root}": ${empty.join(', ')}. ` +
      `Every class needs at least one image (${extensionList}) in every split; add images or remove the folder.` + notes,
  );
}

function describe(root: string, classes: string[], splits: Splits, how: string, otherFiles: number, warnings: string[], ext: readonly string[]): string {
  const counts = classes.map(() => [0, 0, 0]);
  SPLIT_NAMES.forEach((s, i) => splits[s].forEach((x) => counts[x.label][i]++));
  const totals = SPLIT_NAMES.map((s) => splits[s].length);
  const nameWidth = Math.max(5, ...classes.map((c) => [...c].length));
  const row = (name: string, cells: (number | string)[]) =>
    `  ${name}${' '.repeat(nameWidth - [...name].length)}${cells.map((c) => String(c).padStart(7)).join('')}`;
  const lines = [
    `Dataset "${root}": ${classes.length} classes, ${totals.reduce((a, b) => a + b, 0)} images; ${how}.`,
    row('class', [...SPLIT_NAMES]),
    ...classes.map((c, i) => row(c, counts[i])),
    row('total', totals),
  ];
  const thin = classes.filter((_, i) => counts[i].some((n, s) => n === 0 && SPLIT_NAMES[s] !== 'train' && totals[s] > 0));
  if (thin.length > 0) lines.push(`Note: too few images to appear in every split: ${thin.join(', ')}.`);
  if (otherFiles > 0) lines.push(`Ignored ${otherFiles} file${otherFiles === 1 ? '' : 's'} that are not images (accepted: ${ext.join(', ')}).`);
  for (const w of warnings) lines.push(`Warning: ${w}.`);
  return lines.join('\n');
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
