/** dist/predict.js run as a user runs it: its probabilities against the same model run in-process, and its errors. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
import { IMAGENET_MEAN, IMAGENET_STD } from '../../src/train/data/transforms';
import { sampleLength, transformSample } from '../../src/train/data/pipeline';
import { F16_ROUND } from '../../src/reference/half';

const CLASSES = ['cat', 'dog', 'bird'];

function predict(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, ['dist/predict.js', ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** `path` then lines `  0.123456  name`, as predict.js prints them. */
function parseTop(out: string): Map<string, { p: number; name: string }[]> {
  const result = new Map<string, { p: number; name: string }[]>();
  let current: { p: number; name: string }[] | null = null;
  for (const line of out.split('\n')) {
    const m = /^ {2}(\d\.\d{6}) {2}(.+)$/.exec(line);
    if (m && current) current.push({ p: Number(m[1]), name: m[2] });
    else if (line && !line.startsWith(' ') && !line.includes(', on ')) result.set(line, (current = []));
  }
  return result;
}

async function writeNoisePng(path: string, width: number, height: number, seed: number): Promise<void> {
  let s = seed;
  const data = Uint8Array.from({ length: width * height * 3 }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 24));
  await sharp(data, { raw: { width, height, channels: 3 } }).png().toFile(path);
}

/** The model's logits on one image, preprocessed in-process exactly as torchvision's eval transform. */
async function logitsOf(model: ResNet, path: string): Promise<number[]> {
  const img = await decodeImageFile(path);
  const input = new Float32Array(sampleLength(224));
  transformSample(img, { mode: 'eval', size: 224, seed: 0, epoch: 0, mean: IMAGENET_MEAN, std: IMAGENET_STD }, 0, input, 0);
  const x = Tensor.fromArray(input, [1, 3, 224, 224]);
  const y = noGrad(() => tidy(() => model.forward(x)));
  const logits = Array.from(await y.toArray());
  x.dispose();
  y.dispose();
  return logits;
}

