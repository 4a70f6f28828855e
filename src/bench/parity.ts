/**
 * ResNet-34 against PyTorch on the adapter at hand: the fixture of tools/make_resnet_fixture.py (a seeded
 * torchvision resnet34 with the recipe's head, its input batch, labels and dropout mask, and PyTorch's results:
 * eval logits, train logits and loss, float64 gradients of chosen parameters, and the batch norms' running
 * statistics after the train-mode forward) is loaded into our model, which must reproduce it within the
 * whole-model tolerances of test/resnet_parity.test.ts. `bench --parity DIR` runs it (scripts/bench-gpu.sh does on
 * a GPU, so that the timed step is known to compute the right numbers there); the parity tests use the loader
 * and the step.
 */
import type { GpuRuntime } from '../gpu/runtime';
import { Tensor } from '../autograd/tensor';
import { tidy, noGrad } from '../autograd/scope';
import { crossEntropy } from '../autograd/ops/loss';
import { dropoutWithMask } from '../autograd/ops/dropout';
import { resnet34, type ResNet } from '../nn/resnet';
import { loadStateDict } from '../nn/state';
import { readPth } from '../nn/weights/pth';
import { readSafetensors } from '../nn/weights/safetensors';
import type { NamedTensor } from '../nn/weights/types';
import type { Sequential } from '../nn/layers';
import { ScalarState } from '../nn/module';
import { relError } from '../reference/math';

/** A fixture that cannot be used (unreadable, not make_resnet_fixture.py's, or not a resnet34's): the message says which file. */
export class ParityFixtureError extends Error {
  override name = 'ParityFixtureError';
}

/** Relative L2 tolerances: logits and loss, running statistics, gradients (against float64). */
export const PARITY_TOLERANCES = { model: 1e-4, stats: 1e-5, grad: 1e-3 } as const;

export interface ResnetFixture {
  fx: Map<string, NamedTensor>;
  model: ResNet;
  input: Tensor;
  labels: Tensor;
  /** Images in the batch, and their side in pixels. */
  n: number;
  size: number;
  /** The weights' tensors loaded into the model, and the .pth's. */
  loaded: number;
  inPth: number;
  dispose(): void;
}

/** The fixture's files (fixture.safetensors and model.pth, named in errors by `source`) loaded into a resnet34. */
export function openResnetFixture(rt: GpuRuntime, fixture: Uint8Array, pth: Uint8Array, source: string): ResnetFixture {
  const fixtureError = (e: unknown) => new ParityFixtureError((e as Error).message);
  let fx: Map<string, NamedTensor>;
  let weights: Map<string, NamedTensor>;
  try {
    fx = readSafetensors(fixture, `${source}/fixture.safetensors`);
    weights = readPth(pth, `${source}/model.pth`);
  } catch (e) {
    throw fixtureError(e);
  }
  const inputs = fx.get('input');
  const need = ['eval_logits', 'train_logits', 'train_loss', 'labels', 'dropout_mask'];
  if (!inputs || inputs.shape.length !== 4 || inputs.shape[1] !== 3 || inputs.shape[2] !== inputs.shape[3] || need.some((k) => !fx.has(k))) {
    throw new ParityFixtureError(`${source}/fixture.safetensors is not a fixture of tools/make_resnet_fixture.py (it needs input [N,3,S,S], ${need.join(', ')})`);
  }
  const [n, , size] = inputs.shape;
  const classes = fx.get('eval_logits')!.shape[1];
  const model = resnet34({ numClasses: classes, dropout: 0.5, seed: 123 });
  let report: ReturnType<typeof loadStateDict>;
  try {
    report = loadStateDict(model, weights, { source: `${source}/model.pth` });
  } catch (e) {
    model.dispose();
    throw fixtureError(e);
  }
  const input = Tensor.fromArray(inputs.data as Float32Array, [n, 3, size, size], 'f32', rt);
  const labels = Tensor.fromArray(Int32Array.from(fx.get('labels')!.data as BigInt64Array, Number), [n], 'i32', rt);
  return {
    fx,
    model,
    input,
    labels,
    n,
    size,
    loaded: report.loaded.length,
    inPth: weights.size,
    dispose() {
      model.dispose();
      input.dispose();
      labels.dispose();
    },
  };
}

