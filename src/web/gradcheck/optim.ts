/**
 * The page's checks of the optimizer family: Adam and AdamW steps (every ADAM_COMBOS case, lr changed between
 * steps, parameters without a gradient on some steps) and gradient clipping, against the float64 references.
 */
import type { PageCheckGroup, PageChecks } from './api';
import { Tensor } from '../../autograd/tensor';
import { Adam, AdamW } from '../../train/adam';
import { clipGradNorm, clipGradValue } from '../../train/clip';
import { AdamRef, clipGradNormRef, clipGradValueRef } from '../../reference/adam';
import { TOL } from '../../reference/math';
import { ADAM_COMBOS, CLIP_NORM_CASES, CLIP_VALUE_CASES, OPTIM_LRS, OPTIM_SHAPES, optimParams, optimStepGrads } from '../../reference/optim_cases';

/** Parameters of OPTIM_SHAPES (freed after the case) and a way to give them a step's gradients. */
function params(c: PageChecks, seed: number): { ps: Tensor[]; ref: Float64Array[]; setGrads: (g: (Float64Array | null)[]) => void } {
  const ref = optimParams(seed);
  const ps = ref.map((v, i) => c.t(v, OPTIM_SHAPES[i]));
  const setGrads = (grads: (Float64Array | null)[]) =>
    ps.forEach((p, i) => {
      p.zeroGrad();
      const g = grads[i];
      if (g) p.grad = Tensor.fromArray(Float32Array.from(g), p.shape, 'f32', c.rt);
    });
  return { ps, ref, setGrads };
}

async function adamSteps(c: PageChecks): Promise<void> {
  for (const [name, decoupled] of [['Adam', false], ['AdamW', true]] as const) {
    for (const opts of ADAM_COMBOS) {
      const kernel = `${name} step`;
      const what = `${name} ${JSON.stringify(opts)}`;
      await c.run(kernel, `${what}: ${OPTIM_LRS.length} steps`, async () => {
        const { ps, ref, setGrads } = params(c, 600);
        const opt = decoupled ? new AdamW(ps, opts) : new Adam(ps, opts);
        const refOpt = new AdamRef(ref, opts, decoupled);
        try {
          OPTIM_LRS.forEach((lr, step) => {
            opt.lr = refOpt.lr = lr;
            const grads = optimStepGrads(step);
            setGrads(grads);
            opt.step();
            refOpt.step(grads);
          });
          for (let i = 0; i < ps.length; i++) await c.compare(kernel, `${what}: param ${i} [${OPTIM_SHAPES[i]}]`, ps[i], ref[i], TOL.elementwise);
        } finally {
          opt.dispose();
        }
      });
    }
  }
}

async function clipping(c: PageChecks): Promise<void> {
  for (const [maxNorm, normType] of CLIP_NORM_CASES) {
    await c.run('clipGradNorm', `clipGradNorm maxNorm ${maxNorm} normType ${normType}`, async () => {
      const { ps, setGrads } = params(c, 700);
      const grads = optimStepGrads(0);
      setGrads(grads);
      const want = grads.map((g) => (g ? Float64Array.from(g) : null));
      const norm = c.track(clipGradNorm(ps, maxNorm, normType));
      const wantNorm = clipGradNormRef(want, maxNorm, normType);
      await c.compare('clipGradNorm', `clipGradNorm maxNorm ${maxNorm} normType ${normType}: total norm`, norm, [wantNorm], TOL.reduction);
      for (let i = 0; i < ps.length; i++) if (want[i]) await c.compare('clipGradNorm', `clipGradNorm maxNorm ${maxNorm} normType ${normType}: grad ${i}`, ps[i].grad, want[i]!, TOL.reduction);
    });
  }
  for (const value of CLIP_VALUE_CASES) {
    await c.run('clipGradValue', `clipGradValue ${value}`, async () => {
      const { ps, setGrads } = params(c, 800);
      const grads = optimStepGrads(2);
      setGrads(grads);
      const want = grads.map((g) => (g ? Float64Array.from(g) : null));
      clipGradValue(ps, value);
      clipGradValueRef(want, value);
      for (let i = 0; i < ps.length; i++) if (want[i]) await c.compare('clipGradValue', `clipGradValue ${value}: grad ${i}`, ps[i].grad, want[i]!, TOL.elementwise);
    });
  }
}

/** The optimizer family's page checks (appended to PAGE_GROUPS). */
export const optimPageChecks: PageCheckGroup = {
  kernels: ['Adam step', 'AdamW step', 'clipGradNorm', 'clipGradValue'],
  async run(c) {
    await adamSteps(c);
    await clipping(c);
  },
};
