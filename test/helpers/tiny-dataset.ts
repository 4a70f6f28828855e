/** A tiny ImageFolder dataset on disk for end-to-end CLI tests: two colour classes, PNG files. */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { rng } from './numeric';

export async function makeTinyDataset(perSplit: Record<'train' | 'val' | 'test', number> = { train: 6, val: 3, test: 3 }, size = 48): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'tiny-ds-'));
  const r = rng(7);
  const classes: [string, [number, number, number]][] = [
    ['blue', [40, 60, 200]],
    ['red', [200, 50, 40]],
  ];
  for (const [split, n] of Object.entries(perSplit)) {
    for (const [name, rgb] of classes) {
      const dir = join(root, split, name);
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < n; i++) {
        const px = Buffer.alloc(size * size * 3);
        for (let j = 0; j < size * size; j++) for (let c = 0; c < 3; c++) px[j * 3 + c] = Math.max(0, Math.min(255, rgb[c] + (r() - 0.5) * 120));
        await sharp(px, { raw: { width: size, height: size, channels: 3 } }).png().toFile(join(dir, `${i}.png`));
      }
    }
  }
  return root;
}
