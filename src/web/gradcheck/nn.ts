/**
 * The page's checks of the nn ops (autograd/ops/nn.ts and linear on [*, in]): every op forward and backward
 * against its float64 reference over src/reference/nn_cases.ts, and each reference's backward against central
 * finite differences.
 */
import type { PageCheckGroup, PageChecks } from './api';
import { Tensor } from '../../autograd/tensor';
import { binaryCrossEntropyWithLogits, layerNorm, logSoftmax, mseLoss, nllLoss, softmax } from '../../autograd/ops/nn';
import { linear } from '../../autograd/ops/linear';
import {
  axisLayout, bceWithLogitsBackwardRef, bceWithLogitsRef, layerNormBackwardRef, layerNormRef, mseLossBackwardRef, mseLossRef,
  nllLossBackwardRef, nllLossRef, softmaxBackwardRef, softmaxRef,
} from '../../reference/nn';
import { linearBackwardRef, linearRef } from '../../reference/matmul';
import { TOL, finiteDiff, randomArray, weightedSum } from '../../reference/math';
import { numel } from '../../reference/cases';
import {
  BCE_CASES, BCE_FD_CASES, LAYERNORM_CASES, LAYERNORM_EPS, LAYERNORM_FD_CASES, LINEAR_ND_CASES, MSE_CASES, NLL_CASES, NLL_FD_CASES,
  SOFTMAX_CASES, SOFTMAX_FD_CASES, bceInputs, layerNormInputs, lossObjective, lossUpstream, lossValues, nllInputs, softmaxInputs,
} from '../../reference/nn_cases';


/** y = make(), back-propagated with `upstream` (y is freed after the case). */
function runBackward(c: PageChecks, make: () => Tensor, upstream: ArrayLike<number>): Tensor {
  const y = c.track(make());
  y.backward(c.t(upstream, y.shape));
  return y;
}

async function softmaxChecks(c: PageChecks): Promise<void> {
  for (const log of [false, true]) {
    const k = log ? 'logSoftmax' : 'softmax';
    for (const s of SOFTMAX_FD_CASES) {
      await c.run(k, `${k} reference backward vs finite differences ${JSON.stringify(s)}`, async () => {
        const { x, dy } = softmaxInputs(s, 5);
        const l = axisLayout(s.shape, s.dim);
        c.record(k, `${k} ref dx ${JSON.stringify(s)}`, softmaxBackwardRef(x, dy, l, log), finiteDiff((v) => weightedSum(softmaxRef(v, l, log), dy), x), TOL.fd);
      });
    }
    for (const s of SOFTMAX_CASES) {
      const name = `${k} ${JSON.stringify(s.shape)} dim ${s.dim} ±${s.scale}`;
      await c.run(k, name, async () => {
        const { x, dy } = softmaxInputs(s, numel(s.shape) + s.dim + 100);
        const X = c.t(x, s.shape, true);
        const y = runBackward(c, () => (log ? logSoftmax(X, s.dim) : softmax(X, s.dim)), dy);
        const l = axisLayout(s.shape, s.dim);
        await c.compare(k, `${name}: forward`, y, softmaxRef(x, l, log), TOL.reduction);
        await c.compare(k, `${name}: dx`, X.grad, softmaxBackwardRef(x, dy, l, log), TOL.reduction);
      });
    }
  }
}

