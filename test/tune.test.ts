// The kernel autotuner (src/kernels/tune, src/train/tune.ts): timers and the quantisation guard (fake clocks),
// the pick from fake timings, the cache (round trip, corrupt, stale, another adapter), a tuned model step
// against the heuristic one, and the candidates the other tests do not reach (an im2col convolution's matmul
// on each kernel). Tiny shapes: a few dispatches each.
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, randomArray, tensor } from './helpers/numeric';
import type { GpuRuntime } from '../src/gpu/runtime';
import { type KernelChooser, setKernelChooser } from '../src/kernels/config';
import { conv2dForward, conv2dGeometry, convPlan, geometryStr } from '../src/kernels/conv';
import { matmul, matmulVariant } from '../src/kernels/matmul';
import {
  type Timer,
  type TuneTarget,
  type TuneCacheFile,
  type TunedChoice,
  TUNE_CACHE_FORMAT,
  TuneTable,
  WallTimer,
  adapterKey,
  createTimer,
  kernelVersion,
  measureAll,
  measureMs,
  mergeTuneCache,
  readTuneCache,
  recordChoices,
  tableChooser,
  tuneCacheText,
  tuneTargets,
  useTuneTable,
} from '../src/kernels/tune';
import { defaultTuneCachePath, loadTuneCacheFile, saveTuneCacheFile } from '../src/kernels/tune/file.node';
import { recordModelChoices, tuneModel } from '../src/train/tune';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Sequential } from '../src/nn/layers';
import { SeedSequence } from '../src/nn/init';
import type { Module } from '../src/nn/module';
import { Tensor } from '../src/autograd/tensor';
import { autocast, tidy } from '../src/autograd/scope';
import { toDtype } from '../src/autograd/ops/half';
import { hasF16 } from '../src/kernels/cast';
import { conv2d } from '../src/autograd/ops/conv';
import { linear } from '../src/autograd/ops/linear';
import { conv2dBackwardRef, conv2dRef, convOutSize } from '../src/reference/conv';
import { linearRef, linearBackwardRef } from '../src/reference/matmul';
import { CONV_CASES } from '../src/reference/cases';
import { hasSubgroupMatmul } from '../src/kernels/matmul';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

/**
 * A fake GPU clock: each launch adds `ms` to a virtual clock, and a window reads the clock quantised to
 * `quantum` (as Dawn's timestamps are, to 65.536 µs), at a phase that drifts between windows.
 */
class QuantisedClock implements Timer {
  readonly kind = 'fake';
  private clock = 0.0123;
  pending = 0;
  windows = 0;
  constructor(
    readonly quantum: number,
    readonly resolutionMs = quantum,
    readonly fallback?: Timer,
  ) {}
  launch(ms: number) {
    return () => {
      this.pending += ms;
    };
  }
  async window(encode: () => void): Promise<number> {
    this.windows++;
    this.pending = 0;
    const start = this.clock;
    encode();
    this.clock += this.pending;
    const q = this.quantum;
    const read = Math.floor(this.clock / q) * q - Math.floor(start / q) * q;
    this.clock += 0.0371;
    return read;
  }
}

