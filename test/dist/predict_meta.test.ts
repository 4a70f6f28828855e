/**
 * predict.js (issue 15.13, and 15.11's memory bound): the training image size, normalisation, classes and
 * architecture come from the weights' metadata (a flag overriding them warns); folders of images; --output
 * CSV / JSON; preprocessing holds one batch of crops and at most `concurrency` decoded originals.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { testRuntime } from '../helpers/gpu';
import { Tensor } from '../../src/autograd/tensor';
import { noGrad, tidy } from '../../src/autograd/scope';
import { resnet, type ResNet } from '../../src/nn/resnet';
import { exportStateDict } from '../../src/nn/state';
import { writeSafetensors } from '../../src/nn/weights/safetensors';
import { decodeImageFile } from '../../src/train/data/fs.node';
import { DataError, ImageDecodeError } from '../../src/train/data/errors';
import { sampleLength, transformSample, type TransformSpec } from '../../src/train/data/pipeline';
import { expandImagePaths, preprocessedBatches } from '../../src/cli/predict_input';
import type { RGBImage } from '../../src/train/data/image';

const CLASSES = ['ant', 'bee', 'cow'];
const MEAN = [0.5, 0.4, 0.3];
const STD = [0.2, 0.25, 0.3];

function predict(args: string[]) {
  const r = spawnSync(process.execPath, ['dist/predict.js', ...args], { encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

async function writeNoisePng(path: string, width: number, height: number, seed: number): Promise<void> {
  let s = seed;
  const data = Uint8Array.from({ length: width * height * 3 }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 24));
  await sharp(data, { raw: { width, height, channels: 3 } }).png().toFile(path);
}

/** Softmax of the model on one image, preprocessed in-process at `size` with `mean`/`std`. */
async function reference(model: ResNet, path: string, size: number, mean: number[], std: number[]): Promise<number[]> {
  const input = new Float32Array(sampleLength(size));
  transformSample(await decodeImageFile(path), { mode: 'eval', size, seed: 0, epoch: 0, mean, std }, 0, input, 0);
  const x = Tensor.fromArray(input, [1, 3, size, size]);
  const y = noGrad(() => tidy(() => model.forward(x)));
  const logits = Array.from(await y.toArray());
  x.dispose();
  y.dispose();
  const e = logits.map((v) => Math.exp(v - Math.max(...logits)));
  return e.map((v) => v / e.reduce((a, b) => a + b, 0));
}

let dir: string;
let weights: string;
let folder: string;
let images: string[];
let model: ResNet;

beforeAll(async () => {
  if (!existsSync('dist/predict.js')) execFileSync(process.execPath, ['build.mjs', '--no-types'], { stdio: 'inherit' });
  const rt = await testRuntime();
  rt.poison = false;
  dir = mkdtempSync(join(tmpdir(), 'predict-meta-'));
  model = resnet('resnet18', { numClasses: 3, dropout: 0.5, seed: 5 });
  model.eval();
  weights = join(dir, 'best.safetensors');
  const meta = { arch: 'resnet18', classes: JSON.stringify(CLASSES), img_size: '40', mean: JSON.stringify(MEAN), std: JSON.stringify(STD) };
  writeFileSync(weights, writeSafetensors(await exportStateDict(model), meta));
  folder = join(dir, 'imgs');
  mkdirSync(join(folder, 'sub'), { recursive: true });
  images = [join(folder, 'a,comma.png'), join(folder, 'b.png'), join(folder, 'sub', 'c.png')];
  await writeNoisePng(images[0], 70, 50, 1);
  await writeNoisePng(images[1], 45, 90, 2);
  await writeNoisePng(images[2], 64, 64, 3);
  writeFileSync(join(folder, 'notes.txt'), 'not an image');
  writeFileSync(join(folder, '.hidden.png'), 'hidden');
});

