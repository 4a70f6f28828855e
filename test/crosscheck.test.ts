/**
 * The seeded randomized cross-check against PyTorch float64 (issue 20): random shapes and hyper-parameters per
 * op, tiny, odd and tied ones included, and a share of non-finite inputs, from tools/make_crosscheck_fixture.py
 * (generated on demand into test/fixtures/generated/, like the parity fixtures).
 *
 * Every case runs in both kernel modes: 'subgroups' (the adapter's default: on lavapipe the subgroup matmul,
 * the implicit-GEMM convolution and serial per-channel reductions) and 'portable' (a second device created
 * without optional features, with tree reductions: the path a GPU without subgroups takes). Convolutions run
 * with each algorithm forced in turn (implicit GEMM where subgroups allow, im2col, and for 3×3 stride-1
 * padding-1 Winograd with 4×4 and 2×2 tiles).
 *
 * Finite results must be within a tolerance of the reference, relative to the size of the terms each output
 * sums (its `scale` in the fixture). Non-finite results follow docs/numerics.md: every op but conv2d gives
 * NaN exactly where PyTorch does and the same ±Inf; conv2d gives NaN wherever PyTorch does, a non-finite
 * value wherever PyTorch's is ±Inf, and may give NaN for more outputs (never a finite number for a NaN).
 *
 * CROSSCHECK_CASES=3000 (and CROSSCHECK_SEED=n) run more cases locally; CI runs 300.
 * CROSSCHECK_REPORT=1 prints the largest error per op, output and mode.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { testRuntime } from './helpers/gpu';
import { torchAvailable, torchFixture, FIXTURE_TIMEOUT_MS } from './helpers/torch';
import { initGpu } from '../src/gpu/init';
import { setRuntime } from '../src/gpu/current';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { conv2d } from '../src/autograd/ops/conv';
import { batchNorm, batchNormAddRelu, batchNormRelu } from '../src/autograd/ops/batchnorm';
import { adaptiveAvgPool2d, maxPool2d } from '../src/autograd/ops/pool';
import { linear, matmul } from '../src/autograd/ops/linear';
import { crossEntropy } from '../src/autograd/ops/loss';
import { relu } from '../src/autograd/ops/activation';
import { dropoutWithMask } from '../src/autograd/ops/dropout';
import { hasSubgroupMatmul } from '../src/kernels/matmul';
import type { ConvAlgorithm } from '../src/kernels/conv';
import { setKernelConfig } from '../src/kernels/config';

const CASES = Number(process.env.CROSSCHECK_CASES ?? 300);
const SEED = Number(process.env.CROSSCHECK_SEED ?? 20);
const REPORT = Boolean(process.env.CROSSCHECK_REPORT);

/**
 * Tolerances, relative to each output's scale (the size of the terms it sums). float32 rounding gives
 * ~1e-7 per term; Winograd's transforms amplify it by up to ~10 (F(4×4)); batch norm's dx subtracts sums.
 */
const TOL: Record<string, number> = {
  conv2d: 2e-5,
  batchnorm: 5e-5,
  maxpool: 1e-6,
  avgpool: 1e-6,
  linear: 1e-5,
  matmul: 1e-5,
  cross_entropy: 1e-5,
  relu: 0,
  dropout: 1e-6,
};

interface TensorRef {
  offset: number;
  length: number;
  shape: number[];
}
interface Case {
  op: string;
  params: Record<string, number | boolean | string | number[]> & { id: number; nonfinite: boolean };
  tensors: Record<string, TensorRef>;
  scales: Record<string, number>;
}

const hasTorch = torchAvailable();
let cases: Case[] = [];
let data: Float64Array = new Float64Array(0);
if (hasTorch) {
  const dir = torchFixture(`crosscheck-${CASES}-${SEED}`, 'tools/make_crosscheck_fixture.py', ['--cases', String(CASES), '--seed', String(SEED)]);
  cases = (JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as { cases: Case[] }).cases;
  const bin = readFileSync(join(dir, 'cases.bin'));
  data = new Float64Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
}

const get = (c: Case, name: string): Float64Array => {
  const t = c.tensors[name];
  return data.subarray(t.offset, t.offset + t.length);
};
const has = (c: Case, name: string) => name in c.tensors;
const shapeOf = (c: Case, name: string) => c.tensors[name].shape;

interface Mode {
  name: 'subgroups' | 'portable';
  rt: GpuRuntime;
}
const modes: Mode[] = [];
let ownPortable: GpuRuntime | null = null;

beforeAll(async () => {
  if (!hasTorch) return;
  const rt = await testRuntime();
  modes.push({ name: 'subgroups', rt });
  ownPortable = await initGpu({ features: [] });
  ownPortable.poison = true;
  setKernelConfig(ownPortable, { channelReduction: 'tree' });
  setRuntime(rt);
  modes.push({ name: 'portable', rt: ownPortable });
}, FIXTURE_TIMEOUT_MS);

