import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, distinctArray, expectClose, finiteDiff, randomArray, relError, tensor, weightedSum } from './helpers/numeric';
import {
  adaptiveAvgPool2dBackwardRef,
  adaptiveAvgPool2dRef,
  maxPool2dBackwardRef,
  maxPool2dRef,
  type MaxPoolRefWindow,
  type Nchw,
} from '../src/reference/pool';
import { AVGPOOL_CASES, AVGPOOL_FD_CASES, MAXPOOL_CASES, MAXPOOL_FD_CASES, poolWindow } from '../src/reference/cases';
import { adaptiveAvgPool2d, maxPool2d } from '../src/autograd/ops/pool';
import type { GpuRuntime } from '../src/gpu/runtime';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

const numel = (s: Nchw) => s[0] * s[1] * s[2] * s[3];


const win = poolWindow;

describe('pool float64 references', () => {
  it.each(MAXPOOL_FD_CASES)('gradient check: maxPool2d reference backward vs finite differences %j %j', (s, k) => {
    const x = distinctArray(numel(s), 1);
    const fwd = maxPool2dRef(x, s, k);
    const w = randomArray(fwd.y.length, 2);
    const fd = finiteDiff((xx) => weightedSum(maxPool2dRef(xx, s, k).y, w), Float64Array.from(x));
    expect(relError(maxPool2dBackwardRef(w, fwd, s), fd)).toBeLessThan(TOL.fd);
  });

  it.each(AVGPOOL_FD_CASES)('gradient check: adaptiveAvgPool2d reference backward vs finite differences %j -> %j', (s, [oh, ow]) => {
    const x = randomArray(numel(s), 3);
    const w = randomArray(s[0] * s[1] * oh * ow, 4);
    const fd = finiteDiff((xx) => weightedSum(adaptiveAvgPool2dRef(xx, s, oh, ow), w), Float64Array.from(x));
    expect(relError(adaptiveAvgPool2dBackwardRef(w, s, oh, ow), fd)).toBeLessThan(TOL.fd);
  });

  it('maxPool2d reference: ties go to the first element, padding never wins', () => {
    const s: Nchw = [1, 1, 3, 3];
    const fwd = maxPool2dRef(new Float64Array(9).fill(-5), s, win(3, 2, 1));
    expect(Array.from(fwd.y)).toEqual([-5, -5, -5, -5]);
    expect(Array.from(fwd.argmax)).toEqual([0, 1, 3, 4]); // each window's first in-image cell
  });
});

describe('maxPool2d on the GPU vs the reference', () => {
  async function check(s: Nchw, k: MaxPoolRefWindow, seed: number): Promise<void> {
    const live0 = rt.poolStats().liveBuffers;
    const xv = distinctArray(numel(s), seed);
    const fwd = maxPool2dRef(xv, s, k);
    const dyv = randomArray(fwd.y.length, seed + 1);
    const x = tensor(rt, xv, s).requireGrad();
    const y = maxPool2d(x, { kernelSize: [k.kh, k.kw], stride: [k.sh, k.sw], padding: [k.ph, k.pw] });
    expect(y.shape).toEqual(fwd.outShape);
    const argmax = await y.node!.saved[0].toInt32Array();
    const dy = tensor(rt, dyv, fwd.outShape);
    y.backward(dy);
    expectClose(await y.toArray(), fwd.y, TOL.elementwise, 'y');
    expect(Array.from(argmax)).toEqual(Array.from(fwd.argmax));
    expectClose(await x.grad!.toArray(), maxPool2dBackwardRef(dyv, fwd, s), TOL.elementwise, 'dx');
    for (const t of [x, y, dy]) t.dispose();
    expect(rt.poolStats().liveBuffers, 'GPU buffers leaked').toBe(live0);
  }

  it.each(MAXPOOL_CASES)('gradient check: maxPool2d %s', async (_what, s, k) => {
    await check(s, k, 21);
  });

  it('gradient check: maxPool2d ties (constant input) go to the first element, deterministically', async () => {
    const s: Nchw = [1, 2, 7, 7];
    const k = win(3, 2, 1);
    const fwd = maxPool2dRef(new Float64Array(numel(s)).fill(0.25), s, k);
    const dyv = randomArray(fwd.y.length, 5);
    const expectedDx = maxPool2dBackwardRef(dyv, fwd, s);
    const runs: Float32Array[] = [];
    for (let run = 0; run < 2; run++) {
      const x = tensor(rt, new Float64Array(numel(s)).fill(0.25), s).requireGrad();
      const y = maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 });
      const argmax = await y.node!.saved[0].toInt32Array();
      expect(Array.from(argmax)).toEqual(Array.from(fwd.argmax));
      // The first cell of each window: row-major, padding skipped.
      expect(Array.from(argmax.subarray(0, 4))).toEqual([0, 1, 3, 5]);
      const dy = tensor(rt, dyv, fwd.outShape);
      y.backward(dy);
      runs.push(await x.grad!.toArray());
      expectClose(runs[run], expectedDx, TOL.elementwise, 'dx');
      for (const t of [x, y, dy]) t.dispose();
    }
    expect(Array.from(runs[1])).toEqual(Array.from(runs[0]));
  });

  it('rejects padding above half the kernel and a window larger than the input', () => {
    const x = tensor(rt, new Float64Array(9), [1, 1, 3, 3]);
    expect(() => maxPool2d(x, { kernelSize: 3, stride: 1, padding: 2 })).toThrowError(/padding/);
    expect(() => maxPool2d(x, { kernelSize: 5, stride: 1 })).toThrowError(/smaller than the window/);
    x.dispose();
  });
});

