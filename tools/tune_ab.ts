/**
 * ResNet-34 training steps with the heuristic kernel choices and with a tuned table (a tune cache file written by
 * `bench --tune-only`), interleaved in one process (the order alternating each round), so that a machine whose speed
 * drifts slows both alike. Prints both series, their medians and the per-round ratios. Build and run
 * (docs/benchmarks.md):
 *   npx esbuild tools/tune_ab.ts --bundle --platform=node --format=esm --loader:.wgsl=text --external:webgpu \
 *     --external:sharp --outfile=dist/tune_ab.mjs && node dist/tune_ab.mjs TUNE_CACHE [rounds] [batch] [size]
 */
import { readFileSync } from 'node:fs';
import { initGpu } from '../src/gpu/init';
import { resnet } from '../src/nn/resnet';
import { SGD } from '../src/train/sgd';
import { Tensor } from '../src/autograd/tensor';
import { trainStep } from '../src/train/trainer';
import { readTuneCache, useTuneTable } from '../src/kernels/tune';
import { setKernelChooser } from '../src/kernels/config';

const [file, rounds = '8', batch = '8', size = '224'] = process.argv.slice(2);
const rt = await initGpu();
const loaded = readTuneCache(readFileSync(file, 'utf8'), rt, file);
if (loaded.warning) throw new Error(loaded.warning);
const model = resnet('resnet34', { numClasses: 37, dropout: 0.5, seed: 0 });
const opt = new SGD(model.parameters(), { lr: 0.001, momentum: 0.9 });
const B = Number(batch), S = Number(size);
const x = Tensor.randn([B, 3, S, S], 1, 0, 1, rt);
const y = Tensor.fromArray(Int32Array.from({ length: B }, (_, i) => i % 37), [B], 'i32', rt);
model.train();
const step = async (tuned: boolean) => {
  if (tuned) useTuneTable(rt, loaded.table); else setKernelChooser(rt, null);
  const t = performance.now();
  const out = trainStep(model, opt, x, y, 0, 0);
  out.loss.dispose(); out.logits.dispose();
  await rt.sync();
  return performance.now() - t;
};
for (let i = 0; i < 2; i++) { await step(false); await step(true); }
const h: number[] = [], u: number[] = [];
for (let r = 0; r < Number(rounds); r++) {
  if (r % 2 === 0) { h.push(await step(false)); u.push(await step(true)); }
  else { u.push(await step(true)); h.push(await step(false)); }
}
const med = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
const ratios = h.map((v, i) => u[i] / v);
console.log(`adapter ${rt.adapter.name}; ${rounds} rounds, ResNet-34 batch ${B} ${S}px`);
console.log(`heuristic ms: ${h.map((v) => v.toFixed(0)).join(' ')} (median ${med(h).toFixed(0)})`);
console.log(`tuned ms:     ${u.map((v) => v.toFixed(0)).join(' ')} (median ${med(u).toFixed(0)})`);
console.log(`tuned/heuristic per round: ${ratios.map((v) => v.toFixed(3)).join(' ')} (median ${med(ratios).toFixed(3)})`);
process.exit(0);
