/**
 * Dynamic loss scaling (src/train/grad_scaler.ts, kernels/amp) against the float64 references of
 * src/reference/grad_scaler.ts: the unscale-and-check kernel on odd sizes with NaN/±inf at the first, middle
 * and last positions; the scaler's state machine over 30+ steps with injected inf/NaN gradients (skipped steps
 * leave the parameters and the optimizer's state untouched, the others equal a plain optimizer step on the
 * unscaled gradients); growth, backoff, state dicts, the pass-through when disabled; and a small conv net
 * under autocast whose float16 gradients overflow at scale 2^24 until the scale has backed off.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { dispatchEntries, testRuntime } from './helpers/gpu';
import { TOL, expectClose, randomArray, tensor } from './helpers/numeric';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { autocast, tidy } from '../src/autograd/scope';
import { crossEntropy } from '../src/autograd/ops/loss';
import { clearFoundInf, unscaleGrad, unscaleGrads } from '../src/kernels/amp';
import { withKernelConfig } from '../src/kernels/config';
import { hasF16 } from '../src/kernels/cast';
import { GradScaler, type GradScalerOptions, type GradScalerStateDict } from '../src/train/grad_scaler';
import { SGD } from '../src/train/sgd';
import { Adam, AdamW } from '../src/train/adam';
import type { Optimizer } from '../src/train/optimizer';
import { GradScalerRef, invScaleRef, unscaleRef } from '../src/reference/grad_scaler';
import { SgdRef } from '../src/reference/sgd';
import { AdamRef } from '../src/reference/adam';
import { Conv2d, Flatten, Linear, ReLU, Sequential } from '../src/nn/layers';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

const f16Here = hasF16(await testRuntime());

/** Float32 values from raw bits (so NaN payloads and signs survive the upload). */
const fromBits = (bits: number[]) => new Float32Array(Uint32Array.from(bits).buffer);
const SPECIALS: [string, number][] = [
  ['NaN', 0x7fc00000],
  ['-NaN', 0xffc00000],
  ['signalling NaN', 0x7f800001],
  ['NaN with the top payload', 0x7fffffff],
  ['+inf', 0x7f800000],
  ['-inf', 0xff800000],
];

/** A non-finite value's equality with NaN taken as equal to NaN (payloads aside). */
function expectSame(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const ok = Number.isNaN(want[i]) ? Number.isNaN(got[i]) : got[i] === want[i];
    if (!ok) expect.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

/** Run the kernel on `values` (a fresh flag, cleared on the GPU unless `preset` is given); the results and the flag. */
async function unscaleOnGpu(values: Float32Array, scale: number, preset?: number): Promise<{ out: Float32Array; flag: number }> {
  const n = values.length;
  const buf = rt.alloc(n * 4);
  const flag = rt.alloc(4); // filled with 0xffffffff by the test runtime's poison mode
  rt.write(buf, values);
  if (preset === undefined) clearFoundInf(rt, flag);
  else rt.write(flag, Uint32Array.of(preset));
  unscaleGrad(rt, buf, n, invScaleRef(scale), flag);
  const out = new Float32Array(await rt.read(buf, n * 4));
  const f = new Uint32Array(await rt.read(flag, 4))[0];
  rt.release(buf);
  rt.release(flag);
  return { out, flag: f };
}

// Sizes 1..7, a few not multiples of 4 (scalar entry), multiples of 4 (vec4 twin), and sizes whose grid-stride
// loop runs more than once per thread on a CPU adapter (64 workgroups × 256 threads × 4 floats = 65536).
const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 17, 33, 257, 1031, 1032, 65540, 70001];
const SCALES = [2 ** 16, 3000.5, 0.5];

