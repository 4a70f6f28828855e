/**
 * torchvision's transforms with its exact semantics (PIL path): RandomResizedCrop, RandomHorizontalFlip,
 * Resize(int), CenterCrop, ToTensor + Normalize. Pure TS, shared by Node workers and the browser.
 */
import { cropImage, flipHorizontal, resizeBilinear, type RGBImage } from './image';
import type { RandomSource } from './rng';

export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/** A crop in torchvision's (i, j, h, w) terms: top row, left column, height, width. */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** Python 3's `round()`: halves go to the even neighbour. */
export function pythonRound(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** `RandomResizedCrop.get_params`: ten tries at a random area and log-uniform aspect, then a central crop. */
export function randomResizedCropParams(
  width: number,
  height: number,
  rng: RandomSource,
  scale: readonly [number, number] = [0.08, 1],
  ratio: readonly [number, number] = [3 / 4, 4 / 3],
): CropBox {
  const area = height * width;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = pythonRound(Math.sqrt(targetArea * aspect));
    const h = pythonRound(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  const minRatio = Math.min(ratio[0], ratio[1]);
  const maxRatio = Math.max(ratio[0], ratio[1]);
  let w = width;
  let h = height;
  if (inRatio < minRatio) h = pythonRound(w / minRatio);
  else if (inRatio > maxRatio) w = pythonRound(h * maxRatio);
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

export function resizedCrop(img: RGBImage, box: CropBox, size: number): RGBImage {
  return resizeBilinear(cropImage(img, box.left, box.top, box.width, box.height), size, size);
}

export function randomResizedCrop(
  img: RGBImage,
  size: number,
  rng: RandomSource,
  scale?: readonly [number, number],
  ratio?: readonly [number, number],
): RGBImage {
  return resizedCrop(img, randomResizedCropParams(img.width, img.height, rng, scale, ratio), size);
}

/** Flips when a uniform draw is below p, as `torch.rand(1) < p`. */
export function randomHorizontalFlip(img: RGBImage, p: number, rng: RandomSource): RGBImage {
  return rng.next() < p ? flipHorizontal(img) : img;
}

/** `Resize(size)` with an int: the shorter side becomes `size`, the longer `int(size * long / short)`. */
export function resizedShorterSide(width: number, height: number, size: number): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { width: Math.trunc((size * width) / height), height: size };
}

export function resizeShorterSide(img: RGBImage, size: number): RGBImage {
  const out = resizedShorterSide(img.width, img.height, size);
  return resizeBilinear(img, out.width, out.height);
}

/** `CenterCrop`'s box: top = round((h - crop) / 2); a crop larger than the image is padded with black. */
export function centerCropBox(width: number, height: number, cropWidth: number, cropHeight: number): CropBox {
  const offset = (size: number, crop: number) =>
    crop > size ? -Math.floor((crop - size) / 2) : pythonRound((size - crop) / 2);
  return { top: offset(height, cropHeight), left: offset(width, cropWidth), height: cropHeight, width: cropWidth };
}

export function centerCrop(img: RGBImage, size: number): RGBImage {
  const box = centerCropBox(img.width, img.height, size, size);
  return cropImage(img, box.left, box.top, box.width, box.height);
}

/** The eval resize of the ImageNet recipe: 256 for a 224 crop, scaled for other sizes. */
export function evalResizeSize(size: number): number {
  return pythonRound((size * 256) / 224);
}

/** `Resize(round(size * 256 / 224))` then `CenterCrop(size)`. */
export function evalResizeCenterCrop(img: RGBImage, size: number): RGBImage {
  return centerCrop(resizeShorterSide(img, evalResizeSize(size)), size);
}

/**
 * `ToTensor()` then `Normalize(mean, std)` in float32 as torch computes it, written as CHW at `offset`.
 */
export function toTensorNormalize(
  img: RGBImage,
  out: Float32Array,
  offset = 0,
  mean: readonly number[] = IMAGENET_MEAN,
  std: readonly number[] = IMAGENET_STD,
): void {
  const plane = img.width * img.height;
  if (offset + 3 * plane > out.length) {
    throw new RangeError(`toTensorNormalize: ${3 * plane} values at offset ${offset} overflow a buffer of ${out.length}`);
  }
  const table = new Float32Array(256);
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(mean[c]);
    const s = Math.fround(std[c]);
    for (let v = 0; v < 256; v++) table[v] = Math.fround(Math.fround(v / 255) - m) / s;
    const base = offset + c * plane;
    const data = img.data;
    for (let i = 0; i < plane; i++) out[base + i] = table[data[i * 3 + c]];
  }
}
