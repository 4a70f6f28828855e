/**
 * `node dist/predict.js --weights W IMAGE...`: classify images with a trained ResNet (best.safetensors,
 * a checkpoint, or any torchvision-named state_dict), printing each image's top classes and probabilities.
 */
import { access, readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { initGpu } from '../gpu/init';
import { GpuError } from '../gpu/errors';
import { Tensor } from '../autograd/tensor';
import { noGrad, tidy } from '../autograd/scope';
import { ARCH_NAMES, resnet } from '../nn/resnet';
import { loadStateDict, StateDictError } from '../nn/state';
import { readWeights, readSafetensorsMetadata, looksLikePth, WeightsFormatError, type NamedTensor } from '../nn/weights/index';
import { adaptStateDict } from '../nn/weights/compat';
import { decodeImageFile } from '../train/data/node-fs';
import { DataError } from '../train/data/errors';
import { IMAGENET_MEAN, IMAGENET_STD, evalResizeSize } from '../train/data/transforms';
import { sampleLength, transformSample, type TransformSpec } from '../train/data/pipeline';
import { UsageError } from './args';

const USAGE = `usage: node dist/predict.js --weights FILE [--arch NAME] [--labels FILE] [--top N] IMAGE...

Classifies images with a ResNet: the weights' head (fc.weight, or the recipe's fc.1.weight) gives the number of
classes; each image is resized (shorter side 256), center-cropped to 224 and normalised as torchvision's eval
transform does, and its top classes are printed with their softmax probabilities.

  --weights FILE        .safetensors (best.safetensors or a checkpoint from dist/train.js) or .pth state_dict
  --arch NAME           ${ARCH_NAMES.join(' | ')} (default: from the file's metadata, else from its keys)
  --labels FILE         class names, one per line (default: the "classes" metadata of best.safetensors, else indices)
  --top N               how many classes to print per image (default 5)
  --img-size N          crop size in pixels, as trained with --img-size (default 224; the resize is scaled with it)
  --batch-size N        images per forward pass (default 16)
  --help                this text

Environment: WEBGPU_ADAPTER=<name> picks an adapter, WEBGPU_BACKEND=<vulkan|metal|d3d12> a Dawn backend.`;

interface PredictOptions {
  weights: string;
  arch: string | null;
  labels: string | null;
  top: number;
  imgSize: number;
  batchSize: number;
  images: string[];
}

function positiveInt(flag: string, raw: string | undefined, fallback: number, min = 1): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(v) || v < min) throw new UsageError(`--${flag} needs an integer ≥ ${min}, got '${raw}'`);
  return v;
}

function parsePredictArgs(argv: string[]): PredictOptions | null {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        weights: { type: 'string' },
        arch: { type: 'string' },
        labels: { type: 'string' },
        top: { type: 'string' },
        'img-size': { type: 'string' },
        'batch-size': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
  const { values: v, positionals } = parsed;
  if (v.help) return null;
  if (!v.weights) throw new UsageError('--weights FILE is required');
  if (v.arch !== undefined && !ARCH_NAMES.includes(v.arch)) throw new UsageError(`--arch must be one of ${ARCH_NAMES.join(', ')}, got '${v.arch}'`);
  if (positionals.length === 0) throw new UsageError('no images given');
  return {
    weights: v.weights,
    arch: v.arch ?? null,
    labels: v.labels ?? null,
    top: positiveInt('top', v.top, 5),
    imgSize: positiveInt('img-size', v['img-size'], 224, 32),
    batchSize: positiveInt('batch-size', v['batch-size'], 16),
    images: positionals,
  };
}

