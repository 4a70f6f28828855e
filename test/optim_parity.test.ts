/**
 * Optimizer and scheduler parity with PyTorch: tools/optim_parity.py trains a tiny network (Linear-relu-Linear,
 * cross-entropy) from fixed weights on fixed batches for 20 steps, for each optimizer (SGD with momentum and
 * gradient-norm clipping, Adam, AdamW with value clipping; two parameter groups with their own hyperparameters)
 * × each scheduler (step, multistep, exponential, cosine, onecycle, linear warm-up + cosine via SequentialLR).
 * Here the same runs use our optimizers, schedulers and clipping: every step's loss and lr, and the final weights,
 * must match. The schedules of src/reference/optim_cases.ts are also compared with torch's over 100 steps.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { testRuntime } from './helpers/gpu';
import { relError } from './helpers/numeric';
import { torchAvailable, torchFixture, FIXTURE_TIMEOUT_MS } from './helpers/torch';
import { makeOptimizer, makeScheduler } from './helpers/optim';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { tidy } from '../src/autograd/scope';
import { crossEntropy, linear, relu } from '../src/autograd/functional';
import { clipGradNorm, clipGradValue } from '../src/train/clip';
import { PARITY, PARITY_OPTIMIZERS, PARITY_SCHEDULES, SCHEDULE_CASES, SCHEDULE_GROUP_LRS, SCHEDULE_STEPS, parityBatches, parityWeights, type ParityOptimizer, type SchedulerSpec } from '../src/reference/optim_cases';

const hasTorch = torchAvailable();

/** Each step's loss and each final weight tensor (relative L2), against PyTorch's float32 run. */
const TOL = 1e-4;
/** PyTorch's own float32 run must be this close to its float64 run, else the comparison measures chaos. */
const FIXTURE_TOL = TOL / 2;
/** Learning rates and momenta: torch's formulas in float64. */
const LR_TOL = 1e-12;

interface Run {
  name: string;
  optimizer: ParityOptimizer;
  scheduler: SchedulerSpec;
}
interface TorchRun {
  loss: number[];
  loss64: number[];
  lr: number[][];
  norm: (number | null)[];
  weights: Record<string, number[]>;
  weights64: Record<string, number[]>;
}
interface Fixture {
  torch: string;
  runs: Record<string, TorchRun>;
  schedules: Record<string, { lr: number[][]; momentum: number[][] }>;
}

const weights = parityWeights();
const batches = parityBatches();
/** The groups' initial lrs of an optimizer case: group 0 may set its own. */
const groupLrs = (o: ParityOptimizer) => [(o.group0.lr as number | undefined) ?? (o.options.lr as number), o.options.lr as number];
const RUNS: Run[] = PARITY_OPTIMIZERS.flatMap((o) => PARITY_SCHEDULES.map((s) => ({ name: `${o.name}/${s.name}`, optimizer: o, scheduler: s.spec(groupLrs(o)) })));
const lrError = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-9);
const fmt = (x: number) => x.toExponential(2);

