/**
 * Optimizers (Adam, AdamW, SGD with parameter groups), gradient clipping and learning-rate schedulers against
 * their float64 references (src/reference/adam.ts, sgd.ts, lr_scheduler.ts), with the cases of
 * src/reference/optim_cases.ts. PyTorch itself: test/optim_parity.test.ts.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { dispatchEntries, testRuntime } from './helpers/gpu';
import { TOL, expectClose, randomArray, tensor } from './helpers/numeric';
import { ADAM_MULTI_SLOTS, adamUpdate, adamUpdateMany, type AdamGroupHyper, type AdamSlot } from '../src/kernels/adam';
import { makeOptimizer, makeScheduler } from './helpers/optim';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { tidy } from '../src/autograd/scope';
import { Adam, AdamW } from '../src/train/adam';
import { SGD } from '../src/train/sgd';
import type { Optimizer, OptimizerStateDict } from '../src/train/optimizer';
import { clipGradNorm, clipGradValue } from '../src/train/clip';
import { CosineAnnealingLR, LinearLR, OneCycleLR, SequentialLR, StepLR, ExponentialLR, MultiStepLR } from '../src/train/scheduler';
import { AdamRef, clipGradNormRef, clipGradValueRef } from '../src/reference/adam';
import { SgdRef } from '../src/reference/sgd';
import { oneCycleRef, scheduleRef } from '../src/reference/lr_scheduler';
import {
  ADAM_COMBOS, CLIP_NORM_CASES, CLIP_VALUE_CASES, OPTIM_LRS, OPTIM_SHAPES, SCHEDULE_CASES, SCHEDULE_GROUP_LRS, SCHEDULE_STEPS,
  optimGroups, optimParams, optimStepGrads,
} from '../src/reference/optim_cases';
import { Linear } from '../src/nn/layers';
import { decodeCheckpoint, encodeCheckpoint } from '../src/train/checkpoint';
import { readSafetensors, readSafetensorsMetadata } from '../src/nn/weights/safetensors';
import { GradCheckSuite } from '../src/web/gradcheck-cases';
import { optimPageChecks } from '../src/web/gradcheck/optim';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

function makeParams(seed: number): { gpu: Tensor[]; ref: Float64Array[] } {
  const ref = optimParams(seed);
  return { gpu: ref.map((v, i) => tensor(rt, v, OPTIM_SHAPES[i])), ref };
}

function setGrads(params: Tensor[], grads: (ArrayLike<number> | null)[]): void {
  params.forEach((p, i) => {
    p.zeroGrad();
    const g = grads[i];
    if (g) p.grad = tensor(rt, g, p.shape);
  });
}

const free = (ts: Tensor[]) => ts.forEach((t) => t.dispose());
const copyParams = async (ps: Tensor[]) => Promise.all(ps.map(async (p) => tensor(rt, await p.toArray(), p.shape)));

/** The GPU state of parameter i against the reference's. */
async function expectAdamState(opt: Optimizer, ref: AdamRef, what: string): Promise<void> {
  const sd = opt.stateDict();
  for (let i = 0; i < ref.params.length; i++) {
    const want = ref.state[i];
    const got = sd.state[i];
    if (!want) {
      expect(got, `${what}: param ${i} has no state yet`).toBeUndefined();
      continue;
    }
    expect(got.step, `${what}: step of param ${i}`).toBe(want.step);
    expectClose(await (got.exp_avg as Tensor).toArray(), want.expAvg, TOL.elementwise, `${what}: exp_avg ${i}`);
    expectClose(await (got.exp_avg_sq as Tensor).toArray(), want.expAvgSq, TOL.elementwise, `${what}: exp_avg_sq ${i}`);
    if (want.maxExpAvgSq) expectClose(await (got.max_exp_avg_sq as Tensor).toArray(), want.maxExpAvgSq, TOL.elementwise, `${what}: max_exp_avg_sq ${i}`);
    else expect(got.max_exp_avg_sq).toBeUndefined();
  }
}

const comboName = (o: object) => JSON.stringify(o);