/** The weights file's model tensors (a trainer checkpoint's "model." prefix removed) and its safetensors metadata. */
async function readModelFile(path: string): Promise<{ tensors: Map<string, NamedTensor>; metadata: Record<string, string> }> {
  const bytes = new Uint8Array(await readFile(path).catch((e) => {
    throw new WeightsFormatError(path, `cannot be read: ${(e as Error).message}`);
  }));
  const tensors = readWeights(bytes, path);
  const metadata = looksLikePth(bytes) ? {} : readSafetensorsMetadata(bytes, path);
  if (metadata.format === 'webgpu-resnet-checkpoint-v1') {
    const model = new Map<string, NamedTensor>();
    for (const [k, t] of tensors) if (k.startsWith('model.')) model.set(k.slice('model.'.length), t);
    return { tensors: model, metadata };
  }
  // A DataParallel "module." prefix or missing num_batches_tracked: fixed as PyTorch accepts them, with a note.
  const adapted = adaptStateDict(tensors, path);
  for (const note of adapted.notes) console.error(`note: ${note}`);
  return { tensors: adapted.tensors, metadata };
}

interface ModelSpec {
  arch: string;
  numClasses: number;
  /** The recipe head Sequential(Dropout, Linear) (keys fc.1.*) rather than a plain Linear (fc.*). */
  recipeHead: boolean;
}

/**
 * Architecture and head from the file: --arch, else the trainer's `arch` metadata, else the keys
 * (Bottleneck blocks have conv3: resnet50; otherwise layer3 has 2 blocks in resnet18 and 6 in resnet34).
 */
function inferModel(tensors: Map<string, NamedTensor>, metadata: Record<string, string>, source: string, archFlag: string | null): ModelSpec {
  const head = tensors.get('fc.1.weight') ?? tensors.get('fc.weight');
  if (!head || head.shape.length !== 2) {
    throw new WeightsFormatError(source, 'has no classifier head (fc.weight or fc.1.weight [classes, features]): it is not a ResNet state_dict with torchvision key names.');
  }
  const spec = { numClasses: head.shape[0], recipeHead: tensors.has('fc.1.weight') };
  if (archFlag) return { arch: archFlag, ...spec };
  if (metadata.arch && ARCH_NAMES.includes(metadata.arch)) return { arch: metadata.arch, ...spec };
  let layer3Blocks = 0;
  for (const k of tensors.keys()) {
    const m = /^layer3\.(\d+)\.conv1\.weight$/.exec(k);
    if (m) layer3Blocks = Math.max(layer3Blocks, Number(m[1]) + 1);
  }
  const arch = tensors.has('layer1.0.conv3.weight') ? (layer3Blocks === 6 ? 'resnet50' : null) : ({ 2: 'resnet18', 6: 'resnet34' } as Record<number, string>)[layer3Blocks] ?? null;
  if (!arch) throw new WeightsFormatError(source, `does not look like ${ARCH_NAMES.join(', ')} (${layer3Blocks} blocks in layer3); pass --arch.`);
  return { arch, ...spec };
}

/** Class names: --labels (one per line, blank trailing lines ignored), else the file's `classes` metadata, else indices. */
async function classNames(labelsPath: string | null, metadata: Record<string, string>, numClasses: number, source: string): Promise<string[]> {
  if (labelsPath) {
    const text = await readFile(labelsPath, 'utf8').catch((e) => {
      throw new DataError(`cannot read the labels file "${labelsPath}": ${(e as Error).message}`);
    });
    const names = text.replace(/\r\n?/g, '\n').replace(/\n+$/, '').split('\n');
    if (names.length !== numClasses) {
      throw new DataError(`the labels file "${labelsPath}" has ${names.length} lines but ${source} has ${numClasses} classes: give one class name per line, in the training order.`);
    }
    return names;
  }
  if (metadata.classes) {
    let names: unknown;
    try {
      names = JSON.parse(metadata.classes);
    } catch {
      names = null;
    }
    if (Array.isArray(names) && names.length === numClasses && names.every((n) => typeof n === 'string')) return names as string[];
    console.warn(`warning: ${source}: the "classes" metadata does not list ${numClasses} names; printing class indices`);
  }
  return Array.from({ length: numClasses }, (_, i) => String(i));
}

