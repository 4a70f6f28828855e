/**
 * 'webgpu-resnet/node': the Node-only side of the data pipeline: listing folders with node:fs, decoding
 * images with sharp (as Pillow's convert('RGB') does), and a decoder pool on worker threads.
 */
export { nodeFileLister, decodeImageFile, decodeImageBytes } from './train/data/fs.node';
export { WorkerDecoderPool, type WorkerPoolOptions } from './train/data/worker-pool.node';
export { superviseSelf, DawnWarningFilter, DAWN_STARTUP_WARNING } from './gpu/supervise.node';
