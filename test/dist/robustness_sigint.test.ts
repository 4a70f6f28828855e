/** An interrupted run, as a user interrupts it: dist/train.js gets SIGINT, saves a checkpoint, and --resume finishes. */
import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyDataset } from '../helpers/tiny-dataset';

describe('robustness: checkpoints (dist/train.js)', () => {
  it('SIGINT saves a checkpoint and exits cleanly; --resume finishes the run', async () => {
    if (!existsSync('dist/train.js')) throw new Error('build first (npm run build)');
    const data = await makeTinyDataset();
    const out = mkdtempSync(join(tmpdir(), 'sigint-'));
    const args = ['dist/train.js', '--data', data, '--out', out, '--arch', 'resnet18', '--img-size', '32', '--batch-size', '2', '--max-epochs', '2'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (stdout.includes('training resnet18')) {
          clearInterval(poll);
          setTimeout(() => child.kill('SIGINT'), 1500);
          resolve();
        }
      }, 50);
    });
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(stderr).toMatch(/SIGINT: finishing the current step, then saving a checkpoint/);
    expect(code).toBe(130);
    expect(stdout).toMatch(/holds the progress; continue with --resume/);
    expect(existsSync(join(out, 'checkpoint.safetensors'))).toBe(true);
    const resumed = spawn(process.execPath, [...args, '--resume'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let rout = '';
    resumed.stdout.on('data', (d) => (rout += d));
    expect(await new Promise<number | null>((r) => resumed.on('exit', r))).toBe(0);
    expect(rout).toMatch(/resumed from/);
    expect(rout).toMatch(/test accuracy/);
  });
});