/** The model's softmax on one image. */
async function reference(model: ResNet, path: string): Promise<number[]> {
  const logits = await logitsOf(model, path);
  const max = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

let dir: string;
let weights: string;
let images: string[];
let model: ResNet;

beforeAll(async () => {
  if (!existsSync('dist/predict.js')) execFileSync(process.execPath, ['build.mjs', '--no-types'], { stdio: 'inherit' });
  const rt = await testRuntime();
  rt.poison = false;
  dir = mkdtempSync(join(tmpdir(), 'predict-'));
  model = resnet('resnet18', { numClasses: 3, dropout: 0.5, seed: 1 });
  // No `arch` metadata: predict.js must tell resnet18 from the keys.
  weights = join(dir, 'best.safetensors');
  writeFileSync(weights, writeSafetensors(await exportStateDict(model), { classes: JSON.stringify(CLASSES) }));
  images = [join(dir, 'wide.png'), join(dir, 'tall.png')];
  await writeNoisePng(images[0], 50, 37, 1);
  await writeNoisePng(images[1], 29, 61, 2);
  model.eval();
});

afterAll(() => {
  model?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('cli: predict.js', () => {
  it('prints each image\'s top classes with the probabilities of the same model run in-process', async () => {
    const r = predict(['--weights', weights, '--batch-size', '2', ...images]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^resnet18, 3 classes, on .+; resize 256, crop 224$/m);
    const top = parseTop(r.out);
    expect([...top.keys()]).toEqual(images);
    for (const path of images) {
      const printed = top.get(path)!;
      expect(printed.length).toBe(3); // --top 5 is capped at the number of classes
      expect(printed.reduce((s, e) => s + e.p, 0)).toBeCloseTo(1, 5);
      const want = await reference(model, path);
      const order = [0, 1, 2].sort((a, b) => want[b] - want[a]);
      expect(printed.map((e) => e.name)).toEqual(order.map((c) => CLASSES[c]));
      printed.forEach((e, i) => expect(Math.abs(e.p - want[order[i]]), `${path} ${e.name}`).toBeLessThan(1e-4));
    }
  });

  describe('--precision f16', () => {
    type Json = { precision: string; predictions: { path: string; top: { class: string; probability: number }[] }[] };
    const runJson = (name: string, precision: string, env: NodeJS.ProcessEnv = {}) => {
      const out = join(dir, name);
      const r = predict(['--weights', weights, '--precision', precision, '--output', out, ...images], env);
      expect(r.code, r.err).toBe(0);
      return { r, json: JSON.parse(readFileSync(out, 'utf8')) as Json };
    };
    /** Each image's probabilities by class name. */
    const probs = (j: Json) => new Map(j.predictions.map((p) => [p.path, new Map(p.top.map((e) => [e.class, e.probability]))]));

    it('the same top-1 class as f32 on every image, and probabilities within float16\'s rounding of the logits', async () => {
      const f32 = runJson('f32.json', 'f32');
      const f16 = runJson('f16.json', 'f16');
      expect(f32.json.precision).toBe('f32');
      expect(f16.json.precision).toBe('f16');
      expect(f16.r.out).toMatch(/^resnet18, 3 classes, on .+; resize 256, crop 224; float16 \(autocast\)$/m);
      expect(f16.r.err).not.toMatch(/shader-f16/);
      // The bound. Under autocast every conv/linear input and weight, and every activation stored, is rounded
      // to float16, each rounding within F16_ROUND = 2^-10 relative (WGSL allows either neighbour); the sums
      // run in float32 (2^-24 per add: negligible here). ResNet-18's longest chain rounds R = 55 times: the
      // input; conv1's weight and output and bn1's output (3); per BasicBlock conv1 weight+output, bn1,
      // conv2 weight+output, bn2, the residual add (8 blocks × 6 = 48; ReLU and max pool pick values, exact);
      // the average pool; fc's weight and output (2). Taken as independent errors of a network whose layers
      // neither amplify nor cancel them (the batch norms keep the activations' scale), they add up to about
      // sqrt(R)·2^-10 relative to the logits' size: |δz_j| ≤ D = sqrt(R)·2^-10·max|z|. That is an estimate,
      // not a proof (the worst case, R·2^-10, is 7x looser); on these images |δz| measures ~0.7·2^-10·max|z|.
      // Given D, softmax's p_i' / p_i = e^{δz_i} / Σ_j p_j e^{δz_j} lies within e^{±2D}: |p_i' − p_i| ≤ p_i (e^{2D} − 1).
      const R = 55;
      const p32 = probs(f32.json);
      const p16 = probs(f16.json);
      let worst = 0;
      let differs = false;
      for (const path of images) {
        const a = p32.get(path)!;
        const b = p16.get(path)!;
        const order = [...a.entries()].sort((x, y) => y[1] - x[1]);
        // max|z| from the same model's float32 logits, in-process.
        const D = Math.sqrt(R) * F16_ROUND * Math.max(...(await logitsOf(model, path)).map(Math.abs));
        // f32's top-1 leads by more than 2D in logits (ln p1 − ln p2): no error within the bound can change it,
        // so the top-1 check below is decided by the bound, not by chance.
        expect(Math.log(order[0][1] / order[1][1]), `${path}: top-1 margin`).toBeGreaterThan(2 * D);
        expect([...b.entries()].sort((x, y) => y[1] - x[1])[0][0], `${path}: top-1`).toBe(order[0][0]);
        for (const [cls, p] of a) {
          const q = b.get(cls)!;
          if (q !== p) differs = true;
          worst = Math.max(worst, Math.abs(q - p) / (p * (Math.exp(2 * D) - 1)));
          expect(Math.abs(q - p), `${path} ${cls}: f16 ${q} against f32 ${p}`).toBeLessThanOrEqual(p * (Math.exp(2 * D) - 1));
        }
      }
      // It did run in float16: some probability moved (by float16's rounding).
      expect(differs).toBe(true);
      console.log(`[predict f16] largest |p16 − p32| is ${(100 * worst).toFixed(1)}% of its bound`);
    });

    it('without shader-f16, one line says so and the run is float32\'s, exactly', () => {
      const f32 = runJson('f32b.json', 'f32');
      const fallback = runJson('fallback.json', 'f16', { WEBGPU_DISABLE_FEATURES: 'shader-f16' });
      const lines = fallback.r.err.split('\n').filter((l) => /shader-f16/.test(l));
      expect(lines).toEqual([expect.stringMatching(/^warning: this adapter \(.+\) has no shader-f16, so --precision f16 cannot run on it: predicting in float32 instead$/)]);
      expect(fallback.r.out).not.toMatch(/float16/);
      expect(fallback.json.precision).toBe('f32');
      expect(fallback.json.predictions).toEqual(f32.json.predictions);
    });

    it('--precision takes f32 or f16 only (exit 2)', () => {
      const r = predict(['--weights', weights, '--precision', 'bf16', images[0]]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/--precision must be f32 or f16, got 'bf16'/);
    });
  });

  it('--labels names the classes and --top limits the lines; an undecodable image is named, the others still classified (exit 1)', () => {
    const labels = join(dir, 'labels.txt');
    writeFileSync(labels, 'Felis catus\r\nCanis familiaris\r\nAves\r\n');
    const broken = join(dir, 'broken.png');
    writeFileSync(broken, 'not a png at all');
    const r = predict(['--weights', weights, '--labels', labels, '--top', '2', images[0], broken]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(broken);
    expect(r.err).not.toMatch(/\n\s+at /);
    const printed = parseTop(r.out).get(images[0])!;
    expect(printed.length).toBe(2);
    for (const e of printed) expect(['Felis catus', 'Canis familiaris', 'Aves']).toContain(e.name);
  });

  it('a missing image is reported by name before any GPU work (exit 1)', () => {
    const r = predict(['--weights', weights, images[0], join(dir, 'no-such.jpg')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/image not found: .*no-such\.jpg/);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.out).toBe('');
  });

  it('a labels file with the wrong number of lines is refused (exit 1)', () => {
    const labels = join(dir, 'two.txt');
    writeFileSync(labels, 'a\nb\n');
    const r = predict(['--weights', weights, '--labels', labels, images[0]]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/two\.txt" has 2 lines but .* has 3 classes/);
  });

  it('a corrupt weights file is a clear error (exit 1)', () => {
    const bad = join(dir, 'bad.safetensors');
    writeFileSync(bad, 'garbage!garbage!');
    const r = predict(['--weights', bad, images[0]]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.safetensors: .*not a safetensors file/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('weights of another architecture than --arch are refused with the key list (exit 1)', () => {
    const r = predict(['--weights', weights, '--arch', 'resnet34', images[0]]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/missing from the file .*layer1\.2\.conv1\.weight/);
    expect(r.err).toMatch(/--arch/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it.each([
    [['x.png'], /--weights FILE is required/],
    [['--weights', 'w.safetensors'], /no images given/],
    [['--weights', 'w.safetensors', '--top', '0', 'x.png'], /--top needs an integer ≥ 1, got '0'/],
    [['--weights', 'w.safetensors', '--arch', 'vgg16', 'x.png'], /--arch must be one of resnet18, resnet34, resnet50/],
    [['--bogus'], /Unknown option '--bogus'/],
  ])('usage error %j (exit 2)', (args, message) => {
    const r = predict(args as string[]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message as RegExp);
    expect(r.err).toMatch(/usage: node dist\/predict\.js/);
  });
});
