/**
 * The Node side of the data seam: directory listing with node:fs and image decoding with sharp
 * (BMP through bmp.ts). Every image becomes 8-bit RGB the way PIL's `convert('RGB')` does it:
 * grey is replicated, alpha is dropped (not composited), palettes are expanded, 16-bit colour is
 * scaled to 8 (the high byte), 16-bit grey is clipped to 255 (Pillow's I;16 → RGB), CMYK is converted
 * with Pillow's formula. Images above Pillow's decompression-bomb limit are refused from their header. Like PIL: no EXIF rotation, no ICC colour
 * management. Checked byte-exact against Pillow 9.4 for JPEG (baseline, progressive, grey, CMYK), PNG,
 * palette PNG, WebP and GIF.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import { decodeBmp, isBmp } from './bmp';
import { ImageDecodeError } from './errors';
import type { DirEntry, FileLister } from './folder';
import { checkPixelCount, createImage, type RGBImage } from './image';

/**
 * File names are bytes on Linux, and not always UTF-8. As Python does (os.fsdecode, "surrogateescape"),
 * a byte that is not part of valid UTF-8 becomes the lone surrogate U+DC80 + byte in the name's string,
 * so every name has a string that sorts as Python sorts it and maps back to the same bytes.
 */
export function fsDecodeName(bytes: Uint8Array): string {
  const strict = new TextDecoder('utf-8', { fatal: true });
  try {
    return strict.decode(bytes);
  } catch {
    // Decode valid UTF-8 runs, escaping each byte that does not start a valid sequence.
    let out = '';
    let i = 0;
    while (i < bytes.length) {
      const n = utf8SequenceLength(bytes, i);
      if (n === 0) {
        out += String.fromCharCode(0xdc00 + bytes[i]);
        i += 1;
      } else {
        out += strict.decode(bytes.subarray(i, i + n));
        i += n;
      }
    }
    return out;
  }
}

/** The length of the valid UTF-8 sequence at `i` (1..4), or 0 when the byte there does not start one. */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  const c = b[i];
  const cont = (k: number) => i + k < b.length && (b[i + k] & 0xc0) === 0x80;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const c1 = b[i + 1];
    const ok = cont(1) && cont(2) && !(c === 0xe0 && c1 < 0xa0) && !(c === 0xed && c1 >= 0xa0); // no overlongs, no surrogates
    return ok ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const c1 = b[i + 1];
    const ok = cont(1) && cont(2) && cont(3) && !(c === 0xf0 && c1 < 0x90) && !(c === 0xf4 && c1 >= 0x90);
    return ok ? 4 : 0;
  }
  return 0;
}

/** The path to give node:fs: the string itself, or its original bytes when it holds escaped bytes. */
export function fsPath(path: string): string | Buffer {
  if (!/[\udc80-\udcff]/u.test(path)) return path; // lone surrogates only (u flag)
  const parts: Buffer[] = [];
  let run = '';
  for (const ch of path) {
    const u = ch.charCodeAt(0);
    if (ch.length === 1 && u >= 0xdc80 && u <= 0xdcff) {
      parts.push(Buffer.from(run, 'utf8'), Buffer.of(u - 0xdc00));
      run = '';
    } else run += ch;
  }
  parts.push(Buffer.from(run, 'utf8'));
  return Buffer.concat(parts);
}

export const nodeFileLister: FileLister = {
  async listDir(path: string): Promise<DirEntry[]> {
    const dir = fsPath(path);
    const entries = await readdir(dir, { withFileTypes: true, encoding: 'buffer' });
    return Promise.all(
      entries.map(async (e) => {
        const name = fsDecodeName(e.name);
        // Follow symbolic links, as torchvision's os.walk(followlinks=True) does.
        const isDir = e.isSymbolicLink() ? await stat(fsPath(joinName(path, name))).then((st) => st.isDirectory(), () => false) : e.isDirectory();
        return { name, isDir };
      }),
    );
  },
  /** A folder's device and inode, so a folder reached twice (a symlink loop) is recognised. */
  async dirId(path: string): Promise<string | null> {
    return stat(fsPath(path), { bigint: true }).then((st) => `${st.dev}:${st.ino}`, () => null);
  },
};

function joinName(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

export async function decodeImageFile(path: string): Promise<RGBImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(fsPath(path));
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
    const meta = await input.metadata();
    // Pillow refuses images above its decompression-bomb limit when it opens them: check the header first.
    if (meta.width !== undefined && meta.height !== undefined) checkPixelCount(meta.width, meta.height);
    if (meta.space === 'cmyk') {
      const { data, info } = await input.pipelineColourspace('cmyk').toColourspace('cmyk').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
      return cmykToRgb(info.width, info.height, info.channels, data);
    }
    if (isPillowI16(bytes, meta)) {
      const { data, info } = await input.toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
      return grey16ToRgb(info.width, info.height, info.channels, new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2));
    }
    const { data, info } = await input.toColourspace('srgb').removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels instead of 3`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (e) {
    throw new ImageDecodeError(path, firstLine(e));
  }
}

/**
 * Images Pillow opens as 16-bit integer greyscale (mode I;16, or I for PNG in older Pillow): PNG of colour
 * type 0 (grey, with or without tRNS) at 16 bits, and single-channel 16-bit TIFF. Their convert('RGB')
 * clips each value to 0..255 rather than scaling (so values below 256 are kept and the rest are white).
 * 16-bit grey+alpha and RGB(A) are read by Pillow as 8-bit modes (the high byte), as sharp does.
 */
function isPillowI16(bytes: Uint8Array, meta: Metadata): boolean {
  if (meta.depth !== 'ushort') return false;
  if (meta.format === 'png') return bytes.length > 25 && bytes[24] === 16 && bytes[25] === 0; // IHDR bit depth, colour type
  return meta.format === 'tiff' && meta.channels === 1;
}

function grey16ToRgb(width: number, height: number, channels: number, grey: Uint16Array): RGBImage {
  const img = createImage(width, height);
  for (let i = 0; i < width * height; i++) {
    const v = grey[i * channels];
    const c = v > 255 ? 255 : v;
    img.data[i * 3] = c;
    img.data[i * 3 + 1] = c;
    img.data[i * 3 + 2] = c;
  }
  return img;
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
