import { it } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { Tensor } from '../src/autograd/tensor';
import { resnet34 } from '../src/nn/resnet';
import { SGD } from '../src/train/sgd';
import { GradScaler } from '../src/train/grad_scaler';
import { trainStep } from '../src/train/trainer';
import type { DispatchSpec } from '../src/gpu/runtime';

it('peak', async () => {
  const rt = await testRuntime(); rt.poison = false;
  const m = resnet34({ numClasses: 37, dropout: 0.5 }); m.train();
  const opt = new SGD(m.parameters(), { lr: 0.001, momentum: 0.9 });
  const scaler = new GradScaler();
  const x = Tensor.rand([32, 3, 224, 224], 1);
  const y = Tensor.fromArray(Int32Array.from({ length: 32 }, (_, i) => i % 37), [32], 'i32');
  for (let step = 0; step < 2; step++) {
    const orig = rt.dispatch.bind(rt);
    let peak = 0; let at = ''; const hist: [number, string][] = [];
    rt.dispatch = (spec: DispatchSpec) => { orig(spec); const live = rt.poolStats().liveBytes; hist.push([live, spec.op]); if (live > peak) { peak = live; at = spec.op; } };
    const { loss, logits, stepped } = trainStep(m, opt, x, y, 0, 0, { autocast: true, scaler });
    await stepped; rt.dispatch = orig;
    console.log(`step ${step}: peak ${(peak / 2 ** 20).toFixed(0)} MiB at ${at}`);
    const top = hist.map((h, i) => [h[0], i, h[1]] as const).sort((a, b) => b[0] - a[0]).slice(0, 8);
    for (const t of top) console.log(`  ${(t[0] / 2 ** 20).toFixed(0)} MiB #${t[1]} ${t[2]}`);
    loss.dispose(); logits.dispose();
  }
}, 600000);