afterAll(() => {
  ownPortable?.destroy();
});

type Rule = 'exact' | 'conv';

/** Checks one output; returns a description of the first problem, or null. Records the largest error. */
function compare(c: Case, name: string, actual: ArrayLike<number>, rule: Rule, tol: number, errors: Map<string, number>, key: string): string | null {
  const ref = get(c, name);
  if (actual.length !== ref.length) return `${name}: ${actual.length} values, expected ${ref.length}`;
  let scale = c.scales[name] ?? 0;
  if (!(scale > 0)) for (const r of ref) if (Number.isFinite(r)) scale = Math.max(scale, Math.abs(r));
  if (!(scale > 0)) scale = 1;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i];
    const a = actual[i];
    if (Number.isNaN(r)) {
      if (!Number.isNaN(a)) return `${name}[${i}] = ${a}, PyTorch NaN`;
    } else if (!Number.isFinite(r)) {
      if (rule === 'exact' ? a !== r : Number.isFinite(a)) return `${name}[${i}] = ${a}, PyTorch ${r}`;
    } else if (Number.isNaN(a) && rule === 'conv' && c.params.nonfinite) {
      // conv2d may spread a non-finite input to more outputs (docs/numerics.md)
    } else if (!Number.isFinite(a)) {
      return `${name}[${i}] = ${a}, PyTorch ${r}`;
    } else {
      worst = Math.max(worst, Math.abs(a - r) / scale);
    }
  }
  errors.set(key, Math.max(errors.get(key) ?? 0, worst));
  if (worst > tol) return `${name}: error ${worst.toExponential(2)} (relative to ${scale.toExponential(2)}) > ${tol}`;
  return null;
}

/** Runs one case on rt (conv: with `algorithm`); returns the outputs by the fixture's names. */
async function run(c: Case, rt: GpuRuntime, variant: { algorithm?: ConvAlgorithm; winogradTile?: 2 | 4 }): Promise<Record<string, Float32Array | Int32Array>> {
  const t = (name: string, grad = false) => {
    const x = Tensor.fromArray(Float32Array.from(get(c, name)), shapeOf(c, name), 'f32', rt);
    return grad ? x.requireGrad() : x;
  };
  const p = c.params;
  const owned: Tensor[] = [];
  const keep = <T extends Tensor | null>(x: T): T => {
    if (x) owned.push(x);
    return x;
  };
  const out: Record<string, Tensor> = {};
  try {
    switch (c.op) {
      case 'conv2d': {
        const x = keep(t('x', true));
        const w = keep(t('w', true));
        const b = keep(has(c, 'b') ? t('b', true) : null);
        const y = keep(conv2d(x, w, b, { stride: p.stride as number, padding: p.pad as number, ...variant }));
        y.backward(keep(t('dy')));
        Object.assign(out, { y, dx: x.grad!, dw: w.grad!, ...(b ? { db: b.grad! } : {}) });
        break;
      }
      case 'batchnorm': {
        const x = keep(t('x', true));
        const rm = keep(t('rm'));
        const rv = keep(t('rv'));
        const w = keep(has(c, 'w') ? t('w', true) : null);
        const b = keep(has(c, 'b') ? t('b', true) : null);
        const res = keep(has(c, 'res') ? t('res', true) : null);
        const args = [rm, rv, w, b, p.training as boolean, p.momentum as number, p.eps as number] as const;
        const y = keep(p.kind === 'residual' ? batchNormAddRelu(x, res!, ...args) : p.kind === 'relu' ? batchNormRelu(x, ...args) : batchNorm(x, ...args));
        y.backward(keep(t('dy')));
        Object.assign(out, { y, rm_out: rm, rv_out: rv, dx: x.grad!, ...(w ? { dweight: w.grad!, dbias: b!.grad! } : {}), ...(res ? { dres: res.grad! } : {}) });
        break;
      }
      case 'maxpool': {
        const x = keep(t('x', true));
        const y = keep(maxPool2d(x, { kernelSize: [p.kh as number, p.kw as number], stride: [p.sh as number, p.sw as number], padding: [p.ph as number, p.pw as number] }));
        y.backward(keep(t('dy')));
        Object.assign(out, { y, dx: x.grad! });
        break;
      }
      case 'avgpool': {
        const x = keep(t('x', true));
        const y = keep(adaptiveAvgPool2d(x, [p.oh as number, p.ow as number]));
        y.backward(keep(t('dy')));
        Object.assign(out, { y, dx: x.grad! });
        break;
      }
      case 'linear': {
        const x = keep(t('x', true));
        const w = keep(t('w', true));
        const b = keep(has(c, 'b') ? t('b', true) : null);
        const y = keep(linear(x, w, b));
        y.backward(keep(t('dy')));
        Object.assign(out, { y, dx: x.grad!, dw: w.grad!, ...(b ? { db: b.grad! } : {}) });
        break;
      }
      case 'matmul': {
        const a = keep(t('a', true));
        const b = keep(t('b', true));
        const y = keep(matmul(a, b));
        y.backward(keep(t('dy')));
        Object.assign(out, { y, da: a.grad!, db: b.grad! });
        break;
      }
      case 'cross_entropy': {
        const logits = keep(t('logits', true));
        const labels = Int32Array.from(get(c, 'labels'));
        const reduction = p.reduction as 'mean' | 'sum' | 'none';
        const loss = keep(crossEntropy(logits, labels, { labelSmoothing: p.smoothing as number, reduction }));
        const up = get(c, 'up');
        loss.backward(keep(reduction === 'none' ? t('up') : Tensor.fromArray(Float32Array.of(up[0]), [], 'f32', rt)));
        Object.assign(out, { loss, dlogits: logits.grad! });
        break;
      }
      case 'relu': {
        const x = keep(t('x', true));
        const y = keep(relu(x));
        y.backward(keep(t('dy')));
        Object.assign(out, { y, dx: x.grad! });
        break;
      }
      case 'dropout': {
        const x = keep(t('x', true));
        const y = keep(dropoutWithMask(x, keep(t('mask')), p.p as number));
        y.backward(keep(t('dy')));
        Object.assign(out, { y, dx: x.grad! });
        break;
      }
      default:
        throw new Error(`unknown op ${c.op}`);
    }
    const names = Object.keys(out);
    const values = await Promise.all(names.map((n) => out[n].toArray()));
    return Object.fromEntries(names.map((n, i) => [n, values[i] as Float32Array]));
  } finally {
    for (const x of owned) {
      x.grad?.dispose();
      x.dispose();
    }
  }
}

