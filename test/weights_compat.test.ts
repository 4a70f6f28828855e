/**
 * Weight files PyTorch's load_state_dict accepts: without num_batches_tracked, with DataParallel's
 * "module." prefix, inside a {'model_state_dict': ...} checkpoint dict; and a class-count mismatch
 * on --resume named as such. Every file is written here (helpers/pth-writer.ts, writeSafetensors).
 * train.js --resume with another class count, run from the build, is in test/dist/weights_compat_cli.test.ts.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { contiguousStrides, stateDict, storageOf, tensor, torchSave, type Storage } from './helpers/pth-writer';
import { resnet, type ResNet } from '../src/nn/resnet';
import { exportStateDict, loadStateDict, StateDictError } from '../src/nn/state';
import { loadPretrained } from '../src/nn/pretrained';
import { adaptStateDict } from '../src/nn/weights/compat';
import { readWeights, writeSafetensors, type NamedTensor } from '../src/nn/weights/index';
import { encodeCheckpoint, decodeCheckpoint } from '../src/train/checkpoint';
import { SGD } from '../src/train/sgd';
import { ScalarState } from '../src/nn/module';
import { Tensor } from '../src/autograd/tensor';

/** torch.save(obj) where obj is the state_dict, or {wrapper: state_dict, 'epoch': 3}. */
function pthOf(tensors: Map<string, NamedTensor>, wrapper?: string): Uint8Array {
  const storages: Storage[] = [];
  const entries = new Map<string, unknown>();
  for (const [key, t] of tensors) {
    const s = storageOf(String(storages.length), t.data);
    storages.push(s);
    entries.set(key, tensor(s, 0, t.shape, contiguousStrides(t.shape)));
  }
  const sd = stateDict(entries);
  const obj = wrapper ? new Map<unknown, unknown>([['epoch', 3], [wrapper, sd], ['optimizer_state_dict', new Map()]]) : sd;
  return torchSave(obj, storages);
}

/** What an old or DataParallel-wrapped PyTorch model's state_dict looks like. */
function legacyOf(sd: Map<string, NamedTensor>, opts: { prefix?: string; dropCounters?: boolean }): Map<string, NamedTensor> {
  const out = new Map<string, NamedTensor>();
  for (const [k, t] of sd) {
    if (opts.dropCounters && k.endsWith('num_batches_tracked')) continue;
    out.set((opts.prefix ?? '') + k, t);
  }
  return out;
}

/** Every value of the model's state_dict: counters as numbers, tensors as their bytes. */
async function valuesOf(m: ResNet): Promise<Map<string, number | Buffer>> {
  const out = new Map<string, number | Buffer>();
  for (const [k, v] of m.stateDict()) {
    if (v instanceof ScalarState) out.set(k, v.value);
    else {
      const a = await (v as Tensor).toArray();
      out.set(k, Buffer.from(a.buffer, a.byteOffset, a.byteLength));
    }
  }
  return out;
}

/** Keys whose values differ (bytes compared exactly); counters expected to be `counter` when given. */
function differences(got: Map<string, number | Buffer>, want: Map<string, number | Buffer>, counter?: number): string[] {
  const bad: string[] = [];
  for (const [k, w] of want) {
    const g = got.get(k);
    const expected = counter !== undefined && k.endsWith('num_batches_tracked') ? counter : w;
    const same = typeof expected === 'number' ? g === expected : g instanceof Buffer && g.equals(expected);
    if (!same) bad.push(k);
  }
  return bad;
}

describe('weights compat: key adaptation without a model', () => {
  const t = (n: number): NamedTensor => ({ dtype: 'F32', shape: [n], data: new Float32Array(n).fill(n) });

  it('strips "module." and adds num_batches_tracked = 0 after each running_var lacking it, with notes', () => {
    const sd = new Map<string, NamedTensor>([
      ['module.conv1.weight', t(2)],
      ['module.bn1.weight', t(3)],
      ['module.bn1.running_mean', t(3)],
      ['module.bn1.running_var', t(3)],
      ['module.layer1.0.downsample.1.running_mean', t(4)],
      ['module.layer1.0.downsample.1.running_var', t(4)],
      ['module.layer1.0.downsample.1.num_batches_tracked', { dtype: 'I64', shape: [], data: BigInt64Array.of(7n) }],
    ]);
    const { tensors, notes } = adaptStateDict(sd, 'old.pth');
    expect([...tensors.keys()]).toEqual([
      'conv1.weight',
      'bn1.weight',
      'bn1.running_mean',
      'bn1.running_var',
      'bn1.num_batches_tracked',
      'layer1.0.downsample.1.running_mean',
      'layer1.0.downsample.1.running_var',
      'layer1.0.downsample.1.num_batches_tracked',
    ]);
    expect(tensors.get('bn1.num_batches_tracked')).toEqual({ dtype: 'I64', shape: [], data: BigInt64Array.of(0n) });
    expect(tensors.get('layer1.0.downsample.1.num_batches_tracked')!.data).toEqual(BigInt64Array.of(7n));
    expect(notes).toHaveLength(2);
    expect(notes[0]).toMatch(/^old\.pth: every key starts with "module\." .*DataParallel.*stripped from all 7 keys/);
    expect(notes[1]).toMatch(/^old\.pth: 1 batch-norm layer has no num_batches_tracked \(bn1\.num_batches_tracked\).*set to 0/);
    expect(sd.has('module.conv1.weight')).toBe(true); // the input is not modified
  });

  it('leaves a torchvision state_dict alone (no notes), and does not strip a prefix only some keys have', () => {
    const sd = new Map<string, NamedTensor>([['module.a', t(1)], ['b', t(1)]]);
    const r = adaptStateDict(sd, 'x');
    expect(r.tensors).toBe(sd);
    expect(r.notes).toEqual([]);
  });

  it('takes the model.* tensors of a training checkpoint, dropping optim.*', () => {
    const sd = new Map<string, NamedTensor>([['model.fc.weight', t(2)], ['optim.0', t(2)]]);
    const r = adaptStateDict(sd, 'checkpoint.safetensors');
    expect([...r.tensors.keys()]).toEqual(['fc.weight']);
    expect(r.notes[0]).toMatch(/training checkpoint.*1 model tensors and ignoring 1 optimizer tensors/);
  });
});

