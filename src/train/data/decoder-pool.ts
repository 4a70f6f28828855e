/**
 * The loader's view of decoding: a pool that turns a batch of files into normalised CHW floats.
 * `WorkerDecoderPool` (worker-pool.node.ts) does it in Node worker threads; `InProcessDecoderPool` here
 * does it on the calling thread with any decode function (sharp in Node tests, the canvas or the
 * demo generator in a browser).
 */
import { ImageDecodeError } from './errors';
import type { RGBImage } from './image';
import { sampleLength, transformSample, type TransformSpec } from './pipeline';

export interface DecodeJob {
  path: string;
  /** The sample's index in the dataset: keys its augmentation stream. */
  index: number;
}

export interface DecodeFailure {
  /** Position of the failed job in the batch. */
  slot: number;
  path: string;
  reason: string;
}

export interface DecodedBatch {
  /** jobs.length × 3 × size × size; slot i holds job i (zeros where it failed). */
  images: Float32Array;
  /** Files that could not be decoded; any other error rejects the batch. */
  failures: DecodeFailure[];
}

export interface DecoderPool {
  decodeBatch(jobs: readonly DecodeJob[], spec: TransformSpec): Promise<DecodedBatch>;
  close(): Promise<void>;
}

export type DecodeFn = (path: string) => Promise<RGBImage>;

/**
 * Run `one` on every job at once; it writes its sample at `out[offset ...]` and returns null, or
 * returns why the file could not be decoded.
 */
export async function decodeEach(
  jobs: readonly DecodeJob[],
  spec: TransformSpec,
  one: (job: DecodeJob, out: Float32Array, offset: number) => Promise<string | null>,
): Promise<DecodedBatch> {
  const per = sampleLength(spec.size);
  const images = new Float32Array(jobs.length * per);
  const failures: DecodeFailure[] = [];
  await Promise.all(
    jobs.map(async (job, slot) => {
      const reason = await one(job, images, slot * per);
      if (reason !== null) failures.push({ slot, path: job.path, reason });
    }),
  );
  failures.sort((a, b) => a.slot - b.slot);
  return { images, failures };
}

export class InProcessDecoderPool implements DecoderPool {
  constructor(private readonly decode: DecodeFn) {}

  decodeBatch(jobs: readonly DecodeJob[], spec: TransformSpec): Promise<DecodedBatch> {
    return decodeEach(jobs, spec, async (job, out, offset) => {
      let img: RGBImage;
      try {
        img = await this.decode(job.path);
      } catch (e) {
        if (e instanceof ImageDecodeError) return e.reason;
        throw e;
      }
      transformSample(img, spec, job.index, out, offset);
      return null;
    });
  }

  async close(): Promise<void> {}
}