describe('unscale kernel: g *= 1/scale in place, flag on NaN/±inf (torch _amp_foreach_non_finite_check_and_unscale_)', () => {
  it.each(SIZES)('n = %i: finite values, scales 2^16, 3000.5 (1/scale rounded to float32) and 0.5: exact float32 products, flag stays 0', async (n) => {
    for (const [k, scale] of SCALES.entries()) {
      const g = Float32Array.from(randomArray(n, 11 + n + k, -1000, 1000), (v) => v * Math.min(scale, 2 ** 10));
      const want = unscaleRef(g, scale);
      expect(want.foundInf).toBe(false);
      const { out, flag } = await unscaleOnGpu(g, scale);
      expectSame(out, want.out, `n=${n} scale=${scale}`);
      expect(flag, `n=${n} scale=${scale}: flag`).toBe(0);
    }
  });

  it.each(SIZES)('n = %i: one NaN or ±inf at the first, middle or last position sets the flag; the other values are still unscaled', async (n) => {
    const positions = [...new Set([0, n >> 1, n - 1])];
    for (const pos of positions) {
      for (const [name, bits] of SPECIALS) {
        const g = Float32Array.from(randomArray(n, 7 * n + pos, -4, 4), (v) => v * 2 ** 16);
        g[pos] = fromBits([bits])[0];
        const want = unscaleRef(g, 2 ** 16);
        expect(want.foundInf).toBe(true);
        const { out, flag } = await unscaleOnGpu(g, 2 ** 16);
        expect(flag, `n=${n}: ${name} at ${pos} sets the flag`).toBe(1);
        expectSame(out, want.out, `n=${n}: ${name} at ${pos}`);
      }
    }
  });

  it('a finite gradient whose unscaled value overflows float32 (scale < 1) sets the flag', async () => {
    for (const n of [5, 8]) {
      const g = new Float32Array(n).fill(1);
      g[n - 1] = 3e38;
      const want = unscaleRef(g, 0.5);
      expect(want.foundInf).toBe(true);
      const { out, flag } = await unscaleOnGpu(g, 0.5);
      expect(flag, `n=${n}`).toBe(1);
      expectSame(out, want.out, `n=${n}`);
    }
  });

  it('the kernel never clears a set flag; the GPU clear does', async () => {
    for (const n of [3, 16]) {
      const g = Float32Array.from(randomArray(n, n), (v) => v);
      expect((await unscaleOnGpu(g, 4, 1)).flag, `n=${n}: preset 1 stays 1`).toBe(1);
      expect((await unscaleOnGpu(g, 4, 0xffffffff)).flag, `n=${n}: preset kept`).toBe(0xffffffff);
      expect((await unscaleOnGpu(g, 4)).flag, `n=${n}: cleared, then finite`).toBe(0);
    }
  });
});