afterAll(() => {
  model?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** CSV with quoted fields (RFC 4180, no newlines inside fields here). */
function parseCsv(text: string): string[][] {
  return text.trim().split('\n').map((line) => {
    const cells: string[] = [];
    const quoted = /"((?:[^"]|"")*)"/y;
    let i = 0;
    for (;;) {
      quoted.lastIndex = i;
      const q = line[i] === '"' ? quoted.exec(line) : null;
      const end = q ? quoted.lastIndex : line.indexOf(',', i) < 0 ? line.length : line.indexOf(',', i);
      cells.push(q ? q[1].replace(/""/g, '"') : line.slice(i, end));
      if (line[end] !== ',') return cells;
      i = end + 1;
    }
  });
}

describe('predict.js uses the training metadata (15.13)', () => {
  it('a folder with --output .csv: every image under it, classified at the recorded size and normalisation', async () => {
    const out = join(dir, 'preds.csv');
    const r = predict(['--weights', weights, '--output', out, folder]);
    expect(r.code, r.err).toBe(0);
    // round(40 · 256 / 224) = 46, as torchvision's recipe scales Resize(256) with the crop.
    expect(r.out).toMatch(/resize 46, crop 40 \(from .*best\.safetensors's metadata\)/);
    expect(r.out).toMatch(/wrote 3 predictions to .*preds\.csv/);
    expect(r.err).not.toMatch(/warning/);
    const rows = parseCsv(readFileSync(out, 'utf8'));
    expect(rows[0]).toEqual(['path', 'class_1', 'probability_1', 'class_2', 'probability_2', 'class_3', 'probability_3', 'error']);
    expect(rows.slice(1).map((r) => r[0])).toEqual(images);
    for (const row of rows.slice(1)) {
      const want = await reference(model, row[0], 40, MEAN, STD);
      const at224 = await reference(model, row[0], 224, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
      const order = [0, 1, 2].sort((a, b) => want[b] - want[a]);
      expect([row[1], row[3], row[5]]).toEqual(order.map((c) => CLASSES[c]));
      order.forEach((c, i) => expect(Math.abs(Number(row[2 + 2 * i]) - want[c])).toBeLessThan(1e-4));
      // The default of old (224, ImageNet statistics) gives other numbers: the metadata mattered.
      expect(Math.max(...want.map((p, c) => Math.abs(p - at224[c])))).toBeGreaterThan(1e-3);
      expect(row[7]).toBe('');
    }
  });

  it('--img-size overriding the metadata warns and is used; --output .json lists the settings and each image', async () => {
    const out = join(dir, 'preds.json');
    const broken = join(dir, 'broken.png');
    writeFileSync(broken, 'not a png');
    const r = predict(['--weights', weights, '--img-size', '64', '--top', '2', '--output', out, images[1], broken]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/warning: --img-size 64 overrides the 40 px that .*best\.safetensors was trained at/);
    expect(r.err).toMatch(/broken\.png/);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(json).toMatchObject({ arch: 'resnet18', img_size: 64, mean: MEAN, std: STD, classes: CLASSES });
    expect(json.predictions.map((p: { path: string }) => p.path)).toEqual([images[1], broken]);
    expect(json.predictions[1].error).toMatch(/./);
    const want = await reference(model, images[1], 64, MEAN, STD);
    const top = json.predictions[0].top as { class: string; probability: number }[];
    expect(top.length).toBe(2);
    for (const t of top) expect(Math.abs(t.probability - want[CLASSES.indexOf(t.class)])).toBeLessThan(1e-4);
  });

  it('--arch and --labels that disagree with the metadata warn; a bad --output is refused before any GPU work', () => {
    const labels = join(dir, 'labels.txt');
    writeFileSync(labels, 'x\ny\nz\n');
    const r = predict(['--weights', weights, '--arch', 'resnet34', '--labels', labels, images[0]]);
    expect(r.err).toMatch(/warning: --arch resnet34 overrides the architecture resnet18 recorded in/);
    expect(r.err).toMatch(/warning: --labels .*labels\.txt overrides the class names recorded in .*\[ant, bee, cow\]/);
    const bad = predict(['--weights', weights, '--output', join(dir, 'no-such-dir', 'p.csv'), images[0]]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/cannot write --output .*p\.csv: its folder .*no-such-dir" does not exist/);
    expect(bad.out).toBe('');
    const ext = predict(['--weights', weights, '--output', join(dir, 'p.txt'), images[0]]);
    expect(ext.code).toBe(2);
    expect(ext.err).toMatch(/--output must name a \.csv or \.json file/);
  });
});

/** Pillow's convert('L') (libImaging/Convert.c, rgb2l: ITU-R 601-2 in 16-bit fixed point), as torchvision's Grayscale on a PIL image. */
function pillowLuma(img: RGBImage): RGBImage {
  const data = new Uint8Array(img.data.length);
  for (let i = 0; i < data.length; i += 3) data[i] = data[i + 1] = data[i + 2] = (img.data[i] * 19595 + img.data[i + 1] * 38470 + img.data[i + 2] * 7471 + 0x8000) >> 16;
  return { width: img.width, height: img.height, data };
}

describe('predict.js with greyscale weights (in_channels 1)', () => {
  const GREY = ['dark', 'light'];
  let grey: ResNet;
  let greyWeights: string;
  let greyPng: string;
  beforeAll(async () => {
    grey = resnet('resnet18', { numClasses: 2, inChannels: 1, seed: 9 });
    grey.eval();
    greyWeights = join(dir, 'grey.safetensors');
    const meta = { arch: 'resnet18', classes: JSON.stringify(GREY), img_size: '36', in_channels: '1', mean: '[0.45]', std: '[0.2]' };
    writeFileSync(greyWeights, writeSafetensors(await exportStateDict(grey), meta));
    // A one-channel PNG: its luma is itself whatever the weights of R, G and B.
    greyPng = join(dir, 'grey.png');
    let s = 11;
    await sharp(Uint8Array.from({ length: 52 * 44 }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 24)), { raw: { width: 52, height: 44, channels: 1 } }).png().toFile(greyPng);
  });
  afterAll(() => grey?.dispose());

  /** Softmax of the 1-channel model on `img` (already grey in R = G = B), at 36 px, normalised with 0.45 / 0.2. */
  async function greyReference(img: RGBImage): Promise<number[]> {
    const size = 36;
    const rgb = new Float32Array(sampleLength(size));
    transformSample(img, { mode: 'eval', size, seed: 0, epoch: 0, mean: [0.45, 0.45, 0.45], std: [0.2, 0.2, 0.2] }, 0, rgb, 0);
    const x = Tensor.fromArray(rgb.slice(0, size * size), [1, 1, size, size]);
    const y = noGrad(() => tidy(() => grey.forward(x)));
    const logits = Array.from(await y.toArray());
    x.dispose();
    y.dispose();
    const e = logits.map((v) => Math.exp(v - Math.max(...logits)));
    return e.map((v) => v / e.reduce((a, b) => a + b, 0));
  }

  it("builds the model for 1 channel, feeds each image's luma, normalised with the recorded mean and std", async () => {
    const out = join(dir, 'grey.json');
    const r = predict(['--weights', greyWeights, '--output', out, greyPng, images[1]]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/resnet18, 2 classes, greyscale input, .*crop 36/);
    expect(r.err).not.toMatch(/warning/);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(json).toMatchObject({ in_channels: 1, img_size: 36, mean: [0.45], std: [0.2], classes: GREY });
    const wants = [await greyReference(await decodeImageFile(greyPng)), await greyReference(pillowLuma(await decodeImageFile(images[1])))];
    json.predictions.forEach((p: { top: { class: string; probability: number }[] }, i: number) => {
      expect(p.top.length).toBe(2);
      for (const t of p.top) expect(Math.abs(t.probability - wants[i][GREY.indexOf(t.class)])).toBeLessThan(1e-4);
    });
  });

  it('weights whose in_channels contradicts conv1.weight, or of 4 input channels, are refused before any GPU work', async () => {
    const sd = await exportStateDict(grey);
    const lying = join(dir, 'lying.safetensors');
    writeFileSync(lying, writeSafetensors(sd, { arch: 'resnet18', in_channels: '3' }));
    const a = predict(['--weights', lying, greyPng]);
    expect(a.code).toBe(1);
    expect(a.err.trim()).toMatch(/^error: .*lying\.safetensors: the "in_channels" metadata says 3 input channels, but conv1\.weight \[64, 1, 7, 7\] takes 1/);
    expect(a.out).toBe('');
    const four = new Map(sd);
    four.set('conv1.weight', { dtype: 'F32', shape: [64, 4, 7, 7], data: new Float32Array(64 * 4 * 49) });
    const fourPath = join(dir, 'four.safetensors');
    writeFileSync(fourPath, writeSafetensors(four, { arch: 'resnet18' }));
    const b = predict(['--weights', fourPath, greyPng]);
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/the model takes 4 input channels; predict\.js reads images as RGB \(3 channels\) or greyscale \(1\) only.*inChannels: 4/);
    expect(b.out).toBe('');
  });
});

describe('predict.js inputs', () => {
  it('a folder expands to its image files, sorted, hidden and non-image files left out, a symlink loop skipped with a warning', async () => {
    const loop = join(folder, 'sub', 'loop');
    symlinkSync(folder, loop);
    const warnings: string[] = [];
    try {
      expect(await expandImagePaths([folder], (m) => warnings.push(m))).toEqual(images);
    } finally {
      rmSync(loop);
    }
    expect(warnings.join('\n')).toMatch(/skipping ".*sub\/loop": it leads back to a folder already listed/);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await expect(expandImagePaths([empty])).rejects.toThrow(/no image files .* in folder ".*empty"/);
    await expect(expandImagePaths([join(dir, 'nope.png'), images[0]])).rejects.toBeInstanceOf(DataError);
  });

  it('preprocessing keeps at most `concurrency` decoded originals and decodes one batch at a time; failures are listed, the rest packed in order', async () => {
    const spec: TransformSpec = { mode: 'eval', size: 32, seed: 0, epoch: 0, mean: MEAN, std: STD };
    const img = (seed: number): RGBImage => ({ width: 50, height: 40, data: Uint8Array.from({ length: 50 * 40 * 3 }, (_, i) => (i * 7 + seed * 13) % 256) });
    const paths = Array.from({ length: 10 }, (_, i) => (i === 5 ? 'bad5.png' : `img${i}.png`));
    let live = 0;
    let maxLive = 0;
    let started = 0;
    // An original counts from the start of its decode (the decoder allocates it) until it is dropped.
    const decode = async (p: string) => {
      started++;
      live++;
      maxLive = Math.max(maxLive, live);
      await new Promise((r) => setTimeout(r, 1));
      if (p.startsWith('bad')) {
        live--;
        throw new ImageDecodeError(p, 'corrupt');
      }
      return img(Number(p.replace(/\D/g, '')));
    };
    const seen: string[] = [];
    let batches = 0;
    for await (const b of preprocessedBatches(paths, { batchSize: 4, spec, decode, concurrency: 2, onDropped: () => live-- })) {
      batches++;
      expect(started).toBe(Math.min(10, 4 * batches)); // nothing of the next batch is decoded yet
      seen.push(...b.paths);
      const per = sampleLength(32);
      b.paths.forEach((p, i) => {
        const want = new Float32Array(per);
        transformSample(img(Number(p.replace(/\D/g, ''))), spec, 0, want, 0);
        expect(b.input.subarray(i * per, (i + 1) * per)).toEqual(want);
      });
      if (b.failed.length) expect(b.failed).toEqual([{ path: 'bad5.png', reason: 'corrupt' }]);
    }
    expect(batches).toBe(3);
    expect(seen).toEqual(paths.filter((p) => p !== 'bad5.png'));
    expect(maxLive).toBe(2);
    expect(live).toBe(0);
  });
});