async function layerNormChecks(c: PageChecks): Promise<void> {
  const k = 'layerNorm';
  for (const s of LAYERNORM_FD_CASES) {
    await c.run(k, `layerNorm reference backward vs finite differences ${JSON.stringify(s)}`, async () => {
      const { rows, d, x, weight, bias, dy } = layerNormInputs(s, 7);
      const f = (xv: ArrayLike<number>, w: ArrayLike<number> | null, b: ArrayLike<number> | null) => weightedSum(layerNormRef(xv, rows, d, w, b, LAYERNORM_EPS), dy);
      const g = layerNormBackwardRef(x, rows, d, weight, dy, LAYERNORM_EPS);
      c.record(k, `layerNorm ref dx ${JSON.stringify(s.shape)}`, g.dx, finiteDiff((v) => f(v, weight, bias), x), TOL.fd);
      c.record(k, `layerNorm ref dweight ${JSON.stringify(s.shape)}`, g.dweight, finiteDiff((v) => f(x, v, bias), weight!), TOL.fd);
      c.record(k, `layerNorm ref dbias ${JSON.stringify(s.shape)}`, g.dbias, finiteDiff((v) => f(x, weight, v), bias!), TOL.fd);
    });
  }
  for (const s of LAYERNORM_CASES) {
    const name = `layerNorm ${JSON.stringify(s.shape)} over ${JSON.stringify(s.normalizedShape)}${s.weight ? ' weight' : ''}${s.bias ? ' bias' : ''}`;
    await c.run(k, name, async () => {
      const { rows, d, x, weight, bias, dy } = layerNormInputs(s, numel(s.shape) + 200);
      const X = c.t(x, s.shape, true);
      const W = weight ? c.t(weight, s.normalizedShape, true) : null;
      const B = bias ? c.t(bias, s.normalizedShape, true) : null;
      const y = runBackward(c, () => layerNorm(X, s.normalizedShape, W, B, LAYERNORM_EPS), dy);
      const g = layerNormBackwardRef(x, rows, d, weight, dy, LAYERNORM_EPS);
      await c.compare(k, `${name}: forward`, y, layerNormRef(x, rows, d, weight, bias, LAYERNORM_EPS), TOL.reduction);
      await c.compare(k, `${name}: dx`, X.grad, g.dx, TOL.reduction);
      if (W) await c.compare(k, `${name}: dweight`, W.grad, g.dweight, TOL.reduction);
      if (B) await c.compare(k, `${name}: dbias`, B.grad, g.dbias, TOL.reduction);
    });
  }
}

async function lossChecks(c: PageChecks): Promise<void> {
  for (const [shape, red] of MSE_CASES) {
    const name = `mseLoss ${JSON.stringify(shape)} ${red}`;
    const n = numel(shape);
    const [a, b] = [randomArray(n, n + 1, -2, 2), randomArray(n, n + 2, -2, 2)];
    const w = randomArray(red === 'none' ? n : 1, n + 3, 0.5, 2);
    await c.run('mseLoss', `${name}: reference backward vs finite differences`, async () => {
      const g = mseLossBackwardRef(a, b, red, lossUpstream(red, w));
      c.record('mseLoss', `${name}: ref da`, g.da, finiteDiff((v) => lossObjective(mseLossRef(v, b, red), w), a), TOL.fd);
      c.record('mseLoss', `${name}: ref db`, g.db, finiteDiff((v) => lossObjective(mseLossRef(a, v, red), w), b), TOL.fd);
    });
    await c.run('mseLoss', name, async () => {
      const [A, B] = [c.t(a, shape, true), c.t(b, shape, true)];
      const y = runBackward(c, () => mseLoss(A, B, { reduction: red }), w);
      const g = mseLossBackwardRef(a, b, red, lossUpstream(red, w));
      await c.compare('mseLoss', `${name}: loss`, y, lossValues(mseLossRef(a, b, red)), TOL.reduction);
      await c.compare('mseLoss', `${name}: da`, A.grad, g.da, TOL.reduction);
      await c.compare('mseLoss', `${name}: db`, B.grad, g.db, TOL.reduction);
    });
  }

  const k = 'binaryCrossEntropyWithLogits';
  for (const s of BCE_FD_CASES) {
    await c.run(k, `${k} reference backward vs finite differences ${JSON.stringify(s)}`, async () => {
      const { x, y, weight, posWeight, upstream } = bceInputs(s, 11);
      const o = { weight, posWeight };
      const g = bceWithLogitsBackwardRef(x, y, o, s.reduction, lossUpstream(s.reduction, upstream));
      c.record(k, `${k} ref dx ${JSON.stringify(s)}`, g.dx, finiteDiff((v) => lossObjective(bceWithLogitsRef(v, y, o, s.reduction), upstream), x), TOL.fd);
      c.record(k, `${k} ref dy ${JSON.stringify(s)}`, g.dt, finiteDiff((v) => lossObjective(bceWithLogitsRef(x, v, o, s.reduction), upstream), y), TOL.fd);
    });
  }
  for (const s of BCE_CASES) {
    const name = `${k} ${JSON.stringify(s)}`;
    await c.run(k, name, async () => {
      const { x, y, weight, posWeight, upstream } = bceInputs(s, numel(s.shape) + 300);
      const [X, Y] = [c.t(x, s.shape, true), c.t(y, s.shape, true)];
      const W = weight ? c.t(weight, s.weight!) : null;
      const P = posWeight ? c.t(posWeight, s.posWeight!) : null;
      const out = runBackward(c, () => binaryCrossEntropyWithLogits(X, Y, { reduction: s.reduction, weight: W, posWeight: P }), upstream);
      const o = { weight, posWeight };
      const g = bceWithLogitsBackwardRef(x, y, o, s.reduction, lossUpstream(s.reduction, upstream));
      await c.compare(k, `${name}: loss`, out, lossValues(bceWithLogitsRef(x, y, o, s.reduction)), TOL.reduction);
      await c.compare(k, `${name}: dx`, X.grad, g.dx, TOL.reduction);
      await c.compare(k, `${name}: dy`, Y.grad, g.dt, TOL.reduction);
    });
  }

  for (const s of NLL_FD_CASES) {
    await c.run('nllLoss', `nllLoss reference backward vs finite differences ${JSON.stringify(s)}`, async () => {
      const { layout, logp, target, weight, upstream } = nllInputs(s, 13);
      const o = { ignoreIndex: s.ignoreIndex, weight };
      const g = nllLossBackwardRef(logp, target, layout, o, s.reduction, lossUpstream(s.reduction, upstream));
      c.record('nllLoss', `nllLoss ref dlogp ${JSON.stringify(s)}`, g, finiteDiff((v) => lossObjective(nllLossRef(v, target, layout, o, s.reduction), upstream), logp), TOL.fd);
    });
  }
  for (const s of NLL_CASES) {
    const name = `nllLoss ${JSON.stringify(s)}`;
    await c.run('nllLoss', name, async () => {
      const { layout, logp, target, weight, upstream } = nllInputs(s, numel(s.shape) + 400);
      const L = c.t(logp, s.shape, true);
      const tgt = c.track(Tensor.fromArray(target, layout.targetShape, 'i32', c.rt));
      const W = weight ? c.t(weight, [layout.classes]) : null;
      const y = runBackward(c, () => nllLoss(L, tgt, { reduction: s.reduction, ignoreIndex: s.ignoreIndex, weight: W }), upstream);
      const o = { ignoreIndex: s.ignoreIndex, weight };
      await c.compare('nllLoss', `${name}: loss`, y, lossValues(nllLossRef(logp, target, layout, o, s.reduction)), TOL.reduction);
      await c.compare('nllLoss', `${name}: dlogp`, L.grad, nllLossBackwardRef(logp, target, layout, o, s.reduction, lossUpstream(s.reduction, upstream)), TOL.reduction);
    });
  }
}

