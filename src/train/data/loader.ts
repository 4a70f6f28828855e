/**
 * Batches for training or evaluation. Training order is a seeded shuffle per epoch and each sample
 * is augmented from its own (seed, epoch, index) stream; evaluation keeps the dataset order. The
 * last partial batch is kept. While the consumer works on one batch, the next `prefetch` batches
 * are already being decoded by the pool. A file that cannot be decoded is reported once through
 * `onWarning`, counted in `skippedFiles`, left out of its batch and of every later epoch.
 */
import type { DecodedBatch, DecoderPool } from './decoder-pool';
import { DataError } from './errors';
import { phrase } from '../../wording';
import { STANDARD_AUGMENTATION, augmentationProblem, sampleLength, type Augmentation, type TransformMode, type TransformSpec } from './pipeline';
import { RNG_STREAM, Rng } from './rng';
import type { Sample } from './split';
import { IMAGENET_MEAN, IMAGENET_STD } from './transforms';

export interface Batch {
  /** N × 3 × size × size, normalised (RGB images; a BatchSource of its own may serve other channel counts). */
  images: Float32Array;
  labels: Int32Array;
  /** Each sample's index in the loader's `samples`. */
  indices: number[];
}

export interface DataLoaderOptions {
  samples: readonly Sample[];
  pool: DecoderPool;
  batchSize: number;
  /** 'train': shuffle + RandomResizedCrop + flip (as `augment` sets them); 'eval': fixed order + Resize + CenterCrop. */
  mode: TransformMode;
  /** The training augmentation (default the recipe's, STANDARD_AUGMENTATION; a TrainConfig's: augmentationOf(config)). */
  augment?: Augmentation;
  /** Side of the square output (default 224). */
  imageSize?: number;
  seed?: number;
  /** Batches decoded ahead of the one being consumed (default 2). */
  prefetch?: number;
  mean?: readonly number[];
  std?: readonly number[];
  onWarning?: (message: string) => void;
}

export class DataLoader {
  readonly samples: readonly Sample[];
  readonly batchSize: number;
  readonly mode: TransformMode;
  readonly imageSize: number;
  readonly seed: number;
  /** The augmentation of training-mode batches. */
  readonly augment: Augmentation;
  private readonly pool: DecoderPool;
  private readonly prefetch: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  private readonly onWarning: (message: string) => void;
  private readonly bad = new Set<number>();
  /** Why each skipped file was skipped (in the order found). */
  private readonly reasons: { path: string; reason: string }[] = [];

  constructor(options: DataLoaderOptions) {
    if (!Number.isInteger(options.batchSize) || options.batchSize <= 0) {
      throw new RangeError(`batchSize must be a positive integer, got ${options.batchSize}`);
    }
    this.samples = options.samples;
    this.pool = options.pool;
    this.batchSize = options.batchSize;
    this.mode = options.mode;
    this.imageSize = options.imageSize ?? 224;
    this.seed = options.seed ?? 0;
    this.augment = options.augment ?? STANDARD_AUGMENTATION;
    const bad = augmentationProblem(this.augment);
    if (bad) throw new RangeError(`augment.${bad.field} ${bad.problem}`);
    this.prefetch = Math.max(0, options.prefetch ?? 2);
    this.mean = options.mean ?? IMAGENET_MEAN;
    this.std = options.std ?? IMAGENET_STD;
    this.onWarning = options.onWarning ?? ((message) => console.warn(message));
  }

  /** Files that failed to decode so far. */
  get skippedFiles(): number {
    return this.bad.size + this.deferredBad.length;
  }

  /**
   * Make sure the split has at least one decodable image before any training: decode its files in
   * order until one succeeds (one file for a healthy split). Files that fail are skipped from then
   * on, as during an epoch. Throws a DataError naming the folder, how many files were skipped and
   * why, when none decodes. An empty split is left alone (the trainer decides what that means).
   */
  async ensureReadable(split: string): Promise<void> {
    if (this.samples.length === 0) return;
    const spec = this.spec(0);
    const order = this.samples.map((_, i) => i).filter((i) => !this.bad.has(i));
    let start = 0;
    let chunk = 1;
    while (start < order.length) {
      const batch = await this.load(order.slice(start, start + chunk), spec);
      if (batch) return;
      start += chunk;
      chunk = this.batchSize;
    }
    throw new DataError(`the ${split} split has no image that can be decoded: ${this.skippedSummary()}. Fix or remove those files, or ${phrase('otherDataFolder')}.`);
  }