describe('Adam and AdamW match torch.optim (float64 reference)', () => {
  for (const [name, decoupled] of [['Adam', false], ['AdamW', true]] as const) {
    it.each(ADAM_COMBOS.map((o) => [comboName(o), o] as const))(`${name} %s: ${OPTIM_LRS.length} steps, lr changed between steps, parameters without a gradient on some steps`, async (_, opts) => {
      const { gpu, ref } = makeParams(1);
      const opt = decoupled ? new AdamW(gpu, opts) : new Adam(gpu, opts);
      const refOpt = new AdamRef(ref, opts, decoupled);
      expect(opt.paramGroups[0].weightDecay).toBe(opts.weightDecay ?? (decoupled ? 1e-2 : 0));
      for (let step = 0; step < OPTIM_LRS.length; step++) {
        opt.lr = refOpt.lr = OPTIM_LRS[step];
        const grads = optimStepGrads(step);
        setGrads(gpu, grads);
        opt.step();
        refOpt.step(grads);
        for (let i = 0; i < gpu.length; i++) expectClose(await gpu[i].toArray(), ref[i], TOL.elementwise, `step ${step}, param ${i}`);
        await expectAdamState(opt, refOpt, `step ${step}`);
      }
      opt.zeroGrad();
      expect(gpu.every((p) => p.grad === null)).toBe(true);
      opt.dispose();
      free(gpu);
    });
  }

  it('Adam with weight decay differs from AdamW (L2 in the gradient vs decoupled), each as its reference', async () => {
    const a = makeParams(2);
    const b = makeParams(2);
    const adam = new Adam(a.gpu, { lr: 0.1, weightDecay: 0.5 });
    const adamw = new AdamW(b.gpu, { lr: 0.1, weightDecay: 0.5 });
    const grads = optimStepGrads(0);
    setGrads(a.gpu, grads);
    setGrads(b.gpu, grads);
    adam.step();
    adamw.step();
    const [x, y] = [await a.gpu[0].toArray(), await b.gpu[0].toArray()];
    expect(Math.max(...x.map((v, i) => Math.abs(v - y[i])))).toBeGreaterThan(1e-3);
    for (const o of [adam, adamw]) o.dispose();
    free([...a.gpu, ...b.gpu]);
  });

  it('step() and clipGradNorm only encode GPU work: no readback', () => {
    const { gpu } = makeParams(3);
    setGrads(gpu, optimStepGrads(1));
    const opt = new AdamW(gpu, { amsgrad: true });
    const before = rt.counters.readbacks;
    for (let i = 0; i < 3; i++) {
      clipGradNorm(gpu, 0.5).dispose();
      opt.step();
    }
    expect(rt.counters.readbacks).toBe(before);
    opt.dispose();
    free(gpu);
  });
});

describe('parameter groups', () => {
  for (const kind of ['sgd', 'adam', 'adamw'] as const) {
    it(`${kind}: groups with their own lr, weight decay and momentum/amsgrad, against the reference; lr per group between steps`, async () => {
      const { gpu, ref } = makeParams(4);
      const options = kind === 'sgd' ? { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 } : { lr: 0.01 };
      const opt = makeOptimizer(kind, optimGroups(gpu, kind === 'sgd' ? 'sgd' : 'adam'), options);
      const refGroups = optimGroups(ref, kind === 'sgd' ? 'sgd' : 'adam');
      const refOpt = kind === 'sgd' ? new SgdRef(refGroups as never, options as never) : new AdamRef(refGroups as never, options, kind === 'adamw');
      expect(opt.paramGroups).toHaveLength(2);
      expect(opt.paramGroups[0].lr).toBe(0.03);
      expect(opt.paramGroups[1].lr).toBe(options.lr);
      for (let step = 0; step < 5; step++) {
        if (step === 3) {
          // A group's own lr, as a fine-tuning schedule sets it.
          opt.paramGroups[1].lr = refOpt.groups[1].lr = options.lr / 2;
        }
        const grads = optimStepGrads(step);
        setGrads(gpu, grads);
        opt.step();
        refOpt.step(grads);
        for (let i = 0; i < gpu.length; i++) expectClose(await gpu[i].toArray(), ref[i], TOL.elementwise, `step ${step}, param ${i}`);
      }
      const sd = opt.stateDict();
      expect(sd.param_groups.map((g) => g.params)).toEqual([[0, 1, 2], [3, 4, 5]]);
      expect(sd.param_groups[0]).toMatchObject({ lr: 0.03, weight_decay: 0.1 });
      opt.lr = 0.25;
      expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.25, 0.25]);
      expect(opt.lr).toBe(0.25);
      opt.dispose();
      free(gpu);
    });
  }

  it('refuses an empty list, a parameter twice (in a group or across groups), a non-float32 parameter and bad hyperparameters', () => {
    const [a, b] = [Tensor.zeros([3], rt), Tensor.zeros([2], rt)];
    const ints = Tensor.fromArray([1, 2], [2], 'i32', rt);
    for (const make of [(p: Tensor[]) => new Adam(p), (p: Tensor[]) => new AdamW(p), (p: Tensor[]) => new SGD(p, { lr: 0.1 })]) {
      expect(() => make([])).toThrowError(/parameter list is empty.*registerModule/);
      expect(() => make([a, a])).toThrowError(/a parameter appears twice/);
      expect(() => make([ints])).toThrowError(/not float32/);
    }
    expect(() => new Adam([{ params: [a] }, { params: [b, a] }])).toThrowError(/Adam: a parameter appears in more than one parameter group/);
    expect(() => new Adam([a], { lr: -1 })).toThrowError(/Adam: invalid learning rate -1/);
    expect(() => new Adam([a], { betas: [1, 0.999] })).toThrowError(/invalid beta parameter at index 0/);
    expect(() => new Adam([a], { betas: [0.9, -0.1] })).toThrowError(/invalid beta parameter at index 1/);
    expect(() => new AdamW([a], { eps: -1 })).toThrowError(/AdamW: invalid epsilon value/);
    expect(() => new AdamW([{ params: [a], weightDecay: -1 }])).toThrowError(/AdamW: invalid weight_decay value -1/);
    const opt = new Adam([a]);
    expect(() => (opt.lr = Number.NaN)).toThrowError(/Adam: invalid learning rate NaN/);
    opt.paramGroups[0].betas = [2, 0.9];
    a.grad = Tensor.zeros([3], rt);
    expect(() => opt.step()).toThrowError(/invalid beta parameter at index 0/);
    opt.dispose();
    free([a, b, ints]);
  });
});

