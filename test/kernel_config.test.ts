// The kernel configuration (src/kernels/config.ts): per-runtime settings with a scoped override, and the
// choice hook through which an autotuner will pick algorithms. Tiny shapes: a few dispatches each.
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, randomArray, tensor } from './helpers/numeric';
import type { GpuRuntime } from '../src/gpu/runtime';
import { type KernelChoice, defaultKernelConfig, kernelConfig, setKernelChooser, setKernelConfig, withKernelConfig } from '../src/kernels/config';
import { conv2dForward, conv2dGeometry } from '../src/kernels/conv';
import { matmul } from '../src/kernels/matmul';
import { conv2d } from '../src/autograd/ops/conv';
import { noGrad } from '../src/autograd/scope';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

/** A runtime stand-in for the settings alone (kernelConfig reads only the adapter's kind and name). */
const fakeRuntime = (isSoftware: boolean, name = isSoftware ? 'mesa / software / llvmpipe' : 'nvidia / hopper') =>
  ({ isSoftware, adapter: { name, description: '' } }) as unknown as GpuRuntime;

/** The dispatches (op name and entry point) that fn encodes. */
function dispatched(fn: () => void): { op: string; entry: string }[] {
  const seen: { op: string; entry: string }[] = [];
  const orig = rt.dispatch;
  rt.dispatch = (spec) => {
    seen.push({ op: spec.op, entry: spec.entry ?? 'main' });
    orig.call(rt, spec);
  };
  try {
    fn();
  } finally {
    rt.dispatch = orig;
  }
  return seen;
}

