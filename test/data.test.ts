import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';
import { build } from 'esbuild';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessDecoderPool, type DecodeFn, type DecoderPool } from '../src/train/data/decoder-pool';
import { ensureDemoDataset } from '../src/train/data/demo.node';
import { DEMO_CLASSES, createDemoSource, drawDemoImage, listDemoImages } from '../src/train/data/demo-images';
import { DataError, ImageDecodeError } from '../src/train/data/errors';
import { compareCodePoints, loadImageFolder } from '../src/train/data/folder';
import { createImage, cropImage, flipHorizontal, resizeBilinear, type RGBImage } from '../src/train/data/image';
import { DataLoader, type Batch } from '../src/train/data/loader';
import { decodeImageFile, nodeFileLister } from '../src/train/data/fs.node';
import { Rng, type RandomSource } from '../src/train/data/rng';
import { splitCounts, type Sample } from '../src/train/data/split';
import {
  centerCrop,
  centerCropBox,
  evalResizeSize,
  pythonRound,
  randomHorizontalFlip,
  randomResizedCropParams,
  resizedShorterSide,
  toTensorNormalize,
} from '../src/train/data/transforms';
import { WorkerDecoderPool } from '../src/train/data/worker-pool.node';
import { STANDARD_AUGMENTATION, sampleLength, transformSample, type Augmentation, type TransformSpec } from '../src/train/data/pipeline';
import { RNG_STREAM } from '../src/train/data/rng';
import { evalResizeCenterCrop, resizedCrop } from '../src/train/data/transforms';
import { ConfigError, RECIPE_DEFAULTS, augmentationOf, formatSetting, parseRange, parseTrainLayers, validateConfig, type TrainConfig } from '../src/train/config';

