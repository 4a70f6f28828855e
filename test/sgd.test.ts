import { withKernelConfig } from '../src/kernels/config';
import { describe, it, expect, beforeAll } from 'vitest';
import { dispatchEntries, testRuntime } from './helpers/gpu';
import { TOL, expectClose, randomArray, tensor } from './helpers/numeric';
import { SgdRef } from '../src/reference/sgd';
import { SGD_COMBOS, SGD_LRS, SGD_SHAPES, sgdParams, sgdStepGrads } from '../src/reference/cases';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { tidy } from '../src/autograd/scope';
import { SGD, type SGDOptions } from '../src/train/sgd';
import { SGD_MULTI_SLOTS, sgdMultiKernel, sgdUpdate, sgdUpdateMany, type SgdHyper, type SgdSlot } from '../src/kernels/sgd';
import { bindEmptySlots } from '../src/kernels/multi_tensor';
import type { Binding } from '../src/gpu/runtime';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

const SHAPES = SGD_SHAPES;

function makeParams(seed: number): { gpu: Tensor[]; ref: Float64Array[] } {
  const ref = sgdParams(seed);
  return { gpu: ref.map((v, i) => tensor(rt, v, SHAPES[i])), ref: ref.map((v) => Float64Array.from(v)) };
}

const stepGrads = sgdStepGrads;

function setGrads(params: Tensor[], grads: (Float64Array | null)[]): void {
  params.forEach((p, i) => {
    p.zeroGrad();
    const g = grads[i];
    if (g) p.grad = tensor(rt, g, p.shape);
  });
}

const LRS = SGD_LRS;
const COMBOS: SGDOptions[] = SGD_COMBOS;

const name = (o: SGDOptions) => `momentum ${o.momentum}, dampening ${o.dampening}, weight decay ${o.weightDecay}, nesterov ${o.nesterov}`;

