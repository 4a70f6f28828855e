/**
 * The built-in demo dataset, drawn procedurally in pure TS so that Node (which writes it to PNG
 * files, see demo.ts) and the browser (which reads it through `createDemoSource`) see the same
 * pixels. Four classes of shapes with seeded colours, placement, size, orientation, gradient and
 * noise; colours carry no class information. Only + − × ÷ and sqrt are used, so the pixels are
 * the same on every JavaScript engine.
 */
import type { DecodeFn } from './decoder-pool';
import { ImageDecodeError } from './errors';
import type { DirEntry, FileLister } from './folder';
import { createImage, type RGBImage } from './image';
import { Rng } from './rng';
import { SPLIT_NAMES, type SplitName } from './split';

export const DEMO_VERSION = 'demo-v1';
export const DEMO_CLASSES = ['circle', 'cross', 'square', 'stripes'] as const;
export const DEMO_IMAGE_SIZE = 96;
export const DEMO_IMAGES_PER_CLASS: Readonly<Record<SplitName, number>> = { train: 24, val: 8, test: 8 };
const DEMO_SEED = 20240601;

export interface DemoImage {
  split: SplitName;
  label: number;
  /** Number within its split and class. */
  number: number;
  /** Path relative to the dataset root: split/class/class-NNN.png. */
  relPath: string;
}

export function listDemoImages(): DemoImage[] {
  return SPLIT_NAMES.flatMap((split) =>
    DEMO_CLASSES.flatMap((name, label) =>
      Array.from({ length: DEMO_IMAGES_PER_CLASS[split] }, (_, number) => ({
        split,
        label,
        number,
        relPath: `${split}/${name}/${name}-${String(number).padStart(3, '0')}.png`,
      })),
    ),
  );
}

export function drawDemoImage(image: DemoImage, size = DEMO_IMAGE_SIZE): RGBImage {
  const rng = Rng.derive(DEMO_SEED, SPLIT_NAMES.indexOf(image.split), image.label, image.number);
  const colour = () => [rng.int(256), rng.int(256), rng.int(256)];
  const bg = colour();
  let fg = colour();
  for (let tries = 0; tries < 20 && distance(fg, bg) < 200; tries++) fg = colour();
  const [gu, gv] = unitVector(rng);
  const gradient = rng.uniform(0, 60) / size;
  const noise = rng.uniform(4, 24);
  const cx = rng.uniform(0.35, 0.65) * size;
  const cy = rng.uniform(0.35, 0.65) * size;
  const r = rng.uniform(0.18, 0.3) * size;
  const [u, v] = unitVector(rng);
  const thickness = r * rng.uniform(0.2, 0.35);
  const period = rng.uniform(6, 12);
  const inside = SHAPES[DEMO_CLASSES[image.label]];

  const img = createImage(size, size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const dx = x + 0.5 - cx;
      const dy = y + 0.5 - cy;
      // Coordinates along and across the shape's orientation.
      const a = dx * u + dy * v;
      const b = dy * u - dx * v;
      const on = inside(a, b, r, thickness, period);
      const shade = on ? 0 : (dx * gu + dy * gv) * gradient;
      for (let c = 0; c < 3; c++) {
        const value = (on ? fg[c] : bg[c]) + shade + rng.uniform(-noise, noise);
        img.data[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(value)));
      }
    }
  }
  return img;
}

type Shape = (a: number, b: number, r: number, thickness: number, period: number) => boolean;

const SHAPES: Record<(typeof DEMO_CLASSES)[number], Shape> = {
  circle: (a, b, r) => a * a + b * b <= r * r,
  cross: (a, b, r, t) => (Math.abs(a) <= t && Math.abs(b) <= r) || (Math.abs(b) <= t && Math.abs(a) <= r),
  square: (a, b, r) => Math.abs(a) <= 0.85 * r && Math.abs(b) <= 0.85 * r,
  stripes: (a, b, r, _t, period) =>
    Math.abs(a) <= 1.1 * r && Math.abs(b) <= 1.1 * r && Math.floor((a + 2 * r) / period) % 2 === 0,
};

function distance(p: number[], q: number[]): number {
  return Math.abs(p[0] - q[0]) + Math.abs(p[1] - q[1]) + Math.abs(p[2] - q[2]);
}

/** A uniformly oriented unit vector by rejection sampling (no trigonometry). */
function unitVector(rng: Rng): [number, number] {
  for (;;) {
    const x = rng.uniform(-1, 1);
    const y = rng.uniform(-1, 1);
    const n = Math.sqrt(x * x + y * y);
    if (n > 0.1 && n <= 1) return [x / n, y / n];
  }
}

/** The demo dataset as a virtual folder tree under `root` and a decoder for its paths (no files needed). */
export function createDemoSource(root = 'demo'): { root: string; lister: FileLister; decode: DecodeFn } {
  const dirs = new Map<string, DirEntry[]>();
  const images = new Map<string, DemoImage>();
  const add = (dir: string, entry: DirEntry) => {
    const list = dirs.get(dir) ?? [];
    if (!list.some((e) => e.name === entry.name)) list.push(entry);
    dirs.set(dir, list);
  };
  for (const image of listDemoImages()) {
    const [split, name, file] = image.relPath.split('/');
    add(root, { name: split, isDir: true });
    add(`${root}/${split}`, { name, isDir: true });
    add(`${root}/${split}/${name}`, { name: file, isDir: false });
    images.set(`${root}/${image.relPath}`, image);
  }
  const lister: FileLister = {
    async listDir(path) {
      const entries = dirs.get(path.replace(/\/+$/, ''));
      if (!entries) throw new Error(`no such demo folder: ${path}`);
      return entries;
    },
  };
  const decode: DecodeFn = async (path) => {
    const image = images.get(path);
    if (!image) throw new ImageDecodeError(path, 'not an image of the demo dataset');
    return drawDemoImage(image);
  };
  return { root, lister, decode };
}
