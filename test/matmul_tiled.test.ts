import { describe, it, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, randomArray } from './helpers/numeric';
import { matmulRef, transposeRef } from '../src/reference/matmul';
import type { GpuRuntime } from '../src/gpu/runtime';
import { matmul, tiledNames } from '../src/kernels/matmul';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});
let seed = 1;
const fresh = (n: number) => randomArray(n, seed++);

describe('smoke', () => {
  it('runs', async () => {
    console.log(tiledNames(rt), rt.limits);
    for (const variant of tiledNames(rt)) {
      for (const [M, N, K] of [[1, 1, 1], [7, 13, 5], [33, 65, 17], [129, 63, 200]]) {
        const a = fresh(M * K), b = fresh(K * N);
        const A = rt.upload(Float32Array.from(a)), B = rt.upload(Float32Array.from(b));
        const C = rt.alloc(M * N * 4);
        const t0 = performance.now();
        matmul(rt, A, B, C, M, N, K, { variant });
        const out = new Float32Array(await rt.read(C, M * N * 4));
        console.log(variant, M, N, K, (performance.now() - t0).toFixed(0), 'ms');
        expectClose(out, matmulRef(a, b, M, K, N), TOL.reduction, `${variant} ${M}x${N}x${K}`);
        for (const x of [A, B, C]) rt.release(x);
      }
    }
  });
});
