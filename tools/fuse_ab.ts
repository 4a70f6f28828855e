/**
 * ResNet-34 evaluation forwards (eval mode, no grad), A against B, interleaved in one process (the order
 * alternating each round), so that a machine whose speed drifts slows both alike. Prints both series, their
 * medians, the per-round ratios and the dispatches of each, then the GPU time of 3 forwards each by timestamps.
 * Modes (the 4th argument):
 *   fuse     the convolution + batch norm fusion off (A) and on (B) (KernelConfig.fuseConvBatchNorm);
 *   derived  a forward outside (A) and inside (B) an evaluation's derived-buffer scope (GpuRuntime.derived: the
 *            transformed filters and folded batch norms kept); each B round opens a scope, runs one untimed
 *            forward that makes them, then the timed one, as the second and later batches of an evaluation;
 *   evalfuse the fusion off (A) and on (B), each timed forward inside a scope after an untimed one, as an
 *            evaluation loop runs them (the fused forward keeps its folded batch norms, the unfused one nothing).
 * Build and run (docs/benchmarks.md):
 *   npx esbuild tools/fuse_ab.ts --bundle --platform=node --format=esm --loader:.wgsl=text --external:webgpu \
 *     --external:sharp --outfile=dist/fuse_ab.mjs && node dist/fuse_ab.mjs [rounds] [batch] [size] [fuse|derived|evalfuse]
 */
import { initGpu } from '../src/gpu/init';
import { resnet } from '../src/nn/resnet';
import { Tensor } from '../src/autograd/tensor';
import { noGrad } from '../src/autograd/scope';
import { setKernelConfig } from '../src/kernels/config';

const [rounds = '8', batch = '8', size = '224', mode = 'fuse'] = process.argv.slice(2);
if (mode !== 'fuse' && mode !== 'derived' && mode !== 'evalfuse') throw new Error(`mode ${mode}: fuse, derived or evalfuse`);
const [nameA, nameB] = mode === 'derived' ? ['made per batch', 'kept'] : ['unfused', 'fused'];
const rt = await initGpu();
const model = resnet('resnet34', { numClasses: 37, dropout: 0.5, seed: 0 });
const B = Number(batch), S = Number(size);
const x = Tensor.randn([B, 3, S, S], 1, 0, 1, rt);
model.eval();
const dispatches = { fused: 0, unfused: 0 };
/** One timed forward: `fused` is B (see the header). */
const timed = async (fused: boolean) => {
  let n = 0;
  rt.dispatchLog = () => n++;
  const t = performance.now();
  const y = noGrad(() => model.forward(x));
  await rt.sync();
  const ms = performance.now() - t;
  rt.dispatchLog = null;
  y.dispose();
  dispatches[fused ? 'fused' : 'unfused'] = n;
  return ms;
};
const forward = async (fused: boolean) => {
  if (mode === 'derived') {
    if (!fused) return timed(false);
    return rt.derived.scope(async () => {
      noGrad(() => model.forward(x)).dispose();
      await rt.sync();
      return timed(true);
    });
  }
  const restore = setKernelConfig(rt, { fuseConvBatchNorm: fused });
  try {
    if (mode === 'evalfuse') {
      return await rt.derived.scope(async () => {
        noGrad(() => model.forward(x)).dispose();
        await rt.sync();
        return timed(fused);
      });
    }
    return await timed(fused);
  } finally {
    restore();
  }
};
for (let i = 0; i < 2; i++) { await forward(false); await forward(true); }
const u: number[] = [], f: number[] = [];
for (let r = 0; r < Number(rounds); r++) {
  if (r % 2 === 0) { u.push(await forward(false)); f.push(await forward(true)); }
  else { f.push(await forward(true)); u.push(await forward(false)); }
}
const med = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
const ratios = u.map((v, i) => f[i] / v);
console.log(`adapter ${rt.adapter.name}; ${rounds} rounds, ResNet-34 eval forward, batch ${B} ${S}px, mode ${mode}`);
console.log(`${nameA} ms: ${u.map((v) => v.toFixed(0)).join(' ')} (median ${med(u).toFixed(0)}; ${dispatches.unfused} dispatches)`);
console.log(`${nameB} ms: ${f.map((v) => v.toFixed(0)).join(' ')} (median ${med(f).toFixed(0)}; ${dispatches.fused} dispatches)`);
console.log(`${nameB}/${nameA} per round: ${ratios.map((v) => v.toFixed(3)).join(' ')} (median ${med(ratios).toFixed(3)})`);
// GPU time by timestamps (where offered): the sum over the forward's dispatches, alternating, 3 each.
if (rt.features.has('timestamp-query')) {
  const gpu = { fused: [] as number[], unfused: [] as number[] };
  for (let r = 0; r < 6; r++) {
    const fused = r % 2 === 1;
    const run = async () => {
      rt.profile = new Map();
      await timed(fused);
      gpu[fused ? 'fused' : 'unfused'].push([...rt.profile.values()].reduce((s, v) => s + v.ms, 0));
      rt.profile = null;
    };
    if (mode === 'derived' && fused) {
      await rt.derived.scope(async () => {
        noGrad(() => model.forward(x)).dispose();
        await rt.sync();
        await run();
      });
    } else {
      const restore = mode === 'fuse' ? setKernelConfig(rt, { fuseConvBatchNorm: fused }) : () => undefined;
      await run();
      restore();
    }
  }
  console.log(`GPU time (timestamps) ${nameA} ms: ${gpu.unfused.map((v) => v.toFixed(0)).join(' ')}; ${nameB} ms: ${gpu.fused.map((v) => v.toFixed(0)).join(' ')}`);
}
process.exit(0);
