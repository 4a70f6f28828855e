/**
 * PyTorch reference fixtures (Node only): generated on demand by tools/*.py with Debian's python3-torch,
 * into test/fixtures/generated/ (git-ignored), and regenerated when the script changes.
 * Without PyTorch the parity tests are skipped locally, but fail under CI=true.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const PYTHON = process.env.TORCH_PYTHON ?? '/usr/bin/python3';

export function torchAvailable(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import torch, torchvision'], { stdio: 'ignore' });
    return true;
  } catch {
    if (process.env.CI) throw new Error(`PyTorch is required in CI: ${PYTHON} cannot import torch/torchvision (run scripts/setup.sh --test-tools)`);
    console.warn('PyTorch (python3-torch, python3-torchvision) not found: skipping the PyTorch parity tests');
    return false;
  }
}

/** Run tools/<script> with args into a cached folder; returns the folder. */
export function torchFixture(name: string, script: string, args: string[]): string {
  const dir = join('test', 'fixtures', 'generated', name);
  const files = [script, 'tools/safetensors_io.py'].map((f) => readFileSync(f));
  const stamp = createHash('sha256').update(Buffer.concat(files)).update(args.join(' ')).digest('hex');
  const stampFile = join(dir, '.stamp');
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return dir;
  mkdirSync(dir, { recursive: true });
  execFileSync(PYTHON, [script, dir, ...args], { stdio: 'inherit' });
  writeFileSync(stampFile, stamp);
  return dir;
}

/**
 * Time allowed to a hook that generates a PyTorch fixture (the script runs synchronously): a ResNet-34
 * training fixture takes ~1 min on 2 free cores, several when the machine is busy.
 */
export const FIXTURE_TIMEOUT_MS = 600_000;
