/**
 * GFLOP/s of every matmul kernel the adapter runs (the tiled configurations included) at a few shapes, as the
 * median of rounds that alternate the kernels (so that a machine shared with other work slows them alike).
 * Build and run (docs/benchmarks.md):
 *   npx esbuild tools/matmul_kernels.ts --bundle --platform=node --format=esm --loader:.wgsl=text \
 *     --external:webgpu --outfile=dist/matmul_kernels.mjs && node dist/matmul_kernels.mjs [rounds]
 */
import { initGpu } from '../src/gpu/init';
import { type MatmulVariant, hasSubgroupMatmul, matmul, tiledNames } from '../src/kernels/matmul';

const rt = await initGpu();
console.log(`adapter: ${rt.adapter.name} (${rt.adapter.description})`);
const big = !rt.isSoftware;
const shapes: [string, number, number, number][] = [
  ['square 256', 256, 256, 256],
  ['square 512', 512, 512, 512],
  ['square 1024', 1024, 1024, 1024],
  ...(big ? [['square 4096', 4096, 4096, 4096] as [string, number, number, number]] : []),
  ['layer1 GEMM (1 image)', 64, 3136, 576],
  ['layer4 GEMM (8 images)', 512, 392, 4608],
];
const variants: MatmulVariant[] = [...(hasSubgroupMatmul(rt) ? ['subgroup' as const] : []), 'vec4', ...tiledNames(rt)];
const rounds = Number(process.argv[2] ?? 5);
const times = new Map<string, number[]>();
const bufs = shapes.map(([, m, n, k]) => [rt.alloc(m * k * 4), rt.alloc(k * n * 4), rt.alloc(m * n * 4)]);
for (const b of bufs) for (const x of b) rt.clear(x, 0, x.size, 'zero');
const run = (i: number, v: MatmulVariant) => matmul(rt, bufs[i][0], bufs[i][1], bufs[i][2], shapes[i][1], shapes[i][2], shapes[i][3], { variant: v });
// Warm-up: every pipeline compiled, every scratch buffer pooled.
for (let i = 0; i < shapes.length; i++) for (const v of variants) run(i, v);
await rt.sync();
for (let r = 0; r < rounds; r++) {
  for (const [i, [name, m, n, k]] of shapes.entries()) {
    for (const v of r % 2 ? [...variants].reverse() : variants) {
      const reps = Math.max(1, Math.min(20, Math.round(2 ** 27 / (m * n * k))));
      const t0 = performance.now();
      for (let q = 0; q < reps; q++) run(i, v);
      await rt.sync();
      const key = `${name}|${v}`;
      times.set(key, [...(times.get(key) ?? []), (performance.now() - t0) / reps]);
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`GFLOP/s (ms), medians of ${rounds} alternating rounds`);
console.log(`| shape | M×N×K | ${variants.join(' | ')} |`);
console.log(`|---|---|${variants.map(() => '---').join('|')}|`);
for (const [name, m, n, k] of shapes) {
  const cells = variants.map((v) => {
    const ms = median(times.get(`${name}|${v}`)!);
    return `${((2 * m * n * k) / (ms * 1e6)).toFixed(1)} (${ms.toFixed(1)})`;
  });
  console.log(`| ${name} | ${m}×${n}×${k} | ${cells.join(' | ')} |`);
}
process.exit(0);
