/**
 * conv2d under autocast goes through its backward a chunk of images at a time (Conv2dOptions.halfChunkBytes),
 * so that the float32 working copies stay bounded: chunked and whole-batch gradients agree (dx exactly, the
 * weight and bias gradients to float32 summation order), odd per-image sizes fall back to one chunk, nothing leaks.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { autocast, tidy } from '../src/autograd/scope';
import { conv2d } from '../src/autograd/ops/conv';
import { randomArray, relError } from '../src/reference/math';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

async function grads(shape: [number, number, number, number], out: number, chunkBytes: number | undefined, copies: { count: number }) {
  const [N, C, H, W] = shape;
  const x = Tensor.fromArray(randomArray(N * C * H * W, 1), shape, 'f16', rt).requireGrad();
  const w = Tensor.fromArray(randomArray(out * C * 9, 2, -0.3, 0.3), [out, C, 3, 3]).requireGrad();
  const b = Tensor.fromArray(randomArray(out, 3), [out]).requireGrad();
  const orig = rt.copy.bind(rt);
  rt.copy = (...args: Parameters<GpuRuntime['copy']>) => {
    if (args[5] === 'conv2d f16 chunk') copies.count++;
    return orig(...args);
  };
  try {
    tidy(() => {
      const y = autocast(() => conv2d(x, w, b, { stride: 1, padding: 1, halfChunkBytes: chunkBytes }));
      y.backward(Tensor.fromArray(randomArray(y.size, 4), y.shape, 'f16', rt));
    });
  } finally {
    rt.copy = orig;
  }
  const r = { dx: await x.grad!.toArray(), dw: await w.grad!.toArray(), db: await b.grad!.toArray(), dxType: x.grad!.dtype };
  for (const t of [x, w, b]) t.dispose();
  return r;
}

describe('conv2d float16 backward in chunks of images', () => {
  it('one image per chunk gives the whole batch gradients (dx exactly; dw, db to summation order)', async () => {
    const live = rt.poolStats().liveBuffers;
    const whole = { count: 0 };
    const chunked = { count: 0 };
    const a = await grads([5, 3, 6, 4], 4, undefined, whole);
    const c = await grads([5, 3, 6, 4], 4, 1, chunked);
    expect(whole.count).toBe(0);
    expect(chunked.count).toBeGreaterThanOrEqual(5 * 2); // dy and x of every image, and dx back
    expect(c.dxType).toBe('f16');
    expect(Array.from(c.dx)).toEqual(Array.from(a.dx));
    expect(relError(c.dw, a.dw)).toBeLessThan(1e-6);
    expect(relError(c.db, a.db)).toBeLessThan(1e-6);
    expect(relError(c.dw, a.dw)).toBeGreaterThanOrEqual(0);
    expect(rt.poolStats().liveBuffers).toBe(live);
  });

  it('an odd number of values per image (not on a 4-byte boundary in float16) runs as one chunk', async () => {
    const odd = { count: 0 };
    const r = await grads([3, 3, 5, 3], 3, 1, odd);
    expect(odd.count).toBe(0);
    expect(r.dx.length).toBe(3 * 3 * 5 * 3);
  });
});