describe('timing', () => {
  it('a launch shorter than the quantum is repeated inside one window until the window is well above it', async () => {
    const t = new QuantisedClock(0.065536);
    // One window alone reads 0 or one quantum: nothing like the 0.01 ms the launch takes.
    const single = await t.window(t.launch(0.01));
    expect([0, 0.065536].map((v) => Math.abs(single - v) < 1e-9)).toContain(true);
    const m = await measureMs(t, t.launch(0.01));
    expect(m.reps).toBeGreaterThanOrEqual(100);
    expect(m.ms).toBeGreaterThan(0.0095);
    expect(m.ms).toBeLessThan(0.0105);
    expect(m.coarse).toBe(false);
    expect(m.timer).toBe('fake');
  });

  it('a long launch is timed once per window, and a hopeless candidate after one window', async () => {
    const t = new QuantisedClock(0.001);
    const m = await measureMs(t, t.launch(5), { samples: 5 });
    expect(m.reps).toBe(1);
    expect(m.samples.length).toBe(5);
    expect(m.ms).toBeCloseTo(5, 2);
    const before = t.windows;
    const slow = await measureMs(t, t.launch(5), { samples: 5, giveUpAboveMs: 2, warmup: false });
    expect(slow.samples.length).toBe(1);
    expect(t.windows - before).toBe(1);
  });

  it('measureAll takes the timed windows round the candidates, and times a far slower one once', async () => {
    const t = new QuantisedClock(0.001);
    const order: string[] = [];
    const cand = (name: string, ms: number) => ({ name, encode: () => (order.push(name), t.launch(ms)()) });
    const m = await measureAll(t, [cand('a', 1), cand('b', 0.8), cand('slow', 3)], { samples: 3, warmup: false, minWindowMs: 0.1 });
    expect(m.get('a')!.ms).toBeCloseTo(1, 2);
    expect(m.get('b')!.ms).toBeCloseTo(0.8, 2);
    expect([m.get('a')!.samples.length, m.get('b')!.samples.length, m.get('slow')!.samples.length]).toEqual([3, 3, 1]);
    expect(order.slice(-4)).toEqual(['a', 'b', 'a', 'b']);
  });

  it('a timer that reads 0 at any length falls back (timestamps that do not tick), or throws without a fallback', async () => {
    const fallback = new QuantisedClock(0.001);
    const zero: Timer = { kind: 'zero', resolutionMs: 0.001, window: async (encode) => (encode(), 0), fallback };
    const m = await measureMs(zero, fallback.launch(0.5), { maxReps: 16 });
    expect(m.timer).toBe('fake');
    expect(m.ms).toBeCloseTo(0.5, 2);
    await expect(measureMs({ ...zero, fallback: undefined }, () => undefined, { maxReps: 16 })).rejects.toThrow(/the zero timer read 0 ms for 16 launches/);
  });

  it('without timestamp queries the timer is wall time around a sync', async () => {
    let syncs = 0;
    const noTimestamps = { features: new Set<string>(), sync: async () => void syncs++ } as unknown as GpuRuntime;
    const t = await createTimer(noTimestamps);
    expect(t).toBeInstanceOf(WallTimer);
    expect(t.resolutionMs).toBeGreaterThan(0);
    expect(syncs).toBe(10);
    expect((await createTimer(rt, { timestamps: false })).kind).toBe('wall');
  });

  it("times a real matmul with the adapter's timer (timestamps here when offered) and with wall time", async () => {
    const [M, N, K] = [64, 64, 64];
    const bufs = [M * K, K * N, M * N].map((n) => rt.alloc(n * 4));
    const encode = () => matmul(rt, bufs[0], bufs[1], bufs[2], M, N, K);
    const t = await createTimer(rt);
    expect(t.kind).toBe(rt.features.has('timestamp-query') ? 'timestamp' : 'wall');
    const ts = await measureMs(t, encode, { samples: 2 });
    const wall = await measureMs(await createTimer(rt, { timestamps: false }), encode, { samples: 2 });
    expect(ts.ms).toBeGreaterThan(0);
    expect(wall.ms).toBeGreaterThan(0);
    // A window whose work the runtime partly submits while encoding is taken again, stamped first.
    const early = await t.window(() => {
      encode();
      rt.flush();
      encode();
    });
    expect(early).toBeGreaterThan(0);
    t.dispose?.();
    for (const b of bufs) rt.release(b);
  });
});

// 3×3, stride 1, padding 1 on a 12×12 map: Winograd F4 and F2, implicit GEMM (fixed-width subgroups) and im2col all run it.
const g = conv2dGeometry([2, 3, 12, 12], [4, 3, 3, 3], 1, 1);

