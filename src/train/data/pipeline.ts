/**
 * One sample's path from a decoded image to normalised CHW floats: the training augmentation
 * (RandomResizedCrop + RandomHorizontalFlip, as `Augmentation` sets them; none: the eval preprocessing) or the
 * eval preprocessing (Resize + CenterCrop). The spec is a plain object so that it can be posted to worker threads.
 */
import type { RGBImage } from './image';
import { RNG_STREAM, Rng } from './rng';
import { evalResizeCenterCrop, randomHorizontalFlip, randomResizedCrop, toTensorNormalize } from './transforms';

export type TransformMode = 'train' | 'eval';

/** The training augmentation: torchvision's RandomResizedCrop(size, scale, ratio) then RandomHorizontalFlip(0.5). */
export interface Augmentation {
  /** 'standard': crop and flip as below; 'none': the eval preprocessing (Resize + CenterCrop), no randomness. */
  kind: 'standard' | 'none';
  /** RandomResizedCrop's range of the crop's area, as fractions of the image's (the recipe: 0.08–1). */
  scale: readonly [number, number];
  /** RandomResizedCrop's range of the crop's aspect ratio, width / height (the recipe: 3/4–4/3). */
  ratio: readonly [number, number];
  /** RandomHorizontalFlip with p = 0.5 (the recipe: on). */
  flip: boolean;
}

/** The recipe's augmentation. */
export const STANDARD_AUGMENTATION: Augmentation = { kind: 'standard', scale: [0.08, 1], ratio: [3 / 4, 4 / 3], flip: true };

/**
 * What is wrong with an augmentation, or null: each problem names its field (`scale`, `ratio`, `flip`, `kind`)
 * and what is allowed; callers prefix the setting's name.
 */
export function augmentationProblem(a: Augmentation): { field: keyof Augmentation; problem: string } | null {
  if (a.kind !== 'standard' && a.kind !== 'none') return { field: 'kind', problem: `must be 'standard' or 'none', got '${String(a.kind)}'` };
  const pair = (v: readonly number[]) => (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && Number.isFinite(x)) ? null : `must be two numbers min,max, got ${Array.isArray(v) ? v.join(',') : String(v)}`);
  const scale = pair(a.scale) ?? (a.scale[0] > 0 && a.scale[0] <= a.scale[1] && a.scale[1] <= 1 ? null : `must be two fractions of the image's area with 0 < min ≤ max ≤ 1, got ${a.scale.join(',')}`);
  if (scale) return { field: 'scale', problem: scale };
  const ratio = pair(a.ratio) ?? (a.ratio[0] > 0 && a.ratio[0] <= a.ratio[1] ? null : `must be two aspect ratios (width / height) with 0 < min ≤ max, got ${a.ratio.join(',')}`);
  if (ratio) return { field: 'ratio', problem: ratio };
  if (typeof a.flip !== 'boolean') return { field: 'flip', problem: `must be true or false, got ${String(a.flip)}` };
  return null;
}

export interface TransformSpec {
  mode: TransformMode;
  /** Output side in pixels (224 for ImageNet weights). */
  size: number;
  seed: number;
  epoch: number;
  mean: readonly number[];
  std: readonly number[];
  /** The training augmentation (mode 'train' only; default STANDARD_AUGMENTATION). */
  augment?: Augmentation;
}

/** Floats per sample: 3 × size × size. */
export function sampleLength(size: number): number {
  return 3 * size * size;
}

/** Transform `img` (sample `index` of the dataset) and write it at `out[offset ...]`. */
export function transformSample(img: RGBImage, spec: TransformSpec, index: number, out: Float32Array, offset: number): void {
  let x: RGBImage;
  const a = spec.augment ?? STANDARD_AUGMENTATION;
  if (spec.mode === 'train' && a.kind === 'standard') {
    const rng = Rng.derive(spec.seed, RNG_STREAM.augment, spec.epoch, index);
    x = randomResizedCrop(img, spec.size, rng, a.scale, a.ratio);
    if (a.flip) x = randomHorizontalFlip(x, 0.5, rng);
  } else {
    x = evalResizeCenterCrop(img, spec.size);
  }
  toTensorNormalize(x, out, offset, spec.mean, spec.std);
}
