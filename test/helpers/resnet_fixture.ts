/**
 * tools/make_resnet_fixture.py's fixture (a seeded torchvision resnet34 with the recipe's head, its inputs,
 * labels, dropout mask and PyTorch's results), loaded into our model; shared by the PyTorch parity tests.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { torchFixture } from './torch';
import type { GpuRuntime } from '../../src/gpu/runtime';
import { Tensor } from '../../src/autograd/tensor';
import { tidy } from '../../src/autograd/scope';
import { resnet34, type ResNet } from '../../src/nn/resnet';
import { loadStateDict } from '../../src/nn/state';
import { readPth } from '../../src/nn/weights/pth';
import { readSafetensors } from '../../src/nn/weights/safetensors';
import type { NamedTensor } from '../../src/nn/weights/types';
import { Sequential } from '../../src/nn/layers';
import { crossEntropy } from '../../src/autograd/ops/loss';
import { dropoutWithMask } from '../../src/autograd/ops/dropout';
import { ScalarState } from '../../src/nn/module';
import { expectClose, relError } from './numeric';

export interface ResnetFixture {
  fx: Map<string, NamedTensor>;
  model: ResNet;
  input: Tensor;
  labels: Tensor;
  n: number;
  dispose(): void;
}

/** The fixture for a batch of `n` images of `size` px (made on first use), and the model loaded from its .pth. */
export function openResnetFixture(rt: GpuRuntime, n: number, size: number): ResnetFixture {
  const dir = torchFixture('resnet34', 'tools/make_resnet_fixture.py', ['--batch', String(n), '--size', String(size)]);
  const fx = readSafetensors(new Uint8Array(readFileSync(join(dir, 'fixture.safetensors'))), 'fixture.safetensors');
  const weights = readPth(new Uint8Array(readFileSync(join(dir, 'model.pth'))), 'model.pth');
  const model = resnet34({ numClasses: 37, dropout: 0.5, seed: 123 });
  const report = loadStateDict(model, weights, { source: 'model.pth' });
  expect(report.loaded.length).toBe(weights.size);
  const input = Tensor.fromArray(fx.get('input')!.data as Float32Array, [n, 3, size, size], 'f32', rt);
  const labels = Tensor.fromArray(Int32Array.from(fx.get('labels')!.data as BigInt64Array, Number), [n], 'i32', rt);
  return {
    fx,
    model,
    input,
    labels,
    n,
    dispose() {
      model.dispose();
      input.dispose();
      labels.dispose();
    },
  };
}

/** One train-mode forward (with PyTorch's dropout mask) and backward: logits, loss and every parameter's gradient. */
export async function fixtureTrainStep(f: ResnetFixture, rt: GpuRuntime): Promise<{ logits: Float32Array; loss: Float32Array; grads: Map<string, Float32Array> }> {
  const { model, input, labels, fx } = f;
  model.train();
  const mask = Tensor.fromArray(fx.get('dropout_mask')!.data as Float32Array, [f.n, 512], 'f32', rt);
  const fc = model.fc as Sequential;
  const out = tidy(() => {
    // The model's own forward up to the features, then PyTorch's dropout mask, then fc.1.
    let h = model.maxpool.forward(model.bn1.forwardRelu(model.conv1.forward(input)));
    for (const layer of model.layers) h = layer.forward(h);
    const feats = model.flatten.forward(model.avgpool.forward(h));
    const logits = fc.layers[1].forward(dropoutWithMask(feats, mask, 0.5));
    const loss = crossEntropy(logits, labels);
    loss.backward();
    return { logits, loss };
  });
  const grads = new Map<string, Float32Array>();
  for (const [name, p] of model.namedParameters()) if (p.grad) grads.set(name, (await p.grad.toArray()) as Float32Array);
  const result = { logits: (await out.logits.toArray()) as Float32Array, loss: (await out.loss.toArray()) as Float32Array, grads };
  for (const t of [mask, out.logits, out.loss]) t.dispose();
  model.zeroGrad();
  return result;
}

/** expectClose that first prints the measured relative error, after `label` (the issue notes quote these numbers). */
export function printedClose(label: string): (actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string) => void {
  return (actual, expected, tol, what) => {
    console.log(`${label} ${what}: relative L2 error ${relError(actual, expected).toExponential(2)} (tolerance ${tol})`);
    expectClose(actual, expected, tol, what);
  };
}

/** The model's BatchNorm running statistics and batch counts after a train step, against PyTorch's (`after.*`). */
export async function expectStatsMatch(f: ResnetFixture, tol: number, close: ReturnType<typeof printedClose>): Promise<void> {
  const state = f.model.stateDict();
  for (const [k, v] of f.fx) {
    if (!k.startsWith('after.')) continue;
    const s = state.get(k.slice(6))!;
    if (s instanceof ScalarState) expect(s.value, k).toBe(Number((v.data as BigInt64Array)[0]));
    else close(await (s as Tensor).toArray(), v.data as Float32Array, tol, k);
  }
}
