/**
 * dist/train.js as a user runs it, for the cases of issues 15.5, 15.6, 15.8 and 21.2 that end in what the
 * CLI prints: no made-up metric with --split 1,0,0 (and a dropped 1-image batch), one clear message for a
 * folder of corrupt files and for a checkpoint of another run.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { readSafetensors, writeSafetensors } from '../../src/nn/weights/safetensors';

function train(args: string[]) {
  const r = spawnSync(process.execPath, ['dist/train.js', ...args], { encoding: 'utf8', timeout: 400_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** ROOT/CLASS/i.png for two classes; `corrupt` files hold text instead of PNG data. */
async function classFolders(perClass: number, corrupt = false): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'cli-checks-'));
  for (const [name, rgb] of [['blue', [40, 60, 200]], ['red', [200, 50, 40]]] as const) {
    mkdirSync(join(root, name));
    for (let i = 0; i < perClass; i++) {
      const path = join(root, name, `${i}.png`);
      if (corrupt) writeFileSync(path, `not a png ${i}`);
      else await sharp(Buffer.from(Array.from({ length: 40 * 40 * 3 }, (_, j) => rgb[j % 3] + ((j * 31 + i * 17) % 40))), { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(path);
    }
  }
  return root;
}

const common = ['--arch', 'resnet18', '--img-size', '32', '--lr', '0.01', '--seed', '3'];

beforeAll(() => {
  if (!existsSync('dist/train.js')) execFileSync(process.execPath, ['build.mjs', '--no-types'], { stdio: 'inherit' });
});

describe('cli: runs that must not show a number that was not measured', () => {
  it('--split 1,0,0 with a 1-image last batch: a note, warnings, no validation or test number printed or written', async () => {
    const data = await classFolders(2);
    const out = mkdtempSync(join(tmpdir(), 'run-nosplit-'));
    const r = train(['--data', data, '--out', out, '--split', '1,0,0', '--batch-size', '3', '--max-epochs', '1', ...common]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/note: the last batch of each epoch would hold 1 image \(4 images, --batch-size 3\)/);
    expect(r.out).toMatch(/warning: the validation split is empty/);
    expect(r.out).toMatch(/warning: the test split is empty/);
    expect(r.out).toMatch(/epoch 1: lr .* train loss \d+\.\d{4} acc [\d.]+% \| no validation split \|/);
    expect(r.out).toMatch(/no test split: no test accuracy, weights of the last epoch \(no validation split\), 1 of 1/);
    expect(r.out).not.toMatch(/val loss|test accuracy:/);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect([summary.test_accuracy, summary.test_loss, summary.best_val_loss, summary.test_images]).toEqual([null, null, null, 0]);
    expect(readFileSync(join(out, 'metrics.csv'), 'utf8').trim().split('\n')[1]).toMatch(/^1,[^,]+,[^,]+,[^,]+,,,[^,]+$/);
    const report = readFileSync(join(out, 'report.html'), 'utf8');
    expect(report).toMatch(/No test split: no test accuracy was measured/);
    expect(report).not.toMatch(/NaN|null/);
  });

  it('a folder of corrupt images: one message naming the folder, the count and the reason, before any training step (exit 1)', async () => {
    const data = await classFolders(4, true); // split 0.5,0.25,0.25: 2 + 2 training files
    const out = mkdtempSync(join(tmpdir(), 'run-corrupt-'));
    const r = train(['--data', data, '--out', out, '--max-epochs', '1', '--batch-size', '2', ...common]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`error: the training split has no image that can be decoded: all 4 files in "${data}" were skipped as undecodable \\(4 × `));
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.out).not.toMatch(/epoch 1|done|test accuracy/);
    expect(existsSync(join(out, 'summary.json'))).toBe(false);
  });

  it('--resume with a checkpoint of other classes: one message naming both class lists (exit 1)', async () => {
    const data = await classFolders(2);
    const out = mkdtempSync(join(tmpdir(), 'run-other-'));
    // Only the checkpoint's metadata is read before the refusal: no tensors are needed to test it.
    const run = { classes: ['cat', 'dog'], arch: 'resnet18', imgSize: 32, batchSize: 2, seed: 3, trainFiles: 2, trainHash: '0' };
    const trainer = { epoch: 2, step: 0, partial: { lossSum: 0, correct: 0, seen: 0, seconds: 0 }, history: [], stepLosses: [], run };
    writeFileSync(join(out, 'checkpoint.safetensors'), writeSafetensors(new Map(), { format: 'webgpu-resnet-checkpoint-v1', optimizer: '{}', trainer: JSON.stringify(trainer) }));
    const r = train(['--data', data, '--out', out, '--resume', '--batch-size', '2', ...common]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error: cannot resume from .*checkpoint\.safetensors: it was trained on the classes \[cat, dog\] but this dataset has \[blue, red\]/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});

describe('cli: a diverging run', () => {
  it('--lr 1e6 stops with one message naming the step (NaN passes the fused ReLU), exit 1, no stack trace; what is kept is finite', async () => {
    const root = await classFolders(8);
    const out = join(root, 'out');
    const r = train(['--data', root, '--out', out, '--arch', 'resnet18', '--img-size', '32', '--seed', '3', '--lr', '1e6', '--batch-size', '4', '--max-epochs', '3']);
    expect(r.err).toMatch(/error: training diverged: the loss is (NaN|-?Infinity) at epoch \d+, step \d+\. /);
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace (e.g. from a read abandoned when the runtime was destroyed)
    expect(r.code).toBe(1);
    for (const f of ['checkpoint.safetensors', 'best.safetensors']) {
      const path = join(out, f);
      if (!existsSync(path)) continue;
      for (const [key, t] of readSafetensors(new Uint8Array(readFileSync(path)), f)) {
        if (t.data instanceof Float32Array) expect(t.data.every(Number.isFinite), `${f}: ${key}`).toBe(true);
      }
    }
  });
});
