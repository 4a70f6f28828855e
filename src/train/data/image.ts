/**
 * An 8-bit RGB image in HWC order and the geometric operations the transforms need, in pure TS.
 * The resize reproduces Pillow's `Image.resize(size, BILINEAR)` (what torchvision's `Resize` and
 * `RandomResizedCrop` call on PIL images): a separable triangle filter whose support grows with
 * the downscale factor (antialiasing), fixed-point coefficients, horizontal pass first.
 */

export interface RGBImage {
  width: number;
  height: number;
  /** HWC, RGB, 8 bits per channel: `data[(y * width + x) * 3 + c]`. */
  data: Uint8Array;
}

/** Pillow's Image.MAX_IMAGE_PIXELS: above it Image.open warns (DecompressionBombWarning). */
export const PILLOW_MAX_IMAGE_PIXELS = 89_478_485;
/** Above twice that, Image.open raises DecompressionBombError, so torchvision cannot read the image. */
export const PILLOW_PIXEL_LIMIT = 2 * PILLOW_MAX_IMAGE_PIXELS;

/**
 * Throws, as Pillow's _decompression_bomb_check does, when width × height exceeds PILLOW_PIXEL_LIMIT.
 * Called with the size from the file's header, before any pixel is decoded.
 */
export function checkPixelCount(width: number, height: number): void {
  const pixels = width * height;
  if (pixels <= PILLOW_PIXEL_LIMIT) return;
  const n = (x: number) => x.toLocaleString('en');
  throw new Error(
    `its header declares ${width}x${height} = ${n(pixels)} pixels, above Pillow's decompression-bomb limit of ` +
      `${n(PILLOW_PIXEL_LIMIT)} pixels (2 × Image.MAX_IMAGE_PIXELS), so torchvision would refuse it too; not decoded. ` +
      'Downscale the image if it is genuine',
  );
}

export function createImage(width: number, height: number): RGBImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`image size must be positive integers, got ${width}x${height}`);
  }
  return { width, height, data: new Uint8Array(width * height * 3) };
}

/** The box [left, left+width) × [top, top+height); parts outside the image are black, as PIL's crop. */
export function cropImage(img: RGBImage, left: number, top: number, width: number, height: number): RGBImage {
  const out = createImage(width, height);
  const x0 = Math.max(0, -left);
  const x1 = Math.min(width, img.width - left);
  if (x1 <= x0) return out;
  for (let y = 0; y < height; y++) {
    const sy = top + y;
    if (sy < 0 || sy >= img.height) continue;
    const src = (sy * img.width + left + x0) * 3;
    out.data.set(img.data.subarray(src, src + (x1 - x0) * 3), (y * width + x0) * 3);
  }
  return out;
}

export function flipHorizontal(img: RGBImage): RGBImage {
  const { width, height, data } = img;
  const out = createImage(width, height);
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let x = 0; x < width; x++) {
      const s = row + x * 3;
      const d = row + (width - 1 - x) * 3;
      out.data[d] = data[s];
      out.data[d + 1] = data[s + 1];
      out.data[d + 2] = data[s + 2];
    }
  }
  return out;
}

/** Resize to width × height with Pillow's BILINEAR filter (antialiased when shrinking). */
export function resizeBilinear(img: RGBImage, width: number, height: number): RGBImage {
  createImage(width, height); // validates the size
  const horiz = img.width !== width;
  const vert = img.height !== height;
  if (!horiz && !vert) return { width, height, data: img.data.slice() };
  const v = filterTaps(img.height, height);
  // Only the source rows the vertical pass reads need the horizontal pass (as Pillow does).
  const firstRow = vert ? v.bounds[0] : 0;
  const lastRow = vert ? v.bounds[2 * height - 2] + v.bounds[2 * height - 1] : img.height;
  let tmp = img;
  if (horiz) {
    tmp = resampleRows(img, firstRow, lastRow - firstRow, filterTaps(img.width, width), width);
  }
  if (!vert) return tmp;
  return resampleColumns(tmp, horiz ? firstRow : 0, v, height);
}

/** Pillow's fixed-point precision for 8-bit images: 32 - 8 - 2 bits. */
const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

interface Taps {
  /** Per output pixel: first input index and number of taps. */
  bounds: Int32Array;
  /** Per output pixel: `ksize` fixed-point weights. */
  weights: Int32Array;
  ksize: number;
}

/** Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bilinear (triangle) filter. */
function filterTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const invScale = 1 / filterScale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const count = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let total = 0;
    for (let x = 0; x < count; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * invScale);
      w[x] = t < 1 ? 1 - t : 0;
      total += w[x];
    }
    for (let x = 0; x < count; x++) {
      const k = total !== 0 ? w[x] / total : w[x];
      weights[xx * ksize + x] = Math.trunc(k < 0 ? -0.5 + k * ONE : 0.5 + k * ONE);
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = count;
  }
  return { bounds, weights, ksize };
}

function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Horizontal pass over `rows` source rows starting at `firstRow`. */
function resampleRows(img: RGBImage, firstRow: number, rows: number, taps: Taps, outWidth: number): RGBImage {
  const out = createImage(outWidth, rows);
  const { bounds, weights, ksize } = taps;
  const src = img.data;
  for (let y = 0; y < rows; y++) {
    const rowIn = (y + firstRow) * img.width * 3;
    const rowOut = y * outWidth * 3;
    for (let xx = 0; xx < outWidth; xx++) {
      const xmin = bounds[2 * xx];
      const count = bounds[2 * xx + 1];
      const k = xx * ksize;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let x = 0; x < count; x++) {
        const wgt = weights[k + x];
        const p = rowIn + (xmin + x) * 3;
        r += src[p] * wgt;
        g += src[p + 1] * wgt;
        b += src[p + 2] * wgt;
      }
      const o = rowOut + xx * 3;
      out.data[o] = clip8(r);
      out.data[o + 1] = clip8(g);
      out.data[o + 2] = clip8(b);
    }
  }
  return out;
}

/** Vertical pass; `rowOffset` is the source row that `img`'s row 0 stands for. */
function resampleColumns(img: RGBImage, rowOffset: number, taps: Taps, outHeight: number): RGBImage {
  const width = img.width;
  const out = createImage(width, outHeight);
  const { bounds, weights, ksize } = taps;
  const src = img.data;
  const stride = width * 3;
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = bounds[2 * yy] - rowOffset;
    const count = bounds[2 * yy + 1];
    const k = yy * ksize;
    const rowOut = yy * stride;
    for (let i = 0; i < stride; i++) {
      let acc = HALF;
      for (let y = 0; y < count; y++) acc += src[(ymin + y) * stride + i] * weights[k + y];
      out.data[rowOut + i] = clip8(acc);
    }
  }
  return out;
}