let tmp: string;
let dirCount = 0;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'data-test-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A fresh folder under the test's temp folder. */
async function freshDir(): Promise<string> {
  const dir = join(tmp, `d${dirCount++}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Create (empty) files and folders: paths ending in '/' are folders. */
async function touch(root: string, paths: string[]): Promise<void> {
  for (const p of paths) {
    const full = join(root, p);
    if (p.endsWith('/')) {
      await mkdir(full, { recursive: true });
    } else {
      await mkdir(dirname(full), { recursive: true });
      await writeFile(full, '');
    }
  }
}

function imageOf(width: number, height: number, values: number[]): RGBImage {
  return { width, height, data: Uint8Array.from(values) };
}

function randomImage(width: number, height: number, seed: number): RGBImage {
  const rng = new Rng(seed);
  const img = createImage(width, height);
  for (let i = 0; i < img.data.length; i++) img.data[i] = rng.int(256);
  return img;
}

async function writePng(path: string, img: RGBImage): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toFile(path);
}

/** A minimal 16-bit PNG (colour type 0: grey, 2: RGB), written by hand so sharp's encoder is not under test. */
function png16(width: number, height: number, colourType: 0 | 2, samples: number[]): Buffer {
  const rowBytes = width * (colourType === 2 ? 3 : 1) * 2;
  const raw = Buffer.alloc(height * (rowBytes + 1));
  samples.forEach((v, i) => raw.writeUInt16BE(v, Math.floor(i / (rowBytes / 2)) * (rowBytes + 1) + 1 + (i % (rowBytes / 2)) * 2));
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([16, colourType, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A minimal uncompressed CMYK TIFF (one strip, 8 bits per sample), written by hand. */
function cmykTiff(width: number, height: number, samples: number[]): Buffer {
  const tags: [number, number, number][] = [
    [256, 3, width], [257, 3, height], [258, 3, 8], [259, 3, 1], [262, 3, 5], [273, 4, 0],
    [277, 3, 4], [278, 3, height], [279, 4, samples.length], [284, 3, 1],
  ];
  const ifdSize = 2 + tags.length * 12 + 4;
  const pixels = 8 + ifdSize;
  const b = Buffer.alloc(pixels + samples.length);
  b.write('II', 0, 'latin1');
  b.writeUInt16LE(42, 2);
  b.writeUInt32LE(8, 4);
  b.writeUInt16LE(tags.length, 8);
  tags.forEach(([tag, type, value], i) => {
    const at = 10 + i * 12;
    b.writeUInt16LE(tag, at);
    b.writeUInt16LE(type, at + 2);
    // Every tag holds one value; libtiff applies a single BitsPerSample to all four samples.
    b.writeUInt32LE(1, at + 4);
    if (type === 3) b.writeUInt16LE(value, at + 8);
    else b.writeUInt32LE(tag === 273 ? pixels : value, at + 8);
  });
  Buffer.from(samples).copy(b, pixels);
  return b;
}

/** A RandomSource that replays fixed unit draws: uniform(a, b) = a + (b - a) t, int(n) = floor(t n). */
class ScriptedRandom implements RandomSource {
  constructor(private readonly draws: number[]) {}
  next(): number {
    const t = this.draws.shift();
    if (t === undefined) throw new Error('script exhausted');
    return t;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  uniform(a: number, b: number): number {
    return a + (b - a) * this.next();
  }
}

async function collect(gen: AsyncGenerator<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of gen) out.push(b);
  return out;
}

describe('rng', () => {
  it('is reproducible, in range, and derives independent streams', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 1000 }, () => a.next());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b.next()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
    expect(new Rng(43).next()).not.toBe(xs[0]);
    expect(Rng.derive(1, 2, 3).next()).toBe(Rng.derive(1, 2, 3).next());
    expect(Rng.derive(1, 2, 3).next()).not.toBe(Rng.derive(1, 3, 2).next());
    expect(Rng.derive(1, 2, 3).next()).not.toBe(Rng.derive(1, 2, 3, 0).next());
    const r = new Rng(7);
    for (let i = 0; i < 1000; i++) {
      const k = r.int(5);
      expect(Number.isInteger(k) && k >= 0 && k < 5).toBe(true);
      const u = r.uniform(-3, 2);
      expect(u >= -3 && u < 2).toBe(true);
    }
    const perm = new Rng(1).shuffle(Array.from({ length: 50 }, (_, i) => i));
    expect([...perm].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(perm).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});

describe('image ops', () => {
  it("downscales with Pillow's antialiased bilinear filter (hand-computed)", () => {
    // scale 2 → support 2: taps weigh 3/7, 3/7, 1/7 (fixed point, rounded as Pillow does).
    const row = imageOf(4, 1, [0, 0, 0, 70, 70, 70, 140, 140, 140, 210, 210, 210]);
    expect([...resizeBilinear(row, 2, 1).data]).toEqual([50, 50, 50, 160, 160, 160]);
    const column = imageOf(1, 4, [...row.data]);
    expect([...resizeBilinear(column, 1, 2).data]).toEqual([50, 50, 50, 160, 160, 160]);
  });

  it('upscales with the triangle filter', () => {
    const row = imageOf(2, 1, [0, 10, 20, 100, 110, 120]);
    expect([...resizeBilinear(row, 4, 1).data]).toEqual([0, 10, 20, 25, 35, 45, 75, 85, 95, 100, 110, 120]);
  });

  it('matches Pillow 9.4 byte for byte (reference bytes from Image.resize(..., BILINEAR))', () => {
    const img = createImage(9, 5);
    img.data.forEach((_, i) => (img.data[i] = (i * 37 + 11) % 256));
    const hex = (x: RGBImage) => Buffer.from(x.data).toString('hex');
    expect(hex(resizeBilinear(img, 4, 3))).toBe('8564738e8c736f8c917e749994a457688c7b6b698a9665726d928e82688a998d6e6f948a');
    expect(hex(resizeBilinear(img, 6, 8))).toBe(
      '355a7fb44b708d9665739867688db2597ea3704f74a97e65829780688d828382a7787398ba496499be557297a0587da2a372979e6388ab9e558a' +
        'af46638891496e939463888f54799bc0457a9f6353788a665e838d6e787f62698cb1366b90ac44698caf4f748f9469708f5a7ca1806b80a58459' +
        '7ea88f64819a896085807196bb6c759ab74e739dc259769ba4557a9f',
    );
  });

  it('keeps constant images constant and is separable (horizontal pass first)', () => {
    const flat = imageOf(5, 3, Array.from({ length: 45 }, (_, i) => [17, 200, 99][i % 3]));
    for (const [w, h] of [[2, 2], [9, 1], [13, 7], [1, 1]]) {
      const out = resizeBilinear(flat, w, h);
      expect(out.data.every((v, i) => v === [17, 200, 99][i % 3])).toBe(true);
    }
    const img = randomImage(37, 23, 5);
    const both = resizeBilinear(img, 11, 7);
    const twoSteps = resizeBilinear(resizeBilinear(img, 11, 23), 11, 7);
    expect(both).toEqual(twoSteps);
    expect(resizeBilinear(img, 37, 23).data).toEqual(img.data);
  });

  it('crops with black outside the image and flips', () => {
    const img = imageOf(2, 2, [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]);
    expect([...cropImage(img, 1, 0, 2, 2).data]).toEqual([2, 2, 2, 0, 0, 0, 4, 4, 4, 0, 0, 0]);
    expect([...cropImage(img, -1, -1, 2, 2).data]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
    expect([...flipHorizontal(img).data]).toEqual([2, 2, 2, 1, 1, 1, 4, 4, 4, 3, 3, 3]);
  });
});

describe('transforms', () => {
  it("rounds like Python's round()", () => {
    expect([0.5, 1.5, 2.5, 3.5, 2.4, 2.6, -1.5, -2.5].map(pythonRound)).toEqual([0, 2, 2, 4, 2, 3, -2, -2]);
  });

  it('RandomResizedCrop params follow get_params for scripted draws', () => {
    // 500×375: half the area at aspect 1 → 306×306, then top = floor(0.5·70), left = floor(0.5·195).
    const half = (0.5 - 0.08) / (1 - 0.08);
    expect(randomResizedCropParams(500, 375, new ScriptedRandom([half, 0.5, 0.5, 0.5]))).toEqual({
      top: 35,
      left: 97,
      height: 306,
      width: 306,
    });
    // First try too wide (115 > 100), the second gives w = round(√600) = 24, h = round(√1066.7) = 33.
    expect(randomResizedCropParams(100, 100, new ScriptedRandom([1, 1, 0, 0, 0.25, 0.5]))).toEqual({
      top: 17,
      left: 38,
      height: 33,
      width: 24,
    });
  });

  it('RandomResizedCrop falls back to a central crop clamped to the ratio range', () => {
    const fails = () => new ScriptedRandom(Array(20).fill(1));
    expect(randomResizedCropParams(100, 10, fails())).toEqual({ top: 0, left: 43, height: 10, width: 13 });
    const tallFails = new ScriptedRandom(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 1 : 0)));
    expect(randomResizedCropParams(10, 100, tallFails)).toEqual({ top: 43, left: 0, height: 13, width: 10 });
    expect(randomResizedCropParams(50, 40, fails(), [2, 3])).toEqual({ top: 0, left: 0, height: 40, width: 50 });
  });

  it('RandomResizedCrop boxes stay in the image, in the scale and ratio ranges', () => {
    const sizes = [[500, 375], [375, 500], [224, 224], [1000, 300]];
    let small = 0;
    let large = 0;
    for (const [W, H] of sizes) {
      for (let seed = 0; seed < 300; seed++) {
        const { top, left, height: h, width: w } = randomResizedCropParams(W, H, Rng.derive(seed, W));
        expect(top >= 0 && left >= 0 && top + h <= H && left + w <= W && w > 0 && h > 0).toBe(true);
        const area = (w * h) / (W * H);
        // Rounding w and h moves the area and aspect by at most half a pixel per side.
        expect(area).toBeGreaterThanOrEqual(0.08 * (1 - 2 / Math.min(w, h)));
        expect((w + 0.5) / (h - 0.5)).toBeGreaterThanOrEqual(3 / 4);
        expect((w - 0.5) / (h + 0.5)).toBeLessThanOrEqual(4 / 3);
        if (area < 0.2) small++;
        if (area > 0.8) large++;
      }
    }
    expect(small).toBeGreaterThan(50);
    expect(large).toBeGreaterThan(50);
  });

  it('flips when the draw is below p', () => {
    const img = imageOf(2, 1, [1, 2, 3, 4, 5, 6]);
    expect([...randomHorizontalFlip(img, 0.5, new ScriptedRandom([0.4])).data]).toEqual([4, 5, 6, 1, 2, 3]);
    expect(randomHorizontalFlip(img, 0.5, new ScriptedRandom([0.6]))).toBe(img);
  });

  it('resizes the shorter side and center-crops as torchvision', () => {
    expect(resizedShorterSide(500, 375, 256)).toEqual({ width: 341, height: 256 });
    expect(resizedShorterSide(375, 500, 256)).toEqual({ width: 256, height: 341 });
    expect(resizedShorterSide(100, 100, 73)).toEqual({ width: 73, height: 73 });
    expect([evalResizeSize(224), evalResizeSize(64), evalResizeSize(112)]).toEqual([256, 73, 128]);
    expect(centerCropBox(7, 7, 4, 4)).toMatchObject({ top: 2, left: 2 }); // round(1.5) = 2
    expect(centerCropBox(9, 9, 4, 4)).toMatchObject({ top: 2, left: 2 }); // round(2.5) = 2
    expect(centerCropBox(341, 256, 224, 224)).toEqual({ top: 16, left: 58, height: 224, width: 224 }); // round(58.5)
    expect(centerCropBox(3, 10, 6, 6)).toMatchObject({ top: 2, left: -1 }); // padded 1 left, 2 right
    const img = imageOf(3, 1, [1, 1, 1, 2, 2, 2, 3, 3, 3]);
    const padded = centerCrop(img, 6); // torchvision pads (left, top, right, bottom) = (1, 2, 2, 3)
    const row2 = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 0, 0, 0, 0, 0, 0];
    expect([...padded.data]).toEqual([...Array(36).fill(0), ...row2, ...Array(54).fill(0)]);
  });

  it('ToTensor + Normalize writes CHW float32 at the offset', () => {
    const img = imageOf(2, 1, [255, 0, 128, 0, 255, 64]);
    const out = new Float32Array(9).fill(Number.NaN);
    toTensorNormalize(img, out, 2);
    expect(Number.isNaN(out[0]) && Number.isNaN(out[1]) && Number.isNaN(out[8])).toBe(true);
    const expected = [
      (1 - 0.485) / 0.229, (0 - 0.485) / 0.229,
      (0 - 0.456) / 0.224, (1 - 0.456) / 0.224,
      (128 / 255 - 0.406) / 0.225, (64 / 255 - 0.406) / 0.225,
    ];
    expected.forEach((v, i) => expect(out[2 + i]).toBeCloseTo(v, 5));
  });
});

describe('augmentation controls (pipeline)', () => {
  // A 40×30 image with distinct pixels, so that every crop, resize and flip shows.
  const img = createImage(40, 30);
  for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 37 + Math.floor(i / 7)) % 256;
  const size = 12;
  const spec = (augment: Augmentation | undefined, mode: 'train' | 'eval' = 'train'): TransformSpec => ({ mode, size, seed: 7, epoch: 2, mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3], augment });
  const run = (s: TransformSpec, index: number) => {
    const out = new Float32Array(sampleLength(size));
    transformSample(img, s, index, out, 0);
    return out;
  };
  const tensorOf = (x: RGBImage) => {
    const out = new Float32Array(sampleLength(size));
    toTensorNormalize(x, out, 0, [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]);
    return out;
  };
  /** A CHW sample mirrored left to right. */
  const mirror = (t: Float32Array) => {
    const out = new Float32Array(t.length);
    for (let row = 0; row < t.length / size; row++) for (let x = 0; x < size; x++) out[row * size + x] = t[row * size + size - 1 - x];
    return out;
  };
  /** What transformSample must give for sample `index`: the crop drawn from its stream with `a`'s ranges, then the flip draw. */
  const expected = (a: Augmentation, index: number) => {
    const rng = Rng.derive(7, RNG_STREAM.augment, 2, index);
    let x = resizedCrop(img, randomResizedCropParams(img.width, img.height, rng, a.scale, a.ratio), size);
    if (a.flip && rng.next() < 0.5) x = flipHorizontal(x);
    return tensorOf(x);
  };

  it('the default is the recipe: scale 0.08–1, ratio 3/4–4/3, flip on', () => {
    expect(STANDARD_AUGMENTATION).toEqual({ kind: 'standard', scale: [0.08, 1], ratio: [3 / 4, 4 / 3], flip: true });
    expect(augmentationOf(RECIPE_DEFAULTS)).toEqual(STANDARD_AUGMENTATION);
    for (let i = 0; i < 6; i++) expect(run(spec(undefined), i)).toEqual(expected(STANDARD_AUGMENTATION, i));
  });

  it('the crop scale and ratio ranges, and flip off, reach the crop of every sample (seeded per sample)', () => {
    const narrow: Augmentation = { kind: 'standard', scale: [0.5, 0.6], ratio: [1, 1], flip: true };
    const noFlip: Augmentation = { ...STANDARD_AUGMENTATION, flip: false };
    let flipped = 0;
    for (let i = 0; i < 12; i++) {
      expect(run(spec(narrow), i)).toEqual(expected(narrow, i));
      expect(run(spec(noFlip), i)).toEqual(expected(noFlip, i));
      // The crop is drawn first: without the flip the same crop comes out, mirrored or not.
      const a = run(spec(noFlip), i);
      const b = run(spec(STANDARD_AUGMENTATION), i);
      if (a.some((v, k) => v !== b[k])) {
        flipped++;
        expect(b).toEqual(mirror(a));
      }
    }
    expect(flipped, 'about half of the samples are flipped with flip on').toBeGreaterThan(2);
    expect(flipped).toBeLessThan(10);
    // scale 1 and ratio of the image: the whole image, only resized.
    const whole: Augmentation = { kind: 'standard', scale: [1, 1], ratio: [40 / 30, 40 / 30], flip: false };
    expect(run(spec(whole), 3)).toEqual(tensorOf(resizeBilinear(img, size, size)));
  });

  it("augment none trains on the eval transform (resize + center crop), the same for every sample and epoch", () => {
    const none: Augmentation = { ...STANDARD_AUGMENTATION, kind: 'none' };
    const evalOut = tensorOf(evalResizeCenterCrop(img, size));
    expect(run(spec(undefined, 'eval'), 0)).toEqual(evalOut);
    for (let i = 0; i < 4; i++) expect(run(spec(none), i)).toEqual(evalOut);
  });

  it('a DataLoader refuses a bad augmentation, naming the field', () => {
    const pool = new InProcessDecoderPool(async () => img);
    const mk = (augment: Augmentation) => new DataLoader({ samples: [], pool, batchSize: 2, mode: 'train', augment });
    expect(() => mk({ ...STANDARD_AUGMENTATION, scale: [0, 1] })).toThrowError("augment.scale must be two fractions of the image's area with 0 < min ≤ max ≤ 1, got 0,1");
    expect(() => mk({ ...STANDARD_AUGMENTATION, ratio: [2, 1] })).toThrowError(/augment\.ratio must be two aspect ratios \(width \/ height\) with 0 < min ≤ max, got 2,1/);
    expect(() => mk({ ...STANDARD_AUGMENTATION, kind: 'heavy' as 'none' })).toThrowError(/augment\.kind must be 'standard' or 'none', got 'heavy'/);
    expect(mk({ ...STANDARD_AUGMENTATION, flip: false }).augment.flip).toBe(false);
  });

  it.each<[string, Partial<TrainConfig>, string, string]>([
    ['scale 0', { cropScale: [0, 1] }, 'cropScale', "must be two fractions of the image's area with 0 < min ≤ max ≤ 1, got 0,1"],
    ['scale above 1', { cropScale: [0.5, 1.5] }, 'cropScale', "must be two fractions of the image's area with 0 < min ≤ max ≤ 1, got 0.5,1.5"],
    ['scale reversed', { cropScale: [0.9, 0.1] }, 'cropScale', "must be two fractions of the image's area with 0 < min ≤ max ≤ 1, got 0.9,0.1"],
    ['scale of 3 numbers', { cropScale: [0.1, 0.5, 1] as never }, 'cropScale', 'must be two numbers min,max, got 0.1,0.5,1'],
    ['ratio NaN', { cropRatio: [NaN, 1] }, 'cropRatio', 'must be two numbers min,max, got NaN,1'],
    ['ratio negative', { cropRatio: [-1, 1] }, 'cropRatio', 'must be two aspect ratios (width / height) with 0 < min ≤ max, got -1,1'],
    ['augment', { augment: 'heavy' as 'none' }, 'augment', "must be 'standard' or 'none', got 'heavy'"],
    ['flip', { flip: 'yes' as unknown as boolean }, 'flip', 'must be true or false, got yes'],
    ['no layers', { trainLayers: [] }, 'trainLayers', "must be 'all' or top-level layer names separated by commas (such as layer4,fc), got "],
    ['a nested layer', { trainLayers: ['layer4.1'] }, 'trainLayers', "must be 'all' or top-level layer names separated by commas (such as layer4,fc), got layer4.1"],
    ['a layer twice', { trainLayers: ['fc', 'layer4', 'fc'] }, 'trainLayers', 'names fc twice'],
    ['freezeBn', { freezeBn: 1 as unknown as boolean }, 'freezeBn', 'must be true or false, got 1'],
  ])('validateConfig refuses %s, naming the setting in each wording', (_, change, key, problem) => {
    const bad = { ...RECIPE_DEFAULTS, ...change };
    let err: ConfigError | null = null;
    try {
      validateConfig(bad);
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect([err!.key, err!.problem, err!.message]).toEqual([key, problem, `${key} ${problem}`]);
    const flag = key.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`);
    expect(() => validateConfig(bad, 'flags')).toThrowError(`--${flag} ${problem}`);
    expect(() => validateConfig(bad, 'page')).toThrowError(`${flag} ${problem}`);
  });

  it('crop ranges and layer lists as typed (the CLI and the page), and as written back', () => {
    expect(parseRange('cropRatio', '3/4, 4/3', Number)).toEqual([0.75, 4 / 3]);
    expect(parseRange('cropScale', '0.5,1', Number)).toEqual([0.5, 1]);
    expect(parseRange('cropScale', '0.5', Number)).toBeNull();
    expect(parseRange('cropScale', '1/2,1', Number)).toEqual([NaN, 1]); // fractions are the ratio's only
    expect(formatSetting([3 / 4, 4 / 3], 'cropRatio')).toBe('3/4,4/3');
    expect(formatSetting([0.5, 1], 'cropScale')).toBe('0.5,1');
    expect(parseTrainLayers(' all ')).toEqual({ layers: 'all', problem: null });
    expect(parseTrainLayers('layer4, fc')).toEqual({ layers: ['layer4', 'fc'], problem: null });
    expect(parseTrainLayers('layer4,head').problem).toBe("'head' is not a layer of a ResNet with parameters; name some of conv1, bn1, layer1, layer2, layer3, layer4, fc, or all");
  });

  it('validateConfig takes the fine-tuning settings a user may give', () => {
    for (const change of [{ augment: 'none' }, { cropScale: [1, 1] }, { cropRatio: [1, 1] }, { flip: false }, { trainLayers: ['fc'] }, { trainLayers: ['layer4', 'fc'] }, { freezeBn: true }] as Partial<TrainConfig>[]) {
      expect(() => validateConfig({ ...RECIPE_DEFAULTS, ...change })).not.toThrow();
    }
  });
});

