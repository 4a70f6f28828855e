/**
 * A small end-to-end computation that proves the GPU path works: random tensors generated on the GPU,
 * elementwise ops, a reduction and a backward pass, checked against the same arithmetic on the CPU.
 */
import { Tensor } from './autograd/tensor';
import { tidy } from './autograd/scope';
import { add, mul, sum } from './autograd/ops/basic';
import type { GpuRuntime } from './gpu/runtime';

export interface SmokeResult {
  adapter: string;
  n: number;
  gpuSum: number;
  cpuSum: number;
  relError: number;
  gradOk: boolean;
  ms: number;
  ok: boolean;
}

/** y = Σ (a + b) · a on n random values; dy/da = 2a + b. Both checked against float64 on the CPU. */
export async function smokeTest(rt: GpuRuntime, n = 100_003): Promise<SmokeResult> {
  const t0 = performance.now();
  const a = Tensor.rand([n], 1, -1, 1, rt).requireGrad();
  const b = Tensor.randn([n], 2, 0, 1, rt);
  const y = tidy(() => {
    const y = sum(mul(add(a, b), a));
    y.backward();
    return y;
  });
  const [av, bv, yv, gv] = await Promise.all([a.toArray(), b.toArray(), y.item(), a.grad!.toArray()]);
  let cpu = 0;
  let gradErr = 0;
  for (let i = 0; i < n; i++) {
    cpu += (av[i] + bv[i]) * av[i];
    gradErr = Math.max(gradErr, Math.abs(gv[i] - (2 * av[i] + bv[i])));
  }
  for (const t of [a, b, y]) t.dispose();
  const relError = Math.abs(yv - cpu) / Math.max(1, Math.abs(cpu));
  const gradOk = gradErr < 1e-5;
  return { adapter: rt.adapter.name, n, gpuSum: yv, cpuSum: cpu, relError, gradOk, ms: performance.now() - t0, ok: relError < 1e-4 && gradOk };
}