describe('optimizer state dicts', () => {
  it('Adam (amsgrad, two groups) stateDict → loadStateDict mid-run, from tensors or float32 arrays, continues bit for bit', async () => {
    const a = makeParams(5);
    const make = (ps: Tensor[]) => new Adam(optimGroups(ps, 'adam') as never, { lr: 0.02, weightDecay: 0.01 });
    const optA = make(a.gpu);
    for (let step = 0; step < 3; step++) {
      setGrads(a.gpu, optimStepGrads(step));
      optA.step();
    }
    optA.paramGroups[1].lr = 0.005;
    const sd = optA.stateDict();
    expect(sd.param_groups[0]).toMatchObject({ lr: 0.03, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.1, amsgrad: true, params: [0, 1, 2] });
    expect(sd.param_groups[1]).toMatchObject({ lr: 0.005, weight_decay: 0.01, amsgrad: false, params: [3, 4, 5] });
    // Parameter 5 had no gradient on steps 1 and 2: one step; parameter 2 none on steps 0 and 2: one step.
    expect(Object.fromEntries(Object.entries(sd.state).map(([k, v]) => [k, v.step]))).toEqual({ 0: 3, 1: 3, 2: 1, 3: 3, 4: 3, 5: 1 });
    expect(Object.keys(sd.state[0]).sort()).toEqual(['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq', 'step']);
    expect(Object.keys(sd.state[3]).sort()).toEqual(['exp_avg', 'exp_avg_sq', 'step']);

    const b = await copyParams(a.gpu);
    const c = await copyParams(a.gpu);
    const optB = make(b);
    optB.loadStateDict(sd);
    const arrays: OptimizerStateDict = { state: {}, param_groups: JSON.parse(JSON.stringify(sd.param_groups)) };
    for (const [k, v] of Object.entries(sd.state)) {
      arrays.state[Number(k)] = {};
      for (const [name, x] of Object.entries(v)) arrays.state[Number(k)][name] = x instanceof Tensor ? await x.toArray() : x;
    }
    const optC = make(c);
    optC.loadStateDict(arrays);
    expect(optC.paramGroups[1].lr).toBe(0.005);
    for (let step = 3; step < 5; step++) {
      const grads = optimStepGrads(step);
      for (const [params, opt] of [[a.gpu, optA], [b, optB], [c, optC]] as const) {
        setGrads(params, grads);
        opt.step();
      }
    }
    for (let i = 0; i < a.gpu.length; i++) {
      const want = Array.from(await a.gpu[i].toArray());
      expect(Array.from(await b[i].toArray()), `param ${i}`).toEqual(want);
      expect(Array.from(await c[i].toArray()), `param ${i}`).toEqual(want);
    }
    for (const o of [optA, optB, optC]) o.dispose();
    free([...a.gpu, ...b, ...c]);
  });

  it('refuses a state dict of another optimizer or of other groups, and changes nothing then', async () => {
    const { gpu } = makeParams(6);
    setGrads(gpu, optimStepGrads(0));
    const sgd = new SGD(gpu, { lr: 0.1, momentum: 0.9 });
    sgd.step();
    const adam = new Adam(gpu);
    adam.step();
    const before = adam.stateDict();
    expect(() => adam.loadStateDict(sgd.stateDict())).toThrowError(/Adam\.loadStateDict: param group 0 has 'momentum', which Adam does not know \(a state dict of another optimizer\?\)/);
    expect(() => sgd.loadStateDict(adam.stateDict())).toThrowError(/SGD\.loadStateDict: param group 0 has 'betas'/);
    const twoGroups = new Adam(optimGroups(gpu, 'adam') as never);
    expect(() => adam.loadStateDict(twoGroups.stateDict())).toThrowError(/the state has 2 param groups, this optimizer 1/);
    const sd = adam.stateDict();
    expect(() => adam.loadStateDict({ ...sd, state: { 0: { ...sd.state[0], momentum_buffer: sd.state[0].exp_avg } } })).toThrowError(/has state 'momentum_buffer', which Adam does not keep/);
    expect(() => adam.loadStateDict({ ...sd, state: { 0: { ...sd.state[0], exp_avg: new Float32Array(3) } } })).toThrowError(/exp_avg of parameter 0 has 3 values, the parameter \[7\] 7/);
    expect(() => adam.loadStateDict({ ...sd, param_groups: [{ ...sd.param_groups[0], maximize: true }] })).toThrowError(/sets maximize = true, which Adam does not support/);
    const after = adam.stateDict();
    expect(after.state[0].exp_avg).toBe(before.state[0].exp_avg); // the same tensors: nothing was replaced
    expect((after.state[0].exp_avg as Tensor).isDisposed).toBe(false);
    // torch's own flags at their defaults are accepted.
    adam.loadStateDict({ ...sd, param_groups: [{ ...sd.param_groups[0], maximize: false, foreach: null, capturable: false, differentiable: false, fused: null }] });
    for (const o of [sgd, adam, twoGroups]) o.dispose();
    free(gpu);
  });

  it('state tensors outlive scopes and are freed by dispose() (live GPU bytes return to the start)', async () => {
    await rt.sync();
    const start = rt.poolStats().liveBytes;
    const { gpu } = makeParams(7);
    const opt = new Adam(gpu, { amsgrad: true });
    for (let step = 0; step < 3; step++) {
      setGrads(gpu, optimStepGrads(step));
      tidy(() => opt.step());
    }
    const m = opt.stateDict().state[0].exp_avg as Tensor;
    expect(m.isDisposed).toBe(false);
    opt.zeroGrad();
    opt.dispose();
    expect(m.isDisposed).toBe(true);
    free(gpu);
    await rt.sync();
    expect(rt.poolStats().liveBytes).toBe(start);
  });

  it('checkpoints hold Adam\'s moments ("optim.<i>.exp_avg") and step counts, and resume exactly', async () => {
    const model = new Linear(5, 3);
    const x = Tensor.fromArray(optimParams(8)[3].subarray(0, 20), [4, 5], 'f32', rt);
    const stepOnce = (m: Linear, opt: Optimizer) => {
      opt.zeroGrad();
      tidy(() => m.forward(x).sum().backward());
      opt.step();
    };
    const opt = new AdamW(model.parameters(), { lr: 0.05, amsgrad: true });
    stepOnce(model, opt);
    stepOnce(model, opt);
    const bytes = await encodeCheckpoint(model, opt, { epoch: 1 });
    const tensors = readSafetensors(bytes, 'c');
    expect([...tensors.keys()].filter((k) => k.startsWith('optim.')).sort()).toEqual(['optim.0.exp_avg', 'optim.0.exp_avg_sq', 'optim.0.max_exp_avg_sq', 'optim.1.exp_avg', 'optim.1.exp_avg_sq', 'optim.1.max_exp_avg_sq']);
    expect(JSON.parse(readSafetensorsMetadata(bytes, 'c').optimizer).state).toEqual({ 0: { step: 2 }, 1: { step: 2 } });
    const copy = new Linear(5, 3, undefined);
    const opt2 = new AdamW(copy.parameters(), { lr: 1 });
    expect(decodeCheckpoint<{ epoch: number }>(bytes, 'c', copy, opt2)).toEqual({ epoch: 1 });
    expect(opt2.lr).toBe(0.05);
    stepOnce(model, opt);
    stepOnce(copy, opt2);
    for (const [p, q] of copy.parameters().map((t, i) => [model.parameters()[i], t])) expect(Array.from(await q.toArray())).toEqual(Array.from(await p.toArray()));
    // An SGD checkpoint keeps its keys ("optim.<i>"), as before Adam existed.
    const sgd = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    stepOnce(model, sgd);
    const sgdKeys = [...readSafetensors(await encodeCheckpoint(model, sgd, {}), 'c').keys()].filter((k) => k.startsWith('optim.'));
    expect(sgdKeys.sort()).toEqual(['optim.0', 'optim.1']);
    for (const o of [opt, opt2, sgd]) o.dispose();
    model.dispose();
    copy.dispose();
    x.dispose();
  });
});