describe('SGD matches torch.optim.SGD (float64 reference)', () => {
  it.each(COMBOS.map((o) => [name(o), o] as const))('%s: 5 steps, lr changed between steps, a parameter without grad skipped', async (_, opts) => {
    if (opts.nesterov && (opts.momentum === 0 || opts.dampening !== 0)) {
      expect(() => new SGD([], opts)).toThrowError(/Nesterov momentum requires a momentum and zero dampening/);
      return;
    }
    const { gpu, ref } = makeParams(1);
    const opt = new SGD(gpu, opts);
    const refOpt = new SgdRef(ref, opts);
    for (let step = 0; step < LRS.length; step++) {
      opt.lr = LRS[step];
      refOpt.lr = LRS[step];
      const grads = stepGrads(step);
      setGrads(gpu, grads);
      opt.step();
      refOpt.step(grads);
      for (let i = 0; i < gpu.length; i++) {
        expectClose(await gpu[i].toArray(), ref[i], TOL.elementwise, `step ${step}, param ${i}`);
      }
      const sd = opt.stateDict();
      for (let i = 0; i < gpu.length; i++) {
        const want = refOpt.buffers[i];
        const got = sd.state[i]?.momentum_buffer;
        if (!want) expect(got).toBeUndefined();
        else expectClose(await (got as Tensor).toArray(), want, TOL.elementwise, `step ${step}, buffer ${i}`);
      }
    }
    opt.zeroGrad();
    expect(gpu.every((p) => p.grad === null)).toBe(true);
    opt.dispose();
    for (const p of gpu) p.dispose();
  });

  it('the first step initialises the momentum buffer to g, without dampening (a NaN-poisoned buffer is never read)', async () => {
    const p0 = randomArray(33, 5);
    const g = randomArray(33, 6);
    const p = tensor(rt, p0, [33]);
    p.grad = tensor(rt, g, [33]);
    const opt = new SGD([p], { lr: 0.5, momentum: 0.9, dampening: 0.5 });
    opt.step();
    const buf = opt.stateDict().state[0].momentum_buffer as Tensor;
    expectClose(await buf.toArray(), g, TOL.elementwise, 'buffer');
    expectClose(await p.toArray(), Float64Array.from(p0, (v, i) => v - 0.5 * g[i]), TOL.elementwise, 'param');
    opt.dispose();
    p.dispose();
  });

  it('step() only encodes GPU work: no readback', () => {
    const { gpu } = makeParams(2);
    setGrads(gpu, stepGrads(1));
    const opt = new SGD(gpu, { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
    const before = rt.counters.readbacks;
    for (let i = 0; i < 3; i++) opt.step();
    expect(rt.counters.readbacks).toBe(before);
    opt.dispose();
    for (const p of gpu) p.dispose();
  });
});

describe('SGD state and lifetime', () => {
  it('stateDict/loadStateDict (from tensors or from float32 arrays) resume exactly, lr included', async () => {
    const opts = { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4 };
    const a = makeParams(3);
    const optA = new SGD(a.gpu, opts);
    for (let step = 0; step < 2; step++) {
      setGrads(a.gpu, stepGrads(step));
      optA.step();
    }
    optA.lr = 0.03;
    const sd = optA.stateDict();
    expect(sd.param_groups[0]).toMatchObject({ lr: 0.03, momentum: 0.9, dampening: 0, weight_decay: 5e-4, nesterov: true, params: [0, 1, 2, 3, 4, 5] });
    expect(Object.keys(sd.state)).toEqual(['0', '1', '2', '3', '4', '5']);

    // B: a copy of A's parameters, state loaded from tensors; C: the same, from arrays (as a checkpoint file gives).
    const copyParams = async () => Promise.all(a.gpu.map(async (p) => tensor(rt, await p.toArray(), p.shape)));
    const b = await copyParams();
    const c = await copyParams();
    const optB = new SGD(b, { lr: 1 });
    optB.loadStateDict(sd);
    expect(optB.lr).toBe(0.03);
    const arrays = { state: {} as Record<number, { momentum_buffer: Float32Array }>, param_groups: sd.param_groups };
    for (const [k, v] of Object.entries(sd.state)) arrays.state[Number(k)] = { momentum_buffer: await (v.momentum_buffer as Tensor).toArray() };
    const optC = new SGD(c, { lr: 1 });
    optC.loadStateDict(arrays);

    const grads = stepGrads(3);
    for (const [params, opt] of [[a.gpu, optA], [b, optB], [c, optC]] as const) {
      setGrads(params, grads);
      opt.step();
    }
    for (let i = 0; i < a.gpu.length; i++) {
      const want = Array.from(await a.gpu[i].toArray());
      expect(Array.from(await b[i].toArray())).toEqual(want);
      expect(Array.from(await c[i].toArray())).toEqual(want);
    }
    expect(() => optB.loadStateDict({ ...sd, param_groups: [{ ...sd.param_groups[0], params: [0] }] })).toThrowError(/parameters/);
    for (const o of [optA, optB, optC]) o.dispose();
    for (const p of [...a.gpu, ...b, ...c]) p.dispose();
  });

  it('rejects invalid hyperparameters as PyTorch does', () => {
    expect(() => new SGD([], { lr: -1 })).toThrowError(/learning rate/);
    expect(() => new SGD([], { lr: 0.1, momentum: -0.5 })).toThrowError(/momentum/);
    expect(() => new SGD([], { lr: 0.1, weightDecay: -1 })).toThrowError(/weight_decay/);
    expect(() => new SGD([], { lr: 0.1, nesterov: true })).toThrowError(/Nesterov/);
    expect(() => new SGD([], { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true })).toThrowError(/Nesterov/);
    const p = Tensor.zeros([2], rt).requireGrad();
    const opt = new SGD([p], { lr: 0.1 });
    expect(() => (opt.lr = Number.NaN)).toThrowError(/learning rate/);
    p.dispose();
  });

  it('momentum buffers survive scopes and are freed by dispose() (live GPU bytes return to the start)', async () => {
    await rt.sync();
    const before = rt.poolStats().liveBytes;
    const { gpu } = makeParams(4);
    const opt = new SGD(gpu, { lr: 0.1, momentum: 0.9 });
    for (let step = 0; step < 3; step++) {
      setGrads(gpu, stepGrads(step));
      tidy(() => opt.step()); // the buffers created inside a scope outlive it
    }
    const buf = opt.stateDict().state[0].momentum_buffer as Tensor;
    expect(buf.isDisposed).toBe(false);
    expect((await buf.toArray()).every(Number.isFinite)).toBe(true);
    opt.zeroGrad();
    opt.dispose();
    expect(buf.isDisposed).toBe(true);
    for (const p of gpu) p.dispose();
    await rt.sync();
    expect(rt.poolStats().liveBytes).toBe(before);
  });
});

describe('the multi-tensor update (kernels/sgd/multi.ts) gives the bits of one update per tensor', () => {
  // Sizes: 1-3 floats, odd, multiples of 4 (the vec4 entries), over a 256-thread workgroup, interleaved so that a
  // chunk holds tensors of different sizes and the large ones fall in later slots too; 16 scalar and 13 vec4 tensors.
  const SIZES = [1, 4, 3, 8, 7, 1, 12, 33, 2, 4, 1000, 257, 16, 1, 4100, 5, 40, 9, 1, 64, 3, 20, 65, 4, 11, 2052, 515, 4100, 1027];
  const HYPERS: SgdHyper[] = [
    { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false },
    { lr: 0.05, momentum: 0, dampening: 0, weightDecay: 0.01, nesterov: false },
    { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false },
    { lr: 0.2, momentum: 0.8, dampening: 0.25, weightDecay: 0.01, nesterov: false },
    { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0.001, nesterov: true },
  ];
  const bits = async (b: GPUBuffer, n: number) => {
    const out = new Uint32Array(await rt.read(b, n * 4));
    expect(out.length).toBe(n);
    return out;
  };

  // [tensors a dispatch, workgroups a tensor] (undefined: the launcher's); 1 or 2 workgroups make each thread loop.
  const LIMITS: [number | undefined, number | undefined][] = [[2, 1], [undefined, undefined]];
  it.each(HYPERS.flatMap((h, j) => (j === 3 ? [...LIMITS, [3, 2], [SGD_MULTI_SLOTS, undefined]] : LIMITS).map(([k, wg]) => [h, k, wg] as const)))('%o, %s tensors a dispatch, %s workgroups a tensor', async (h, maxSlots, workgroups) => {
    const momentum = h.momentum !== 0;
    // Two copies of every tensor: one updated per tensor (sgdUpdate), one by the multi-tensor path.
    const make = () =>
      SIZES.map((n, i) => ({
        param: tensor(rt, randomArray(n, 10 + i), [n]),
        grad: tensor(rt, randomArray(n, 100 + i, -2, 2), [n]),
        buf: momentum ? tensor(rt, randomArray(n, 200 + i), [n]) : null,
      }));
    const [a, b] = [make(), make()];
    for (let step = 0; step < 2; step++) {
      // Step 0: every third tensor's first momentum step (its buffer's old contents ignored); step 1: none.
      const slots = (ts: typeof a): SgdSlot[] => ts.map((t, i) => ({ param: t.param.buffer, grad: t.grad.buffer, buf: t.buf?.buffer ?? null, n: SIZES[i], first: momentum && step === 0 && i % 3 === 0 }));
      for (const s of slots(a)) sgdUpdate(rt, s.param, s.grad, s.buf, s.n, h, s.first);
      const before = rt.counters.dispatches;
      const entries = dispatchEntries(rt, () => sgdUpdateMany(rt, slots(b), h, { slots: maxSlots, workgroups }));
      const k = Math.min(maxSlots ?? SGD_MULTI_SLOTS, Math.floor(rt.limits.maxStorageBuffersPerShaderStage / (momentum ? 3 : 2)));
      // A shorter last chunk takes the full chunks' entry, its last slots empty: one pipeline per layout.
      expect(entries.filter((e) => /_x\d+$/.test(e) && !e.endsWith(`_x${k}`)), 'multi-tensor entries of another size').toEqual([]);
      const vec4 = SIZES.filter((n) => n % 4 === 0).length;
      expect(rt.counters.dispatches - before, 'dispatches').toBe(Math.ceil(vec4 / k) + Math.ceil((SIZES.length - vec4) / k));
      for (let i = 0; i < SIZES.length; i++) {
        expect(await bits(b[i].param.buffer, SIZES[i]), `step ${step}, param ${i} (${SIZES[i]} floats)`).toEqual(await bits(a[i].param.buffer, SIZES[i]));
        if (momentum) expect(await bits(b[i].buf!.buffer, SIZES[i]), `step ${step}, buffer ${i}`).toEqual(await bits(a[i].buf!.buffer, SIZES[i]));
      }
    }
    for (const t of [...a, ...b]) for (const x of [t.param, t.grad, t.buf]) x?.dispose();
  });

  it('with the kernel configuration\'s multiTensorUpdate off (SwiftShader\'s default), one dispatch per tensor', () => {
    const ts = [3, 8, 5].map((n, i) => tensor(rt, randomArray(n, 400 + i), [n]));
    const gs = ts.map((t, i) => tensor(rt, randomArray(t.size, 410 + i), [t.size]));
    const slots: SgdSlot[] = ts.map((t, i) => ({ param: t.buffer, grad: gs[i].buffer, buf: null, n: t.size, first: false }));
    const h: SgdHyper = { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false };
    const count = () => {
      const before = rt.counters.dispatches;
      sgdUpdateMany(rt, slots, h);
      return rt.counters.dispatches - before;
    };
    expect(withKernelConfig(rt, { multiTensorUpdate: false }, count)).toBe(3);
    expect(withKernelConfig(rt, { multiTensorUpdate: true }, count)).toBe(2); // the two odd sizes together, the vec4 one alone
    for (const t of [...ts, ...gs]) t.dispose();
  });

  it('refuses a tensor without a momentum buffer when momentum is not 0, naming it', () => {
    const p = tensor(rt, [1, 2, 3], [3]);
    const slot: SgdSlot = { param: p.buffer, grad: p.buffer, buf: null, n: 3, first: true };
    expect(() => sgdUpdateMany(rt, [slot, slot], { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false })).toThrowError(/tensor 0 .*3 floats.*momentum buffer/);
    p.dispose();
  });

  it('SGD on 30 parameters (sizes 1 to 4100) with momentum, weight decay and Nesterov matches the float64 reference', async () => {
    const shapes = Array.from({ length: 30 }, (_, i) => [[1], [3], [4], [7, 3], [2, 2, 5], [4100]][i % 6]);
    const ref = shapes.map((s, i) => randomArray(s.reduce((x, y) => x * y, 1), 300 + i));
    const gpu = ref.map((v, i) => tensor(rt, v, shapes[i]));
    const opts = { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0.01, nesterov: true };
    const opt = new SGD(gpu, opts);
    const refOpt = new SgdRef(ref, opts);
    for (let step = 0; step < 3; step++) {
      // parameter 5 takes its first step on step 1 (mixed first flags in one dispatch)
      const grads = ref.map((v, i) => (i === 5 && step === 0 ? null : randomArray(v.length, 500 * step + i, -2, 2)));
      setGrads(gpu, grads);
      opt.step();
      refOpt.step(grads);
      for (let i = 0; i < gpu.length; i++) expectClose(await gpu[i].toArray(), ref[i], TOL.elementwise, `step ${step}, param ${i}`);
    }
    opt.zeroGrad();
    opt.dispose();
    for (const p of gpu) p.dispose();
  });
});

describe('bindEmptySlots (the empty slots of a multi-tensor entry)', () => {
  it('binds the slots past the chunk that the entry has, where slot 0 is bound, each to its own range, read-only and read-write bindings to different buffers', () => {
    type B = (typeof sgdMultiKernel.bindings)[number][0];
    const real = { buffer: rt.alloc(64), offset: 0, size: 64 };
    const bindings = Object.fromEntries(sgdMultiKernel.bindings.map(([n]) => [n, null])) as Record<B, Binding | null>;
    for (const k of [0, 1]) Object.assign(bindings, { [`param${k}`]: real, [`grad${k}`]: real }); // buf<k> unbound: no momentum
    bindEmptySlots(rt, sgdMultiKernel, bindings, 2, 5);
    const bound = (n: string) => bindings[n as B];
    for (const k of [0, 1]) expect([bound(`param${k}`), bound(`grad${k}`), bound(`buf${k}`)]).toEqual([real, real, null]);
    for (let k = 5; k < SGD_MULTI_SLOTS; k++) for (const n of ['param', 'grad', 'buf']) expect(bound(`${n}${k}`), `${n}${k}`).toBeNull();
    const empty = [2, 3, 4].flatMap((k) => {
      expect(bound(`buf${k}`), `buf${k}`).toBeNull(); // the entry without momentum does not use it
      return [bound(`param${k}`)!, bound(`grad${k}`)!];
    });
    expect(empty.every((b) => b && b.buffer !== real.buffer)).toBe(true);
    const written = [2, 3, 4].map((k) => bound(`param${k}`)!);
    const read = [2, 3, 4].map((k) => bound(`grad${k}`)!);
    expect(new Set(written.map((b) => b.buffer)).size).toBe(1);
    expect(new Set(read.map((b) => b.buffer)).size).toBe(1);
    expect(written[0].buffer).not.toBe(read[0].buffer);
    for (const list of [written, read]) {
      const ranges = list.map((b) => [b.offset ?? 0, (b.offset ?? 0) + (b.size ?? 0)]).sort((x, y) => x[0] - y[0]);
      for (let i = 1; i < ranges.length; i++) expect(ranges[i][0]).toBeGreaterThanOrEqual(ranges[i - 1][1]);
      for (const b of list) {
        expect((b.offset ?? 0) % rt.device.limits.minStorageBufferOffsetAlignment).toBe(0);
        expect((b.offset ?? 0) + (b.size ?? 0)).toBeLessThanOrEqual(b.buffer.size);
      }
    }
    // The same runtime keeps the same two buffers.
    const again = { ...bindings, param2: null } as Record<B, Binding | null>;
    bindEmptySlots(rt, sgdMultiKernel, again, 2, 3);
    expect(again.param2!.buffer).toBe(written[0].buffer);
    // A contract of more bindings than the buffers hold ranges for is refused.
    const big = { ...sgdMultiKernel, bindings: Array.from({ length: 65 }, (_, i) => [`b${i}`, 'read'] as const) };
    expect(() => bindEmptySlots(rt, big, {} as Record<string, null>, 0, 1)).toThrowError(/65 bindings/);
    rt.release(real.buffer);
  });
});
