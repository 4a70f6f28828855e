// Write generations and the derived-buffer cache (src/gpu/derived.ts): which writes give a buffer a new
// generation, the cache's keep/remake/release rules, and an evaluation scope over a ResNet-18, whose transformed
// filters, folded batch norms and packed implicit-GEMM weights are made once and remade after every kind of write
// to their sources (an SGD step, a training-mode forward's running statistics, write(), copy()), never served
// stale.
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { randomArray, tensor } from './helpers/numeric';
import type { GpuRuntime } from '../src/gpu/runtime';
import { DerivedCache, WriteGenerations, readOnlyBindings } from '../src/gpu/derived';
import { matmul } from '../src/kernels/matmul';
import { noGrad, tidy } from '../src/autograd/scope';
import { Tensor } from '../src/autograd/tensor';
import { resnet18 } from '../src/nn/resnet';
import { SGD } from '../src/train/sgd';
import { crossEntropy } from '../src/autograd/ops/loss';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

describe('write generations', () => {
  it('readOnlyBindings: read-only only where every declaration of the number says read', () => {
    const wgsl = `
      @group(0) @binding(0) var<uniform> p: Params;
      @group(0) @binding(1) var<storage, read> a: array<f32>;
      @binding(2) @group(0) var<storage, read> b: array<vec4<f32>>;
      @group(0) @binding(3) var<storage, read_write> c: array<f32>;
      @group(0) @binding(4) var<storage, read> d: array<f32>;
      @group(0) @binding(4) var<storage, read_write> d2: array<f32>;
      @group(0) @binding(5) var<storage> e: array<f32>;`;
    expect([...readOnlyBindings(wgsl)].sort()).toEqual([1, 2]);
  });

  it("a dispatch gives its written bindings a new generation, not the ones it reads; write, copy, clear and alloc do too", async () => {
    const [a, b, c] = [12, 12, 9].map((n, i) => rt.upload(Float32Array.from(randomArray(n, 40 + i))));
    try {
      const gen = () => [a, b, c].map((x) => rt.writes.of(x));
      const g0 = gen();
      expect(new Set(g0).size).toBe(3);
      matmul(rt, a, b, c, 3, 3, 4); // c = a · b
      const g1 = gen();
      expect(g1[0]).toBe(g0[0]);
      expect(g1[1]).toBe(g0[1]);
      expect(g1[2]).toBeGreaterThan(g0[2]);
      rt.write(a, new Float32Array(4));
      expect(rt.writes.of(a)).toBeGreaterThan(g1[0]);
      rt.copy(a, 0, b, 0, 16);
      expect(rt.writes.of(b)).toBeGreaterThan(g1[1]);
      const g2 = gen();
      rt.clear(c, 0, 16);
      expect(rt.writes.of(c)).toBeGreaterThan(g2[2]);
      expect(rt.writes.of(a)).toBe(g2[0]); // copy's source is read, not written
      await rt.sync();
    } finally {
      for (const x of [a, b, c]) rt.release(x);
    }
    const d = rt.alloc(64);
    const gd = rt.writes.of(d);
    rt.release(d);
    const again = rt.alloc(64); // the pool hands out a buffer with a new generation, the same one or not
    expect(again !== d || rt.writes.of(again) > gd).toBe(true);
    rt.release(again);
  });
});

describe('DerivedCache', () => {
  /** A fake runtime's parts: buffers are plain objects, release counts. */
  const setup = () => {
    const writes = new WriteGenerations();
    const released: GPUBuffer[] = [];
    const cache = new DerivedCache(writes, (b) => void released.push(b));
    let n = 0;
    const buf = (size = 16) => ({ size, label: `b${n++}` }) as unknown as GPUBuffer;
    return { writes, released, cache, buf };
  };

  it('outside a scope: made for each use and released after it', () => {
    const { cache, released, buf } = setup();
    const src = buf();
    for (let i = 0; i < 2; i++) cache.use('t', [src], () => [buf()], () => undefined);
    expect(cache.counters).toEqual({ hits: 0, made: 2 });
    expect(released).toHaveLength(2);
  });

  it('inside a scope: kept while the sources are unwritten, remade after a write, released when the scope ends', async () => {
    const { cache, released, buf, writes } = setup();
    const [w, s] = [buf(), buf()];
    const seen: GPUBuffer[] = [];
    const use = (name = 't', sources: (GPUBuffer | null)[] = [w, s]) => cache.use(name, sources, () => [buf(64)], ([d]) => void seen.push(d));
    await cache.scope(async () => {
      use();
      use();
      expect(cache.counters).toEqual({ hits: 1, made: 1 });
      expect(seen[1]).toBe(seen[0]);
      writes.mark(s); // a write to any source
      use();
      expect(seen[2]).not.toBe(seen[1]);
      expect(released).toEqual([seen[0]]); // the stale one went back at once
      use('other name'); // the name is part of the key
      use('t', [w, null]); // so are the sources (null included)
      expect(cache.counters).toEqual({ hits: 1, made: 4 });
      await cache.scope(() => use()); // a nested scope keeps them
      expect(cache.counters.hits).toBe(2);
      expect(cache.heldBytes).toBe(3 * 64);
    });
    expect(cache.heldBytes).toBe(0);
    expect(new Set(released)).toEqual(new Set(seen));
  });

  it('past its budget: made and released per use', async () => {
    const { cache, released, buf } = setup();
    cache.budget = 100;
    const src = buf();
    await cache.scope(() => {
      cache.use('a', [src], () => [buf(64)], () => undefined);
      cache.use('b', [src], () => [buf(64)], () => undefined); // 128 > 100: not kept
      cache.use('b', [src], () => [buf(64)], () => undefined);
    });
    expect(cache.counters).toEqual({ hits: 0, made: 3 });
    expect(released).toHaveLength(3);
  });
});