describe('the multi-tensor unscale (kernels/amp/multi.ts) gives the gradients and the flag of one unscale per tensor', () => {
  // Sizes 1-3, odd, multiples of 4 (vec4 entries), over a workgroup, interleaved so that chunks mix sizes.
  const MIX = [1, 4, 3, 8, 7, 1, 12, 33, 2, 4, 1000, 257, 16, 1, 4100, 5, 40, 9];
  /** Each tensor's values; `bad`: [tensor, position, bits] of one non-finite value. */
  const make = (bad?: [number, number, number]) =>
    MIX.map((n, i) => {
      const v = Float32Array.from(randomArray(n, 500 + i), (x) => x * 3);
      if (bad && bad[0] === i) v.set(fromBits([bad[2]]), bad[1] === -1 ? n - 1 : bad[1]);
      return v;
    });
  const run = async (values: Float32Array[], many: boolean, limits: { slots?: number; workgroups?: number } = {}) => {
    const bufs = values.map((v) => {
      const b = rt.alloc(v.length * 4);
      rt.write(b, v);
      return b;
    });
    const flag = rt.alloc(4);
    clearFoundInf(rt, flag);
    const inv = invScaleRef(3000.5);
    const before = rt.counters.dispatches;
    const entries = dispatchEntries(rt, () => {
      if (many) unscaleGrads(rt, bufs.map((buffer, i) => ({ buffer, n: MIX[i] })), inv, flag, limits);
      else bufs.forEach((b, i) => unscaleGrad(rt, b, MIX[i], inv, flag));
    });
    const dispatches = rt.counters.dispatches - before;
    // A shorter last chunk takes the full chunks' entry (its last slots empty): one entry size per call.
    expect(new Set(entries.filter((e) => /_x\d+$/.test(e)).map((e) => e.replace(/.*_x/, ''))).size).toBeLessThanOrEqual(1);
    const outs = await Promise.all(bufs.map(async (b, i) => new Uint32Array(await rt.read(b, MIX[i] * 4))));
    const f = new Uint32Array(await rt.read(flag, 4))[0];
    for (const b of [...bufs, flag]) rt.release(b);
    return { outs, flag: f, dispatches };
  };
  it.each([
    ['all finite', undefined],
    ['a NaN in the first tensor', [0, 0, 0x7fc00000]],
    ['-inf at the end of a vec4 tensor in a later chunk', [14, -1, 0xff800000]],
    ['+inf in the middle of an odd tensor', [7, 16, 0x7f800000]],
  ] as [string, [number, number, number] | undefined][])('%s', async (_what, bad) => {
    const values = make(bad);
    const one = await run(values, false);
    for (const limits of [{}, { slots: 2, workgroups: 1 }, { slots: 3 }]) {
      const many = await run(values, true, limits);
      expect(many.flag, JSON.stringify(limits)).toBe(one.flag);
      expect(many.flag).toBe(bad ? 1 : 0);
      for (let i = 0; i < MIX.length; i++) expect(many.outs[i], `tensor ${i} (${MIX[i]} floats), ${JSON.stringify(limits)}`).toEqual(one.outs[i]);
      if (limits.slots === 2) expect(many.dispatches).toBeLessThan(MIX.length);
    }
  });
  it("with the kernel configuration's multiTensorUpdate off, one dispatch per tensor", async () => {
    const values = make();
    const { dispatches } = await withKernelConfig(rt, { multiTensorUpdate: false }, () => run(values, true));
    expect(dispatches).toBe(MIX.length);
  });
});

// ---- the scaler over a sequence of steps

const SHAPES = [[3, 5], [7], [1], [2, 2, 3]] as const;
const STEPS = 34;

/** Injected non-finite gradients: step → [parameter, position, value]; 'overflow' is a finite gradient whose scaled value overflows float32. */
const INJECT = new Map<number, [number, 'first' | 'middle' | 'last', number | 'overflow']>([
  [2, [0, 'first', NaN]],
  [3, [1, 'last', Infinity]],
  [9, [3, 'middle', -Infinity]],
  [10, [2, 'first', NaN]],
  [17, [0, 'middle', 'overflow']],
  [18, [3, 'last', NaN]],
  [19, [1, 'first', -Infinity]],
  [26, [0, 'last', Infinity]],
]);
/** Parameter 2 has no gradient on these steps (the optimizer skips it, and so does the scaler's check). */
const noGrad = (step: number) => step % 5 === 4;

const sizeOf = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

interface Snapshot {
  params: Float32Array[];
  state: string;
}

/** The parameters and every state entry of an optimizer, read back (state as a string of bits and numbers). */
async function snapshot(params: Tensor[], opt: Optimizer): Promise<Snapshot> {
  const sd = opt.stateDict();
  const parts: string[] = [];
  for (const [i, entry] of Object.entries(sd.state)) {
    for (const [k, v] of Object.entries(entry)) {
      const val = v instanceof Tensor ? Array.from(new Uint32Array((await v.toArray()).buffer)).join(',') : String(v);
      parts.push(`${i}.${k}=${val}`);
    }
  }
  return { params: await Promise.all(params.map((p) => p.toArray())), state: parts.sort().join(';') };
}

type OptKind = 'SGD' | 'Adam' | 'AdamW';

function makeOpt(kind: OptKind, params: Tensor[]): Optimizer {
  const groups = [{ params: params.slice(0, 2) }, { params: params.slice(2), lr: kind === 'SGD' ? 0.05 : 3e-3 }];
  if (kind === 'SGD') return new SGD(groups, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-2 });
  return kind === 'Adam' ? new Adam(groups, { lr: 1e-2, weightDecay: 1e-2 }) : new AdamW(groups, { lr: 1e-2, amsgrad: true });
}

