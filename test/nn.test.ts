import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { noGrad, tidy } from '../src/autograd/scope';
import { resnet18, resnet34, resnet50, resnet } from '../src/nn/resnet';
import { loadStateDict, exportStateDict, StateDictError } from '../src/nn/state';
import { loadPretrained } from '../src/nn/pretrained';
import { readSafetensors, writeSafetensors } from '../src/nn/weights/safetensors';
import { BatchNorm2d, Dropout, Linear, Sequential, Conv2d } from '../src/nn/layers';
import { ScalarState } from '../src/nn/module';
import { SeedSequence } from '../src/nn/init';
import { add } from '../src/autograd/ops/basic';
import { relu } from '../src/autograd/ops/activation';
import { crossEntropy } from '../src/autograd/ops/loss';
import { expectClose } from './helpers/numeric';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
  rt.poison = false;
});

/** Parameter counts of torchvision's models (torchvision.models.resnetXX().parameters()), as documented by torchvision. */
const TORCHVISION_PARAMS: Record<string, number> = { resnet18: 11_689_512, resnet34: 21_797_672, resnet50: 25_557_032 };

describe('nn: ResNet structure', () => {
  it.each(['resnet18', 'resnet34', 'resnet50'])('%s has torchvision\'s parameter count and key names', (arch) => {
    const m = resnet(arch, { numClasses: 1000 });
    const n = m.parameters().reduce((s, p) => s + p.size, 0);
    expect(n).toBe(TORCHVISION_PARAMS[arch]);
    const keys = [...m.stateDict().keys()];
    expect(keys.slice(0, 6)).toEqual(['conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked']);
    expect(keys).toContain('layer2.0.downsample.0.weight');
    expect(keys).toContain('layer2.0.downsample.1.running_var');
    expect(keys.slice(-2)).toEqual(['fc.weight', 'fc.bias']);
    m.dispose();
  });

  it('the recipe head is fc = Sequential(Dropout, Linear) with keys fc.1.*', () => {
    const m = resnet34({ numClasses: 37, dropout: 0.5 });
    expect([...m.stateDict().keys()].slice(-2)).toEqual(['fc.1.weight', 'fc.1.bias']);
    expect(m.fc).toBeInstanceOf(Sequential);
    expect((m.fc as Sequential).layers[0]).toBeInstanceOf(Dropout);
    m.dispose();
  });

  it('initialisation follows torchvision and is seeded', async () => {
    const a = resnet18({ numClasses: 10, seed: 3 });
    const b = resnet18({ numClasses: 10, seed: 3 });
    const w = await a.conv1.weight.toArray();
    expect(Array.from(await b.conv1.weight.toArray())).toEqual(Array.from(w));
    // kaiming_normal_(fan_out, relu): std = sqrt(2 / (64·7·7))
    let s2 = 0;
    for (const v of w) s2 += v * v;
    expect(Math.sqrt(s2 / w.length)).toBeCloseTo(Math.sqrt(2 / (64 * 49)), 2);
    expect(Array.from(await a.bn1.weight.toArray()).every((v) => v === 1)).toBe(true);
    const fc = await (a.fc as Linear).weight.toArray();
    expect(Math.max(...fc.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(512));
    a.dispose();
    b.dispose();
  });
});

describe('nn: state_dict loading', () => {
  it('lists missing, unexpected and wrongly shaped keys together, and writes nothing', async () => {
    const m = resnet18({ numClasses: 10, seed: 1 });
    const sd = await exportStateDict(m);
    const before = await m.conv1.weight.toArray();
    sd.delete('layer1.0.bn1.running_mean');
    sd.set('extra.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    sd.set('fc.weight', { dtype: 'F32', shape: [3, 512], data: new Float32Array(3 * 512) });
    sd.set('conv1.weight', { ...sd.get('conv1.weight')!, data: new Float32Array(64 * 3 * 49).fill(7) });
    let err: Error | null = null;
    try {
      loadStateDict(m, sd, { source: 'bad.safetensors' });
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(StateDictError);
    expect(err!.message).toMatch(/bad\.safetensors/);
    expect(err!.message).toMatch(/layer1\.0\.bn1\.running_mean/);
    expect(err!.message).toMatch(/extra\.weight/);
    expect(err!.message).toMatch(/fc\.weight: file \[3, 512\] vs model \[10, 512\]/);
    expect(Array.from(await m.conv1.weight.toArray())).toEqual(Array.from(before));
    // Non-strict loads what fits and reports the rest.
    const r = loadStateDict(m, sd, { strict: false });
    expect(r.missing).toEqual(['layer1.0.bn1.running_mean']);
    expect(r.unexpected).toEqual(['extra.weight']);
    expect(r.mismatched.length).toBe(1);
    expect((await m.conv1.weight.toArray())[0]).toBe(7);
    m.dispose();
  });

  it('safetensors round trip of a whole model, num_batches_tracked as int64', async () => {
    const a = resnet18({ numClasses: 7, seed: 5 });
    a.bn1.numBatchesTracked.value = 42;
    const bytes = writeSafetensors(await exportStateDict(a));
    const back = readSafetensors(bytes, 'mem');
    expect(back.get('bn1.num_batches_tracked')!.dtype).toBe('I64');
    const b = resnet18({ numClasses: 7, seed: 6 });
    loadStateDict(b, back);
    expect(b.bn1.numBatchesTracked.value).toBe(42);
    expect(Array.from(await b.layers[3].parameters()[0].toArray())).toEqual(Array.from(await a.layers[3].parameters()[0].toArray()));
    a.dispose();
    b.dispose();
  });

  it('loading 1000-class weights into the recipe model keeps the backbone and drops fc, saying so', async () => {
    const imagenet = resnet18({ numClasses: 1000, seed: 9 });
    const file = await exportStateDict(imagenet);
    const m = resnet18({ numClasses: 37, dropout: 0.5, seed: 1 });
    const headBefore = await ((m.fc as Sequential).layers[1] as Linear).weight.toArray();
    const r = loadPretrained(m, file, 'resnet18-imagenet.pth');
    expect(r.messages.join('\n')).toMatch(/fc\.weight \[1000, 512\].*dropped/s);
    expect(Array.from(await m.conv1.weight.toArray())).toEqual(Array.from(await imagenet.conv1.weight.toArray()));
    expect(Array.from(await ((m.fc as Sequential).layers[1] as Linear).weight.toArray())).toEqual(Array.from(headBefore));
    // A backbone mismatch is still an error.
    file.delete('layer3.1.conv2.weight');
    expect(() => loadPretrained(m, file, 'broken.pth')).toThrowError(/layer3\.1\.conv2\.weight/);
    imagenet.dispose();
    m.dispose();
  });

  it('a state_dict of the wrong architecture is refused with one clear error', async () => {
    const small = resnet18({ numClasses: 4, seed: 2 });
    const file = await exportStateDict(small);
    const big = resnet34({ numClasses: 4, seed: 3 });
    let err: Error | null = null;
    try {
      loadStateDict(big, file, { source: 'resnet18.safetensors' });
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(StateDictError);
    // Only the blocks resnet34 has beyond resnet18's are missing; nothing is unexpected or misshapen.
    expect(err!.message).toMatch(/^resnet18\.safetensors: the weights do not match the model/);
    expect(err!.message).toMatch(/missing from the file \(\d+\): .*layer1\.2\.conv1\.weight/);
    expect(err!.message).not.toMatch(/unexpected in the file|wrong shape/);
    expect(err!.message).toMatch(/Check the model's architecture/);
    small.dispose();
    big.dispose();
  });
});

describe('nn: layers', () => {
  it('BatchNorm2d counts batches in training mode only and switches with train()/eval()', () => {
    const bn = new BatchNorm2d(3);
    const x = Tensor.randn([2, 3, 4, 4], 1);
    tidy(() => bn.forward(x));
    bn.eval();
    tidy(() => bn.forward(x));
    expect(bn.numBatchesTracked.value).toBe(1);
    expect(bn.training).toBe(false);
    expect(bn.stateDict().get('num_batches_tracked')).toBeInstanceOf(ScalarState);
    x.dispose();
    bn.dispose();
  });

  it('a small ResNet forward gives finite logits of the right shape; eval is deterministic', async () => {
    const m = resnet18({ numClasses: 5, dropout: 0.3, seed: 2 }).eval();
    const x = Tensor.randn([2, 3, 64, 64], 4);
    const a = await noGrad(() => tidy(() => m.forward(x))).toArray();
    const b = await noGrad(() => tidy(() => m.forward(x))).toArray();
    expect(a.length).toBe(10);
    expect(a.every(Number.isFinite)).toBe(true);
    expect(Array.from(b)).toEqual(Array.from(a));
    x.dispose();
    m.dispose();
  });

  it('Conv2d with bias registers conv.bias', () => {
    const c = new Conv2d(3, 4, 3, { padding: 1, bias: true, seeds: new SeedSequence(0) });
    expect([...c.stateDict().keys()]).toEqual(['weight', 'bias']);
    c.dispose();
  });

  it('resnet50 uses Bottleneck blocks with conv3 and bn3', () => {
    const m = resnet50({ numClasses: 3 });
    expect([...m.stateDict().keys()]).toContain('layer1.0.conv3.weight');
    m.dispose();
  });

  // The blocks end in one fused kernel (batch norm + shortcut add + ReLU): it must equal the three ops
  // composed, for both block kinds, and a whole training step must give every parameter a finite gradient.
  it.each(['resnet18', 'resnet50'])('%s blocks: the fused batch norm + add + ReLU equals the ops composed, and a train step reaches every parameter', async (arch) => {
    const m = resnet(arch, { numClasses: 3, seed: 7 });
    const x = Tensor.fromArray(Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.37)), [2, 3, 32, 32], 'f32', rt);
    m.eval();
    const [fused, composed] = noGrad(() => {
      const stem = m.maxpool.forward(m.bn1.forwardRelu(m.conv1.forward(x)));
      const block = (m.layers[0] as Sequential).layers[0] as unknown as Record<string, any>;
      const identity = block.downsample ? block.downsample.forward(stem) : stem;
      let h = block.bn1.forwardRelu(block.conv1.forward(stem));
      let last = block.bn2;
      let conv = block.conv2;
      if (block.conv3) {
        h = block.bn2.forwardRelu(block.conv2.forward(h));
        last = block.bn3;
        conv = block.conv3;
      }
      return [block.forward(stem) as Tensor, relu(add(last.forward(conv.forward(h)), identity))];
    });
    expectClose(await fused.toArray(), await composed.toArray(), 1e-6, `${arch} block`);
    m.train();
    const loss = tidy(() => {
      const l = crossEntropy(m.forward(x), Tensor.fromArray(Int32Array.from([0, 2]), [2], 'i32', rt));
      l.backward();
      return l;
    });
    expect(Number.isFinite((await loss.toArray())[0])).toBe(true);
    for (const [name, p] of m.namedParameters()) {
      expect(p.grad, name).not.toBeNull();
      const g = await p.grad!.toArray();
      expect(g.every(Number.isFinite), name).toBe(true);
    }
    for (const t of [x, fused, composed, loss]) t.dispose();
    m.dispose();
  });
});
