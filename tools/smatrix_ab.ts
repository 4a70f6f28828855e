/**
 * The subgroup-matrix GEMM (kernels/matmul/smatrix.ts) against the other kernels on products of float16 values,
 * on an adapter that offers it: each shape's kernels in turn, round-robin, each time a product and a sync; prints
 * the medians after warm-up. Build and run (docs/benchmarks.md; in the sid root of scripts/setup.sh --test-tools
 * with WEBGPU_DAWN_FEATURES=allow_unsafe_apis for lavapipe's subgroup matrices):
 *   npx esbuild tools/smatrix_ab.ts --bundle --platform=node --format=esm --loader:.wgsl=text --external:webgpu \
 *     --external:sharp --outfile=dist/smatrix_ab.mjs && node dist/smatrix_ab.mjs [rounds]
 */
import { initGpu } from '../src/gpu/init';
import { type MatmulVariant, hasSmatrix, hasSubgroupMatmul, matmul, smatrixConfig, tiledNames } from '../src/kernels/matmul';

const rounds = Number(process.argv[2] ?? '7');
const rt = await initGpu();
if (!hasSmatrix(rt)) throw new Error(`${rt.adapter.name}: no subgroup-matrix configuration with float16 inputs (WEBGPU_DAWN_FEATURES=allow_unsafe_apis?)`);
const cfg = smatrixConfig(rt)!;
const variants: MatmulVariant[] = ['smatrix', ...(hasSubgroupMatmul(rt) ? ['subgroup' as const] : []), 'vec4', tiledNames(rt)[2] ?? 'portable'];
console.log(`adapter ${rt.adapter.name} (${rt.adapter.description}); configuration ${cfg.M}x${cfg.N}x${cfg.K}; ${rounds} rounds, medians`);
for (const [M, N, K] of [[256, 256, 256], [512, 512, 512], [64, 3136, 576]] as const) {
  // Small integers: float16 values whatever the kernel.
  const fill = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i * 7) % 13) - 6);
  const [A, B, C] = [rt.upload(fill(M * K)), rt.upload(fill(K * N)), rt.alloc(M * N * 4)];
  const times = new Map<MatmulVariant, number[]>(variants.map((v) => [v, []]));
  const run = async (v: MatmulVariant) => {
    const t = performance.now();
    matmul(rt, A, B, C, M, N, K, { variant: v, halfInputs: true });
    await rt.sync();
    return performance.now() - t;
  };
  for (const v of variants) await run(v); // compile and warm up
  for (let r = 0; r < rounds; r++) for (const v of variants) times.get(v)!.push(await run(v));
  const med = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
  const flops = 2 * M * N * K;
  console.log(`${M}x${N}x${K}: ` + variants.map((v) => `${v} ${med(times.get(v)!).toFixed(1)} ms (${(flops / med(times.get(v)!) / 1e6).toFixed(2)} GFLOP/s)`).join(', '));
  for (const b of [A, B, C]) rt.release(b);
}
process.exit(0);