describe('ImageFolder', () => {
  const files = (root: string, samples: Sample[]) => samples.map((s) => relative(root, s.path));

  it('sorts classes by code point and keeps the accepted extensions, case-insensitively', async () => {
    const root = await freshDir();
    const names = ['b', 'B', 'a', '_x', 'ä', '\uFF01x', '\u{1F600}x'];
    await touch(root, names.flatMap((n) => ['train', 'val', 'test'].map((s) => `${s}/${n}/1.jpg`)));
    await touch(root, [
      ...['a.JPG', 'b.jpeg', 'c.Png', 'd.webp', 'e.bmp', 'f.gif', 'g.tif', 'h.TIFF'].map((f) => `train/a/${f}`),
      ...['i.txt', 'j.heic', 'noext', '.hidden.jpg', '.hidden/k.jpg', 'sub/l.jpg', 'sub-x/m.jpg', 'sub/deep/n.jpg'].map((f) => `train/a/${f}`),
      'train/.hiddenclass/1.jpg', 'val/.hiddenclass/', 'notes.txt',
    ]);
    const ds = await loadImageFolder(nodeFileLister, root);
    expect(ds.layout).toBe('split-folders');
    expect(ds.classes).toEqual(['B', '_x', 'a', 'b', 'ä', '\uFF01x', '\u{1F600}x']);
    expect([...names].sort(compareCodePoints)).toEqual(ds.classes);
    const a = ds.classes.indexOf('a');
    // torchvision's order: sorted(os.walk(...)) by folder path ('sub' < 'sub-x' < 'sub/deep'), then by name.
    const walked = ['1.jpg', 'a.JPG', 'b.jpeg', 'c.Png', 'd.webp', 'e.bmp', 'f.gif', 'g.tif', 'h.TIFF', 'sub/l.jpg', 'sub-x/m.jpg', 'sub/deep/n.jpg'];
    expect(files(root, ds.train.filter((s) => s.label === a))).toEqual(
      walked.map(
        (f) => `train/a/${f}`,
      ),
    );
    expect(ds.val.map((s) => s.label)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(ds.description).toContain('Ignored 3 files that are not images');
  });

  it('reads train/valid/test, with valid as val', async () => {
    const root = await freshDir();
    await touch(root, ['train/cat/1.png', 'train/cat/2.png', 'train/dog/1.png', 'valid/cat/1.png', 'valid/dog/1.png', 'test/cat/x.png', 'test/dog/y.png']);
    const ds = await loadImageFolder(nodeFileLister, root);
    expect(ds.classes).toEqual(['cat', 'dog']);
    expect(files(root, ds.train)).toEqual(['train/cat/1.png', 'train/cat/2.png', 'train/dog/1.png']);
    expect(files(root, ds.val)).toEqual(['valid/cat/1.png', 'valid/dog/1.png']);
    expect(ds.test.map((s) => s.label)).toEqual([0, 1]);
    expect(ds.description).toMatch(/valid\/ \(as val\)/);
  });

  it('splits class folders seeded and stratified', async () => {
    const root = await freshDir();
    const counts = { a: 10, b: 7, c: 3 };
    await touch(root, Object.entries(counts).flatMap(([c, n]) => Array.from({ length: n }, (_, i) => `${c}/img${i}.jpg`)));
    const ds = await loadImageFolder(nodeFileLister, root, { seed: 0 });
    expect(ds.layout).toBe('class-folders');
    const perClass = (samples: Sample[]) => [0, 1, 2].map((l) => samples.filter((s) => s.label === l).length);
    expect([perClass(ds.train), perClass(ds.val), perClass(ds.test)]).toEqual([[5, 3, 1], [3, 2, 1], [2, 2, 1]]);
    const all = [...ds.train, ...ds.val, ...ds.test].map((s) => s.path);
    expect(new Set(all).size).toBe(20);
    expect(ds.description).toContain('50% / 25% / 25%');
    expect(ds.description).toMatch(/total\s+9\s+6\s+5/);

    const again = await loadImageFolder(nodeFileLister, root, { seed: 0 });
    expect([again.train, again.val, again.test]).toEqual([ds.train, ds.val, ds.test]);
    const other = await loadImageFolder(nodeFileLister, root, { seed: 1 });
    expect(other.train).not.toEqual(ds.train);
    expect(perClass(other.train)).toEqual([5, 3, 1]);

    const custom = await loadImageFolder(nodeFileLister, root, { fractions: { train: 0.8, val: 0.1, test: 0.1 } });
    expect([perClass(custom.train), perClass(custom.val), perClass(custom.test)]).toEqual([[8, 5, 1], [1, 1, 1], [1, 1, 1]]);
  });

  it('counts split sizes by largest remainder, one each when possible', () => {
    const f = { train: 0.5, val: 0.25, test: 0.25 };
    expect([0, 1, 2, 3, 4, 10, 7].map((n) => splitCounts(n, f))).toEqual([
      [0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1], [2, 1, 1], [5, 3, 2], [3, 2, 2],
    ]);
    expect(splitCounts(5, { train: 1, val: 0, test: 0 })).toEqual([5, 0, 0]);
  });

  describe('DataError', () => {
    async function error(root: string, options = {}): Promise<DataError> {
      const e = await loadImageFolder(nodeFileLister, root, options).then(
        () => null,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(DataError);
      return e as DataError;
    }

    it('for a missing folder or a file', async () => {
      const missing = join(tmp, 'no-such-folder');
      expect((await error(missing)).message).toMatch(/no-such-folder.*not found/);
      const root = await freshDir();
      await touch(root, ['file.jpg']);
      expect((await error(join(root, 'file.jpg'))).message).toContain('file.jpg');
    });

    it('for an empty class folder', async () => {
      const root = await freshDir();
      await touch(root, ['a/1.jpg', 'a/2.jpg', 'b/readme.txt', 'c/1.png']);
      expect((await error(root)).message).toMatch(/without images.*: b\./);
      const split = await freshDir();
      await touch(split, ['train/a/1.jpg', 'train/b/1.jpg', 'val/a/1.jpg', 'val/b/', 'test/a/1.jpg', 'test/b/1.jpg']);
      expect((await error(split)).message).toContain('val/b');
    });

    it('for a missing split', async () => {
      const root = await freshDir();
      await touch(root, ['train/a/1.jpg', 'val/a/1.jpg']);
      const m = (await error(root)).message;
      expect(m).toContain('no test/');
      expect(m).toContain(join(root, 'test'));
      const ambiguous = await freshDir();
      await touch(ambiguous, ['train/a/1.jpg', 'val/a/1.jpg', 'valid/a/1.jpg', 'test/a/1.jpg']);
      expect((await error(ambiguous)).message).toContain('both val/ and valid/');
    });

    it('for classes that differ between the splits', async () => {
      const root = await freshDir();
      await touch(root, ['train/a/1.jpg', 'train/b/1.jpg', 'train/c/1.jpg', 'val/a/1.jpg', 'val/b/1.jpg', 'test/a/1.jpg', 'test/b/1.jpg', 'test/d/1.jpg']);
      const m = (await error(root)).message;
      expect(m).toContain('train/ has 3 class folders and lacks: d');
      expect(m).toContain('val/ has 2 class folders and lacks: c, d');
      expect(m).toContain('test/ has 3 class folders and lacks: c');
    });

    it('for a folder without images', async () => {
      const root = await freshDir();
      await touch(root, ['a/readme.txt', 'b/notes.md']);
      expect((await error(root)).message).toMatch(/no images found.*2 files with other extensions/);
      const empty = await freshDir();
      expect((await error(empty)).message).toContain('no images found');
      const loose = await freshDir();
      await touch(loose, ['1.jpg', '2.jpg']);
      expect((await error(loose)).message).toContain('2 images but no class subfolders');
    });

    it('for a single class and for bad fractions', async () => {
      const root = await freshDir();
      await touch(root, ['only/1.jpg']);
      expect((await error(root)).message).toContain('only one class folder');
      await touch(root, ['other/1.jpg']);
      expect((await error(root, { fractions: { train: 0.5, val: 0.5, test: 0.5 } })).message).toContain('fractions');
    });
  });
});

describe('decoding', () => {
  const raw = (data: number[], width: number, height: number, channels: 1 | 2 | 3 | 4) =>
    sharp(Uint8Array.from(data), { raw: { width, height, channels } });

  async function decodeBytes(name: string, bytes: Uint8Array | Buffer): Promise<RGBImage> {
    const path = join(tmp, name);
    await writeFile(path, bytes);
    return decodeImageFile(path);
  }

  it('turns grey, grey+alpha, RGBA and palette PNGs into 8-bit RGB', async () => {
    const grey = await decodeBytes('grey.png', await raw([0, 50, 100, 250], 2, 2, 1).png().toBuffer());
    expect([...grey.data]).toEqual([0, 0, 0, 50, 50, 50, 100, 100, 100, 250, 250, 250]);
    const greyAlpha = await decodeBytes('ga.png', await raw([10, 0, 20, 255], 2, 1, 2).png().toBuffer());
    expect([...greyAlpha.data]).toEqual([10, 10, 10, 20, 20, 20]);
    const rgba = await decodeBytes('rgba.png', await raw([200, 100, 50, 0, 1, 2, 3, 128], 2, 1, 4).png().toBuffer());
    expect([...rgba.data]).toEqual([200, 100, 50, 1, 2, 3]); // alpha dropped, not composited
    const colours = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30];
    const palette = await raw(colours, 2, 2, 3).png({ palette: true, colours: 4, dither: 0 }).toBuffer();
    expect((await sharp(palette).metadata()).isPalette).toBe(true);
    expect([...(await decodeBytes('pal.png', palette)).data]).toEqual(colours);
  });

  it('clips 16-bit grey PNGs at 255 and scales 16-bit RGB to 8 bits, as Pillow does', async () => {
    // Pillow opens 16-bit grey as mode I (I;16 in Pillow ≥ 10), whose convert('RGB') clips at 255
    // (decode_parity.test.ts checks this against Pillow itself).
    const grey16 = png16(2, 2, 0, [0, 128, 255, 7].map((v) => v * 257));
    expect((await sharp(grey16).metadata()).depth).toBe('ushort');
    expect([...(await decodeBytes('g16.png', grey16)).data]).toEqual([0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 255]);
    // 16-bit samples keep their high byte, as Pillow's RGB;16B unpacker does.
    const words = [357, 600, 1000, 64350, 33000, 255];
    const rgb16 = png16(2, 1, 2, words);
    expect((await sharp(rgb16).metadata()).depth).toBe('ushort');
    expect([...(await decodeBytes('rgb16.png', rgb16)).data]).toEqual([1, 2, 3, 251, 128, 0]);
  });

  it("converts CMYK with Pillow's formula, from JPEG and TIFF", async () => {
    // (c, m, y, k) → ((255−k) − c(255−k)/255, ...), rounded as Pillow's MULDIV255.
    const cmyk = [0, 0, 0, 0, 255, 0, 0, 0, 0, 128, 0, 64, 10, 20, 30, 255];
    const tiff = await decodeBytes('cmyk.tif', cmykTiff(2, 2, cmyk));
    expect([...tiff.data]).toEqual([255, 255, 255, 0, 255, 255, 191, 95, 191, 0, 0, 0]);
    const smooth = Array.from({ length: 192 }, (_, i) => [200, 120, 40][i % 3]);
    const jpeg = await raw(smooth, 8, 8, 3).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    expect((await sharp(jpeg).metadata()).space).toBe('cmyk');
    const img = await decodeBytes('cmyk.jpg', jpeg);
    expect([img.width, img.height, img.data.length]).toEqual([8, 8, 192]);
    img.data.forEach((v, i) => expect(Math.abs(v - smooth[i])).toBeLessThan(60));
  });

  it('decodes BMP files (24-bit, 32-bit and 8-bit palette)', async () => {
    const header = (w: number, h: number, bpp: number, paletteBytes: number, pixelBytes: number) => {
      const offset = 54 + paletteBytes;
      const b = new DataView(new ArrayBuffer(offset + pixelBytes));
      b.setUint8(0, 0x42);
      b.setUint8(1, 0x4d);
      b.setUint32(2, offset + pixelBytes, true);
      b.setUint32(10, offset, true);
      b.setUint32(14, 40, true);
      b.setInt32(18, w, true);
      b.setInt32(22, h, true);
      b.setUint16(26, 1, true);
      b.setUint16(28, bpp, true);
      return new Uint8Array(b.buffer);
    };
    // 2×2, bottom-up, 24-bit BGR rows padded to 8 bytes.
    const bmp24 = header(2, 2, 24, 0, 16);
    bmp24.set([3, 2, 1, 6, 5, 4, 0, 0, 9, 8, 7, 12, 11, 10, 0, 0], 54);
    expect([...(await decodeBytes('x24.bmp', bmp24)).data]).toEqual([7, 8, 9, 10, 11, 12, 1, 2, 3, 4, 5, 6]);
    const bmp32 = header(1, -2, 32, 0, 8); // top-down
    bmp32.set([30, 20, 10, 255, 60, 50, 40, 0], 54);
    expect([...(await decodeBytes('x32.bmp', bmp32)).data]).toEqual([10, 20, 30, 40, 50, 60]);
    const bmp8 = header(3, 1, 8, 8, 4);
    new DataView(bmp8.buffer).setUint32(46, 2, true); // two palette entries: red, blue
    bmp8.set([0, 0, 255, 0, 255, 0, 0, 0], 54);
    bmp8.set([1, 0, 1, 0], 62);
    expect([...(await decodeBytes('x8.bmp', bmp8)).data]).toEqual([0, 0, 255, 255, 0, 0, 0, 0, 255]);
    await expect(decodeBytes('cut.bmp', bmp24.subarray(0, 60))).rejects.toThrow(/cut\.bmp.*truncated/);
  });

  it('reports corrupt, truncated, empty, non-image and missing files as ImageDecodeError', async () => {
    const jpeg = await raw(Array.from(randomImage(32, 32, 1).data), 32, 32, 3).jpeg().toBuffer();
    const cases: [string, Uint8Array | null, RegExp][] = [
      ['empty.jpg', new Uint8Array(0), /empty/],
      ['truncated.jpg', jpeg.subarray(0, jpeg.length >> 1), /premature end|truncated/i],
      ['text.jpg', new TextEncoder().encode('this is not an image'), /unsupported image format/],
      ['garbage.png', Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 5]), /./],
      ['missing.png', null, /cannot read/],
    ];
    for (const [name, bytes, reason] of cases) {
      const path = join(tmp, name);
      if (bytes) await writeFile(path, bytes);
      const e = await decodeImageFile(path).then(() => null, (err: unknown) => err);
      expect(e, name).toBeInstanceOf(ImageDecodeError);
      expect((e as ImageDecodeError).path).toBe(path);
      expect((e as ImageDecodeError).message).toContain(path);
      expect((e as ImageDecodeError).reason).toMatch(reason);
      expect((e as ImageDecodeError).reason).not.toContain('\n');
    }
  });
});

