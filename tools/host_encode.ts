/**
 * The host's time to encode a ResNet-34 training step (forward, backward, SGD update), alone: every dispatch of a
 * step waits for one submit at its end (maxDispatchesPerSubmit above the step's count), so no GPU work runs on the
 * same cores while the host encodes, and each step ends with the loss's readback. Prints the dispatches per step
 * and the encode times after 5 untimed steps (minimum, median, mean).
 * Build and run (docs/benchmarks.md):
 *   npx esbuild tools/host_encode.ts --bundle --platform=node --format=esm --loader:.wgsl=text --external:webgpu \
 *     --external:sharp --outfile=dist/host_encode.mjs && node dist/host_encode.mjs [steps] [batch] [size]
 */
import { initGpu } from '../src/gpu/init';
import { resnet } from '../src/nn/resnet';
import { Tensor } from '../src/autograd/tensor';
import { SGD } from '../src/train/sgd';
import { trainStep } from '../src/train/trainer';

const [steps = '50', batch = '2', size = '32'] = process.argv.slice(2);
const rt = await initGpu({ maxDispatchesPerSubmit: 1 << 20 });
const model = resnet('resnet34', { numClasses: 37, seed: 0 });
const opt = new SGD(model.parameters(), { lr: 0.001, momentum: 0.9 });
const B = Number(batch), S = Number(size);
const xs = Float32Array.from({ length: B * 3 * S * S }, (_, i) => Math.sin(i));
const ys = Int32Array.from({ length: B }, (_, i) => i % 37);
const times: number[] = [];
let dispatches = 0;
rt.dispatchLog = () => dispatches++;
for (let s = 0; s < Number(steps) + 5; s++) {
  const x = Tensor.fromArray(xs, [B, 3, S, S], 'f32', rt);
  const y = Tensor.fromArray(ys, [B], 'i32', rt);
  dispatches = 0;
  const t = performance.now();
  const { loss, logits } = trainStep(model, opt, x, y);
  if (s >= 5) times.push(performance.now() - t);
  await loss.toArray();
  for (const v of [x, y, loss, logits]) v.dispose();
}
times.sort((a, b) => a - b);
const mean = times.reduce((a, b) => a + b, 0) / times.length;
console.log(`adapter ${rt.adapter.name}; ResNet-34 train step, batch ${B}, ${S} px: ${dispatches} dispatches`);
console.log(`encode ms over ${times.length} steps: min ${times[0].toFixed(1)}, median ${times[Math.floor(times.length / 2)].toFixed(1)}, mean ${mean.toFixed(1)}`);
opt.dispose();
model.dispose();
process.exit(0);
