/**
 * The browser side of the image seam (fs.node.ts is Node's): `createImageBitmap` decodes, an
 * `OffscreenCanvas` gives the pixels, and they become the 8-bit RGB `RGBImage` the transforms take.
 * Works in a page and in a worker. BMP goes through bmp.ts, as in Node, so both platforms read it alike.
 *
 * Differences from PIL that the browser imposes: EXIF orientation is applied (createImageBitmap no
 * longer lets a page turn it off), and the canvas stores premultiplied alpha, so the colour of a
 * partly transparent pixel may differ by a rounding step (alpha is then dropped, as PIL's convert('RGB')).
 */
import { decodeBmp, isBmp } from './bmp';
import { ImageDecodeError } from './errors';
import { createImage, type RGBImage } from './image';
import type { DecodeFn } from './decoder-pool';
import type { FileTree } from './files.browser';

/** Decode an encoded image held in a Blob (a File); `path` only names it in errors. */
export async function decodeImageBlob(blob: Blob, path: string): Promise<RGBImage> {
  if (blob.size === 0) throw new ImageDecodeError(path, 'the file is empty (0 bytes)');
  const head = new Uint8Array(await blob.slice(0, 2).arrayBuffer());
  if (isBmp(head)) {
    try {
      return decodeBmp(new Uint8Array(await blob.arrayBuffer()));
    } catch (e) {
      throw new ImageDecodeError(path, message(e));
    }
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch (e) {
    throw new ImageDecodeError(path, `the browser cannot decode it (${message(e)})`);
  }
  try {
    return bitmapToRgb(bitmap);
  } finally {
    bitmap.close();
  }
}

/** The pixels of a decoded image as RGB (alpha dropped). */
export function bitmapToRgb(bitmap: ImageBitmap): RGBImage {
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('OffscreenCanvas 2d context unavailable');
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, width, height, { colorSpace: 'srgb' }).data;
  const img = createImage(width, height);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    img.data[j] = rgba[i];
    img.data[j + 1] = rgba[i + 1];
    img.data[j + 2] = rgba[i + 2];
  }
  return img;
}

/** The decode function for a picked folder: looks the path up in the tree and decodes the file. */
export function fileTreeDecoder(tree: FileTree): DecodeFn {
  return async (path) => {
    const file = tree.file(path);
    if (!file) throw new ImageDecodeError(path, 'the file is not among the picked files');
    return decodeImageBlob(file, path);
  };
}

function message(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0].trim() || 'unknown error';
}