/** The eval-mode logits of the fixture's batch. */
export async function fixtureEvalLogits(f: ResnetFixture): Promise<Float32Array> {
  f.model.eval();
  const logits = noGrad(() => f.model.forward(f.input));
  const out = (await logits.toArray()) as Float32Array;
  logits.dispose();
  return out;
}

/** One train-mode forward (with PyTorch's dropout mask) and backward: logits, loss and every parameter's gradient. */
export async function fixtureTrainStep(f: ResnetFixture, rt: GpuRuntime): Promise<{ logits: Float32Array; loss: Float32Array; grads: Map<string, Float32Array> }> {
  const { model, input, labels, fx } = f;
  model.train();
  const mask = Tensor.fromArray(fx.get('dropout_mask')!.data as Float32Array, fx.get('dropout_mask')!.shape, 'f32', rt);
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

/** The model's BatchNorm running statistics (tensors) and batch counts (numbers), by the fixture's `after.<key>`. */
export async function fixtureStats(f: ResnetFixture): Promise<{ key: string; got: Float32Array | number; want: NamedTensor }[]> {
  const state = f.model.stateDict();
  const out: { key: string; got: Float32Array | number; want: NamedTensor }[] = [];
  for (const [k, v] of f.fx) {
    if (!k.startsWith('after.')) continue;
    const s = state.get(k.slice(6));
    if (s === undefined) throw new ParityFixtureError(`the fixture's ${k} names no state of resnet34`);
    out.push({ key: k, got: s instanceof ScalarState ? s.value : ((await (s as Tensor).toArray()) as Float32Array), want: v });
  }
  return out;
}

export interface ParityRow {
  what: string;
  error: number;
  tolerance: number;
  pass: boolean;
}

export interface ParityResult {
  batch: number;
  size: number;
  rows: ParityRow[];
  pass: boolean;
}

/**
 * The whole check: eval logits, train logits and loss, the fixture's gradients (against PyTorch's float64 ones)
 * and running statistics, each as a relative L2 error against its tolerance (a batch count: 0 or 1).
 */
export async function resnetParity(rt: GpuRuntime, fixture: Uint8Array, pth: Uint8Array, source: string): Promise<ParityResult> {
  const f = openResnetFixture(rt, fixture, pth, source);
  try {
    if (f.loaded !== f.inPth) throw new ParityFixtureError(`${source}/model.pth: ${f.loaded} of its ${f.inPth} tensors loaded into resnet34`);
    const rows: ParityRow[] = [];
    const add = (what: string, got: ArrayLike<number>, want: ArrayLike<number>, tolerance: number) => {
      const error = relError(got, want);
      rows.push({ what, error, tolerance, pass: error <= tolerance });
    };
    const want = (k: string) => f.fx.get(k)!.data as Float32Array;
    add('eval logits', await fixtureEvalLogits(f), want('eval_logits'), PARITY_TOLERANCES.model);
    const step = await fixtureTrainStep(f, rt);
    add('train logits', step.logits, want('train_logits'), PARITY_TOLERANCES.model);
    add('loss', step.loss, want('train_loss'), PARITY_TOLERANCES.model);
    for (const k of f.fx.keys()) {
      if (!k.startsWith('grad.')) continue;
      const got = step.grads.get(k.slice(5));
      if (!got) throw new ParityFixtureError(`${source}/fixture.safetensors: its ${k} names no parameter of resnet34 with a gradient`);
      add(`${k} (vs float64)`, got, want(k), PARITY_TOLERANCES.grad);
    }
    for (const s of await fixtureStats(f)) {
      if (typeof s.got === 'number') {
        const count = Number((s.want.data as BigInt64Array)[0]);
        rows.push({ what: s.key, error: s.got === count ? 0 : 1, tolerance: 0, pass: s.got === count });
      } else add(s.key, s.got, s.want.data as Float32Array, PARITY_TOLERANCES.stats);
    }
    return { batch: f.n, size: f.size, rows, pass: rows.every((r) => r.pass) };
  } finally {
    f.dispose();
  }
}
