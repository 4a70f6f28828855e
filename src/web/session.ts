/**
 * One training run inside the worker: the same steps as the Node CLI (src/cli/train.ts) with the
 * browser's side of the seam: images from the demo generator or from picked files decoded by the
 * browser, outputs in IndexedDB, events posted to the page.
 */
import type { GpuRuntime } from '../gpu/runtime';
import { resnet, type ResNet } from '../nn/resnet';
import { loadPretrained } from '../nn/pretrained';
import { readWeights, WeightsFormatError } from '../nn/weights/index';
import { RECIPE_DEFAULTS, augmentationOf, validateConfig, type TrainConfig } from '../train/config';
import { loadImageFolder, type FileLister } from '../train/data/folder';
import { createDemoSource } from '../train/data/demo-images';
import { FileTree } from '../train/data/files.browser';
import { fileTreeDecoder } from '../train/data/decode.browser';
import { InProcessDecoderPool, type DecodeFn } from '../train/data/decoder-pool';
import { DataLoader } from '../train/data/loader';
import { SPLIT_NAMES, type Sample } from '../train/data/split';
import { centerCrop, resizeShorterSide } from '../train/data/transforms';
import { Trainer } from '../train/trainer';
import type { Summary } from '../train/run_report';
import type { OutputStore } from '../train/io';
import { DataError } from '../train/data/errors';
import { IdbStore } from './idb-store';
import { BROWSER_IMAGE_EXTENSIONS, checkDecodable, identityMismatch, weightsProblem } from './checks';
import { CHECKPOINT, DOWNLOADS, RESULTS, RUN_INFO, THUMBNAILS, parseRunInfo, type FromWorker, type RunInfo, type RunRequest, type SavedResults, type Thumbnail } from './protocol';
/** At most this many misclassified test images are sent back as thumbnails. */
const MAX_THUMBNAILS = 48;
const THUMBNAIL_SIZE = 96;

type Post = (message: FromWorker, transfer?: Transferable[]) => void;

/** Forwards the downloadable outputs to the page as the trainer writes them. */
class MirroredStore implements OutputStore {
  constructor(
    private readonly inner: OutputStore,
    private readonly post: Post,
  ) {}
  async write(name: string, data: Uint8Array | string): Promise<void> {
    await this.inner.write(name, data);
    if ((DOWNLOADS as readonly string[]).includes(name)) {
      const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data.slice();
      this.post({ type: 'file', name, data: bytes }, [bytes.buffer]);
    }
  }
  read(name: string): Promise<Uint8Array | null> {
    return this.inner.read(name);
  }
  describe(name: string): string {
    return this.inner.describe(name);
  }
}

/** The first `n` samples of each class, in the split's order. */
function firstPerClass(samples: Sample[], n: number): Sample[] {
  const seen = new Map<number, number>();
  return samples.filter((s) => {
    const k = seen.get(s.label) ?? 0;
    seen.set(s.label, k + 1);
    return k < n;
  });
}

/** One run; a new session per run. */
export class TrainingSession {
  private stopRequested = false;

  constructor(private readonly post: Post) {}

  /** Ask the running trainer to save a checkpoint and stop after its current step. */
  stop(): void {
    this.stopRequested = true;
  }