describe('checkpoints written before optimizers had groups and schedulers were bound', () => {
  it('load: SGD buffers as "optim.<i>", param groups without initial_lr, and the scheduler\'s { lastEpoch } sets the closed-form lr', async () => {
    const model = new Linear(4, 3);
    const sgd = new SGD(model.parameters(), { lr: 0.2, momentum: 0.9 });
    model.parameters().forEach((p) => (p.grad = Tensor.ones(p.shape, rt)));
    sgd.step();
    const bytes = await encodeCheckpoint(model, sgd, { scheduler: { lastEpoch: 4 } });
    // The old metadata: exactly { param_groups: [{ lr, momentum, dampening, weight_decay, nesterov, params }] }.
    const meta = readSafetensorsMetadata(bytes, 'old');
    expect(JSON.parse(meta.optimizer)).toEqual({ param_groups: [{ lr: 0.2, momentum: 0.9, dampening: 0, weight_decay: 0, nesterov: false, params: [0, 1] }] });
    const copy = new Linear(4, 3);
    const opt = new SGD(copy.parameters(), { lr: 0.2, momentum: 0.9 });
    const sched = new StepLR(opt, { stepSize: 3, gamma: 0.5 });
    const st = decodeCheckpoint<{ scheduler: { lastEpoch: number } }>(bytes, 'old', copy, opt);
    sched.loadStateDict(st.scheduler);
    expect(opt.paramGroups[0].initialLr).toBe(0.2);
    expect(opt.lr).toBe(0.1);
    expect(Array.from(await (opt.stateDict().state[0].momentum_buffer as Tensor).toArray())).toEqual(new Array(12).fill(1));
    for (const o of [sgd, opt]) o.dispose();
    model.dispose();
    copy.dispose();
  });
});