/** The variants a case runs: each conv algorithm that applies, else one. */
function variants(c: Case, mode: Mode): { label: string; algorithm?: ConvAlgorithm; winogradTile?: 2 | 4 }[] {
  if (c.op !== 'conv2d') return [{ label: '' }];
  const p = c.params;
  const v: { label: string; algorithm?: ConvAlgorithm; winogradTile?: 2 | 4 }[] = [{ label: 'im2col', algorithm: 'im2col' }];
  if (hasSubgroupMatmul(mode.rt)) v.push({ label: 'implicit', algorithm: 'implicit' });
  if (p.KH === 3 && p.KW === 3 && p.stride === 1 && p.pad === 1) {
    v.push({ label: 'winograd4', algorithm: 'winograd', winogradTile: 4 }, { label: 'winograd2', algorithm: 'winograd', winogradTile: 2 });
  }
  return v;
}

const OPS = ['conv2d', 'batchnorm', 'maxpool', 'avgpool', 'linear', 'matmul', 'cross_entropy', 'relu', 'dropout'];
const errors = new Map<string, number>();

describe.skipIf(!hasTorch)(`randomized cross-check against PyTorch float64 (${CASES} cases, seed ${SEED})`, () => {
  for (const modeName of ['subgroups', 'portable'] as const)
    for (const op of OPS)
      it(`${op} (${modeName} kernels)`, async () => {
        const mode = modes.find((m) => m.name === modeName)!;
        const failures: string[] = [];
        let runs = 0;
        const mine = cases.filter((c) => c.op === op);
        expect(mine.length).toBeGreaterThan(0);
        for (const c of mine) {
          for (const v of variants(c, mode)) {
            runs++;
            const where = `case ${c.params.id}${v.label ? ` ${v.label}` : ''} ${JSON.stringify(c.params)}`;
            try {
              const got = await run(c, mode.rt, v);
              for (const [name, values] of Object.entries(got)) {
                if (!has(c, name)) continue;
                const problem = compare(c, name, values, op === 'conv2d' ? 'conv' : 'exact', TOL[op], errors, `${op} ${name} ${modeName}${v.label ? ` ${v.label}` : ''}`);
                if (problem) failures.push(`${where}: ${problem}`);
              }
            } catch (e) {
              failures.push(`${where}: threw ${(e as Error).message.split('\n')[0]}`);
            }
          }
        }
        if (REPORT) console.log(`${op} (${modeName}): ${mine.length} cases, ${runs} runs`);
        expect(failures.slice(0, 10), `${failures.length} of ${runs} runs failed`).toEqual([]);
      });

  afterAll(() => {
    if (!REPORT) return;
    const rows = [...errors.entries()].sort((a, b) => a[0].localeCompare(b[0]));
    console.log(rows.map(([k, v]) => `${k.padEnd(44)} ${v.toExponential(2)}`).join('\n'));
  });
});