describe('DataLoader', () => {
  // Sample i is a flat image of grey level 20·i, sized differently per sample.
  const samples: Sample[] = Array.from({ length: 10 }, (_, i) => ({ path: `mem/${i}`, label: i % 3 }));
  const flatDecode: DecodeFn = async (path) => {
    const i = Number(path.split('/')[1]);
    if (path.startsWith('bad/')) throw new ImageDecodeError(path, 'broken on purpose');
    const img = createImage(20 + i, 30 - i);
    img.data.fill(20 * i);
    return img;
  };
  const loader = (options: Partial<ConstructorParameters<typeof DataLoader>[0]> = {}) =>
    new DataLoader({ samples, pool: new InProcessDecoderPool(flatDecode), batchSize: 4, mode: 'eval', imageSize: 8, ...options });
  const greyOf = (b: Batch, n: number) => b.images[n * 192]; // channel 0, first pixel
  const normalisedGrey = (v: number) => (v / 255 - 0.485) / 0.229;

  it('serves eval batches in order with the last partial batch', async () => {
    const batches = await collect(loader().epoch(0));
    expect(batches.map((b) => b.indices)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(batches.map((b) => b.images.length)).toEqual([4 * 192, 4 * 192, 2 * 192]);
    expect([...batches[2].labels]).toEqual([2, 0]);
    expect(batches[2].labels).toBeInstanceOf(Int32Array);
    batches.forEach((b) => b.indices.forEach((i, n) => expect(greyOf(b, n)).toBeCloseTo(normalisedGrey(20 * i), 5)));
    const again = await collect(loader().epoch(3));
    expect(again).toEqual(batches);
  });

  it('shuffles and augments reproducibly per (seed, epoch)', async () => {
    const a = await collect(loader({ mode: 'train', seed: 5 }).epoch(0));
    const b = await collect(loader({ mode: 'train', seed: 5 }).epoch(0));
    expect(b).toEqual(a);
    const order = a.flatMap((x) => x.indices);
    expect([...order].sort((x, y) => x - y)).toEqual([...Array(10).keys()]);
    expect(order).not.toEqual([...Array(10).keys()]);
    const resumed = await collect(loader({ mode: 'train', seed: 5 }).epoch(0, 1));
    expect(resumed).toEqual(a.slice(1));
    const epoch1 = await collect(loader({ mode: 'train', seed: 5 }).epoch(1));
    expect(epoch1.flatMap((x) => x.indices)).not.toEqual(order);
    const seed6 = await collect(loader({ mode: 'train', seed: 6 }).epoch(0));
    expect(seed6.flatMap((x) => x.indices)).not.toEqual(order);
    // A sample's augmentation depends on (seed, epoch, index) only, not on how batches are cut.
    const byIndex = (batches: Batch[]) =>
      new Map(batches.flatMap((x) => x.indices.map((i, n) => [i, x.images.slice(n * 192, (n + 1) * 192)] as const)));
    const cut3 = byIndex(await collect(loader({ mode: 'train', seed: 5, batchSize: 3 }).epoch(0)));
    for (const [i, img] of byIndex(a)) expect(cut3.get(i)).toEqual(img);
  });

  it('augments with real crops and flips', async () => {
    const gradient: DecodeFn = async () => {
      const img = createImage(64, 48);
      for (let i = 0; i < img.data.length; i++) img.data[i] = Math.floor(i / 3) % 64 * 4;
      return img;
    };
    const l = new DataLoader({ samples, pool: new InProcessDecoderPool(gradient), batchSize: 10, mode: 'train', imageSize: 8 });
    const [batch] = await collect(l.epoch(0));
    const rows = Array.from({ length: 10 }, (_, n) => batch.images.slice(n * 192, n * 192 + 8).join());
    expect(new Set(rows).size).toBe(10);
  });

  it('skips a file that fails to decode, once, with a warning', async () => {
    const withBad = samples.map((s, i) => (i === 5 ? { ...s, path: 'bad/5' } : s));
    const warnings: string[] = [];
    const l = new DataLoader({
      samples: withBad,
      pool: new InProcessDecoderPool(flatDecode),
      batchSize: 4,
      mode: 'eval',
      imageSize: 8,
      onWarning: (m) => warnings.push(m),
    });
    const first = await collect(l.epoch(0));
    expect(first.map((b) => b.indices)).toEqual([[0, 1, 2, 3], [4, 6, 7], [8, 9]]);
    expect(greyOf(first[1], 1)).toBeCloseTo(normalisedGrey(120), 5);
    expect(first[1].images.length).toBe(3 * 192);
    expect(warnings).toEqual(['warning: skipping bad/5: broken on purpose']);
    expect(l.skippedFiles).toBe(1);
    const second = await collect(l.epoch(1));
    expect(second.map((b) => b.indices)).toEqual([[0, 1, 2, 3], [4, 6, 7, 8], [9]]);
    expect(l.batchesPerEpoch).toBe(3);
    expect(warnings.length).toBe(1);
  });

  it('propagates errors that are not decode failures', async () => {
    const broken = new InProcessDecoderPool(async () => {
      throw new Error('bug');
    });
    await expect(collect(loader({ pool: broken }).epoch(0))).rejects.toThrow('bug');
  });

  it('keeps the next batches in flight while the consumer works', async () => {
    const started: number[] = [];
    const inner = new InProcessDecoderPool(flatDecode);
    const pool: DecoderPool = {
      decodeBatch: (jobs, spec) => {
        started.push(jobs[0].index);
        return inner.decodeBatch(jobs, spec);
      },
      close: async () => {},
    };
    const l = new DataLoader({ samples, pool, batchSize: 2, mode: 'eval', imageSize: 8, prefetch: 2 });
    const seen: number[] = [];
    for await (const b of l.epoch(0)) {
      seen.push(b.indices[0]);
      await new Promise((r) => setTimeout(r, 5));
      // While batch k is being consumed, batches k+1 and k+2 are requested, and no more.
      expect(started.length).toBe(Math.min(5, seen.length + 2));
    }
    expect(seen).toEqual([0, 2, 4, 6, 8]);
  });
});

describe('WorkerDecoderPool', () => {
  let workerFile: string;
  beforeAll(async () => {
    // Bundle the worker as the build does; the bundle sits in the project so that it finds sharp.
    const root = fileURLToPath(new URL('..', import.meta.url));
    workerFile = join(root, '.cache', `decode-worker-test-${process.pid}.mjs`);
    await build({
      entryPoints: [join(root, 'src/train/data/decode-worker.node.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      external: ['sharp'],
      outfile: workerFile,
      logLevel: 'error',
    });
  });
  afterAll(async () => {
    await rm(workerFile, { force: true });
  });

  it('gives the same batches as the in-process pool and skips broken files', async () => {
    const root = await freshDir();
    const files: Sample[] = [];
    for (let i = 0; i < 7; i++) {
      const path = join(root, `c${i % 2}`, `${i}.png`);
      await writePng(path, randomImage(30 + 7 * i, 50 - 3 * i, i));
      files.push({ path, label: i % 2 });
    }
    const bad = join(root, 'c0', 'bad.png');
    await writeFile(bad, 'not a png');
    files.splice(3, 0, { path: bad, label: 0 });

    const run = async (pool: DecoderPool, mode: 'train' | 'eval') => {
      const warnings: string[] = [];
      const l = new DataLoader({ samples: files, pool, batchSize: 3, mode, imageSize: 16, seed: 9, onWarning: (m) => warnings.push(m) });
      const batches = await collect(l.epoch(2));
      return { batches, warnings, skipped: l.skippedFiles };
    };
    const workers = new WorkerDecoderPool({ workerUrl: workerFile, threads: 2 });
    const local = new InProcessDecoderPool(decodeImageFile);
    try {
      for (const mode of ['train', 'eval'] as const) {
        const fromWorkers = await run(workers, mode);
        const fromLocal = await run(local, mode);
        expect(fromWorkers).toEqual(fromLocal);
        expect(fromWorkers.skipped).toBe(1);
        expect(fromWorkers.warnings[0]).toContain(bad);
        expect(fromWorkers.batches.reduce((n, b) => n + b.indices.length, 0)).toBe(7);
      }
    } finally {
      await workers.close();
    }
    await expect(workers.decodeBatch([{ path: bad, index: 0 }], { mode: 'eval', size: 4, seed: 0, epoch: 0, mean: [0, 0, 0], std: [1, 1, 1] })).rejects.toThrow(/closed/);
  });

  it('explains a worker script that cannot start', async () => {
    const pool = new WorkerDecoderPool({ workerUrl: join(tmp, 'no-such-worker.js'), threads: 1 });
    const spec = { mode: 'eval' as const, size: 4, seed: 0, epoch: 0, mean: [0, 0, 0], std: [1, 1, 1] };
    await expect(pool.decodeBatch([{ path: 'x.png', index: 0 }], spec)).rejects.toThrow(/failed to start.*workerUrl/);
    await pool.close();
  });
});

describe('demo dataset', () => {
  async function filesOf(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => relative(dir, join(e.parentPath, e.name)))
      .sort();
  }

  it('is generated once, deterministically, and reads back as drawn', async () => {
    const a = join(await freshDir(), 'demo-v1');
    const b = join(await freshDir(), 'demo-v1');
    expect(await ensureDemoDataset(a)).toEqual({ dir: a, generated: true });
    expect(await ensureDemoDataset(b)).toEqual({ dir: b, generated: true });
    const names = await filesOf(a);
    expect(names.length).toBe(4 * 40 + 1);
    expect(await filesOf(b)).toEqual(names);
    for (const n of names) expect((await readFile(join(a, n))).equals(await readFile(join(b, n))), n).toBe(true);
    expect(await ensureDemoDataset(a)).toEqual({ dir: a, generated: false });
    await rm(join(a, '.complete'));
    expect(await ensureDemoDataset(a)).toEqual({ dir: a, generated: true });

    const ds = await loadImageFolder(nodeFileLister, a);
    expect(ds.classes).toEqual([...DEMO_CLASSES]);
    expect([ds.train.length, ds.val.length, ds.test.length]).toEqual([96, 32, 32]);
    const first = listDemoImages()[0];
    expect(await decodeImageFile(join(a, first.relPath))).toEqual(drawDemoImage(first));

    // The browser's virtual copy lists and decodes the same dataset.
    const source = createDemoSource('demo');
    const virtual = await loadImageFolder(source.lister, source.root);
    expect(virtual.train.map((s) => s.path.slice('demo/'.length))).toEqual(ds.train.map((s) => relative(a, s.path)));
    expect(virtual.description.replace('"demo"', '')).toBe(ds.description.replace(`"${a}"`, ''));
    expect(await source.decode(virtual.test[5].path)).toEqual(await decodeImageFile(ds.test[5].path));
  });
});