describe('clipGradNorm and clipGradValue match torch.nn.utils (float64 reference)', () => {
  it.each(CLIP_NORM_CASES)('clipGradNorm maxNorm %s, normType %s: the total norm (0-d tensor) and the scaled gradients', async (maxNorm, normType) => {
    const { gpu } = makeParams(9);
    const grads = optimStepGrads(0); // parameter 2 has none
    setGrads(gpu, grads);
    const refGrads = grads.map((g) => (g ? Float64Array.from(g) : null));
    const norm = clipGradNorm(gpu, maxNorm, normType);
    const want = clipGradNormRef(refGrads, maxNorm, normType);
    expect(norm.shape).toEqual([]);
    expectClose(await norm.toArray(), [want], TOL.reduction, 'norm');
    if (maxNorm < 1e6) expect(want).toBeGreaterThan(maxNorm); // the case clips
    for (let i = 0; i < gpu.length; i++) {
      if (!refGrads[i]) expect(gpu[i].grad).toBeNull();
      else expectClose(await gpu[i].grad!.toArray(), refGrads[i]!, TOL.reduction, `grad ${i}`);
    }
    norm.dispose();
    free(gpu);
  });

  it("normType 'inf' and a single tensor; no gradients at all gives a norm of 0", async () => {
    const p = tensor(rt, [1, -5, 2], [3]);
    p.grad = tensor(rt, [1, -5, 2], [3]);
    const n = clipGradNorm(p, 1, 'inf');
    expectClose(await n.toArray(), [5], 1e-7, 'norm');
    expectClose(await p.grad.toArray(), [1 / (5 + 1e-6), -5 / (5 + 1e-6), 2 / (5 + 1e-6)], TOL.elementwise, 'grad');
    p.zeroGrad();
    const zero = clipGradNorm([p], 1);
    expect(Array.from(await zero.toArray())).toEqual([0]);
    for (const t of [n, zero, p]) t.dispose();
  });

  it('a NaN gradient makes the norm and every gradient NaN (as torch); ±Inf gives an infinite norm and zeros', async () => {
    const [a, b] = [tensor(rt, [1, 2, 3], [3]), tensor(rt, [4, 5, 6, 7, 8], [5])];
    for (const normType of [2, 1, Infinity]) {
      a.grad = tensor(rt, [1, NaN, 3], [3]);
      b.grad = tensor(rt, [1, 2, 3, 4, 5], [5]);
      const n = clipGradNorm([a, b], 1, normType);
      expect(Number.isNaN((await n.toArray())[0]), `norm ${normType}`).toBe(true);
      expect([...(await a.grad.toArray()), ...(await b.grad.toArray())].every(Number.isNaN), `grads ${normType}`).toBe(true);
      n.dispose();
    }
    a.grad!.dispose();
    a.grad = tensor(rt, [1, -Infinity, 3], [3]);
    b.grad!.dispose();
    b.grad = tensor(rt, [1, 2, 3, 4, 5], [5]);
    const n = clipGradNorm([a, b], 1);
    expect((await n.toArray())[0]).toBe(Infinity);
    expect(Array.from(await b.grad.toArray())).toEqual([0, 0, 0, 0, 0]);
    n.dispose();
    free([a, b]);
  });

  it.each(CLIP_VALUE_CASES)('clipGradValue %s', async (c) => {
    const { gpu } = makeParams(10);
    const grads = optimStepGrads(2); // parameters 2 and 5 have none
    setGrads(gpu, grads);
    const refGrads = grads.map((g) => (g ? Float64Array.from(g) : null));
    clipGradValue(gpu, c);
    clipGradValueRef(refGrads, c);
    for (let i = 0; i < gpu.length; i++) {
      if (refGrads[i]) expectClose(await gpu[i].grad!.toArray(), refGrads[i]!, TOL.elementwise, `grad ${i}`);
    }
    free(gpu);
  });

  it('clipGradValue keeps NaN and clamps ±Inf; bad arguments are refused, naming the function', async () => {
    const p = tensor(rt, [0, 0, 0, 0], [4]);
    p.grad = tensor(rt, [NaN, Infinity, -Infinity, 0.25], [4]);
    clipGradValue([p], 0.5);
    const g = await p.grad.toArray();
    expect(Number.isNaN(g[0])).toBe(true);
    expect(Array.from(g.subarray(1))).toEqual([0.5, -0.5, 0.25]);
    expect(() => clipGradValue([p], -1)).toThrowError(/clipGradValue: clipValue must be a number ≥ 0, got -1/);
    expect(() => clipGradNorm([p], Number.NaN)).toThrowError(/clipGradNorm: maxNorm must be a number ≥ 0, got NaN/);
    expect(() => clipGradNorm([p], 1, 0)).toThrowError(/clipGradNorm: normType must be a number > 0 or 'inf', got 0/);
    p.dispose();
  });
});