/** Every image must exist before any GPU work: a typo is reported at once. */
async function checkImagesExist(paths: string[]): Promise<void> {
  const missing: string[] = [];
  await Promise.all(paths.map((p) => access(p).catch(() => missing.push(p))));
  if (missing.length) throw new DataError(`image${missing.length > 1 ? 's' : ''} not found: ${paths.filter((p) => missing.includes(p)).join(', ')}`);
}

/** Softmax of one row of logits, in float64. */
function softmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const p = Float64Array.from(logits, (v) => Math.exp(v - max));
  const sum = p.reduce((a, b) => a + b, 0);
  return p.map((v) => v / sum);
}

function formatTop(path: string, probs: Float64Array, names: string[], k: number): string {
  const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a] || a - b).slice(0, k);
  return [path, ...order.map((c) => `  ${probs[c].toFixed(6)}  ${names[c]}`)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  let opts;
  try {
    opts = parsePredictArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}\n\n${USAGE.split('\n')[0]}\n(run with --help for all options)`);
      return 2;
    }
    throw e;
  }
  if (!opts) {
    console.log(USAGE);
    return 0;
  }

  // Everything that can be checked on the CPU comes first.
  const { tensors, metadata } = await readModelFile(opts.weights);
  const spec = inferModel(tensors, metadata, opts.weights, opts.arch);
  const names = await classNames(opts.labels, metadata, spec.numClasses, opts.weights);
  await checkImagesExist(opts.images);

  const rt = await initGpu();
  const model = resnet(spec.arch, { numClasses: spec.numClasses, dropout: spec.recipeHead ? 0 : undefined });
  try {
    loadStateDict(model, tensors, { source: opts.weights });
    model.eval();
    console.log(`${spec.arch}, ${spec.numClasses} classes, on ${rt.adapter.name}; resize ${evalResizeSize(opts.imgSize)}, crop ${opts.imgSize}`);
    const transform: TransformSpec = { mode: 'eval', size: opts.imgSize, seed: 0, epoch: 0, mean: IMAGENET_MEAN, std: IMAGENET_STD };
    const sample = sampleLength(opts.imgSize);
    const top = Math.min(opts.top, spec.numClasses);
    let failed = 0;
    for (let start = 0; start < opts.images.length; start += opts.batchSize) {
      const paths = opts.images.slice(start, start + opts.batchSize);
      // An unreadable image is reported and skipped; the others are still classified.
      const decoded = await Promise.all(paths.map((p) => decodeImageFile(p).catch((e: Error) => (console.error(`error: ${e.message}`), null))));
      const ok = paths.flatMap((p, i) => (decoded[i] ? [{ path: p, img: decoded[i]! }] : []));
      failed += paths.length - ok.length;
      if (!ok.length) continue;
      const input = new Float32Array(ok.length * sample);
      ok.forEach(({ img }, i) => transformSample(img, transform, i, input, i * sample));
      const logits = await noGrad(() => {
        const x = Tensor.fromArray(input, [ok.length, 3, opts.imgSize, opts.imgSize], 'f32', rt);
        const y = tidy(() => model.forward(x));
        const read = y.toArray();
        x.dispose();
        y.dispose();
        return read;
      });
      ok.forEach(({ path }, i) => console.log(formatTop(path, softmax(logits.subarray(i * spec.numClasses, (i + 1) * spec.numClasses)), names, top)));
    }
    if (failed) {
      console.error(`error: ${failed} of ${opts.images.length} images could not be decoded`);
      return 1;
    }
    return 0;
  } finally {
    model.dispose();
    rt.destroy();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    const known = e instanceof GpuError || e instanceof DataError || e instanceof WeightsFormatError || e instanceof StateDictError;
    console.error(`error: ${known ? e.message : (e as Error).stack ?? e}`);
    process.exit(1);
  },
);
