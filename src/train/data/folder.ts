/**
 * torchvision-style ImageFolder over an abstract directory lister (Node supplies one in node-fs.ts,
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
}

export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp', '.bmp', '.gif', '.tif', '.tiff'];

export function isHidden(name: string): boolean {
  return name.startsWith('.');
}

export function isImageFileName(name: string, extensions: readonly string[] = IMAGE_EXTENSIONS): boolean {
  const dot = name.lastIndexOf('.');
  return !isHidden(name) && dot > 0 && extensions.includes(name.slice(dot).toLowerCase());
}

/** Order strings by Unicode code point, as Python's `sorted` does (JS's default sort uses UTF-16 units). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** Moves surrogates (code points above U+FFFF) after U+E000..U+FFFF. */
function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

export function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

export type DatasetLayout = 'split-folders' | 'class-folders';

export interface ImageFolderDataset extends Splits {
  root: string;
  layout: DatasetLayout;
  /** Sorted class names; a sample's label indexes this list. */
  classes: string[];
  /** A human-readable account of the classes and the split, for printing. */
  description: string;
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
  return splitDirs ? loadSplitFolders(fs, root, splitDirs, ext) : loadClassFolders(fs, root, entries, fractions, seed, ext);
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

async function scanClasses(fs: FileLister, dir: string, classes: string[], ext: readonly string[]): Promise<ClassScan> {
  const scan: ClassScan = { classes, files: [], otherFiles: 0 };
  for (const name of classes) {
    const found: { dir: string; name: string }[] = [];
    scan.otherFiles += await collectImages(fs, joinPath(dir, name), found, ext);
    // torchvision walks sorted(os.walk(class_dir)) and sorts the names in each folder.
    found.sort((a, b) => compareCodePoints(a.dir, b.dir) || compareCodePoints(a.name, b.name));
    scan.files.push(found.map((f) => joinPath(f.dir, f.name)));
  }
  return scan;
}

/** Images under `dir` (recursively, hidden entries skipped); returns the count of other files. */
async function collectImages(fs: FileLister, dir: string, found: { dir: string; name: string }[], ext: readonly string[]): Promise<number> {
  const entries = await listSubfolder(fs, dir);
  let other = 0;
  for (const e of entries) {
    if (isHidden(e.name)) continue;
    if (e.isDir) other += await collectImages(fs, joinPath(dir, e.name), found, ext);
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

async function loadSplitFolders(fs: FileLister, root: string, splitDirs: Record<SplitName, string>, ext: readonly string[]): Promise<ImageFolderDataset> {
  const listed: Record<string, string[]> = {};
  for (const split of SPLIT_NAMES) {
    const dir = joinPath(root, splitDirs[split]);
    listed[split] = visibleDirs(await listSubfolder(fs, dir));
  }
  checkSameClasses(root, splitDirs, listed);
  const classes = listed.train;
  checkClassCount(root, classes);
  const scans = {} as Record<SplitName, ClassScan>;
  for (const split of SPLIT_NAMES) scans[split] = await scanClasses(fs, joinPath(root, splitDirs[split]), classes, ext);
  checkImages(root, SPLIT_NAMES.map((s) => ({ prefix: `${splitDirs[s]}/`, scan: scans[s] })), ext);
  const splits = {} as Splits;
  for (const split of SPLIT_NAMES) splits[split] = toSamples(scans[split]);
  const source = splitDirs.val === 'val' ? 'its train/, val/ and test/ folders' : 'its train/, valid/ (as val) and test/ folders';
  const other = SPLIT_NAMES.reduce((n, s) => n + scans[s].otherFiles, 0);
  const description = describe(root, classes, splits, `from ${source}`, other, ext);
  return { root, layout: 'split-folders', classes, ...splits, description };
}

async function loadClassFolders(
  fs: FileLister,
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
  const scan = await scanClasses(fs, root, classes, ext);
  checkImages(root, [{ prefix: '', scan }], ext);
  const splits = stratifiedSplit(toSamples(scan), classes, fractions, seed);
  const pct = (x: number) => `${+(x * 100).toFixed(1)}%`;
  const how =
    `no train/val/test folders, so each class was split ` +
    `${pct(fractions.train)} / ${pct(fractions.val)} / ${pct(fractions.test)} at random (seed ${seed})`;
  const description = describe(root, classes, splits, how, scan.otherFiles, ext);
  return { root, layout: 'class-folders', classes, ...splits, description };
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

function checkImages(root: string, parts: { prefix: string; scan: ClassScan }[], ext: readonly string[]): void {
  const extensionList = ext.join(', ');
  const total = parts.reduce((n, p) => n + p.scan.files.reduce((m, f) => m + f.length, 0), 0);
  if (total === 0) {
    const other = parts.reduce((n, p) => n + p.scan.otherFiles, 0);
    throw new DataError(
      `no images found in "${root}" (looked for ${extensionList} in its class folders` +
        `${other > 0 ? `; ${other} files with other extensions were ignored` : ''}). ` +
        'Put the images in one subfolder per class.',
    );
  }
  const empty = parts.flatMap((p) => p.scan.classes.filter((_, i) => p.scan.files[i].length === 0).map((c) => p.prefix + c));
  if (empty.length === 0) return;
  throw new DataError(
    `class folders without images in "${root}": ${empty.join(', ')}. ` +
      `Every class needs at least one image (${extensionList}) in every split; add images or remove the folder.`,
  );
}

function describe(root: string, classes: string[], splits: Splits, how: string, otherFiles: number, ext: readonly string[]): string {
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
  return lines.join('\n');
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
