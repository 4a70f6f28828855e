/**
 * A DecoderPool on Node worker threads. Each worker runs decode-worker (sharp + the transforms) and
 * takes up to `jobsPerWorker` samples at a time, so one sample's JPEG decode (on libuv's threads)
 * overlaps another's crop and resize. Jobs are served first come, first served, so the batch the
 * loader needs next is finished first. A worker that dies takes the pool down with a clear error.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { decodeEach, type DecodedBatch, type DecodeJob, type DecoderPool } from './decoder-pool';
import type { TransformSpec } from './pipeline';

export interface WorkerRequest {
  id: number;
  path: string;
  index: number;
  spec: TransformSpec;
}

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'done'; id: number; data: Float32Array }
  | { type: 'failed'; id: number; reason: string; decodeError: boolean };

export interface WorkerPoolOptions {
  /** The worker script (path or file URL); by default decode-worker.js beside this module (dist/ in a build). */
  workerUrl?: string | URL;
  /** Worker threads (default: cores − 1, at least 1, at most 8). */
  threads?: number;
  /** Samples in flight per worker (default 2). */
  jobsPerWorker?: number;
}

type JobResult = { data: Float32Array } | { reason: string };

interface Pending {
  request: WorkerRequest;
  resolve(result: JobResult): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  inflight: Map<number, Pending>;
}

export class WorkerDecoderPool implements DecoderPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private readonly jobsPerWorker: number;
  private readonly workerUrl: string | URL;
  private nextId = 1;
  private failure: Error | null = null;
  private closed = false;

  constructor(options: WorkerPoolOptions = {}) {
    const url = options.workerUrl ?? new URL('./decode-worker.js', import.meta.url);
    // Node takes a relative path only with a leading ./, so make plain paths absolute.
    this.workerUrl = typeof url === 'string' && !url.startsWith('file:') ? resolve(url) : url;
    this.jobsPerWorker = Math.max(1, options.jobsPerWorker ?? 2);
    const threads = Math.max(1, options.threads ?? Math.min(8, availableParallelism() - 1));
    for (let i = 0; i < threads; i++) this.slots.push(this.spawn());
    this.updateRefs();
  }

  get threads(): number {
    return this.slots.length;
  }

  decodeBatch(jobs: readonly DecodeJob[], spec: TransformSpec): Promise<DecodedBatch> {
    return decodeEach(jobs, spec, async (job, out, offset) => {
      const result = await this.submit({ id: this.nextId++, path: job.path, index: job.index, spec });
      if ('reason' in result) return result.reason;
      out.set(result.data, offset);
      return null;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fail(new Error('the decoder pool was closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private submit(request: WorkerRequest): Promise<JobResult> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.queue.push({ request, resolve, reject });
      this.pump();
    });
  }

  private spawn(): Slot {
    const worker = new Worker(this.workerUrl, { name: 'decode-worker' });
    const slot: Slot = { worker, ready: false, inflight: new Map() };
    worker.on('message', (reply: WorkerReply) => this.onReply(slot, reply));
    worker.on('error', (e) => this.onDeath(slot, e.message));
    worker.on('exit', (code) => this.onDeath(slot, `exited with code ${code}`));
    return slot;
  }

  private onReply(slot: Slot, reply: WorkerReply): void {
    if (reply.type === 'ready') {
      slot.ready = true;
    } else {
      const job = slot.inflight.get(reply.id);
      if (!job) return;
      slot.inflight.delete(reply.id);
      if (reply.type === 'done') job.resolve({ data: reply.data });
      else if (reply.decodeError) job.resolve({ reason: reply.reason });
      else job.reject(new Error(`decoding "${job.request.path}" failed in a worker: ${reply.reason}`));
    }
    this.pump();
  }

  private onDeath(slot: Slot, why: string): void {
    if (this.closed || this.failure) return;
    const url = String(this.workerUrl);
    this.fail(
      slot.ready
        ? new Error(`a decode worker (${url}) died: ${why}`)
        : new Error(
            `the decode worker "${url}" failed to start: ${why}. ` +
              'Build it (dist/decode-worker.js) or pass its location as the workerUrl option.',
          ),
    );
    for (const s of this.slots) void s.worker.terminate();
  }

  /** Reject everything queued or in flight, and every later batch. */
  private fail(error: Error): void {
    this.failure ??= error;
    for (const job of this.queue.splice(0)) job.reject(this.failure);
    for (const s of this.slots) {
      for (const job of s.inflight.values()) job.reject(this.failure);
      s.inflight.clear();
    }
    this.updateRefs();
  }

  private pump(): void {
    for (const slot of this.slots) {
      while (slot.ready && slot.inflight.size < this.jobsPerWorker && this.queue.length > 0) {
        const job = this.queue.shift()!;
        slot.inflight.set(job.request.id, job);
        slot.worker.postMessage(job.request);
      }
    }
    this.updateRefs();
  }

  /** Workers keep the process alive only while they have work, so a forgotten close() cannot hang it. */
  private updateRefs(): void {
    const busy = this.queue.length > 0 || this.slots.some((s) => s.inflight.size > 0);
    for (const s of this.slots) {
      if (busy) s.worker.ref();
      else s.worker.unref();
    }
  }
}
