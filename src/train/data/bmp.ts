/**
 * A small BMP decoder (sharp's prebuilt libvips has no BMP loader): Windows and OS/2 headers,
 * 1/4/8-bit palettes (uncompressed, RLE8, RLE4), 16/24/32-bit with or without bit-field masks.
 * Alpha is dropped, as PIL's `convert('RGB')` does. Throws an Error whose message is the reason.
 */
import { checkPixelCount, createImage, type RGBImage } from './image';

const BI_RGB = 0;
const BI_RLE8 = 1;
const BI_RLE4 = 2;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;
const MAX_SIDE = 1 << 15;

export function isBmp(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d;
}

export function decodeBmp(bytes: Uint8Array): RGBImage {
  if (bytes.length < 26 || !isBmp(bytes)) throw new Error('not a BMP file (bad header)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dataOffset = view.getUint32(10, true);
  const headerSize = view.getUint32(14, true);
  const core = headerSize === 12;
  if (!core && headerSize < 40) throw new Error(`unsupported BMP header size ${headerSize}`);
  if (14 + headerSize > bytes.length) throw new Error('truncated BMP header');
  const width = core ? view.getUint16(18, true) : view.getInt32(18, true);
  const rawHeight = core ? view.getInt16(20, true) : view.getInt32(22, true);
  const bpp = core ? view.getUint16(24, true) : view.getUint16(28, true);
  const compression = core ? BI_RGB : view.getUint32(30, true);
  const height = Math.abs(rawHeight);
  const topDown = rawHeight < 0;
  if (width <= 0 || height <= 0 || width > MAX_SIDE || height > MAX_SIDE) throw new Error(`bad BMP size ${width}x${rawHeight}`);
  checkPixelCount(width, height);
  if (dataOffset >= bytes.length) throw new Error('truncated BMP: no pixel data');

  const img = createImage(width, height);
  const put = (x: number, row: number, r: number, g: number, b: number) => {
    const y = topDown ? row : height - 1 - row;
    const o = (y * width + x) * 3;
    img.data[o] = r;
    img.data[o + 1] = g;
    img.data[o + 2] = b;
  };

  if (bpp <= 8) {
    const palette = readPalette(bytes, view, headerSize, core, bpp);
    const indices = compression === BI_RLE8 || compression === BI_RLE4
      ? decodeRle(bytes, dataOffset, width, height, compression === BI_RLE4)
      : unpackIndices(bytes, dataOffset, width, height, bpp, compression);
    for (let row = 0; row < height; row++) {
      for (let x = 0; x < width; x++) {
        const p = indices[row * width + x] * 3;
        put(x, row, palette[p] ?? 0, palette[p + 1] ?? 0, palette[p + 2] ?? 0);
      }
    }
    return img;
  }

  if (bpp !== 16 && bpp !== 24 && bpp !== 32) throw new Error(`unsupported BMP bit depth ${bpp}`);
  const masks = readMasks(view, compression, bpp);
  const stride = Math.ceil((width * bpp) / 32) * 4;
  if (dataOffset + stride * (height - 1) + Math.ceil((width * bpp) / 8) > bytes.length) throw new Error('truncated BMP pixel data');
  const step = bpp / 8;
  for (let row = 0; row < height; row++) {
    let p = dataOffset + row * stride;
    for (let x = 0; x < width; x++, p += step) {
      if (bpp === 24) {
        put(x, row, bytes[p + 2], bytes[p + 1], bytes[p]);
        continue;
      }
      const v = bpp === 16 ? view.getUint16(p, true) : view.getUint32(p, true);
      put(x, row, masks[0](v), masks[1](v), masks[2](v));
    }
  }
  return img;
}

/** Palette as RGB triplets. */
function readPalette(bytes: Uint8Array, view: DataView, headerSize: number, core: boolean, bpp: number): Uint8Array {
  const entrySize = core ? 3 : 4;
  const used = core ? 0 : view.getUint32(46, true);
  const count = used > 0 && used <= 1 << bpp ? used : 1 << bpp;
  let start = 14 + headerSize;
  if (!core && headerSize === 40 && view.getUint32(30, true) === BI_BITFIELDS) start += 12;
  const palette = new Uint8Array(count * 3);
  for (let i = 0; i < count; i++) {
    const p = start + i * entrySize;
    if (p + 2 >= bytes.length) throw new Error('truncated BMP palette');
    palette[i * 3] = bytes[p + 2];
    palette[i * 3 + 1] = bytes[p + 1];
    palette[i * 3 + 2] = bytes[p];
  }
  return palette;
}

function unpackIndices(bytes: Uint8Array, offset: number, width: number, height: number, bpp: number, compression: number): Uint8Array {
  if (compression !== BI_RGB) throw new Error(`unsupported BMP compression ${compression} for ${bpp}-bit pixels`);
  if (bpp !== 1 && bpp !== 4 && bpp !== 8) throw new Error(`unsupported BMP bit depth ${bpp}`);
  const stride = Math.ceil((width * bpp) / 32) * 4;
  if (offset + stride * (height - 1) + Math.ceil((width * bpp) / 8) > bytes.length) throw new Error('truncated BMP pixel data');
  const out = new Uint8Array(width * height);
  const perByte = 8 / bpp;
  const mask = (1 << bpp) - 1;
  for (let row = 0; row < height; row++) {
    for (let x = 0; x < width; x++) {
      const byte = bytes[offset + row * stride + Math.floor(x / perByte)];
      const shift = 8 - bpp * ((x % perByte) + 1);
      out[row * width + x] = (byte >> shift) & mask;
    }
  }
  return out;
}

/** RLE8 / RLE4 into palette indices, rows in file order (bottom-up). */
function decodeRle(bytes: Uint8Array, offset: number, width: number, height: number, four: boolean): Uint8Array {
  const out = new Uint8Array(width * height);
  let x = 0;
  let row = 0;
  let p = offset;
  const set = (v: number) => {
    if (x < width && row < height) out[row * width + x] = v;
    x++;
  };
  const nibbles = (b: number, n: number) => {
    for (let i = 0; i < n; i++) set(four ? (i % 2 === 0 ? b >> 4 : b & 15) : b);
  };
  while (row < height) {
    if (p + 1 >= bytes.length) throw new Error('truncated BMP RLE data');
    const count = bytes[p++];
    const value = bytes[p++];
    if (count > 0) {
      nibbles(value, count);
    } else if (value === 0) {
      x = 0;
      row++;
    } else if (value === 1) {
      break;
    } else if (value === 2) {
      if (p + 1 >= bytes.length) throw new Error('truncated BMP RLE data');
      x += bytes[p++];
      row += bytes[p++];
    } else {
      const literalBytes = four ? Math.ceil(value / 2) : value;
      if (p + literalBytes > bytes.length) throw new Error('truncated BMP RLE data');
      if (four) for (let i = 0; i < value; i++) set(i % 2 === 0 ? bytes[p + (i >> 1)] >> 4 : bytes[p + (i >> 1)] & 15);
      else for (let i = 0; i < value; i++) set(bytes[p + i]);
      p += literalBytes + (literalBytes % 2);
    }
  }
  return out;
}

type Channel = (v: number) => number;

/** Red, green, blue extractors scaled to 8 bits. */
function readMasks(view: DataView, compression: number, bpp: number): Channel[] {
  let masks: number[];
  if (compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
    const at = 14 + 40; // right after BITMAPINFOHEADER, or inside the V2+ headers at the same place
    masks = [view.getUint32(at, true), view.getUint32(at + 4, true), view.getUint32(at + 8, true)];
  } else if (compression === BI_RGB) {
    masks = bpp === 16 ? [0x7c00, 0x03e0, 0x001f] : [0xff0000, 0x00ff00, 0x0000ff];
  } else {
    throw new Error(`unsupported BMP compression ${compression} for ${bpp}-bit pixels`);
  }
  return masks.map((mask) => {
    if (mask === 0) return () => 0;
    let shift = 0;
    while (((mask >>> shift) & 1) === 0) shift++;
    const max = mask >>> shift;
    return (v: number) => Math.floor((((v & mask) >>> shift) * 255) / max);
  });
}