describe('pooling with more planes than one grid dimension holds', () => {
  it('gradient check: maxPool2d and adaptiveAvgPool2d loop over planes beyond the z-grid limit', async () => {
    const s: Nchw = [1, rt.limits.maxComputeWorkgroupsPerDimension + 3, 3, 2];
    const xv = distinctArray(numel(s), 41);
    const k = win(3, 2, 1);
    const fwd = maxPool2dRef(xv, s, k);
    const x = tensor(rt, xv, s).requireGrad();
    const y = maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 });
    const dyv = randomArray(fwd.y.length, 42);
    const dy = tensor(rt, dyv, fwd.outShape);
    y.backward(dy);
    expectClose(await y.toArray(), fwd.y, TOL.elementwise, 'maxpool y');
    expectClose(await x.grad!.toArray(), maxPool2dBackwardRef(dyv, fwd, s), TOL.elementwise, 'maxpool dx');
    x.zeroGrad();
    const a = adaptiveAvgPool2d(x, 1);
    const da = tensor(rt, dyv.subarray(0, s[1]), a.shape);
    a.backward(da);
    expectClose(await a.toArray(), adaptiveAvgPool2dRef(xv, s, 1, 1), TOL.reduction, 'avgpool y');
    expectClose(await x.grad!.toArray(), adaptiveAvgPool2dBackwardRef(dyv.subarray(0, s[1]), s, 1, 1), TOL.reduction, 'avgpool dx');
    x.zeroGrad();
    const b = adaptiveAvgPool2d(x, [2, 1]);
    const dbv = randomArray(s[1] * 2, 43);
    const db = tensor(rt, dbv, b.shape);
    b.backward(db);
    expectClose(await b.toArray(), adaptiveAvgPool2dRef(xv, s, 2, 1), TOL.reduction, 'avgpool 2x1 y');
    expectClose(await x.grad!.toArray(), adaptiveAvgPool2dBackwardRef(dbv, s, 2, 1), TOL.reduction, 'avgpool 2x1 dx');
    for (const t of [x, y, dy, a, da, b, db]) t.dispose();
  });
});

describe('adaptiveAvgPool2d on the GPU vs the reference', () => {
  it.each(AVGPOOL_CASES)('gradient check: adaptiveAvgPool2d %s', async (_what, s, size) => {
    const live0 = rt.poolStats().liveBuffers;
    const [oh, ow] = typeof size === 'number' ? [size, size] : size;
    const xv = randomArray(numel(s), 31);
    const dyv = randomArray(s[0] * s[1] * oh * ow, 32);
    const x = tensor(rt, xv, s).requireGrad();
    const y = adaptiveAvgPool2d(x, size);
    expect(y.shape).toEqual([s[0], s[1], oh, ow]);
    const dy = tensor(rt, dyv, y.shape);
    y.backward(dy);
    expectClose(await y.toArray(), adaptiveAvgPool2dRef(xv, s, oh, ow), TOL.reduction, 'y');
    expectClose(await x.grad!.toArray(), adaptiveAvgPool2dBackwardRef(dyv, s, oh, ow), TOL.reduction, 'dx');
    for (const t of [x, y, dy]) t.dispose();
    expect(rt.poolStats().liveBuffers, 'GPU buffers leaked').toBe(live0);
  });
});