function makeRef(kind: OptKind, params: Float64Array[]): SgdRef | AdamRef {
  const groups = [{ params: params.slice(0, 2) }, { params: params.slice(2), lr: kind === 'SGD' ? 0.05 : 3e-3 }];
  if (kind === 'SGD') return new SgdRef(groups, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-2 });
  return kind === 'Adam' ? new AdamRef(groups, { lr: 1e-2, weightDecay: 1e-2 }) : new AdamRef(groups, { lr: 1e-2, amsgrad: true }, true);
}

const SEQUENCE_CASES: [OptKind, GradScalerOptions][] = [
  ['SGD', { initScale: 2 ** 10, growthInterval: 3 }],
  ['Adam', { initScale: 2 ** 12, growthInterval: 4, growthFactor: 1.5, backoffFactor: 0.3 }],
  ['AdamW', { initScale: 1000.5, growthInterval: 2, growthFactor: 3, backoffFactor: 0.25 }],
];

describe('GradScaler over a sequence of steps with injected inf/NaN gradients', () => {
  it.each(SEQUENCE_CASES)(`%s %o: ${STEPS} steps against a plain optimizer on the unscaled gradients and the float64 references`, async (kind, opts) => {
    const init = SHAPES.map((s, i) => randomArray(sizeOf(s), 100 + i));
    const params = init.map((v, i) => tensor(rt, v, SHAPES[i]));
    const twinParams = init.map((v, i) => tensor(rt, v, SHAPES[i]));
    const opt = makeOpt(kind, params);
    const twin = makeOpt(kind, twinParams);
    const ref = makeRef(kind, init.map((v) => Float64Array.from(v)));
    const scaler = new GradScaler(opts);
    const scalerRef = new GradScalerRef(opts);
    const trace = scalerRef.run(Array.from({ length: STEPS }, (_, s) => INJECT.has(s)));
    // the sequence exercises both directions of the scale
    expect(trace.some((t) => t.scaleAfter > t.scale), 'the scale grows somewhere').toBe(true);
    expect(trace.some((t) => t.scaleAfter < t.scale), 'the scale backs off somewhere').toBe(true);

    for (let step = 0; step < STEPS; step++) {
      const t = trace[step];
      const scale = scaler.getScale();
      expect(scale, `step ${step}: scale`).toBe(t.scale);
      const inject = INJECT.get(step);
      // the scaled gradients the backward pass would give: G·scale in float32, with the injection
      const scaled = SHAPES.map((s, i) => {
        if (i === 2 && noGrad(step)) return null;
        const g = Float32Array.from(randomArray(sizeOf(s), 1000 * step + i), (v) => v * scale);
        if (inject && inject[0] === i) {
          const pos = inject[1] === 'first' ? 0 : inject[1] === 'last' ? g.length - 1 : g.length >> 1;
          g[pos] = inject[2] === 'overflow' ? 3e38 * scale : inject[2]; // a gradient of 3e38 overflows float32 once scaled
          if (inject[2] === 'overflow') expect(g[pos]).toBe(Infinity);
        }
        return g;
      });
      const unscaled = scaled.map((g) => (g ? unscaleRef(g, scale) : null));
      const found = unscaled.some((u) => u?.foundInf);
      expect(found, `step ${step}: injected`).toBe(inject !== undefined);

      const before = inject ? await snapshot(params, opt) : null; // a step that must be skipped
      params.forEach((p, i) => {
        p.zeroGrad();
        const g = scaled[i];
        if (g) p.grad = tensor(rt, g, p.shape);
      });
      const stepped = await scaler.step(opt);
      expect(stepped, `step ${step}: stepped`).toBe(t.stepped);
      // the gradients are unscaled in place either way (as torch does)
      for (let i = 0; i < params.length; i++) {
        if (unscaled[i]) expectSame(await params[i].grad!.toArray(), unscaled[i]!.out, `step ${step}: unscaled gradient ${i}`);
        else expect(params[i].grad, `step ${step}: parameter ${i} has no gradient`).toBeNull();
      }
      scaler.update();
      expect(scaler.getScale(), `step ${step}: scale after update`).toBe(t.scaleAfter);
      expect(scaler.getGrowthTracker(), `step ${step}: growth tracker after update`).toBe(t.trackerAfter);

      if (!stepped) {
        const after = await snapshot(params, opt);
        after.params.forEach((p, i) => expectSame(p, before!.params[i], `step ${step} (skipped): parameter ${i} untouched`));
        expect(after.state, `step ${step} (skipped): optimizer state untouched`).toBe(before!.state);
        continue;
      }
      twinParams.forEach((p, i) => {
        p.zeroGrad();
        const u = unscaled[i];
        if (u) p.grad = tensor(rt, u.out, p.shape);
      });
      twin.step();
      ref.step(unscaled.map((u) => (u ? u.out : null)));
      const mine = await Promise.all(params.map((p) => p.toArray()));
      const plain = await Promise.all(twinParams.map((p) => p.toArray()));
      mine.forEach((p, i) => expectSame(p, plain[i], `step ${step}: parameter ${i} equals a plain ${kind} step on the unscaled gradients`));
      mine.forEach((p, i) => expectClose(p, ref.params[i], TOL.elementwise, `step ${step}: parameter ${i} vs float64 ${kind}`));
    }
    // the state too (the skipped steps checked it above): bit for bit the plain optimizer's
    expect((await snapshot(params, opt)).state, `optimizer state equals the plain ${kind}'s`).toBe((await snapshot(twinParams, twin)).state);
    expect(scalerRef.skipped).toBe(INJECT.size);
    const sd = opt.stateDict();
    if (kind !== 'SGD') expect(sd.state[0].step, 'Adam step count: the skipped steps are not counted').toBe(STEPS - INJECT.size);
    for (const p of [...params, ...twinParams]) p.dispose();
    opt.dispose();
    twin.dispose();
    scaler.dispose();
  });
});

