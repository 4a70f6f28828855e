/**
 * Writes the built-in demo dataset (demo-images.ts) as PNG files in the train/val/test/CLASS/
 * layout, once: a marker file written last records a complete generation, so an interrupted one
 * is redone on the next call.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { DEMO_VERSION, drawDemoImage, listDemoImages } from './demo-images';

const MARKER = '.complete';

/** Make sure `dir` (e.g. `.cache/demo-v1`) holds the demo dataset; generate it if not. */
export async function ensureDemoDataset(dir: string): Promise<{ dir: string; generated: boolean }> {
  const images = listDemoImages();
  const stamp = `${DEMO_VERSION} ${images.length} images\n`;
  const marker = join(dir, MARKER);
  if ((await readFile(marker, 'utf8').catch(() => '')) === stamp) return { dir, generated: false };
  for (const image of images) {
    const path = join(dir, image.relPath);
    const { width, height, data } = drawDemoImage(image);
    const png = await sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer();
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, png);
  }
  await writeFile(marker, stamp);
  return { dir, generated: true };
}