describe('weights compat: loading into a ResNet', () => {
  let source: ResNet;
  let sd: Map<string, NamedTensor>;
  let want: Map<string, number | Buffer>;
  beforeAll(async () => {
    const rt = await testRuntime();
    rt.poison = false;
    source = resnet('resnet18', { numClasses: 3, dropout: 0.5, seed: 11 });
    source.bn1.numBatchesTracked.value = 5;
    sd = await exportStateDict(source);
    want = await valuesOf(source);
  });

  const cases: [string, (s: Map<string, NamedTensor>) => Uint8Array][] = [
    ['.pth without num_batches_tracked', (s) => pthOf(legacyOf(s, { dropCounters: true }))],
    ['.pth with the DataParallel prefix', (s) => pthOf(legacyOf(s, { prefix: 'module.' }))],
    ['.pth checkpoint dict under model_state_dict, prefixed, without counters', (s) => pthOf(legacyOf(s, { prefix: 'module.', dropCounters: true }), 'model_state_dict')],
    ['.pth checkpoint dict under state_dict', (s) => pthOf(s, 'state_dict')],
    ['safetensors without num_batches_tracked, prefixed', (s) => writeSafetensors(legacyOf(s, { prefix: 'module.', dropCounters: true }))],
  ];

  it.each(cases)('%s loads every tensor, strictly, and says what it changed', async (name, write) => {
    const file = readWeights(write(sd), 'file');
    const target = resnet('resnet18', { numClasses: 3, dropout: 0.5, seed: 12 });
    const report = loadStateDict(target, file, { source: 'file' });
    expect(report.loaded.length).toBe(target.stateDict().size);
    const dropped = name.includes('without');
    expect(want.get('bn1.num_batches_tracked')).toBe(5);
    expect(differences(await valuesOf(target), want, dropped ? 0 : undefined)).toEqual([]);
    if (name.includes('prefix')) expect(report.notes.join('\n')).toMatch(/"module\." .*stripped/);
    if (dropped) expect(report.notes.join('\n')).toMatch(/20 batch-norm layers have no num_batches_tracked .*set to 0/);
    if (!name.includes('prefix') && !dropped) expect(report.notes).toEqual([]);
    target.dispose();
  });

  it('--weights (loadPretrained) prints the notes and keeps the head when it fits', async () => {
    const file = readWeights(pthOf(legacyOf(sd, { prefix: 'module.', dropCounters: true }), 'model_state_dict'), 'old.pth');
    const target = resnet('resnet18', { numClasses: 3, dropout: 0.5, seed: 13 });
    const r = loadPretrained(target, file, 'old.pth');
    expect(r.messages[0]).toMatch(/^old\.pth: every key starts with "module\."/);
    expect(r.messages[1]).toMatch(/^old\.pth: 20 batch-norm layers have no num_batches_tracked/);
    expect(r.messages[2]).toBe(`old.pth: loaded all ${target.stateDict().size} tensors`);
    expect(differences(await valuesOf(target), want, 0)).toEqual([]);
    target.dispose();
  });

  it('--weights with another class count drops the head, naming both counts', () => {
    const target = resnet('resnet18', { numClasses: 5, dropout: 0.5, seed: 13 });
    const r = loadPretrained(target, sd, 'other.pth');
    expect(r.messages.join('\n')).toMatch(/fc\.1\.weight \[3, 512\].*3 classes in the file, 5 in this model.*dropped/s);
    target.dispose();
  });

  it('a checkpoint of another class count names the fc layer and both counts, not --arch', async () => {
    const opt = new SGD(source.parameters(), { lr: 0.1, momentum: 0.9 });
    const bytes = await encodeCheckpoint(source, opt, { epoch: 2 });
    const target = resnet('resnet18', { numClasses: 2, dropout: 0.5, seed: 14 });
    let err: unknown = null;
    try {
      decodeCheckpoint(bytes, 'runs/x/checkpoint.safetensors', target, new SGD(target.parameters(), { lr: 0.1, momentum: 0.9 }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateDictError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^runs\/x\/checkpoint\.safetensors: the fc layer has 3 classes in the file \(fc\.1\.weight \[3, …\]\) but 2 in this model/);
    expect(msg).toMatch(/2 class folders/);
    expect(msg).not.toMatch(/--arch/);
    expect((err as StateDictError).classes).toEqual({ key: 'fc.1.weight', fileClasses: 3, modelClasses: 2 });
    // Another difference on top (a missing backbone tensor) is the general message again.
    const partial = new Map(sd);
    partial.delete('layer2.0.conv1.weight');
    expect(() => loadStateDict(target, partial, { source: 'p' })).toThrowError(/Check the model's architecture/);
    target.dispose();
  });
});
