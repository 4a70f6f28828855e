/**
 * One sample's path from a decoded image to normalised CHW floats: the training augmentation
 * (RandomResizedCrop + RandomHorizontalFlip) or the eval preprocessing (Resize + CenterCrop).
 * The spec is a plain object so that it can be posted to worker threads.
 */
import type { RGBImage } from './image';
import { RNG_STREAM, Rng } from './rng';
import { evalResizeCenterCrop, randomHorizontalFlip, randomResizedCrop, toTensorNormalize } from './transforms';

export type TransformMode = 'train' | 'eval';

export interface TransformSpec {
  mode: TransformMode;
  /** Output side in pixels (224 for ImageNet weights). */
  size: number;
  seed: number;
  epoch: number;
  mean: readonly number[];
  std: readonly number[];
}

/** Floats per sample: 3 × size × size. */
export function sampleLength(size: number): number {
  return 3 * size * size;
}

/** Transform `img` (sample `index` of the dataset) and write it at `out[offset ...]`. */
export function transformSample(img: RGBImage, spec: TransformSpec, index: number, out: Float32Array, offset: number): void {
  let x: RGBImage;
  if (spec.mode === 'train') {
    const rng = Rng.derive(spec.seed, RNG_STREAM.augment, spec.epoch, index);
    x = randomHorizontalFlip(randomResizedCrop(img, spec.size, rng), 0.5, rng);
  } else {
    x = evalResizeCenterCrop(img, spec.size);
  }
  toTensorNormalize(x, out, offset, spec.mean, spec.std);
}