// ---- the state machine, state dicts, errors and the pass-through

/** One iteration on a one-parameter SGD: gradient `g` (scaled by the caller's choice), step, update. */
async function iterate(scaler: GradScaler, opt: SGD, p: Tensor, bad: boolean): Promise<boolean> {
  p.zeroGrad();
  p.grad = tensor(rt, [0.5 * scaler.getScale(), bad ? NaN : -0.25 * scaler.getScale(), 1], [3]);
  const stepped = await scaler.step(opt);
  scaler.update();
  return stepped;
}

function oneParam(): { p: Tensor; opt: SGD } {
  const p = tensor(rt, [1, 2, 3], [3]);
  return { p, opt: new SGD([p], { lr: 0.1, momentum: 0.5 }) };
}

describe('GradScaler: growth, backoff, state dicts', () => {
  it('grows by growthFactor after growthInterval clean steps, backs off on inf, never grows to inf', async () => {
    const { p, opt } = oneParam();
    const scaler = new GradScaler({ initScale: 8, growthInterval: 2 });
    const seq = [false, false, false, true, false, false, true, true, false, false, false, false];
    const ref = new GradScalerRef({ initScale: 8, growthInterval: 2 });
    for (const [i, bad] of seq.entries()) {
      const want = ref.step(bad);
      expect(await iterate(scaler, opt, p, bad), `step ${i}`).toBe(!bad);
      expect(scaler.getScale(), `step ${i}: scale`).toBe(want.scaleAfter);
      expect(scaler.getGrowthTracker(), `step ${i}: tracker`).toBe(want.trackerAfter);
    }
    expect(scaler.getScale()).toBe(8 * 2 * 0.5 * 2 * 0.25 * 2 * 2); // by hand: growths at steps 1, 5, 9, 11; backoffs at 3, 6, 7
    // the largest float32 power of two does not grow to inf; the tracker restarts anyway
    const top = new GradScaler({ initScale: 2 ** 127, growthInterval: 1 });
    expect(await iterate(top, opt, p, false)).toBe(true);
    expect(top.getScale()).toBe(2 ** 127);
    expect(top.getGrowthTracker()).toBe(0);
    p.dispose();
    opt.dispose();
  });

  it('update(newScale) sets the scale and keeps the tracker; the constructor and update refuse bad values', async () => {
    const { p, opt } = oneParam();
    const scaler = new GradScaler({ initScale: 4, growthInterval: 5 });
    await iterate(scaler, opt, p, false);
    expect(scaler.getGrowthTracker()).toBe(1);
    await scaler.step(opt);
    scaler.update(1000.1);
    expect(scaler.getScale()).toBe(Math.fround(1000.1));
    expect(scaler.getGrowthTracker()).toBe(1);
    expect(() => scaler.update(0)).toThrow(/GradScaler.update: newScale must be a number > 0/);
    expect(() => scaler.update(1e39)).toThrow(/finite in float32/);
    for (const [o, msg] of [
      [{ initScale: 0 }, /initScale must be a number > 0/],
      [{ initScale: -1 }, /initScale/],
      [{ initScale: NaN }, /initScale/],
      [{ initScale: Infinity }, /initScale/],
      [{ growthFactor: 1 }, /growthFactor must be a finite number > 1/],
      [{ growthFactor: 0.5 }, /growthFactor/],
      [{ backoffFactor: 1 }, /backoffFactor must be a number in \(0, 1\)/],
      [{ backoffFactor: 0 }, /backoffFactor/],
      [{ backoffFactor: 1.5 }, /backoffFactor/],
      [{ growthInterval: 0 }, /growthInterval must be an integer ≥ 1/],
      [{ growthInterval: 1.5 }, /growthInterval/],
      [{ growthInterval: -3 }, /growthInterval/],
      [{ enabled: 'yes' }, /enabled must be true or false/],
    ] as [GradScalerOptions, RegExp][]) {
      expect(() => new GradScaler(o), JSON.stringify(o)).toThrow(msg);
    }
    expect(() => scaler.setGrowthFactor(1)).toThrow(/setGrowthFactor: growthFactor/);
    expect(() => scaler.setBackoffFactor(2)).toThrow(/setBackoffFactor: backoffFactor/);
    expect(() => scaler.setGrowthInterval(0)).toThrow(/setGrowthInterval: growthInterval/);
    p.dispose();
    opt.dispose();
  });

  it('stateDict has torch keys, survives JSON exactly, and a loaded scaler continues identically', async () => {
    const { p, opt } = oneParam();
    const a = new GradScaler({ initScale: 3000.5, growthFactor: 1.7, backoffFactor: 0.35, growthInterval: 3 });
    for (const bad of [false, true, false, false, false, false]) await iterate(a, opt, p, bad);
    const sd = a.stateDict() as GradScalerStateDict;
    expect(Object.keys(sd).sort()).toEqual(['_growth_tracker', 'backoff_factor', 'growth_factor', 'growth_interval', 'scale']);
    expect(sd).toEqual({ scale: a.getScale(), growth_factor: 1.7, backoff_factor: 0.35, growth_interval: 3, _growth_tracker: a.getGrowthTracker() });
    expect(sd._growth_tracker).toBe(1); // 4 clean steps after the backoff: growth at the 3rd, then 1
    const b = new GradScaler();
    b.loadStateDict(JSON.parse(JSON.stringify(sd)));
    expect(b.stateDict()).toEqual(sd);
    for (const [i, bad] of [false, false, true, false, false, false, false].entries()) {
      await iterate(a, opt, p, bad);
      await iterate(b, opt, p, bad);
      expect(b.getScale(), `step ${i}`).toBe(a.getScale());
      expect(b.getGrowthTracker(), `step ${i}`).toBe(a.getGrowthTracker());
    }
    // refused state dicts change nothing
    const keep = JSON.stringify(b.stateDict());
    const bad: [unknown, RegExp][] = [
      [{}, /empty, possibly because it was saved from a disabled GradScaler/],
      [{ ...sd, extra: 1 }, /unknown key extra/],
      [{ ...sd, _growth_tracker: undefined, scale: 2 }, /_growth_tracker must be an integer/],
      [(({ scale: _s, ...rest }) => rest)(sd), /has no scale/],
      [{ ...sd, scale: 0 }, /scale must be a number > 0/],
      [{ ...sd, growth_factor: 0.9 }, /growthFactor/],
      [{ ...sd, backoff_factor: 1 }, /backoffFactor/],
      [{ ...sd, growth_interval: 2.5 }, /growthInterval/],
      [{ ...sd, _growth_tracker: -1 }, /_growth_tracker must be an integer ≥ 0/],
      [null, /must be an object/],
    ];
    for (const [d, msg] of bad) expect(() => b.loadStateDict(d as GradScalerStateDict), JSON.stringify(d)).toThrow(msg);
    expect(JSON.stringify(b.stateDict())).toBe(keep);
    p.dispose();
    opt.dispose();
  });
});