describe.runIf(hasTorch)('PyTorch parity: optimizers × schedulers on a tiny network', () => {
  let rt: GpuRuntime;
  let fx: Fixture;

  beforeAll(async () => {
    const spec = {
      net: PARITY,
      steps: PARITY.steps,
      weights: Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, Array.from(v)])),
      inputs: batches.inputs.map((b) => Array.from(b)),
      labels: batches.labels,
      runs: RUNS.map((r) => ({ name: r.name, optimizer: { kind: r.optimizer.kind, options: r.optimizer.options, group0: r.optimizer.group0 }, clip: r.optimizer.clip, scheduler: r.scheduler })),
      schedules: SCHEDULE_CASES.map((c) => ({ name: c.name, optimizer: c.optimizer, groupLrs: SCHEDULE_GROUP_LRS, steps: SCHEDULE_STEPS, spec: c.spec })),
    };
    const dir = torchFixture('optim_parity', 'tools/optim_parity.py', [JSON.stringify(spec)]);
    fx = JSON.parse(readFileSync(join(dir, 'optim_parity.json'), 'utf8')) as Fixture;
    rt = await testRuntime();
  }, FIXTURE_TIMEOUT_MS);

  const params: Tensor[] = [];
  afterAll(() => params.forEach((p) => p.dispose()));

  it.each(RUNS.map((r) => [r.name, r] as const))(`%s: ${PARITY.steps} steps give PyTorch's loss and lr at every step and its final weights`, async (name, run) => {
    const t = fx.runs[name];
    expect(t, `the fixture has run ${name}`).toBeDefined();
    // PyTorch's float32 run against its float64 run: the comparison below is meaningful only if these agree.
    const fixtureErr = Math.max(relError(t.loss, t.loss64), ...Object.keys(t.weights).map((k) => relError(t.weights[k], t.weights64[k])));
    expect(fixtureErr, 'PyTorch float32 vs float64').toBeLessThanOrEqual(FIXTURE_TOL);

    const { inF, hidden, classes, batch } = PARITY;
    const [w1, b1, w2, b2] = [
      [weights.w1, [hidden, inF]],
      [weights.b1, [hidden]],
      [weights.w2, [classes, hidden]],
      [weights.b2, [classes]],
    ].map(([v, s]) => Tensor.fromArray(Float32Array.from(v as Float64Array), s as number[], 'f32', rt).requireGrad());
    params.push(w1, b1, w2, b2);
    const o = run.optimizer;
    const opt = makeOptimizer(o.kind, [{ params: [w1, b1], ...o.group0 }, { params: [w2, b2] }], o.options);
    const sched = makeScheduler(opt, run.scheduler);
    const losses: number[] = [];
    const norms: (number | null)[] = [];
    for (let step = 0; step < PARITY.steps; step++) {
      const b = step % PARITY.batches;
      const x = Tensor.fromArray(Float32Array.from(batches.inputs[b]), [batch, inF], 'f32', rt);
      const y = Tensor.fromArray(batches.labels[b], [batch], 'i32', rt);
      opt.zeroGrad();
      const loss = tidy(() => {
        const l = crossEntropy(linear(relu(linear(x, w1, b1)), w2, b2), y);
        l.backward();
        return l.detach();
      });
      let norm: Tensor | null = null;
      if (o.clip && 'maxNorm' in o.clip) norm = clipGradNorm([w1, b1, w2, b2], o.clip.maxNorm, o.clip.normType);
      else if (o.clip) {
        clipGradValue([w1, b1, w2, b2], o.clip.value);
        if (step === 0) expect((await w2.grad!.toArray()).some((v) => Math.abs(v) === Math.fround((o.clip as { value: number }).value)), 'the clipping acts').toBe(true);
      }
      opt.paramGroups.forEach((g, gi) => expect(lrError(g.lr, t.lr[step][gi]), `lr of group ${gi} at step ${step}`).toBeLessThanOrEqual(LR_TOL));
      opt.step();
      sched.step();
      losses.push((await loss.toArray())[0]);
      norms.push(norm ? (await norm.toArray())[0] : null);
      for (const z of [x, y, loss, norm]) z?.dispose();
    }
    const lossErrs = losses.map((l, i) => Math.abs(l - t.loss[i]) / Math.abs(t.loss[i]));
    const weightErrs = Object.fromEntries(await Promise.all(([['w1', w1], ['b1', b1], ['w2', w2], ['b2', b2]] as const).map(async ([k, p]) => [k, relError(await p.toArray(), t.weights[k])] as const)));
    console.log(`${name}: loss ${t.loss[0].toFixed(4)} → ${t.loss[PARITY.steps - 1].toFixed(4)}; worst loss error ${fmt(Math.max(...lossErrs))}, weights ${Object.entries(weightErrs).map(([k, e]) => `${k} ${fmt(e)}`).join(', ')} (PyTorch float32 vs float64 ${fmt(fixtureErr)})`);
    lossErrs.forEach((e, i) => expect(e, `loss at step ${i}: ours ${losses[i]}, PyTorch ${t.loss[i]}`).toBeLessThanOrEqual(TOL));
    for (const [k, e] of Object.entries(weightErrs)) expect(e, `final ${k}`).toBeLessThanOrEqual(TOL);
    norms.forEach((n, i) => {
      if (t.norm[i] === null) expect(n).toBeNull();
      else expect(Math.abs(n! - t.norm[i]!) / t.norm[i]!, `gradient norm at step ${i}`).toBeLessThanOrEqual(TOL);
    });
    if (o.clip && 'maxNorm' in o.clip) expect(t.norm.some((n) => n! > (o.clip as { maxNorm: number }).maxNorm), 'the clipping acts on some step').toBe(true);
    opt.dispose();
  });

  it.each(SCHEDULE_CASES.map((c) => [c.name, c] as const))(`schedule %s: every group's lr (and momentum) over ${SCHEDULE_STEPS} steps within ${LR_TOL} of torch's`, (name, c) => {
    const t = fx.schedules[name];
    const ps = [Tensor.zeros([3], rt), Tensor.zeros([2], rt)];
    params.push(...ps);
    const opt = makeOptimizer(c.optimizer, ps.map((p, i) => ({ params: [p], lr: SCHEDULE_GROUP_LRS[i] })), c.optimizer === 'sgd' ? { lr: 1, momentum: 0.9 } : { lr: 1 });
    const sched = makeScheduler(opt, c.spec);
    let worst = 0;
    for (let e = 0; e <= SCHEDULE_STEPS; e++) {
      if (e > 0) sched.step();
      sched.getLastLr().forEach((lr, gi) => {
        const err = lrError(lr, t.lr[e][gi]);
        worst = Math.max(worst, err);
        expect(err, `epoch ${e}, group ${gi}: ours ${lr}, torch ${t.lr[e][gi]}`).toBeLessThanOrEqual(LR_TOL);
      });
      opt.paramGroups.forEach((g, gi) => {
        const m = c.optimizer === 'adam' ? g.betas![0] : g.momentum!;
        expect(Math.abs(m - t.momentum[e][gi]), `momentum at epoch ${e}, group ${gi}`).toBeLessThanOrEqual(LR_TOL);
      });
    }
    console.log(`schedule ${name}: worst relative error against torch ${fmt(worst)}`);
    opt.dispose();
  });
});