async function linearChecks(c: PageChecks): Promise<void> {
  const k = 'linear [*, in]';
  for (const [shape, outF, withBias] of LINEAR_ND_CASES) {
    const name = `linear ${JSON.stringify(shape)} → ${outF}${withBias ? ' bias' : ''}`;
    await c.run(k, name, async () => {
      const inF = shape[shape.length - 1];
      const N = numel(shape) / inF;
      const [x, w, b, dy] = [randomArray(numel(shape), 21), randomArray(outF * inF, 22), randomArray(outF, 23), randomArray(N * outF, 24)];
      const [X, W] = [c.t(x, shape, true), c.t(w, [outF, inF], true)];
      const B = withBias ? c.t(b, [outF], true) : null;
      const y = runBackward(c, () => linear(X, W, B), dy);
      const g = linearBackwardRef(x, w, dy, N, inF, outF);
      await c.compare(k, `${name}: forward`, y, linearRef(x, w, withBias ? b : null, N, inF, outF), TOL.reduction);
      await c.compare(k, `${name}: dx`, X.grad, g.dx, TOL.reduction);
      await c.compare(k, `${name}: dw`, W.grad, g.dw, TOL.reduction);
      if (B) await c.compare(k, `${name}: db`, B.grad, g.db, TOL.reduction);
    });
  }
}

/** softmax, logSoftmax, layerNorm, the three losses and linear on [*, in]. */
export const nnPageChecks: PageCheckGroup = {
  kernels: ['softmax', 'logSoftmax', 'layerNorm', 'mseLoss', 'binaryCrossEntropyWithLogits', 'nllLoss', 'linear [*, in]'],
  async run(c) {
    await softmaxChecks(c);
    await layerNormChecks(c);
    await lossChecks(c);
    await linearChecks(c);
  },
};