describe('GradScaler: call order, dtypes, and enabled: false', () => {
  it('refuses unscale_ twice, unscale_ after step, step twice, update before step, and an optimizer without gradients', async () => {
    const { p, opt } = oneParam();
    const scaler = new GradScaler({ initScale: 4 });
    p.grad = tensor(rt, [4, 8, 12], [3]);
    scaler.unscale_(opt);
    expect(() => scaler.unscale_(opt)).toThrow(/unscale_\(\) has already been called on this optimizer since the last update\(\)/);
    expect(() => scaler.update()).toThrow(/await scaler.step\(optimizer\) before update\(\)/);
    expect(await scaler.step(opt)).toBe(true);
    expectClose(await p.toArray(), [1 - 0.1 * 1, 2 - 0.1 * 2, 3 - 0.1 * 3], TOL.elementwise, 'unscaled once: g = [1, 2, 3]');
    expect(() => scaler.unscale_(opt)).toThrow(/unscale_\(\) is being called after step\(\)/);
    await expect(scaler.step(opt)).rejects.toThrow(/step\(\) has already been called since the last update\(\)/);
    scaler.update();
    expect(() => scaler.update()).toThrow(/no inf\/NaN checks were recorded before update\(\)/);
    p.zeroGrad();
    await expect(scaler.step(opt)).rejects.toThrow(/no parameter of the optimizer has a gradient/);
    p.dispose();
    opt.dispose();
    scaler.dispose();
  });

  it('refuses float16 gradients (torch: "Attempting to unscale FP16 gradients") before touching any gradient', async () => {
    const a = tensor(rt, [1, 2], [2]);
    const b = tensor(rt, [1, 2], [2]);
    b.name = 'head.weight';
    const opt = new SGD([a, b], { lr: 0.1 });
    a.grad = tensor(rt, [8, 8], [2]);
    // a gradient stored as float16 (never made by backward for a float32 parameter; built here by hand)
    if (f16Here) {
      b.grad = Tensor.fromArray([8, 8], [2], 'f16', rt);
      const scaler = new GradScaler({ initScale: 8 });
      expect(() => scaler.unscale_(opt)).toThrow(/gradient of parameter 1 'head.weight' \[2\] is f16; GradScaler unscales float32 gradients only/);
      expect(Array.from(await a.grad.toArray())).toEqual([8, 8]);
    }
    for (const t of [a, b]) t.dispose();
    opt.dispose();
  });

  it('enabled: false passes through: scale returns the loss, step steps even on inf, update and loadStateDict do nothing', async () => {
    const { p, opt } = oneParam();
    const scaler = new GradScaler({ enabled: false, initScale: 1024 });
    expect(scaler.isEnabled()).toBe(false);
    expect(scaler.getScale()).toBe(1);
    const loss = tensor(rt, [2.5], []);
    expect(scaler.scale(loss)).toBe(loss);
    p.grad = tensor(rt, [Infinity, 0, 0], [3]);
    scaler.unscale_(opt);
    expect(await p.grad.toArray()).toEqual(Float32Array.from([Infinity, 0, 0]));
    expect(await scaler.step(opt)).toBe(true);
    expect((await p.toArray())[0]).toBe(-Infinity);
    scaler.update();
    expect(scaler.stateDict()).toEqual({});
    scaler.loadStateDict({});
    expect(new GradScaler().isEnabled()).toBe(true);
    loss.dispose();
    p.dispose();
    opt.dispose();
  });

  it('scale(loss) is loss · scale and differentiable: the gradient reaching a leaf is multiplied by the scale', async () => {
    const scaler = new GradScaler({ initScale: 3000.5 });
    const x = tensor(rt, [0.25, -1.5, 3], [3]).requireGrad();
    const scaled = tidy(() => {
      const s = scaler.scale(x.mul(x).sum());
      s.backward();
      return s;
    });
    const want = (0.25 ** 2 + 1.5 ** 2 + 9) * 3000.5;
    expect(Math.abs((await scaled.item()) - want) / want).toBeLessThan(1e-6);
    expectClose(await x.grad!.toArray(), [0.5 * 3000.5, -3 * 3000.5, 6 * 3000.5], TOL.elementwise, 'd(scale·Σx²)/dx');
    scaled.dispose();
    x.dispose();
  });
});

