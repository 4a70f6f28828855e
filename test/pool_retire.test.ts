/**
 * A buffer that the pool gives up (beyond its free-bytes cap, or trimmed) may still be named by commands that
 * are encoded but not yet submitted. Destroying it then makes the whole submit fail ("used in submit while
 * destroyed"); the runtime must defer the destroy until after the submit. Run on this process's adapter
 * (lavapipe) and, in a child process, on the SwiftShader Vulkan driver where it is installed.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import { spawnSync, execFileSync } from 'node:child_process';
import { testRuntime } from './helpers/gpu';
import { GpuRuntime } from '../src/gpu/runtime';
import { scale } from '../src/kernels/elementwise';

/** Encode work that reads `a`, release `a` (and optionally trim) before the submit, then read the result. */
async function freedBeforeSubmit(rt: GpuRuntime, trim: boolean): Promise<number[]> {
  const n = 1000;
  const a = rt.upload(Float32Array.from({ length: n }, (_, i) => i));
  const b = rt.alloc(n * 4);
  const c = rt.alloc(n * 4);
  scale(rt, a, 2, b, n); // encoded, not submitted
  rt.release(a); // the pool gives it up at once (cap 0) or keeps it free
  scale(rt, b, 0.5, c, n); // more work after the release, still in the same batch
  if (trim) rt.trimPool();
  const out = new Float32Array(await rt.read(c, n * 4));
  rt.release(b);
  rt.release(c);
  return [out[0], out[1], out[999]];
}

describe('buffers given up by the pool while work that uses them is pending', () => {
  let small: GpuRuntime;
  beforeAll(async () => {
    const main = await testRuntime();
    small = await GpuRuntime.create(main.gpu, { poolMaxFreeBytes: 0 });
  });
  afterAll(() => small?.destroy());

  it('a release beyond the free-bytes cap is destroyed only after the submit', async () => {
    const created0 = small.poolStats().created;
    expect(await freedBeforeSubmit(small, false)).toEqual([0, 1, 999]);
    await small.sync();
    expect(small.poolStats().freeBytes).toBe(0); // nothing kept: the cap is 0
    expect(small.poolStats().created).toBe(created0 + 3);
  });

  it('a trim while work is pending is deferred the same way', async () => {
    const big = await GpuRuntime.create(small.gpu);
    try {
      expect(await freedBeforeSubmit(big, true)).toEqual([0, 1, 999]);
      await big.sync();
      expect(big.poolStats().freeBytes).toBeGreaterThan(0); // b and c, released after the trim
      big.trimPool(); // no batch open: destroyed at once
      expect(big.poolStats().freeBytes).toBe(0);
      // The runtime still works, and new buffers come from the device.
      expect(await freedBeforeSubmit(big, false)).toEqual([0, 1, 999]);
    } finally {
      big.destroy();
    }
  });

  const icd = '/usr/lib/chromium/vk_swiftshader_icd.json';
  it.skipIf(!existsSync(icd))('the same on the SwiftShader driver (a child process)', () => {
    if (!existsSync('dist/index.js')) execFileSync(process.execPath, ['build.mjs', '--no-types'], { stdio: 'inherit' });
    const script = `
      import { initGpu } from './dist/index.js';
      const rt = await initGpu({ poolMaxFreeBytes: 0 });
      const n = 1000;
      const a = rt.upload(Float32Array.from({ length: n }, (_, i) => i));
      const b = rt.alloc(n * 4);
      // b = 2a through a dispatch-free copy and the release of a before the submit
      rt.copy(a, 0, b, 0, n * 4);
      rt.release(a);
      rt.trimPool();
      const out = new Float32Array(await rt.read(b, n * 4));
      console.log(JSON.stringify({ adapter: rt.adapter.name, v: [out[0], out[1], out[999]] }));
      rt.destroy();
      process.exit(0);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, VK_ICD_FILENAMES: icd, WEBGPU_ADAPTER: '' },
    });
    expect(r.stderr).not.toMatch(/destroyed|validation/i);
    expect(r.status).toBe(0);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(res.adapter.toLowerCase()).toContain('swiftshader');
    expect(res.v).toEqual([0, 1, 999]);
  });
});
