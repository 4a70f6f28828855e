/**
 * `node dist/predict.js --weights W IMAGE|FOLDER...`: classify images with a trained ResNet (best.safetensors,
 * a checkpoint, or any torchvision-named state_dict), printing each image's top classes and probabilities,
 * or writing them as CSV or JSON (--output). The preprocessing (image size, normalisation), the class names
 * and the architecture come from the weights' metadata when dist/train.js wrote them.
 */
import { access, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { superviseSelf } from '../gpu/supervise.node';
import { constants as fsConstants } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { initGpu } from '../gpu/init';
import { GpuError } from '../gpu/errors';
import { Tensor } from '../autograd/tensor';
import { autocast, noGrad, tidy } from '../autograd/scope';
import { hasF16 } from '../kernels/cast';
import { ARCH_NAMES, resnet } from '../nn/resnet';
import { loadStateDict, StateDictError } from '../nn/state';
import { readWeights, readSafetensorsMetadata, looksLikePth, WeightsFormatError, type NamedTensor } from '../nn/weights/index';
import { adaptStateDict } from '../nn/weights/compat';
import { decodeImageFile } from '../train/data/fs.node';
import { DataError } from '../train/data/errors';
import { IMAGENET_MEAN, IMAGENET_STD, evalResizeSize } from '../train/data/transforms';
import type { TransformSpec } from '../train/data/pipeline';
import type { RGBImage } from '../train/data/image';
import { UsageError } from './args';
import { TUNE_CACHE_USAGE, type TuneCacheFlags, loadCliTuneCache, tuneCacheFlagError } from './tune';
import { CompileStatus } from './progress';
import { expandImagePaths, preprocessedBatches } from './predict_input';
import { useWording } from '../wording';

const USAGE = `usage: node dist/predict.js --weights FILE [--output FILE.csv|FILE.json] [options] IMAGE|FOLDER...

Classifies images with a ResNet: the weights' head (fc.weight, or the recipe's fc.1.weight) gives the number of
classes; each image is resized (shorter side 256/224 of the crop), center-cropped and normalised as torchvision's
eval transform does, and its top classes are printed with their softmax probabilities. A FOLDER stands for every
image file under it (sorted by path). Weights written by dist/train.js carry the training image size, the
normalisation, the class names and the architecture; they are used unless a flag overrides them (with a warning).
Weights for greyscale input (the "in_channels" metadata, or conv1.weight, says 1 channel) get each image's
luma (Pillow's convert('L'), as torchvision's Grayscale) before the resize.

  --weights FILE        .safetensors (best.safetensors or a checkpoint from dist/train.js) or .pth state_dict
  --output FILE         write the predictions to FILE instead of printing them: .csv (one row per image:
                        path, class_1, probability_1, ..., error) or .json
  --arch NAME           ${ARCH_NAMES.join(' | ')} (default: from the file's metadata, else from its keys)
  --labels FILE         class names, one per line (default: the "classes" metadata, else indices)
  --top N               how many classes to report per image (default 5)
  --img-size N          crop size in pixels (default: the "img_size" metadata, else 224)
  --batch-size N        images per forward pass (default 16); memory holds one batch of crops and
                        at most 2 decoded originals at a time
  --precision P         f32 (default) or f16: the forward pass under autocast, as torch.autocast (convolution
                        and linear inputs and the activations in float16, sums in float32; about half the
                        activation memory). The probabilities differ from f32's by float16's rounding (about
                        1e-3 relative in the logits). Needs the adapter's shader-f16; without it predict.js says
                        so and runs in float32
${TUNE_CACHE_USAGE}
  --help                this text

Environment: WEBGPU_ADAPTER=<name> picks an adapter, WEBGPU_BACKEND=<vulkan|metal|d3d12> a Dawn backend,
WEBGPU_DISABLE_FEATURES=shader-f16 a device without float16 (to try the fallback).`;

interface PredictOptions {
  weights: string;
  arch: string | null;
  labels: string | null;
  top: number;
  /** null: from the metadata, else 224. */
  imgSize: number | null;
  batchSize: number;
  output: string | null;
  images: string[];
  tuneCache: TuneCacheFlags;
  /** The precision asked for (the run falls back to 'f32' where the adapter lacks shader-f16). */
  precision: 'f32' | 'f16';
}

class OutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputError';
  }
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
        output: { type: 'string', short: 'o' },
        precision: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        'tune-cache': { type: 'string' },
        'no-tune-cache': { type: 'boolean' },
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
  if (v.output !== undefined && !/\.(csv|json)$/i.test(v.output)) throw new UsageError(`--output must name a .csv or .json file, got '${v.output}'`);
  if (v.precision !== undefined && v.precision !== 'f32' && v.precision !== 'f16') throw new UsageError(`--precision must be f32 or f16, got '${v.precision}'`);
  const tuneCache = { file: v['tune-cache'] ?? null, disabled: v['no-tune-cache'] === true };
  const tuneError = tuneCacheFlagError(tuneCache);
  if (tuneError) throw new UsageError(tuneError);
  return {
    weights: v.weights,
    arch: v.arch ?? null,
    labels: v.labels ?? null,
    top: positiveInt('top', v.top, 5),
    imgSize: v['img-size'] === undefined ? null : positiveInt('img-size', v['img-size'], 224, 32),
    batchSize: positiveInt('batch-size', v['batch-size'], 16),
    output: v.output ?? null,
    images: positionals,
    tuneCache,
    precision: v.precision === 'f16' ? 'f16' : 'f32',
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
  if (archFlag) {
    if (metadata.arch && metadata.arch !== archFlag) console.warn(`warning: --arch ${archFlag} overrides the architecture ${metadata.arch} recorded in ${source}`);
    return { arch: archFlag, ...spec };
  }
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
    const recorded = parseStringList(metadata.classes);
    if (recorded && JSON.stringify(recorded) !== JSON.stringify(names)) {
      console.warn(`warning: --labels ${labelsPath} overrides the class names recorded in ${source} ([${recorded.join(', ')}])`);
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

function parseStringList(raw: string | undefined): string[] | null {
  try {
    const v: unknown = raw ? JSON.parse(raw) : null;
    return Array.isArray(v) && v.every((n) => typeof n === 'string') ? (v as string[]) : null;
  } catch {
    return null;
  }
}

/** A JSON list of `n` finite numbers, or null. */
function parseNumbers(raw: string | undefined, n: number): number[] | null {
  try {
    const v: unknown = raw ? JSON.parse(raw) : null;
    return Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (v as number[]) : null;
  } catch {
    return null;
  }
}

/**
 * The channels the model's input has: the "in_channels" metadata (train.js writes it when it is not 3), else
 * conv1.weight's [64, C, 7, 7], else 3. predict.js reads images as RGB (3) or greyscale (1) only.
 */
function inputChannels(tensors: Map<string, NamedTensor>, metadata: Record<string, string>, source: string): number {
  const conv1 = tensors.get('conv1.weight');
  const fromKeys = conv1 && conv1.shape.length === 4 ? conv1.shape[1] : null;
  let recorded: number | null = null;
  if (metadata.in_channels !== undefined) {
    recorded = Number(metadata.in_channels);
    if (!Number.isInteger(recorded) || recorded < 1) throw new WeightsFormatError(source, `the "in_channels" metadata '${metadata.in_channels}' is not a channel count; write the file again`);
  }
  if (recorded !== null && fromKeys !== null && recorded !== fromKeys) {
    throw new WeightsFormatError(source, `the "in_channels" metadata says ${recorded} input channels, but conv1.weight [${conv1!.shape.join(', ')}] takes ${fromKeys}: the file contradicts itself; write it again`);
  }
  const channels = recorded ?? fromKeys ?? 3;
  if (channels !== 1 && channels !== 3) {
    throw new WeightsFormatError(
      source,
      `the model takes ${channels} input channels; predict.js reads images as RGB (3 channels) or greyscale (1) only. ` +
        `Classify such inputs with the library: resnet(arch, { inChannels: ${channels} }), loadStateDict, and your own preprocessing.`,
    );
  }
  return channels;
}

/** An image's luma as Pillow's convert('L') computes it (ITU-R 601-2, fixed point), in all three channels. */
function greyscale(img: RGBImage): RGBImage {
  const d = img.data;
  const out = new Uint8Array(d.length);
  for (let i = 0; i < d.length; i += 3) {
    const l = (d[i] * 19595 + d[i + 1] * 38470 + d[i + 2] * 7471 + 0x8000) >> 16;
    out[i] = out[i + 1] = out[i + 2] = l;
  }
  return { width: img.width, height: img.height, data: out };
}

/**
 * The eval preprocessing: the crop size from --img-size, else the "img_size" metadata, else 224; mean and std
 * from the metadata, else ImageNet's. A flag that disagrees with the metadata is used, with a warning.
 */
function preprocessing(opts: PredictOptions, metadata: Record<string, string>, source: string, channels: number): { size: number; mean: number[]; std: number[]; fromMetadata: boolean } {
  const recorded = Number(metadata.img_size);
  const hasSize = Number.isInteger(recorded) && recorded >= 1;
  if (metadata.img_size !== undefined && !hasSize) console.warn(`warning: ${source}: the "img_size" metadata '${metadata.img_size}' is not a size; using ${opts.imgSize ?? 224}`);
  if (opts.imgSize !== null && hasSize && opts.imgSize !== recorded) {
    console.warn(`warning: --img-size ${opts.imgSize} overrides the ${recorded} px that ${source} was trained at (its metadata): expect worse predictions`);
  }
  const size = opts.imgSize ?? (hasSize ? recorded : 224);
  const mean = parseNumbers(metadata.mean, channels);
  const std = parseNumbers(metadata.std, channels);
  if (channels === 3) {
    if ((metadata.mean !== undefined && !mean) || (metadata.std !== undefined && !std)) console.warn(`warning: ${source}: the "mean"/"std" metadata is not three numbers; using ImageNet's`);
    return { size, mean: mean ?? [...IMAGENET_MEAN], std: std ?? [...IMAGENET_STD], fromMetadata: hasSize || !!mean };
  }
  // ImageNet's mean and std are RGB's: another channel count has only its own, recorded at training.
  if (!mean || !std) {
    console.warn(`warning: ${source}: no "mean"/"std" metadata of ${channels} number${channels === 1 ? '' : 's'} for its ${channels}-channel input; the images are only scaled to [0, 1], not normalised`);
  }
  return { size, mean: mean ?? new Array<number>(channels).fill(0), std: std ?? new Array<number>(channels).fill(1), fromMetadata: hasSize || !!mean };
}

/** The output file's folder must be writable before any GPU work. */
async function checkOutput(path: string): Promise<void> {
  const dir = dirname(path);
  const st = await stat(path).catch(() => null);
  if (st?.isDirectory()) throw new OutputError(`--output ${path} is a folder; give a file name ending in .csv or .json`);
  await access(dir, fsConstants.W_OK).catch((e: NodeJS.ErrnoException) => {
    throw new OutputError(`cannot write --output ${path}: its folder "${dir}" ${e.code === 'ENOENT' ? 'does not exist' : 'is not writable'} (${e.code})`);
  });
}

interface Prediction {
  path: string;
  top?: { class: string; probability: number }[];
  error?: string;
}

function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

function predictionsCsv(rows: Prediction[], top: number): string {
  const head = ['path', ...Array.from({ length: top }, (_, i) => [`class_${i + 1}`, `probability_${i + 1}`]).flat(), 'error'];
  const lines = rows.map((r) => {
    const cells = [r.path];
    for (let i = 0; i < top; i++) cells.push(r.top?.[i]?.class ?? '', r.top?.[i] ? r.top[i].probability.toPrecision(6) : '');
    cells.push(r.error ?? '');
    return cells.map(csvField).join(',');
  });
  return [head.join(','), ...lines].join('\n') + '\n';
}

/** Write `text` to `path` through a temporary file in the same folder, so that a failure leaves no half file. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, text);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new OutputError(`cannot write --output ${path}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Softmax of one row of logits, in float64. */
function softmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const p = Float64Array.from(logits, (v) => Math.exp(v - max));
  const sum = p.reduce((a, b) => a + b, 0);
  return p.map((v) => v / sum);
}

function topK(probs: Float64Array, names: string[], k: number): { class: string; probability: number }[] {
  const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a] || a - b).slice(0, k);
  return order.map((c) => ({ class: names[c], probability: probs[c] }));
}