/** |a − b| relative to |b|, with the group's initial lr × 1e-6 as the floor (lrs that reach 0). */
const lrError = (a: number, b: number, base: number) => Math.abs(a - b) / Math.max(Math.abs(b), base * 1e-6);

describe('schedulers match torch.optim.lr_scheduler (float64 closed forms)', () => {
  let params: Tensor[];
  beforeAll(() => {
    params = [Tensor.zeros([3], rt), Tensor.zeros([2], rt)];
  });
  const optimizerFor = (kind: 'sgd' | 'adam') =>
    makeOptimizer(kind, params.map((p, i) => ({ params: [p], lr: SCHEDULE_GROUP_LRS[i] })), kind === 'sgd' ? { lr: 1, momentum: 0.9 } : { lr: 1 });

  it.each(SCHEDULE_CASES.map((c) => [c.name, c] as const))(`%s: every group's lr over ${SCHEDULE_STEPS} steps within 1e-12`, (_, c) => {
    const opt = optimizerFor(c.optimizer);
    const sched = makeScheduler(opt, c.spec);
    let worst = 0;
    for (let e = 0; e <= SCHEDULE_STEPS; e++) {
      if (e > 0) sched.step();
      expect(sched.lastEpoch).toBe(e);
      const got = sched.getLastLr();
      expect(got).toEqual(opt.paramGroups.map((g) => g.lr));
      got.forEach((lr, gi) => {
        const err = lrError(lr, scheduleRef(c.spec, SCHEDULE_GROUP_LRS[gi], e, gi), SCHEDULE_GROUP_LRS[gi]);
        worst = Math.max(worst, err);
        expect(err, `epoch ${e}, group ${gi}: ${lr}`).toBeLessThanOrEqual(1e-12);
      });
      if (c.spec.kind === 'onecycle') {
        const m = oneCycleRef(c.spec, e).momentum;
        const got = opt.paramGroups.map((g) => (c.optimizer === 'adam' ? g.betas![0] : g.momentum!));
        for (const x of got) expect(Math.abs(x - m), `momentum at step ${e}`).toBeLessThanOrEqual(1e-12);
        if (c.optimizer === 'adam') expect(opt.paramGroups[0].betas![1]).toBe(0.999);
      }
    }
    console.log(`${c.name}: worst relative error ${worst.toExponential(2)}`);
    opt.dispose();
  });

  it('the first scheduler records initialLr; a second one takes its base from it', () => {
    const opt = optimizerFor('sgd');
    const a = new StepLR(opt, { stepSize: 1, gamma: 0.5 });
    a.step();
    const b = new ExponentialLR(opt, { gamma: 0.9 });
    expect(b.baseLrs).toEqual(SCHEDULE_GROUP_LRS);
    expect(opt.paramGroups.map((g) => g.initialLr)).toEqual(SCHEDULE_GROUP_LRS);
    expect(opt.stateDict().param_groups[0].initial_lr).toBe(0.1);
    opt.dispose();
  });

  it('stateDict → JSON → loadStateDict (with the optimizer\'s state) continues every schedule identically', () => {
    for (const c of SCHEDULE_CASES) {
      const optA = optimizerFor(c.optimizer);
      const a = makeScheduler(optA, c.spec);
      for (let e = 0; e < 40; e++) a.step();
      const saved = JSON.parse(JSON.stringify({ opt: { ...optA.stateDict(), state: {} }, sched: a.stateDict() }));
      const optB = optimizerFor(c.optimizer);
      const b = makeScheduler(optB, c.spec);
      optB.loadStateDict(saved.opt);
      b.loadStateDict(saved.sched);
      expect(b.lastEpoch, c.name).toBe(40);
      for (let e = 40; e < SCHEDULE_STEPS; e++) {
        a.step();
        b.step();
        expect(b.getLastLr(), `${c.name}, epoch ${e + 1}`).toEqual(a.getLastLr());
      }
      optA.dispose();
      optB.dispose();
    }
  });

  it("a checkpoint's { lastEpoch } from before schedulers were bound sets the closed-form lr", () => {
    const opt = optimizerFor('sgd');
    const s = new StepLR(opt, { stepSize: 3, gamma: 0.5 });
    s.loadStateDict({ lastEpoch: 7 });
    expect(s.lastEpoch).toBe(7);
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.1 * 0.25, 0.01 * 0.25]);
    s.step();
    s.step();
    expect(opt.lr).toBeCloseTo(0.1 * 0.125, 15);
    opt.dispose();
  });

  it('refuses bad settings, naming the scheduler; OneCycleLR past totalSteps throws and keeps its state', () => {
    const opt = optimizerFor('sgd');
    expect(() => new StepLR(opt, { stepSize: 0 })).toThrowError(/StepLR: stepSize must be ≥ 1, got 0/);
    expect(() => new MultiStepLR(opt, { milestones: [5, 2] })).toThrowError(/MultiStepLR: milestones must be increasing/);
    expect(() => new CosineAnnealingLR(opt, { tMax: 0 })).toThrowError(/CosineAnnealingLR: tMax must be a whole number ≥ 1, got 0/);
    expect(() => new LinearLR(opt, { startFactor: 2 })).toThrowError(/LinearLR: startFactor must be in \(0, 1\], got 2/);
    expect(() => new OneCycleLR(opt, { maxLr: 1 })).toThrowError(/OneCycleLR: give either totalSteps or \(epochs and stepsPerEpoch\)/);
    expect(() => new OneCycleLR(opt, { maxLr: [1, 2, 3], totalSteps: 5 })).toThrowError(/OneCycleLR: expected 2 values for maxLr \(one per param group\), got 3/);
    expect(() => new StepLR({ lr: 0.1 } as never, { stepSize: 1 })).toThrowError(/StepLR: the first argument must be an optimizer/);
    const other = optimizerFor('adam');
    expect(() => new SequentialLR(opt, { schedulers: [new StepLR(other, { stepSize: 1 })], milestones: [] })).toThrowError(/SequentialLR: schedulers\[0\] \(StepLR\) is bound to another optimizer/);
    expect(() => new SequentialLR(opt, { schedulers: [new StepLR(opt, { stepSize: 1 })], milestones: [3] })).toThrowError(/SequentialLR: expected 0 milestones/);
    const oc = new OneCycleLR(opt, { maxLr: 1, epochs: 2, stepsPerEpoch: 2 });
    for (let i = 0; i < 4; i++) oc.step();
    const lrs = oc.getLastLr();
    expect(() => oc.step()).toThrowError(/OneCycleLR: tried to step 6 times; the schedule has totalSteps 4/);
    expect(oc.lastEpoch).toBe(4);
    expect(oc.getLastLr()).toEqual(lrs);
    opt.dispose();
    other.dispose();
  });
});

