/**
 * The main job end to end, as a user runs it: `node dist/train.js` on the built-in demo data (ResNet-34,
 * the demo settings) at a smaller image size, through the real file pipeline and worker threads.
 * It must learn: the README states the accuracy this reaches (a 48 px run measured 93.75%); the test asks for
 * at least 60% on the 4-class test set (chance is 25%) and a falling training loss.
 */
import { it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

it('node dist/train.js trains ResNet-34 on the demo data to at least 60% test accuracy', () => {
  const out = mkdtempSync(join(tmpdir(), 'demo-'));
  const r = spawnSync(process.execPath, ['dist/train.js', '--img-size', '48', '--out', out], { encoding: 'utf8', timeout: 900_000 });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/built-in demo dataset/);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  const rows = readFileSync(join(out, 'metrics.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number));
  console.log(`demo at 48 px: test accuracy ${(100 * summary.test_accuracy).toFixed(2)}%, train loss by epoch ${rows.map((c) => c[2].toFixed(3)).join(' → ')}`);
  expect(summary.config.arch).toBe('resnet34');
  expect(rows.length).toBe(5);
  expect(rows[rows.length - 1][2]).toBeLessThan(rows[0][2]);
  expect(summary.test_accuracy).toBeGreaterThanOrEqual(0.6);
}, 900_000);