describe('an evaluation scope over a ResNet-18', () => {
  it('makes the transformed filters, folded batch norms and packed weights once, and remakes them after every kind of write to the weights or statistics', async () => {
    const live = rt.poolStats().liveBuffers;
    const model = resnet18({ numClasses: 3, seed: 5 });
    const x = tensor(rt, randomArray(2 * 3 * 32 * 32, 61), [2, 3, 32, 32]);
    const labels = Tensor.fromArray(Int32Array.from([0, 2]), [2], 'i32', rt);
    const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
    /** An eval forward's logits, its dispatch count, and its weight packs for the implicit-GEMM kernel. */
    const forward = async () => {
      model.eval();
      const d0 = rt.counters.dispatches;
      const packs: string[] = [];
      rt.dispatchLog = (spec) => void (spec.op.startsWith('matmul-pack[W') && packs.push(spec.op));
      const y = noGrad(() => tidy(() => model.forward(x)));
      rt.dispatchLog = null;
      const dispatches = rt.counters.dispatches - d0;
      const out = await y.toArray();
      y.dispose();
      return { out, dispatches, packs };
    };
    /** The same forward with nothing kept: the reference for what the scope must give. */
    const fresh = async () => {
      const held = rt.derived.heldBytes;
      const saved = rt.derived.budget;
      rt.derived.budget = 0;
      try {
        return await forward();
      } finally {
        rt.derived.budget = saved;
        expect(rt.derived.heldBytes).toBe(held);
      }
    };
    const trainStep = () => {
      model.train();
      tidy(() => crossEntropy(model.forward(x), labels).backward());
      opt.step();
      model.zeroGrad();
    };
    try {
      await rt.derived.scope(async () => {
        const c0 = { ...rt.derived.counters };
        const first = await forward();
        const made = rt.derived.counters.made - c0.made;
        // Each stem, block and downsample convolution's fold (20), and Winograd's 3×3 stride-1 filters.
        expect(made).toBeGreaterThanOrEqual(20);
        const second = await forward();
        expect(rt.derived.counters.made - c0.made).toBe(made);
        expect(rt.derived.counters.hits - c0.hits).toBe(made);
        expect(second.dispatches).toBe(first.dispatches - made);
        // The implicit-GEMM convolutions' packed weights are kept too (withPackedOperand).
        expect(first.packs.length).toBeGreaterThan(0);
        expect(second.packs).toEqual([]);
        expect(second.out).toEqual(first.out);
        expect(first.out).toEqual((await fresh()).out);

        // Every write below changes the logits; the next forward in the scope must give the fresh forward's.
        const checks: [string, () => void][] = [
          ['a training-mode forward (the batch norm kernels update the running statistics in place)', () => {
            model.train();
            noGrad(() => tidy(() => void model.forward(x)));
          }],
          ['an SGD step', trainStep],
          ['write() into the first convolution\'s weight', () => rt.write(model.conv1.weight.buffer, Float32Array.from(randomArray(model.conv1.weight.size, 62)))],
          ['copy() into a batch norm\'s running mean', () => rt.copy(model.bn1.bias.buffer, 0, model.bn1.runningMean.buffer, 0, model.bn1.runningMean.size * 4)],
        ];
        let before = second.out;
        for (const [what, write] of checks) {
          write();
          const after = await forward();
          expect(after.out, what).not.toEqual(before);
          expect(after.out, what).toEqual((await fresh()).out);
          const again = await forward();
          expect(again.out, what).toEqual(after.out);
          before = after.out;
        }
      });
      expect(rt.derived.heldBytes).toBe(0);
    } finally {
      opt.dispose();
      for (const t of [x, labels]) t.dispose();
      model.dispose();
    }
    expect(rt.poolStats().liveBuffers).toBe(live);
  });
});