  /** "all 12 files in DIR were skipped (12 cannot be decoded: e.g. a.png: reason; ...)". */
  skippedSummary(): string {
    const dir = commonDir(this.samples.map((s) => s.path));
    const byReason = new Map<string, number>();
    for (const r of this.reasons) byReason.set(r.reason, (byReason.get(r.reason) ?? 0) + 1);
    const why = [...byReason].slice(0, 3).map(([reason, n]) => `${n} × ${reason}`).join('; ');
    const first = this.reasons[0]?.path;
    const all = this.bad.size === this.samples.length ? `all ${this.samples.length}` : `${this.bad.size} of ${this.samples.length}`;
    return `${all} files in "${dir}" were skipped as undecodable (${why}${byReason.size > 3 ? '; …' : ''}${first ? `; first: ${first}` : ''})`;
  }

  /** Indices (into samples) of the files found undecodable so far, ascending. */
  skippedIndices(): number[] {
    return [...this.bad, ...this.deferredBad].sort((a, b) => a - b);
  }

  /** Bad files to leave out from the next epoch() on (see restoreSkipped). */
  private deferredBad: number[] = [];

  /**
   * Resume: `atEpochStart` are left out of the next epoch's order (the interrupted epoch, as it was served
   * before the interruption), `later` from the epoch after it on. Indices outside samples are ignored.
   */
  restoreSkipped(atEpochStart: readonly number[], later: readonly number[]): void {
    const ok = (i: number) => Number.isInteger(i) && i >= 0 && i < this.samples.length;
    for (const i of atEpochStart) if (ok(i)) this.bad.add(i);
    this.deferredBad = later.filter((i) => ok(i) && !this.bad.has(i));
  }

  /** Batches in an epoch, given the files known to be unreadable. */
  get batchesPerEpoch(): number {
    return Math.ceil((this.samples.length - this.bad.size) / this.batchSize);
  }

  /** The sample indices of an epoch, in the order they will be served. */
  epochOrder(epoch: number): number[] {
    const order = this.samples.map((_, i) => i);
    if (this.mode === 'train') Rng.derive(this.seed, RNG_STREAM.shuffle, epoch).shuffle(order);
    return order.filter((i) => !this.bad.has(i));
  }

  /** The batches of `epoch`, from batch `startBatch` on (to resume an interrupted epoch). */
  async *epoch(epoch = 0, startBatch = 0): AsyncGenerator<Batch> {
    const order = this.epochOrder(epoch);
    for (const i of this.deferredBad.splice(0)) this.bad.add(i);
    const spec = this.spec(epoch);
    const pending: Promise<Batch | null>[] = [];
    let start = startBatch * this.batchSize;
    const fill = () => {
      while (start < order.length && pending.length <= this.prefetch) {
        const loading = this.load(order.slice(start, start + this.batchSize), spec);
        loading.catch(() => {}); // awaited below; this keeps an abandoned epoch from an unhandled rejection
        pending.push(loading);
        start += this.batchSize;
      }
    };
    fill();
    while (pending.length > 0) {
      const batch = await pending.shift()!;
      if (batch) yield batch;
      fill();
    }
  }

  private spec(epoch: number): TransformSpec {
    return { mode: this.mode, size: this.imageSize, seed: this.seed, epoch, mean: this.mean, std: this.std, augment: this.augment };
  }

  private async load(indices: number[], spec: TransformSpec): Promise<Batch | null> {
    const jobs = indices.map((index) => ({ path: this.samples[index].path, index }));
    return this.assemble(indices, await this.pool.decodeBatch(jobs, spec));
  }

  /** Drop the failed slots, closing the gaps. */
  private assemble(indices: number[], decoded: DecodedBatch): Batch | null {
    const per = sampleLength(this.imageSize);
    const failed = new Set<number>();
    for (const f of decoded.failures) {
      failed.add(f.slot);
      const index = indices[f.slot];
      if (this.bad.has(index)) continue;
      this.bad.add(index);
      this.reasons.push({ path: f.path, reason: f.reason });
      this.onWarning(`warning: skipping ${f.path}: ${f.reason}`);
    }
    const kept = indices.filter((_, slot) => !failed.has(slot));
    if (kept.length === 0) return null;
    let images = decoded.images;
    if (failed.size > 0) {
      images = new Float32Array(kept.length * per);
      let n = 0;
      indices.forEach((_, slot) => {
        if (!failed.has(slot)) images.set(decoded.images.subarray(slot * per, (slot + 1) * per), per * n++);
      });
    }
    const labels = Int32Array.from(kept, (i) => this.samples[i].label);
    return { images, labels, indices: kept };
  }
}

/** The deepest folder that holds every path ("." when they share none). */
export function commonDir(paths: readonly string[]): string {
  if (paths.length === 0) return '.';
  let parts = paths[0].split('/').slice(0, -1);
  for (const p of paths.slice(1)) {
    const q = p.split('/');
    let i = 0;
    while (i < parts.length && i < q.length - 1 && parts[i] === q[i]) i++;
    parts = parts.slice(0, i);
  }
  return parts.join('/') || (paths[0].startsWith('/') ? '/' : '.');
}
