/**
 * The kernels at other subgroup widths than the machine's default: llvmpipe takes its SIMD width from
 * LP_NATIVE_VECTOR_WIDTH (128 bits: 4 lanes, 512: 16, 1024: 32, 2048: 64; the default here is 8), and the
 * subgroup matmul kernel runs at each width with a workgroup of that many lanes. The whole gradient-check suite
 * (node dist/gradcheck.js: every op forward and backward against float64 references, with the subgroup kernel's
 * own checks and the implicit-GEMM convolutions that run it) must pass at each, with the adapter reporting the
 * width asked for. The default width runs in the rest of the suite. test/matmul.test.ts and test/conv.test.ts
 * pass at every width too (run them with LP_NATIVE_VECTOR_WIDTH set); this file keeps CI's cost to one suite per
 * width (about 10 s each).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GradCheckCliReport } from '../../src/cli/gradcheck';

beforeAll(() => {
  if (!existsSync('dist/gradcheck.js')) execFileSync(process.execPath, ['build.mjs', '--no-types'], { stdio: 'inherit' });
});

function gradcheck(bits: number): { code: number | null; report: GradCheckCliReport | null; out: string } {
  const json = join(mkdtempSync(join(tmpdir(), 'sg-widths-')), 'gradcheck.json');
  const r = spawnSync(process.execPath, ['dist/gradcheck.js', '--json', json], {
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, LP_NATIVE_VECTOR_WIDTH: String(bits) },
  });
  const report = existsSync(json) ? (JSON.parse(readFileSync(json, 'utf8')) as GradCheckCliReport) : null;
  return { code: r.status, report, out: `${r.stdout}\n${r.stderr}` };
}

describe('the gradient-check suite at 4, 16, 32 and 64 lanes (llvmpipe)', () => {
  it.each([
    [128, 4],
    [512, 16],
    [1024, 32],
    [2048, 64],
  ])('LP_NATIVE_VECTOR_WIDTH=%i: %i-lane subgroups, every check passes, the subgroup kernel among them', (bits, lanes) => {
    const { code, report, out } = gradcheck(bits);
    expect(report, out).not.toBeNull();
    if (!/llvmpipe/.test(report!.adapter_description)) {
      // Another adapter ignores LP_NATIVE_VECTOR_WIDTH. CI runs on lavapipe, where this must not be skipped.
      expect(process.env.CI, `not llvmpipe (${report!.adapter_description}): the widths cannot be set`).not.toBe('true');
      return;
    }
    expect(report!.subgroup_lanes).toBe(lanes);
    expect(report!.failed, out).toEqual([]);
    expect(report!.passed).toBe(true);
    expect(code).toBe(0);
    expect(report!.checks).toBeGreaterThan(1000);
    expect(report!.subgroup_kernel_checks).toBeGreaterThan(20);
  });
});