describe.skipIf(!f16Here)('GradScaler with autocast: a small conv net whose float16 gradients overflow at scale 2^24', () => {
  it('skips the overflowing steps (parameters untouched), backs the scale off until steps succeed, then trains', async () => {
    const model = new Sequential(new Conv2d(3, 4, 3, { padding: 1, bias: true }), new ReLU(), new Flatten(), new Linear(4 * 5 * 5, 3));
    const params = model.parameters();
    const opt = new SGD(params, { lr: 0.05, momentum: 0.9 });
    const scaler = new GradScaler({ initScale: 2 ** 24 });
    const x = Tensor.fromArray(Float32Array.from(randomArray(2 * 3 * 5 * 5, 5, -2, 2)), [2, 3, 5, 5], 'f32', rt);
    const y = Tensor.fromArray([0, 2], [2], 'i32', rt);
    const initial = await Promise.all(params.map((p) => p.toArray()));
    const losses: number[] = [];
    const stepped: boolean[] = [];
    let previous = initial;
    for (let step = 0; step < 16; step++) {
      opt.zeroGrad();
      const scale = scaler.getScale();
      const loss = tidy(() => {
        const l = autocast(() => crossEntropy(model.forward(x), y));
        expect(l.dtype).toBe('f32');
        scaler.scale(l).backward();
        return l;
      });
      losses.push(await loss.item());
      loss.dispose();
      // independent of the flag: are the (still scaled) float32 gradients finite?
      const grads = await Promise.all(params.map((p) => p.grad!.toArray()));
      const finite = grads.every((g) => g.every(Number.isFinite));
      const ok = await scaler.step(opt);
      expect(ok, `step ${step} (scale ${scale}): stepped iff the gradients were finite`).toBe(finite);
      stepped.push(ok);
      scaler.update();
      expect(scaler.getScale(), `step ${step}: scale after update`).toBe(ok ? scale : scale / 2);
      const now = await Promise.all(params.map((p) => p.toArray()));
      if (!ok) now.forEach((v, i) => expectSame(v, previous[i], `step ${step} (skipped): parameter ${i} untouched`));
      previous = now;
    }
    const firstOk = stepped.indexOf(true);
    expect(stepped[0], 'the first step overflows at 2^24').toBe(false);
    expect(firstOk, 'some step succeeds').toBeGreaterThan(0);
    expect(stepped.slice(firstOk).every(Boolean), `once the scale fits, every step succeeds: ${stepped.join(',')}`).toBe(true);
    expect(scaler.getScale()).toBe(2 ** (24 - firstOk));
    // the skipped steps did not move the parameters, nor the loss; the successful ones train
    for (let s = 1; s <= firstOk; s++) expect(losses[s], `loss before step ${s}`).toBe(losses[0]);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    for (const t of [x, y]) t.dispose();
    model.dispose();
    opt.dispose();
    scaler.dispose();
  });
});
