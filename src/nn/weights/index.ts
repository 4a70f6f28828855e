// Weights I/O without a GPU and without Node APIs: callers read the file and pass its bytes.

import { looksLikePth, readPth } from './pth';
import { readSafetensors } from './safetensors';
import type { NamedTensor } from './types';

export { readPth, looksLikePth } from './pth';
export { readSafetensors, readSafetensorsMetadata, writeSafetensors } from './safetensors';
export { WeightsFormatError, type DType, type NamedTensor } from './types';

/** Reads a PyTorch .pth (zip, by its magic bytes) or a safetensors file; `source` names it in errors. */
export function readWeights(bytes: Uint8Array, source: string): Map<string, NamedTensor> {
  return looksLikePth(bytes) ? readPth(bytes, source) : readSafetensors(bytes, source);
}
