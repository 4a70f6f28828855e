/**
 * The Node side of the data seam: directory listing with node:fs and image decoding with sharp
 * (BMP through bmp.ts). Every image becomes 8-bit RGB the way PIL's `convert('RGB')` does it:
 * grey is replicated, alpha is dropped (not composited), palettes are expanded, 16-bit is scaled to
 * 8 (the high byte), CMYK is converted with Pillow's formula. Like PIL: no EXIF rotation, no ICC colour
 * management. Checked byte-exact against Pillow 9.4 for JPEG (baseline, progressive, grey, CMYK), PNG,
 * palette PNG, WebP and GIF.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import sharp from 'sharp';
import { decodeBmp, isBmp } from './bmp';
import { ImageDecodeError } from './errors';
import type { DirEntry, FileLister } from './folder';
import { createImage, type RGBImage } from './image';

export const nodeFileLister: FileLister = {
  async listDir(path: string): Promise<DirEntry[]> {
    const entries = await readdir(path, { withFileTypes: true });
    return Promise.all(
      entries.map(async (e) => {
        // Follow symbolic links, as torchvision's os.walk(followlinks=True) does.
        const isDir = e.isSymbolicLink() ? await stat(`${path}/${e.name}`).then((s) => s.isDirectory(), () => false) : e.isDirectory();
        return { name: e.name, isDir };
      }),
    );
  },
};

export async function decodeImageFile(path: string): Promise<RGBImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new ImageDecodeError(path, `cannot read the file (${firstLine(e)})`);
  }
  return decodeImageBytes(bytes, path);
}

/** Decode an encoded image; `path` only names it in errors. */
export async function decodeImageBytes(bytes: Uint8Array, path: string): Promise<RGBImage> {
  if (bytes.length === 0) throw new ImageDecodeError(path, 'the file is empty (0 bytes)');
  try {
    if (isBmp(bytes)) return decodeBmp(bytes);
    const input = sharp(bytes, { failOn: 'error', ignoreIcc: true });
    if ((await input.metadata()).space === 'cmyk') {
      const { data, info } = await input.pipelineColourspace('cmyk').toColourspace('cmyk').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
      return cmykToRgb(info.width, info.height, info.channels, data);
    }
    const { data, info } = await input.toColourspace('srgb').removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels instead of 3`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (e) {
    throw new ImageDecodeError(path, firstLine(e));
  }
}

/** Pillow's naive CMYK → RGB (`cmyk2rgb`): r = (255 − k) − c·(255 − k)/255, no colour management. */
function cmykToRgb(width: number, height: number, channels: number, cmyk: Uint8Array): RGBImage {
  const img = createImage(width, height);
  for (let i = 0; i < width * height; i++) {
    const nk = 255 - cmyk[i * channels + 3];
    for (let c = 0; c < 3; c++) {
      const t = cmyk[i * channels + c] * nk + 128;
      img.data[i * 3 + c] = nk - (((t >> 8) + t) >> 8);
    }
  }
  return img;
}

function firstLine(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.split('\n')[0].trim() || 'unknown error';
}