  /** Run `req` with its outputs in `idb` (the worker keeps one store per run, so a memory fallback outlives the session). */
  async run(rt: GpuRuntime, req: RunRequest, idb: IdbStore): Promise<void> {
    const log = (line: string) => this.post({ type: 'log', line });
    // Resuming takes the saved config, so that it matches the checkpoint, and only for the same data.
    const saved = req.resume && (await idb.has(CHECKPOINT)) ? await idb.read(RUN_INFO) : null;
    if (req.resume && saved === null) {
      throw new DataError(`there is no saved checkpoint of "${req.identity.root}" in this browser any more (it was deleted or never saved): press Train to start a new run.`);
    }
    const resuming = saved !== null;
    const info: RunInfo = resuming
      ? parseRunInfo(saved)
      : { run: req.run, data: req.data.kind, identity: req.identity, config: req.config, weights: req.weights?.name ?? null, limitPerClass: req.limitPerClass };
    if (resuming) {
      const mismatch = identityMismatch(info.identity, req.identity);
      if (mismatch) throw new DataError(`cannot resume: ${mismatch}. Its checkpoint does not belong to this data; press Train to start a new run (it replaces the saved one).`);
    }
    // A run saved before a setting existed trained with the recipe's value of it.
    const c: TrainConfig = validateConfig({ ...RECIPE_DEFAULTS, ...info.config });
    if (!resuming) {
      await idb.clear();
      await idb.write(RUN_INFO, JSON.stringify(info, null, 2));
    }

    // Data first: a bad folder is reported before any GPU work.
    const { root, lister, decode } = this.dataSource(req);
    const dataset = await loadImageFolder(lister, root, { fractions: { train: c.split[0], val: c.split[1], test: c.split[2] }, seed: c.seed, extensions: BROWSER_IMAGE_EXTENSIONS });
    this.post({ type: 'dataset', description: dataset.description, classes: dataset.classes, trainImages: dataset.train.length });
    const limit = info.limitPerClass;
    if (limit) {
      for (const split of SPLIT_NAMES) dataset[split] = firstPerClass(dataset[split], limit);
      log(`subset: at most ${limit} images per class in each split: ${SPLIT_NAMES.map((s) => `${dataset[s].length} ${s}`).join(', ')}`);
    }
    // A split with no decodable image would train or test on nothing: an error now, before any GPU work.
    await checkDecodable(root, dataset, decode);

    const model = resnet(c.arch, { numClasses: dataset.classes.length, dropout: c.dropout, seed: c.seed });
    const pool = new InProcessDecoderPool(decode);
    let trainer: Trainer | null = null;
    try {
      if (!resuming) this.loadWeights(model, req, c, log);
      const loader = (samples: Sample[], mode: 'train' | 'eval') =>
        new DataLoader({ samples, pool, batchSize: c.batchSize, mode, imageSize: c.imgSize, seed: c.seed, augment: augmentationOf(c), onWarning: log });
      const data = { classes: dataset.classes, train: loader(dataset.train, 'train'), val: loader(dataset.val, 'eval'), test: loader(dataset.test, 'eval') };
      const store = new MirroredStore(idb, this.post);
      trainer = new Trainer(rt, model, data, c, store, {
        log,
        progress: (progress) => this.post({ type: 'progress', progress }),
        compileProgress: (progress) => this.post({ type: 'compile', progress }),
        compileEnd: (p) => this.post({ type: 'compiled', ...p }),
        phaseEnd: (phase) => this.post({ type: 'phaseEnd', phase }),
        epochEnd: (row, history) => this.post({ type: 'epoch', row, history: [...history] }),
        shouldStop: () => this.stopRequested,
      });
      if (resuming) await trainer.resume();
      this.post({ type: 'started', info, resumed: resuming, history: [...trainer.history()] });
      if (resuming) await this.mirrorSaved(idb);
      log(`training ${c.arch} on ${dataset.train.length} images (${dataset.classes.length} classes), batch ${c.batchSize}, ${c.imgSize}px`);
      const summary = await trainer.run();
      if (!summary) {
        this.post({ type: 'stopped' });
        return;
      }
      const thumbnails = await this.thumbnails(summary, dataset.test, decode);
      await this.saveResults(idb, summary, [...trainer.history()], thumbnails);
      this.post({ type: 'done', summary, thumbnails }, thumbnails.map((t) => t.image.data.buffer as ArrayBuffer));
    } finally {
      trainer?.dispose();
      model.dispose();
      await pool.close();
    }
  }

  private dataSource(req: RunRequest): { root: string; lister: FileLister; decode: DecodeFn } {
    if (req.data.kind === 'demo') return createDemoSource('demo');
    const tree = new FileTree(req.data.files);
    return { root: req.data.root, lister: tree, decode: fileTreeDecoder(tree) };
  }

  private loadWeights(model: ResNet, req: RunRequest, c: TrainConfig, log: (line: string) => void): void {
    if (!req.weights) {
      log(`no weights given: training ${c.arch} from random initialisation (seed ${c.seed})`);
      return;
    }
    const { name, bytes } = req.weights;
    const problem = weightsProblem(name, bytes.subarray(0, 8), bytes.length);
    if (problem) throw new WeightsFormatError(name, problem);
    for (const line of loadPretrained(model, readWeights(bytes, name), name).messages) log(line);
  }

  /** The downloads of a resumed run that were written before the page was (re)loaded. */
  private async mirrorSaved(idb: IdbStore): Promise<void> {
    for (const name of DOWNLOADS) {
      const data = await idb.read(name);
      if (data) this.post({ type: 'file', name, data: data.slice() });
    }
  }

  /** The finished run's view (results.json and the thumbnails' pixels), so that a reloaded page can show it again. */
  private async saveResults(idb: IdbStore, summary: Summary, history: SavedResults['history'], thumbnails: Thumbnail[]): Promise<void> {
    const results: SavedResults = {
      summary,
      history,
      thumbnails: thumbnails.map(({ image: _image, ...t }) => t),
      sizes: thumbnails.map((t) => [t.image.width, t.image.height]),
    };
    const pixels = new Uint8Array(thumbnails.reduce((n, t) => n + t.image.data.length, 0));
    let at = 0;
    for (const t of thumbnails) {
      pixels.set(t.image.data, at);
      at += t.image.data.length;
    }
    await idb.write(THUMBNAILS, pixels);
    await idb.write(RESULTS, JSON.stringify(results));
  }

  /** Small RGB previews of the misclassified test images. */
  private async thumbnails(summary: Summary, test: Sample[], decode: DecodeFn): Promise<Thumbnail[]> {
    const out: Thumbnail[] = [];
    for (const m of summary.misclassified.slice(0, MAX_THUMBNAILS)) {
      try {
        const img = await decode(test[m.index].path);
        out.push({ index: m.index, path: m.path, label: m.label, predicted: m.predicted, confidence: m.confidence, image: centerCrop(resizeShorterSide(img, THUMBNAIL_SIZE), THUMBNAIL_SIZE) });
      } catch {
        // An image that decoded for the test but not now: no thumbnail.
      }
    }
    return out;
  }
}
