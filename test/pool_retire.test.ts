/**
 * A buffer that the pool gives up (beyond its free-bytes cap, or trimmed) may still be named by commands that
 * are encoded but not yet submitted. Destroying it then makes the whole submit fail ("used in submit while
 * destroyed"); the runtime must defer the destroy until after the submit. Run on this process's adapter
 * (lavapipe); the same on the SwiftShader Vulkan driver, in a child process that runs the build, is in
 * test/dist/pool_retire_swiftshader.test.ts.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
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
});
