/**
 * The subgroup-matrix GEMM (kernels/matmul/smatrix.ts) on an adapter that offers it: Mesa 25.2+ lavapipe
 * (VK_KHR_cooperative_matrix; float16 8 × 8 × 8 configurations), which Debian 12 lacks, so it runs in the Debian
 * sid root that `scripts/setup.sh --test-tools` makes (as root; WEBGPU_RESNET_SID_ROOT, default
 * /opt/webgpu-resnet-sid). The built bundles and Dawn are copied there and the whole gradient-check suite runs
 * through chroot with Dawn's allow_unsafe_apis toggle (the feature is experimental): every check must pass,
 * the subgroup-matrix kernel's among them. Without the root (not root, or setup without --test-tools) the test
 * is skipped locally and fails under CI=true.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { GradCheckCliReport } from '../../src/cli/gradcheck';

const root = process.env.WEBGPU_RESNET_SID_ROOT ?? '/opt/webgpu-resnet-sid';
const ready = existsSync(join(root, 'usr/share/vulkan/icd.d/lvp_icd.json')) && existsSync(join(root, 'usr/local/bin/node')) && process.getuid?.() === 0;

beforeAll(() => {
  if (!existsSync('dist/gradcheck.js')) execFileSync(process.execPath, ['build.mjs', '--no-types'], { stdio: 'inherit' });
});

describe('the subgroup-matrix kernel on Mesa 25.2+ lavapipe (Debian sid root)', () => {
  it('the gradient-check suite passes there, with the subgroup-matrix kernel checked', () => {
    if (!ready) {
      expect(process.env.CI, `no sid root with lavapipe at ${root} (run scripts/setup.sh --test-tools as root)`).not.toBe('true');
      return;
    }
    const app = join(root, 'opt/webgpu-resnet');
    rmSync(app, { recursive: true, force: true });
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    cpSync('dist', join(app, 'dist'), { recursive: true });
    cpSync('node_modules/webgpu', join(app, 'node_modules/webgpu'), { recursive: true });
    cpSync('package.json', join(app, 'package.json'));
    rmSync(join(root, 'tmp/gradcheck.json'), { force: true });
    const r = spawnSync(
      'chroot',
      [root, '/usr/bin/env', 'WEBGPU_DAWN_FEATURES=allow_unsafe_apis', 'VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.json', 'HOME=/tmp',
        '/bin/sh', '-c', 'cd /opt/webgpu-resnet && /usr/local/bin/node dist/gradcheck.js --json /tmp/gradcheck.json'],
      { encoding: 'utf8', timeout: 600_000 },
    );
    const out = `${r.stdout}\n${r.stderr}`;
    const json = join(root, 'tmp/gradcheck.json');
    expect(existsSync(json), out).toBe(true);
    const report = JSON.parse(readFileSync(json, 'utf8')) as GradCheckCliReport;
    expect(report.adapter_description, out).toMatch(/llvmpipe/);
    expect(report.not_offered, `the adapter does not offer the kernel: ${report.adapter_description}`).toEqual([]);
    expect(report.failed, out).toEqual([]);
    expect(report.skipped).toEqual([]);
    expect(report.passed).toBe(true);
    expect(r.status).toBe(0);
    expect(report.smatrix_checks).toBeGreaterThan(20);
    expect(report.checks).toBeGreaterThan(3000);
  }, 700_000);
});