describe("the gradient-check page's optimizer checks (src/web/gradcheck/optim.ts)", () => {
  it('cover every kernel they name, pass here, and leak no GPU buffer', async () => {
    await rt.sync();
    const live = rt.poolStats().liveBuffers;
    const suite = new GradCheckSuite(rt);
    await optimPageChecks.run(suite);
    const failed = suite.results.filter((r) => !r.ok);
    expect(failed, failed.map((r) => `${r.name}: ${r.error} > ${r.tol} ${r.message ?? ''}`).join('\n')).toEqual([]);
    for (const k of optimPageChecks.kernels) expect(suite.results.some((r) => r.kernel === k), k).toBe(true);
    await rt.sync();
    expect(rt.poolStats().liveBuffers).toBe(live);
  });
});

describe('the multi-tensor Adam update (kernels/adam/multi.ts) gives the bits of one update per tensor', () => {
  // 1-3 floats, odd sizes, multiples of 4 (vec4 entries), over a workgroup, large ones in later slots; 11 scalar, 9 vec4.
  const SIZES = [1, 4, 3, 8, 7, 12, 33, 2, 1000, 257, 16, 1, 4100, 5, 40, 9, 2052, 515, 4100, 1027];
  const HYPERS: [string, AdamGroupHyper, boolean][] = [
    ['adam', { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, decoupled: false }, false],
    ['adam, L2 decay, amsgrad', { lr: 5e-3, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.01, decoupled: false }, true],
    ['adamw', { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.05, decoupled: true }, false],
    ['adamw, amsgrad', { lr: 2e-2, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.01, decoupled: true }, true],
  ];
  const LIMITS: [number | undefined, number | undefined][] = [[2, 1], [3, 2], [undefined, undefined]];
  const bits = async (b: GPUBuffer, n: number) => {
    const out = new Uint32Array(await rt.read(b, n * 4));
    expect(out.length).toBe(n);
    return out;
  };

  it.each(HYPERS.flatMap(([name, h, ams]) => LIMITS.map(([k, wg]) => [name, h, ams, k, wg] as const)))('%s, %s tensors a dispatch, %s workgroups a tensor', async (_, h, amsgrad, maxSlots, workgroups) => {
    const make = () =>
      SIZES.map((n, i) => {
        const g = randomArray(n, 100 + i, -2, 2);
        if (i === 6) g[5] = NaN; // a NaN gradient (amsgrad's maximum keeps it)
        return {
          param: tensor(rt, randomArray(n, 10 + i), [n]),
          grad: tensor(rt, g, [n]),
          m: tensor(rt, randomArray(n, 200 + i, -0.1, 0.1), [n]),
          v: tensor(rt, randomArray(n, 300 + i, 0, 0.01), [n]),
          vmax: amsgrad ? tensor(rt, randomArray(n, 400 + i, 0, 0.01), [n]) : null,
        };
      });
    const [a, b] = [make(), make()];
    for (let step = 0; step < 2; step++) {
      // each tensor its own step count (as after a parameter skipped steps)
      const slots = (ts: typeof a): AdamSlot[] =>
        ts.map((t, i) => ({ param: t.param.buffer, grad: t.grad.buffer, state: { expAvg: t.m.buffer, expAvgSq: t.v.buffer, maxExpAvgSq: t.vmax?.buffer ?? null }, n: SIZES[i], step: 1 + (i % 3) + step }));
      for (const s of slots(a)) adamUpdate(rt, s.param, s.grad, s.state, s.n, { ...h, step: s.step });
      const before = rt.counters.dispatches;
      const entries = dispatchEntries(rt, () => adamUpdateMany(rt, slots(b), h, { slots: maxSlots, workgroups }));
      const k = Math.min(maxSlots ?? ADAM_MULTI_SLOTS, Math.floor(rt.limits.maxStorageBuffersPerShaderStage / (amsgrad ? 5 : 4)));
      // A shorter last chunk takes the full chunks' entry, its last slots empty: one pipeline per layout.
      expect(entries.filter((e) => /_x\d+$/.test(e) && !e.endsWith(`_x${k}`)), 'multi-tensor entries of another size').toEqual([]);
      const vec4 = SIZES.filter((n) => n % 4 === 0).length;
      expect(rt.counters.dispatches - before, 'dispatches').toBe(Math.ceil(vec4 / k) + Math.ceil((SIZES.length - vec4) / k));
      for (let i = 0; i < SIZES.length; i++) {
        for (const key of ['param', 'm', 'v', 'vmax'] as const) {
          const [ta, tb] = [a[i][key], b[i][key]];
          if (ta && tb) expect(await bits(tb.buffer, SIZES[i]), `step ${step}, ${key} ${i} (${SIZES[i]} floats)`).toEqual(await bits(ta.buffer, SIZES[i]));
        }
      }
    }
    for (const t of [...a, ...b]) for (const x of [t.param, t.grad, t.m, t.v, t.vmax]) x?.dispose();
  });

  it('refuses a group that mixes amsgrad and plain tensors, naming the tensor', () => {
    const p = tensor(rt, [1, 2, 3], [3]);
    const plain: AdamSlot = { param: p.buffer, grad: p.buffer, state: { expAvg: p.buffer, expAvgSq: p.buffer, maxExpAvgSq: null }, n: 3, step: 1 };
    const ams: AdamSlot = { ...plain, state: { ...plain.state, maxExpAvgSq: p.buffer } };
    expect(() => adamUpdateMany(rt, [plain, ams], HYPERS[0][1])).toThrowError(/tensor 1 .*3 floats.*max_exp_avg_sq/);
    p.dispose();
  });
});