describe('kernel configuration', () => {
  it('defaults come from the adapter: serial channel reductions on a CPU adapter, tree ones on a GPU', () => {
    expect(kernelConfig(fakeRuntime(true)).channelReduction).toBe('serial');
    expect(kernelConfig(fakeRuntime(false)).channelReduction).toBe('tree');
    expect(kernelConfig(rt)).toEqual(defaultKernelConfig(rt));
  });

  it('multi-tensor optimizer updates on GPUs and llvmpipe, one tensor a dispatch on SwiftShader', () => {
    expect(kernelConfig(fakeRuntime(false)).multiTensorUpdate).toBe(true);
    expect(kernelConfig(fakeRuntime(true)).multiTensorUpdate).toBe(true);
    expect(kernelConfig(fakeRuntime(true, 'google / swiftshader / swiftshader-device-subzero-')).multiTensorUpdate).toBe(false);
  });

  it('is kept per runtime, and setKernelConfig returns a restore function', () => {
    const a = fakeRuntime(true);
    const b = fakeRuntime(true);
    const restore = setKernelConfig(a, { winogradTile: 2, channelReduction: 'tree' });
    expect(kernelConfig(a)).toMatchObject({ winogradTile: 2, channelReduction: 'tree', winogradBackwardTile: 4 });
    expect(kernelConfig(b)).toMatchObject({ winogradTile: 4, channelReduction: 'serial' });
    restore();
    expect(kernelConfig(a)).toEqual(defaultKernelConfig(a));
  });

  it('rejects an unknown setting or a value outside its choices, changing nothing', () => {
    const a = fakeRuntime(false);
    expect(() => setKernelConfig(a, { winogradTile: 3 as 2 })).toThrow(/winogradTile must be one of 2, 4, got 3/);
    expect(() => setKernelConfig(a, { winogradTile: 2, tile: 8 } as never)).toThrow(/unknown setting 'tile'/);
    expect(kernelConfig(a)).toEqual(defaultKernelConfig(a));
  });

  it('withKernelConfig restores after a throw and after a promise settles (resolved or rejected)', async () => {
    const a = fakeRuntime(true);
    expect(() =>
      withKernelConfig(a, { winogradInferenceTile: 2 }, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(kernelConfig(a).winogradInferenceTile).toBe(4);
    const inside = await withKernelConfig(a, { winogradVectorImages: false }, async () => kernelConfig(a).winogradVectorImages);
    expect(inside).toBe(false);
    expect(kernelConfig(a).winogradVectorImages).toBe(true);
    await expect(withKernelConfig(a, { channelReduction: 'tree' }, async () => Promise.reject(new Error('late')))).rejects.toThrow('late');
    expect(kernelConfig(a).channelReduction).toBe('serial');
  });
});

describe('kernel choices', () => {
  // 3×3, stride 1, padding 1 on a 12×12 map: every algorithm computes it, Winograd pays.
  const [N, C, H, W, O] = [2, 3, 12, 12, 4];
  const g = conv2dGeometry([N, C, H, W], [O, C, 3, 3], 1, 1);
  const x = randomArray(N * C * H * W, 71);
  const w = randomArray(O * C * 9, 72);

  async function forward(): Promise<{ y: Float32Array; ops: string[] }> {
    const [X, Wt] = [rt.upload(Float32Array.from(x)), rt.upload(Float32Array.from(w))];
    const Y = rt.alloc(N * O * H * W * 4);
    const ops = dispatched(() => conv2dForward(rt, X, Wt, null, Y, g)).map((d) => d.op);
    const y = new Float32Array(await rt.read(Y, N * O * H * W * 4));
    for (const b of [X, Wt, Y]) rt.release(b);
    return { y, ops };
  }

  it('a chooser sees the candidates and the heuristic, and its pick runs (same result, other kernels)', async () => {
    const heuristic = await forward();
    expect(heuristic.ops.some((op) => op.startsWith('winograd-input'))).toBe(true);
    const choices: KernelChoice<unknown>[] = [];
    const restore = setKernelChooser(rt, (_rt, c) => {
      choices.push(c);
      return c.site === 'conv2d.forward' ? (c.candidates.find((k) => k === 'im2col') as typeof c.heuristic) : undefined;
    });
    let picked: Awaited<ReturnType<typeof forward>>;
    try {
      picked = await forward();
    } finally {
      restore();
    }
    const conv = choices.find((c) => c.site === 'conv2d.forward')!;
    expect(conv.shape).toBe('2x3x12x12->4 k3x3 s1 p1');
    expect(conv.heuristic).toBe('winograd4');
    expect(conv.candidates).toContain('winograd2');
    expect(conv.candidates).toContain('im2col');
    expect(picked.ops.some((op) => op.startsWith('winograd'))).toBe(false);
    expect(picked.ops.some((op) => op.startsWith('im2col'))).toBe(true);
    expectClose(picked.y, heuristic.y, TOL.reduction, 'im2col (chosen) vs winograd (heuristic)');
    // Restored: the heuristic again.
    expect((await forward()).ops).toEqual(heuristic.ops);
  });

  it('a chooser that keeps the heuristic (undefined) changes nothing; a pick outside the candidates is an error naming the site', async () => {
    const before = (await forward()).ops;
    const restore = setKernelChooser(rt, () => undefined);
    try {
      expect((await forward()).ops).toEqual(before);
    } finally {
      restore();
    }
    const bad = setKernelChooser(rt, <T>(_rt: GpuRuntime, c: KernelChoice<T>) => (c.site === 'matmul' ? ('tensor-cores' as T) : undefined));
    const [A, B, Cm] = [rt.alloc(64 * 4), rt.alloc(64 * 4), rt.alloc(64 * 4)];
    try {
      expect(() => matmul(rt, A, B, Cm, 8, 8, 8)).toThrow(/kernel choice at matmul \[8x8x8\]: the chooser picked "tensor-cores", which is not one of/);
    } finally {
      bad();
      for (const b of [A, B, Cm]) rt.release(b);
    }
  });

  it('the conv op tells the kernel layer whether a gradient follows: winogradInferenceTile without one, winogradTile with one', async () => {
    const X = tensor(rt, x, [N, C, H, W]);
    const Wt = tensor(rt, w, [O, C, 3, 3]).requireGrad();
    const heuristics: unknown[] = [];
    const restore = setKernelChooser(rt, (_rt, c) => {
      if (c.site === 'conv2d.forward') heuristics.push(c.heuristic);
      return undefined;
    });
    try {
      await withKernelConfig(rt, { winogradInferenceTile: 2 }, async () => {
        noGrad(() => conv2d(X, Wt, null, { padding: 1 })).dispose();
        conv2d(X, Wt, null, { padding: 1 }).dispose();
      });
    } finally {
      restore();
    }
    expect(heuristics).toEqual(['winograd2', 'winograd4']);
    X.dispose();
    Wt.dispose();
  });
});