function formatTop(p: Prediction): string {
  return [p.path, ...(p.top ?? []).map((e) => `  ${e.probability.toFixed(6)}  ${e.class}`)].join('\n');
}

/** Channel 0 of each of `n` CHW samples of 3 planes. */
function firstChannel(input: Float32Array, n: number, plane: number): Float32Array {
  const out = new Float32Array(n * plane);
  for (let i = 0; i < n; i++) out.set(input.subarray(i * 3 * plane, i * 3 * plane + plane), i * plane);
  return out;
}

async function main(argv: string[]): Promise<number> {
  useWording('flags'); // the library's messages name this command's flags
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
  const channels = inputChannels(tensors, metadata, opts.weights);
  const pre = preprocessing(opts, metadata, opts.weights, channels);
  const images = await expandImagePaths(opts.images, (m) => console.warn(m));
  if (opts.output) await checkOutput(opts.output);

  const rt = await initGpu();
  await loadCliTuneCache(rt, opts.tuneCache, (l) => console.log(l), (l) => console.error(l));
  // float16 where asked and possible; without shader-f16, one line says so and the run stays in float32.
  const f16 = opts.precision === 'f16' && hasF16(rt);
  if (opts.precision === 'f16' && !f16) {
    console.warn(`warning: this adapter (${rt.adapter.name}) has no shader-f16, so --precision f16 cannot run on it: predicting in float32 instead`);
  }
  const model = resnet(spec.arch, { numClasses: spec.numClasses, dropout: spec.recipeHead ? 0 : undefined, inChannels: channels });
  try {
    loadStateDict(model, tensors, { source: opts.weights });
    model.eval();
    const from = pre.fromMetadata ? ` (from ${opts.weights}'s metadata${opts.imgSize !== null ? ', --img-size overriding' : ''})` : '';
    const grey = channels === 1;
    console.log(`${spec.arch}, ${spec.numClasses} classes${grey ? ', greyscale input' : ''}, on ${rt.adapter.name}; resize ${evalResizeSize(pre.size)}, crop ${pre.size}${from}${f16 ? '; float16 (autocast)' : ''}`);
    // Greyscale: the luma in all three channels, normalised with the one channel's mean and std; channel 0 is the input.
    const transform: TransformSpec = { mode: 'eval', size: pre.size, seed: 0, epoch: 0, mean: grey ? [0, 1, 2].map(() => pre.mean[0]) : pre.mean, std: grey ? [0, 1, 2].map(() => pre.std[0]) : pre.std };
    const decode = grey ? async (path: string) => greyscale(await decodeImageFile(path)) : decodeImageFile;
    const plane = pre.size * pre.size;
    const top = Math.min(opts.top, spec.numClasses);
    const rows: Prediction[] = [];
    let failed = 0;
    let compiled = false;
    // The weights do not change between batches: Winograd's transformed filters and the folded batch norms are
    // made once (GpuRuntime.derived).
    await rt.derived.scope(async () => {
      for await (const batch of preprocessedBatches(images, { batchSize: opts.batchSize, spec: transform, decode })) {
        // An unreadable image is reported and skipped; the others are still classified.
        for (const f of batch.failed) {
          console.error(`error: cannot decode image "${f.path}": ${f.reason}`);
          if (opts.output) rows.push({ path: f.path, error: f.reason });
        }
        failed += batch.failed.length;
        const n = batch.paths.length;
        if (!n) continue;
        // The first batch's pipelines compile in parallel before it runs, with a progress line on stderr.
        const status = compiled ? null : new CompileStatus();
        const compile = status ? rt.precompile((done, total) => status.update(done, total)) : null;
        compiled = true;
        const pending = noGrad(() => {
          const input = grey ? firstChannel(batch.input, n, plane) : batch.input;
          const x = Tensor.fromArray(input, [n, channels, pre.size, pre.size], 'f32', rt);
          // Under autocast the logits come back as a float16 tensor; toArray decodes them to float32.
          const y = tidy(() => autocast(() => model.forward(x), { enabled: f16 }));
          const read = y.toArray();
          x.dispose();
          y.dispose();
          return read;
        });
        if (compile && status) {
          pending.catch(() => undefined); // awaited below, after the compile's own error
          const r = await compile;
          if (r.pipelines > 0) status.end(r.pipelines, r.seconds);
        }
        const logits = await pending;
        batch.paths.forEach((path, i) => {
          const p: Prediction = { path, top: topK(softmax(logits.subarray(i * spec.numClasses, (i + 1) * spec.numClasses)), names, top) };
          if (opts.output) rows.push(p);
          else console.log(formatTop(p));
        });
      }
    });
    if (opts.output) {
      const order = new Map(images.map((p, i) => [p, i]));
      rows.sort((a, b) => order.get(a.path)! - order.get(b.path)!);
      const text = /\.json$/i.test(opts.output)
        ? JSON.stringify({ weights: opts.weights, arch: spec.arch, precision: f16 ? 'f16' : 'f32', img_size: pre.size, in_channels: channels, mean: pre.mean, std: pre.std, classes: names, predictions: rows }, null, 2) + '\n'
        : predictionsCsv(rows, top);
      await writeAtomically(opts.output, text);
      console.log(`wrote ${rows.length - failed} predictions${failed ? ` and ${failed} errors` : ''} to ${opts.output}`);
    }
    if (failed) {
      console.error(`error: ${failed} of ${images.length} images could not be decoded`);
      return 1;
    }
    return 0;
  } finally {
    model.dispose();
    rt.destroy();
  }
}

// Dawn's native start-up warnings are filtered by running under a supervisor (gpu/supervise.node.ts).
if (!superviseSelf()) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      const known = e instanceof GpuError || e instanceof DataError || e instanceof WeightsFormatError || e instanceof StateDictError || e instanceof OutputError;
      console.error(`error: ${known ? e.message : (e as Error).stack ?? e}`);
      process.exit(1);
    },
  );
}