describe('the tuner', () => {
  it('records the choices a piece of work makes, with their candidates and the heuristic pick', async () => {
    const targets = await recordChoices(rt, () => {
      convPlan(rt, g, 'forward');
      convPlan(rt, g, 'forward');
      matmulVariant(rt, 40, 48, 32);
    });
    expect(targets.map((t) => t.site)).toEqual(['conv2d.forward', 'matmul']);
    const conv = targets[0];
    expect(conv.shape).toBe('2x3x12x12->4 k3x3 s1 p1');
    expect(conv.candidates).toEqual(hasSubgroupMatmul(rt) ? ['winograd4', 'winograd2', 'implicit', 'im2col'] : ['winograd4', 'winograd2', 'im2col']);
    expect(conv.heuristic).toBe('winograd4');
  });

  it('picks the fastest candidate from the timings, keeps the heuristic within the margin, and serves the pick', async () => {
    const targets = await recordChoices(rt, () => {
      convPlan(rt, g, 'forward');
      convPlan(rt, g, 'data');
    });
    const fake: Record<string, Record<string, number>> = {
      'conv2d.forward': { winograd4: 3, winograd2: 2.5, implicit: 4, im2col: 1 },
      'conv2d.data': { winograd4: 1, winograd2: 0.99, implicit: 4, im2col: 3 },
    };
    const reached: string[] = [];
    const lines: string[] = [];
    const table = new TuneTable();
    const choices = await tuneTargets(rt, targets, {
      table,
      log: (l) => lines.push(l),
      measure: async (t, cand, encode) => {
        // Each candidate's call runs on scratch buffers with the chooser forcing it there.
        encode();
        await rt.sync();
        reached.push(`${t.site}:${cand}`);
        return fake[t.site][cand];
      },
    });
    expect(choices.map((c) => [c.site, c.pick])).toEqual([
      ['conv2d.forward', 'im2col'],
      ['conv2d.data', 'winograd4'], // winograd2 is faster by 1%, inside the 3% margin
    ]);
    expect(reached.length).toBe(targets.reduce((s, t) => s + t.candidates.length, 0));
    expect(lines[0]).toMatch(/^tune conv2d\.forward 2x3x12x12->4 k3x3 s1 p1: im2col 1\.000 ms, .* -> im2col \(heuristic winograd4: 3\.00x faster\)$/);
    expect(lines[1]).toMatch(/-> winograd4 \(the heuristic's pick\)$/);
    const restore = useTuneTable(rt, table);
    try {
      expect(convPlan(rt, g, 'forward').algorithm).toBe('im2col');
      expect(convPlan(rt, g, 'weight')).toEqual({ algorithm: 'winograd', winogradTile: 4 }); // not tuned: the heuristic
    } finally {
      restore();
    }
  });

  it('times every candidate for real on scratch buffers and leaks nothing', async () => {
    const live = rt.poolStats().liveBuffers;
    const targets = await recordChoices(rt, () => {
      convPlan(rt, g, 'weight');
      matmulVariant(rt, 24, 20, 36);
    });
    const choices = await tuneTargets(rt, targets, { samples: 1 });
    for (const c of choices) {
      expect(Object.keys(c.times).sort()).toEqual([...targets.find((t) => t.site === c.site)!.candidates].sort());
      for (const ms of Object.values(c.times)) expect(ms).toBeGreaterThan(0);
      expect(c.pick in c.times).toBe(true);
    }
    expect(rt.poolStats().liveBuffers).toBe(live);
  });

  it('tunes the products inside convolutions (Winograd\'s batched products, implicit GEMM\'s gathers) through their convolution, and serves the picks there', async () => {
    const poison = rt.poison;
    rt.poison = false;
    // Winograd F(4×4) by default on g; a strided 3×3 convolution runs implicit GEMM where that is the default.
    const g2 = conv2dGeometry([2, 5, 11, 11], [6, 5, 3, 3], 2, 1);
    const [x, w, y, x2, w2, y2] = [g.N * g.C * g.H * g.W, g.O * g.C * 9, g.N * g.O * g.OH * g.OW, g2.N * g2.C * g2.H * g2.W, g2.O * g2.C * 9, g2.N * g2.O * g2.OH * g2.OW].map((n, i) => rt.upload(Float32Array.from(randomArray(n, 90 + i))));
    const run = () => {
      conv2dForward(rt, x, w, null, y, g);
      conv2dForward(rt, x2, w2, null, y2, g2);
    };
    try {
      const targets = await recordChoices(rt, run);
      const inner = targets.filter((t) => t.within);
      expect(inner.map((t) => t.shape)).toContainEqual(expect.stringMatching(/^4x\d+x3 x36$/));
      expect(inner.find((t) => / x36$/.test(t.shape))!.within).toEqual({ site: 'conv2d.forward', shape: geometryStr(g), pick: 'winograd4' });
      if (convPlan(rt, g2, 'forward').algorithm === 'implicit') {
        expect(inner.find((t) => t.shape.includes('implicit.forward'))!.within).toEqual({ site: 'conv2d.forward', shape: geometryStr(g2), pick: 'implicit' });
      }
      const heuristic = await Promise.all([y, y2].map(async (b, i) => new Float32Array(await rt.read(b, [g, g2][i].N * [g, g2][i].O * [g, g2][i].OH * [g, g2][i].OW * 4))));
      // Fake timings that make the last candidate of each inner product fastest: the tuner must reach it through its convolution.
      const table = new TuneTable();
      const lines: string[] = [];
      const choices = await tuneTargets(rt, inner, { table, log: (l) => lines.push(l), measure: async (t, cand, encode) => {
        encode();
        await rt.sync();
        return cand === t.candidates[t.candidates.length - 1] ? 1 : 2;
      } });
      expect(lines.filter((l) => /skipped/.test(l))).toEqual([]);
      expect(choices.length).toBe(inner.length);
      for (const c of choices) expect(c.pick).toBe(inner.find((t) => t.shape === c.shape)!.candidates.at(-1));
      // With the table, the convolutions run those kernels and give the same outputs.
      const ran = new Set<string>();
      rt.dispatchLog = (d) => void ran.add(d.kernel ?? d.op);
      const restore = useTuneTable(rt, table);
      try {
        run();
        await rt.sync();
      } finally {
        restore();
        rt.dispatchLog = null;
      }
      for (const c of choices) if (c.pick.startsWith('tiled-')) expect([...ran]).toContain(`matmul/matmul_tiled.wgsl [${c.pick}]`);
      const tuned = await Promise.all([y, y2].map(async (b, i) => new Float32Array(await rt.read(b, [g, g2][i].N * [g, g2][i].O * [g, g2][i].OH * [g, g2][i].OW * 4))));
      expectClose(tuned[0], Float64Array.from(heuristic[0]), TOL.reduction, 'winograd with the tuned product');
      expectClose(tuned[1], Float64Array.from(heuristic[1]), TOL.reduction, 'strided conv with the tuned product');
    } finally {
      rt.poison = poison;
      for (const b of [x, w, y, x2, w2, y2]) rt.release(b);
    }
  });

  it("a table's pick that the call cannot run (another device's kernel) is ignored", () => {
    const table = new TuneTable([{ site: 'matmul', shape: '40x48x32', pick: 'tiled-64', heuristic: 'vec4', times: {}, timer: 'wall' }]);
    const chooser = tableChooser(table);
    expect(chooser(rt, { site: 'matmul', shape: '40x48x32', candidates: ['vec4', 'portable'], heuristic: 'vec4' })).toBeUndefined();
    table.set({ site: 'matmul', shape: '40x48x32', pick: 'portable', heuristic: 'vec4', times: {}, timer: 'wall' });
    expect(chooser(rt, { site: 'matmul', shape: '40x48x32', candidates: ['vec4', 'portable'], heuristic: 'vec4' })).toBe('portable');
  });
});

describe('the tune cache', () => {
  const choice = (shape: string, pick: string): TunedChoice => ({ site: 'matmul', shape, pick, heuristic: 'subgroup', times: { subgroup: 2, [pick]: 1 }, timer: 'timestamp' });
  const other = { adapter: { name: 'h200', vendor: 'nvidia', architecture: 'hopper', device: 'h200', description: 'NVIDIA 570.1', isFallback: false, features: ['subgroups'] } };

  it('round-trips through its text and a file, written atomically into a new folder', async () => {
    const file = mergeTuneCache(null, rt, [choice('40x48x32', 'vec4'), choice('8x8x8', 'portable')], '2025-01-01T00:00:00.000Z');
    const read = readTuneCache(tuneCacheText(file), rt, 'mem');
    expect(read.warning).toBeNull();
    expect(read.table.size).toBe(2);
    expect(read.table.get('matmul', '40x48x32')).toBe('vec4');
    const dir = mkdtempSync(join(tmpdir(), 'tune-'));
    const path = join(dir, 'sub', 'tune.json');
    await saveTuneCacheFile(path, file);
    expect(readdirSync(join(dir, 'sub'))).toEqual(['tune.json']);
    const loaded = await loadTuneCacheFile(path, rt);
    expect(loaded.warning).toBeNull();
    expect(loaded.table.choices()).toEqual(file.entries[0].choices);
    expect(JSON.parse(readFileSync(path, 'utf8')).format).toBe(TUNE_CACHE_FORMAT);
    const missing = await loadTuneCacheFile(join(dir, 'none.json'), rt);
    expect(missing).toMatchObject({ missing: true, warning: null });
    expect(missing.table.size).toBe(0);
  });

  it('keeps other adapters on a write, replaces this one\'s shapes, and drops its stale kernel versions', () => {
    const theirs = mergeTuneCache(null, other, [choice('1x1x1', 'vec4')]);
    const stale: TuneCacheFile = mergeTuneCache(null, rt, [choice('2x2x2', 'vec4')]);
    stale.entries[0].kernelVersion = 'old';
    const prev: TuneCacheFile = { ...theirs, entries: [...theirs.entries, ...stale.entries] };
    const a = mergeTuneCache(prev, rt, [choice('40x48x32', 'vec4')]);
    const b = mergeTuneCache(a, rt, [choice('40x48x32', 'portable'), choice('8x8x8', 'vec4')]);
    expect(b.entries.length).toBe(2);
    expect(b.entries[0].adapter.vendor).toBe('nvidia');
    expect(b.entries[1].kernelVersion).toBe(kernelVersion());
    expect(b.entries[1].choices.map((c) => [c.shape, c.pick])).toEqual([
      ['40x48x32', 'portable'],
      ['8x8x8', 'vec4'],
    ]);
  });

  it('a corrupt, foreign-format, stale or other-adapter cache is ignored with one warning line', async () => {
    const good = mergeTuneCache(null, rt, [choice('40x48x32', 'vec4')]);
    const stale = structuredClone(good);
    stale.entries[0].kernelVersion = '0-deadbeef';
    const badChoice = structuredClone(good) as unknown as { entries: { choices: unknown[] }[] };
    badChoice.entries[0].choices.push({ site: 'matmul', shape: 1, pick: 'x', heuristic: 'y' });
    const cases: [string, RegExp][] = [
      ['{"format": "webgpu-resnet/tune-cache", ', /not valid JSON/],
      ['[]', /not a tune cache/],
      [JSON.stringify({ ...good, version: 99 }), /format version 99; this build reads version 1/],
      [JSON.stringify({ ...good, entries: {} }), /corrupt: "entries" is not a list/],
      [JSON.stringify(badChoice), /corrupt: entry 0 has a malformed choice/],
      [JSON.stringify(stale), /stale: tuned for kernel version 0-deadbeef, these kernels are /],
      [tuneCacheText(mergeTuneCache(null, other, [choice('40x48x32', 'vec4')])), /tuned on another adapter \(nvidia \/ hopper \/ h200\), not on /],
    ];
    for (const [text, why] of cases) {
      const r = readTuneCache(text, rt, 'x.json');
      expect(r.table.size, text).toBe(0);
      expect(r.warning, text).toMatch(why);
      expect(r.warning!.split('\n').length).toBe(1);
      expect(r.warning).toMatch(/^warning: tune cache x\.json: .*; ignored \(kernel choices use the heuristics\)$/);
    }
    // The same through a file: a half-written one is refused, not thrown.
    const dir = mkdtempSync(join(tmpdir(), 'tune-'));
    writeFileSync(join(dir, 'tune.json'), tuneCacheText(good).slice(0, 40));
    const loaded = await loadTuneCacheFile(join(dir, 'tune.json'), rt);
    expect(loaded.warning).toMatch(/not valid JSON/);
    // A different set of features (a portable runtime) is another adapter key.
    expect(readTuneCache(tuneCacheText(good), { adapter: { ...rt.adapter, features: [] } }, 'x').warning).toMatch(/another adapter/);
  });

  it('lives in $WEBGPU_RESNET_TUNE_CACHE, else $XDG_CACHE_HOME, else ~/.cache', () => {
    expect(defaultTuneCachePath({ WEBGPU_RESNET_TUNE_CACHE: '/x/t.json', XDG_CACHE_HOME: '/c' })).toBe('/x/t.json');
    expect(defaultTuneCachePath({ XDG_CACHE_HOME: '/c' })).toBe('/c/webgpu-resnet/tune.json');
    expect(defaultTuneCachePath({})).toMatch(/\.cache\/webgpu-resnet\/tune\.json$/);
    expect(adapterKey(rt).features).toEqual([...rt.adapter.features].sort());
  });
});

/** A small network whose step reaches every site: Winograd-sized, strided and pointwise convolutions, batch norm, a linear layer. */
function smallNet(): Module {
  const seeds = new SeedSequence(7);
  return new Sequential(
    new Conv2d(3, 8, 3, { padding: 1, seeds }),
    new BatchNorm2d(8),
    new ReLU(),
    new Conv2d(8, 8, 3, { padding: 1, seeds }),
    new ReLU(),
    new Conv2d(8, 8, 3, { stride: 2, padding: 1, seeds }),
    new BatchNorm2d(8),
    new ReLU(),
    new Conv2d(8, 20, 1, { seeds }),
    new AdaptiveAvgPool2d(1),
    new Flatten(),
    new Linear(20, 5, seeds),
  );
}

/** One training step's loss and every parameter's gradient (and the running statistics after it). */
async function step(model: Module, x: Tensor, w: Tensor): Promise<Float32Array[]> {
  model.zeroGrad();
  const loss = tidy(() => {
    const l = model.forward(x).mul(w).sum();
    l.backward();
    return l;
  });
  const out = [await loss.toArray(), ...(await Promise.all(model.parameters().map((p) => p.grad!.toArray())))];
  loss.dispose();
  return out;
}

describe('a tuned model', () => {
  it('tuneModel leaves the model as it was, and a step with every non-heuristic pick matches the heuristic step', async () => {
    const poison = rt.poison;
    rt.poison = false;
    const model = smallNet();
    const x = tensor(rt, randomArray(2 * 3 * 12 * 12, 71), [2, 3, 12, 12]);
    const w = tensor(rt, randomArray(2 * 5, 72), [2, 5]);
    try {
      const stats = () => Promise.all([...model.stateDict().values()].filter((v) => v instanceof Tensor && !v.requiresGrad).map((t) => (t as Tensor).toArray()));
      const before = await stats();
      const targets = await recordModelChoices(rt, model, [2, 3, 12, 12]);
      expect(await stats()).toEqual(before);
      expect(model.parameters().every((p) => p.grad === null)).toBe(true);
      const sites = new Set(targets.filter((t) => t.candidates.length > 1).map((t) => t.site));
      expect([...sites].sort()).toEqual(['batchnorm.reduce', 'conv2d.data', 'conv2d.forward', 'conv2d.weight', 'matmul']);

      const heuristic = await step(model, x, w);
      // Fake timings that make every candidate but the heuristic's faster: the tuned step runs none of the default kernels.
      const table = new TuneTable();
      const choices = await tuneModel(rt, model, [2, 3, 12, 12], { table, measure: async (t, cand) => (cand === t.heuristic ? 10 : 1 + t.candidates.indexOf(cand)) });
      expect(choices.length).toBeGreaterThanOrEqual(6);
      for (const c of choices) expect(c.pick).not.toBe(c.heuristic);
      // tuneModel routed the choices through the table. Every choice the tuned step makes (with two or more
      // candidates) was tuned, the products inside its changed convolutions too (the second round), and is served.
      const made = (await recordModelChoices(rt, model, [2, 3, 12, 12], table)).filter((t) => t.candidates.length > 1);
      expect(made.some((t) => t.within)).toBe(true);
      for (const t of made) expect(table.get(t.site, t.shape), `${t.site} ${t.shape}`).toBeDefined();
      const served = new Set<string>();
      setKernelChooser(rt, ((r, c) => {
        const pick = tableChooser(table)(r, c);
        if (pick !== undefined) served.add(`${c.site} ${c.shape}`);
        return pick;
      }) as KernelChooser);
      const tuned = await step(model, x, w);
      expect([...served].sort()).toEqual([...new Set(made.map((t) => `${t.site} ${t.shape}`))].sort());
      setKernelChooser(rt, null);
      expectClose(tuned[0], heuristic[0], TOL.reduction, 'loss');
      for (let i = 1; i < tuned.length; i++) expectClose(tuned[i], heuristic[i], TOL.reduction, `gradient of parameter ${i - 1}`);
    } finally {
      setKernelChooser(rt, null);
      rt.poison = poison;
      model.dispose();
      x.dispose();
      w.dispose();
    }
  });
});

const F16 = hasF16(await testRuntime());

describe('a tuned model in float16', () => {
  it.skipIf(!F16)("a float16 step's choices are its own (' f16' shapes), tuned on float16 scratch calls, and served to the float16 step only", async () => {
    const poison = rt.poison;
    rt.poison = false;
    const model = smallNet();
    const x = tensor(rt, randomArray(2 * 3 * 12 * 12, 71), [2, 3, 12, 12]);
    const w = tensor(rt, randomArray(2 * 5, 72), [2, 5]);
    try {
      const key = (t: { site: string; shape: string }) => `${t.site} ${t.shape}`;
      const t32 = (await recordModelChoices(rt, model, [2, 3, 12, 12], undefined, 'f32')).filter((t) => t.candidates.length > 1);
      const t16 = (await recordModelChoices(rt, model, [2, 3, 12, 12], undefined, 'f16')).filter((t) => t.candidates.length > 1);
      // Every convolution and plain product of the float16 step is keyed ' f16'; none of the float32 step's is.
      const plain = (t: { site: string; shape: string; within?: unknown }) => t.site.startsWith('conv2d.') || (t.site === 'matmul' && !t.within);
      expect(t16.filter((t) => t.site.startsWith('conv2d.')).length).toBeGreaterThanOrEqual(4);
      for (const t of t16.filter(plain)) expect(t.shape, key(t)).toMatch(/ f16$/);
      for (const t of t32) expect(t.shape, key(t)).not.toMatch(/ f16$/);
      // The tuner rebuilds each float16 call on scratch buffers and reaches its site and shape with every
      // candidate (tuneTargets throws where a candidate's call does not); fake timings make the heuristic's pick lose.
      const table = new TuneTable();
      const lines: string[] = [];
      const measure = async (t: TuneTarget, cand: string, encode: () => void) => {
        encode();
        await rt.sync();
        return cand === t.heuristic ? 10 : 1 + t.candidates.indexOf(cand);
      };
      const heuristic = await step16(model, x, w);
      const choices = await tuneModel(rt, model, [2, 3, 12, 12], { table, log: (l) => lines.push(l), measure, precision: 'f16' });
      expect(lines.filter((l) => /skipped/.test(l))).toEqual([]);
      for (const c of choices) expect(c.pick).not.toBe(c.heuristic);
      // Every choice the tuned float16 step makes was tuned (the products inside its changed convolutions in a second round).
      const made16 = (await recordModelChoices(rt, model, [2, 3, 12, 12], table, 'f16')).filter((t) => t.candidates.length > 1);
      for (const t of made16) expect(table.get(t.site, t.shape), key(t)).toBeDefined();
      // The float32 step finds none of these picks (its shapes are not keyed ' f16'), except the products inside
      // convolutions, which run the same float32 kernels in both precisions.
      const made32 = await recordModelChoices(rt, model, [2, 3, 12, 12], table, 'f32');
      for (const t of made32.filter(plain)) expect(table.get(t.site, t.shape), key(t)).toBeUndefined();
      // The float16 step with every pick served gives the heuristic step's logits and gradients, to float16 rounding
      // (ε = 2⁻¹¹ per rounding, a few roundings per layer).
      const served = new Set<string>();
      setKernelChooser(rt, ((r, c) => {
        const pick = tableChooser(table)(r, c);
        if (pick !== undefined) served.add(key(c));
        return pick;
      }) as KernelChooser);
      const tuned = await step16(model, x, w);
      setKernelChooser(rt, null);
      expect([...served].sort()).toEqual([...new Set(made16.map(key))].sort());
      expectClose(tuned[0], heuristic[0], 1e-2, 'logits');
      for (let i = 1; i < tuned.length; i++) expectClose(tuned[i], heuristic[i], 1e-2, `gradient of parameter ${i - 1}`);
    } finally {
      setKernelChooser(rt, null);
      rt.poison = poison;
      model.dispose();
      x.dispose();
      w.dispose();
    }
  });
});

/**
 * step() with the forward under autocast (float16 activations, float32 parameter gradients); the logits (widened)
 * in place of the loss, a sum whose terms cancel.
 */
async function step16(model: Module, x: Tensor, w: Tensor): Promise<Float32Array[]> {
  model.zeroGrad();
  const logits = tidy(() => {
    const y = toDtype(autocast(() => model.forward(x)), 'f32');
    y.mul(w).sum().backward();
    return y;
  });
  const out = [await logits.toArray(), ...(await Promise.all(model.parameters().map((p) => p.grad!.toArray())))];
  logits.dispose();
  return out;
}

// Candidates the op tests do not reach: conv2d.test runs the im2col convolution with the heuristic's matmul
// kernel, and matmul.test runs each kernel alone. Here the im2col convolution's matmuls (forward, the data
// gradient per image or batched, the weight gradient) and a linear layer run on each matmul kernel.
const VARIANTS = hasSubgroupMatmul(await testRuntime()) ? ['subgroup', 'vec4', 'portable'] : ['vec4', 'portable'];
const forceMatmul = (variant: string): KernelChooser => ((_r, c) => (c.site === 'matmul' ? c.candidates.find((x) => x === variant) : undefined)) as KernelChooser;

describe.each(VARIANTS)('every matmul kernel inside other ops (%s)', (variant) => {
  const cases = CONV_CASES.filter(([name]) => /1x1|per-image|13x13|14 input/.test(name));
  it.each(cases)('gradient check: im2col conv2d %s: forward, dx, dw', async (_name, s) => {
    const restore = setKernelChooser(rt, forceMatmul(variant));
    try {
      const [OH, OW] = convOutSize(s);
      const x = randomArray(s.N * s.C * s.H * s.W, 81);
      const wt = randomArray(s.O * s.C * s.KH * s.KW, 82);
      const dy = randomArray(s.N * s.O * OH * OW, 83);
      const X = tensor(rt, x, [s.N, s.C, s.H, s.W]).requireGrad();
      const W = tensor(rt, wt, [s.O, s.C, s.KH, s.KW]).requireGrad();
      const DY = tensor(rt, dy, [s.N, s.O, OH, OW]);
      const y = conv2d(X, W, null, { stride: s.stride, padding: s.pad, algorithm: 'im2col' });
      y.backward(DY);
      const gr = conv2dBackwardRef(x, wt, dy, s);
      expectClose(await y.toArray(), conv2dRef(x, wt, null, s), TOL.reduction, 'forward');
      expectClose(await X.grad!.toArray(), gr.dx, TOL.reduction, 'dx');
      expectClose(await W.grad!.toArray(), gr.dw, TOL.reduction, 'dw');
      for (const t of [X, W, DY, y]) t.dispose();
    } finally {
      restore();
    }
  });

  it('gradient check: linear 7x33 -> 13: forward, dx, dw, db', async () => {
    const restore = setKernelChooser(rt, forceMatmul(variant));
    try {
      const [N, inF, outF] = [7, 33, 13];
      const x = randomArray(N * inF, 91);
      const wt = randomArray(outF * inF, 92);
      const b = randomArray(outF, 93);
      const dy = randomArray(N * outF, 94);
      const X = tensor(rt, x, [N, inF]).requireGrad();
      const W = tensor(rt, wt, [outF, inF]).requireGrad();
      const B = tensor(rt, b, [outF]).requireGrad();
      const y = linear(X, W, B);
      const DY = tensor(rt, dy, [N, outF]);
      y.backward(DY);
      const gr = linearBackwardRef(x, wt, dy, N, inF, outF);
      expectClose(await y.toArray(), linearRef(x, wt, b, N, inF, outF), TOL.reduction, 'forward');
      expectClose(await X.grad!.toArray(), gr.dx, TOL.reduction, 'dx');
      expectClose(await W.grad!.toArray(), gr.dw, TOL.reduction, 'dw');
      expectClose(await B.grad!.toArray(), gr.db, TOL.reduction, 'db');
      for (const t of [X, W, B, DY, y]) t.dispose();
    } finally {
      restore();
    }
  });
});
