/**
 * The worker-thread side of WorkerDecoderPool: read and decode a file with sharp, apply the
 * sample's transforms and send back its CHW floats (the buffer is transferred, not copied).
 * Bundled on its own to dist/decode-worker.js.
 */
import { parentPort } from 'node:worker_threads';
import { ImageDecodeError } from './errors';
import { decodeImageFile } from './fs.node';
import { sampleLength, transformSample } from './pipeline';
import type { WorkerReply, WorkerRequest } from './worker-pool.node';

const port = parentPort;
if (!port) throw new Error('decode-worker must be started as a worker thread');

const reply = (message: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

port.on('message', (request: WorkerRequest) => void handle(request));
reply({ type: 'ready' });

async function handle({ id, path, index, spec }: WorkerRequest): Promise<void> {
  try {
    const img = await decodeImageFile(path);
    const data = new Float32Array(sampleLength(spec.size));
    transformSample(img, spec, index, data, 0);
    reply({ type: 'done', id, data }, [data.buffer]);
  } catch (e) {
    const decodeError = e instanceof ImageDecodeError;
    const reason = decodeError ? e.reason : e instanceof Error ? (e.stack ?? e.message) : String(e);
    reply({ type: 'failed', id, reason, decodeError });
  }
}
