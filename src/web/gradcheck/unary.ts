/**
 * The unary ops' page checks beyond the built-in sweep of UNARY_OPS (gradcheck-cases.ts runs every declared op
 * over every shape): the parameter cases (clamp with one bound or min > max, leakyRelu's slopes), every op at
 * NaN, ±inf, ±0 and large |x|, the erf and tanh approximations on a dense grid (the page's exp() is the
 * adapter's), and F.gelu / F.clamp / F.leakyRelu as called from the functional API.
 */
import type { PageCheckGroup, PageChecks } from './api';
import type { Tensor } from '../../autograd/tensor';
import { clamp, unaryOp } from '../../autograd/ops/unary';
import { gelu, leakyRelu } from '../../autograd/ops/activation';
import { UNARY_OPS, type UnaryName, type UnaryParams } from '../../kernels/elementwise/unary_ops';
import { unaryBackwardRef, unaryRef } from '../../reference/unary';
import { UNARY_DENSE_GRID, UNARY_PARAM_CASES, UNARY_PARAM_SHAPES, UNARY_SPECIAL_INPUTS, sameSpecial, unaryCheckParams, unaryFdInputsOf } from '../../reference/unary_cases';
import { UNARY_FD_SIZE, numel } from '../../reference/cases';
import { TOL, finiteDiff, randomArray, weightedSum } from '../../reference/math';

/** y = op(x) and x's gradient under upstream w, against the reference of `name` with `params`, at `tol`. */
async function check(c: PageChecks, name: UnaryName, what: string, op: (x: Tensor) => Tensor, xv: ArrayLike<number>, shape: number[], params?: UnaryParams): Promise<void> {
  const w = randomArray(numel(shape), 1 + numel(shape));
  const x = c.t(xv, shape, true);
  const y = c.track(op(x));
  y.backward(c.t(w, shape));
  await c.compare(name, `${what} y`, y, unaryRef(name, xv, params), TOL.elementwise);
  await c.compare(name, `${what} dx`, x.grad, unaryBackwardRef(name, xv, w, params), TOL.elementwise);
}

export const unaryPageGroup: PageCheckGroup = {
  // The ops are in the suite's KERNELS already (UNARY_OPS); these checks add cases under their names.
  kernels: [],
  async run(c) {
    let seed = 1700;
    for (const k of UNARY_PARAM_CASES) {
      const spec = UNARY_OPS.find((s) => s.name === k.name)!;
      await c.run('reference', `${k.label}: reference backward vs finite differences`, async () => {
        const [x, w] = [unaryFdInputsOf(spec, UNARY_FD_SIZE, seed++, k.kinks), randomArray(UNARY_FD_SIZE, seed++)];
        const fd = finiteDiff((v) => weightedSum(unaryRef(k.name, v, k.params), w), x);
        c.record('reference', `${k.label} ref dx`, unaryBackwardRef(k.name, x, w, k.params), fd, TOL.fd);
      });
      for (const shape of UNARY_PARAM_SHAPES) {
        await c.run(k.name, `${k.label} [${shape}]: y, dx`, () => check(c, k.name, `${k.label} [${shape}]`, unaryOp(k.name, k.params), randomArray(numel(shape), seed++, -2, 2), shape, k.params));
      }
    }

    // Special values: the error recorded is √(number of elements that disagree with the reference), so 0 passes.
    for (const spec of UNARY_OPS) {
      const name = spec.name;
      await c.run(name, `${name} at NaN, ±inf, ±0, tiny and large |x|`, async () => {
        const xs = UNARY_SPECIAL_INPUTS;
        const p = unaryCheckParams(spec);
        const ones = xs.map(() => 1);
        const x = c.t(xs, [xs.length], true);
        const y = c.track(unaryOp(name, p)(x));
        y.backward(c.t(ones, [xs.length]));
        const [gy, gdx] = [await y.toArray(), x.grad ? await x.grad.toArray() : new Float32Array(xs.length).fill(NaN)];
        const [ry, rdx] = [unaryRef(name, xs, p), unaryBackwardRef(name, xs, ones, p)];
        const zeros = xs.map(() => 0);
        c.record(name, `${name} special values y (disagreeing elements)`, xs.map((_, i) => (sameSpecial(gy[i], ry[i]) ? 0 : 1)), zeros, 0);
        c.record(name, `${name} special values dx (disagreeing elements)`, xs.map((_, i) => (sameSpecial(gdx[i], rdx[i]) ? 0 : 1)), zeros, 0);
      });
    }

    // The erf and tanh approximations (and exp, through sigmoid and silu) on a dense grid over [−10, 10].
    for (const name of ['gelu', 'geluTanh', 'tanh', 'silu', 'sigmoid'] as const) {
      await c.run(name, `${name} on a dense grid over [−10, 10]: y, dx`, () => check(c, name, `${name} dense grid`, unaryOp(name), UNARY_DENSE_GRID, [UNARY_DENSE_GRID.length]));
    }

    // The functional forms.
    const xv = randomArray(33, seed++, -3, 3);
    await c.run('gelu', "F.gelu(x, { approximate: 'tanh' })", () => check(c, 'geluTanh', 'F.gelu tanh', (x) => gelu(x, { approximate: 'tanh' }), xv, [33]));
    await c.run('clamp', 'F.clamp(x, { min: -1 })', () => check(c, 'clamp', 'F.clamp min only', (x) => clamp(x, { min: -1 }), xv, [33], { min: -1 }));
    await c.run('clamp', 'F.clamp(x, null, 0.5)', () => check(c, 'clamp', 'F.clamp max only', (x) => clamp(x, null, 0.5), xv, [33], { max: 0.5 }));
    await c.run('leakyRelu', 'F.leakyRelu(x, 0.2)', () => check(c, 'leakyRelu', 'F.leakyRelu 0.2', (x) => leakyRelu(x, 0.2), xv, [33], { negativeSlope: 0.2 }));
  },
};
