/**
 * train.js --resume from a checkpoint of another class count: one line naming both counts, exit 1, no stack trace
 * (the in-process weights-compat tests are in test/weights_compat.test.ts).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testRuntime } from '../helpers/gpu';
import { makeTinyDataset } from '../helpers/tiny-dataset';
import { resnet } from '../../src/nn/resnet';
import { encodeCheckpoint } from '../../src/train/checkpoint';
import { SGD } from '../../src/train/sgd';
describe('weights compat: train.js --resume with other classes', () => {
  beforeAll(() => {
    if (!existsSync('dist/train.js')) execFileSync(process.execPath, ['build.mjs', '--no-types'], { stdio: 'inherit' });
  });

  it('exits 1 with one line naming the class counts, no stack trace', async () => {
    await testRuntime();
    const data = await makeTinyDataset({ train: 2, val: 1, test: 1 }, 8); // 2 classes
    const out = mkdtempSync(join(tmpdir(), 'resume-classes-'));
    const model = resnet('resnet18', { numClasses: 3, dropout: 0.5, seed: 3 });
    writeFileSync(join(out, 'checkpoint.safetensors'), await encodeCheckpoint(model, new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 }), { epoch: 2 }));
    model.dispose();
    const r = spawnSync(process.execPath, ['dist/train.js', '--data', data, '--out', out, '--resume', '--arch', 'resnet18', '--img-size', '32'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/error: .*checkpoint\.safetensors: the fc layer has 3 classes in the file .* but 2 in this model/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
