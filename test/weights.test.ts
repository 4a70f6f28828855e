import { describe, expect, it } from 'vitest';
import { zipSync } from 'fflate';
import {
  WeightsFormatError,
  readPth,
  readSafetensors,
  readSafetensorsMetadata,
  readWeights,
  writeSafetensors,
  type NamedTensor,
} from '../src/nn/weights/index';
import { PyCallable, unpickle } from '../src/nn/weights/pickle';
import {
  Global,
  PersistentId,
  Raw,
  Reduce,
  Tuple,
  contiguousStrides,
  orderedDict,
  pickle,
  pthOfTensors,
  stateDict,
  storageOf,
  tensor,
  torchSave,
  zipOfPickle,
  type Storage,
} from './helpers/pth-writer';

// --- helpers ------------------------------------------------------------------------------------

function formatError(read: () => unknown): WeightsFormatError {
  try {
    read();
  } catch (err) {
    if (!(err instanceof WeightsFormatError)) throw err;
    return err;
  }
  throw new Error('expected a WeightsFormatError, but the read succeeded');
}

function rawSafetensors(header: unknown, data = new Uint8Array(0), headerLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const f32 = (...values: number[]) => new Float32Array(values);
const range = (n: number, start = 0) => Float32Array.from({ length: n }, (_, i) => start + i);
const i64 = (...values: bigint[]) => new BigInt64Array(values);
const u16bytes = (...values: number[]) => new Uint8Array(new Uint16Array(values).buffer);
const le64 = (n: number) => [...new Uint8Array(new BigUint64Array([BigInt(n)]).buffer)];

/** A small ResNet-like state_dict: conv, batch norm (with its int64 counter) and fc. */
function sampleTensors() {
  return {
    'conv1.weight': { shape: [4, 3, 3, 3], data: range(108, -50) },
    'bn1.running_mean': { shape: [4], data: f32(0.5, -0.25, 1e-7, 3e10) },
    'bn1.num_batches_tracked': { shape: [], data: i64(2n ** 40n + 7n) },
    'fc.1.weight': { shape: [2, 4], data: f32(1, 2, 3, 4, 5, 6, 7, 8) },
    'fc.1.bias': { shape: [0], data: f32() },
  };
}

function expectTensors(actual: Map<string, NamedTensor>, expected: ReturnType<typeof sampleTensors>) {
  expect([...actual.keys()]).toEqual(Object.keys(expected));
  for (const [key, { shape, data }] of Object.entries(expected)) {
    const t = actual.get(key)!;
    expect(t.shape).toEqual(shape);
    expect(t.dtype).toBe(data instanceof BigInt64Array ? 'I64' : 'F32');
    expect(t.data).toEqual(data);
  }
}

// --- .pth ---------------------------------------------------------------------------------------

describe('readPth', () => {
  it('reads a state_dict written the way torch.save writes it', () => {
    const bytes = pthOfTensors(sampleTensors());
    expectTensors(readPth(bytes, 'model.pth'), sampleTensors());
  });

  it('emits the byte layout torch.save uses for data.pkl', () => {
    const s = storageOf('0', range(4));
    const bytes = pickle(stateDict(new Map([['w', tensor(s, 0, [4], [1])]])));
    const latin1 = String.fromCharCode(...bytes);
    expect(latin1).toBe(
      '\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00wq\x02ctorch._utils\n_rebuild_tensor_v2\nq\x03' +
        '((X\x07\x00\x00\x00storageq\x04ctorch\nFloatStorage\nq\x05X\x01\x00\x00\x000q\x06X\x03\x00\x00\x00cpuq\x07K\x04tq\x08Q' +
        'K\x00K\x04\x85q\tK\x01\x85q\n\x89h\x00)Rq\x0btq\x0cRq\x0ds' +
        '}q\x0eX\t\x00\x00\x00_metadataq\x0fh\x00)Rq\x10X\x00\x00\x00\x00q\x11}q\x12X\x07\x00\x00\x00versionq\x13K\x01sssb.',
    );
  });

  it('accepts any top folder name and a file without a byteorder record', () => {
    const tensors = sampleTensors();
    expectTensors(readPth(pthOfTensors(tensors, 'resnet34-b627a593'), 'resnet34-b627a593.pth'), tensors);
    const s = storageOf('0', f32(1, 2));
    const old = torchSave(stateDict(new Map([['w', tensor(s, 0, [2], [1])]])), [s], { byteorder: null });
    expect(readPth(old, 'old.pth').get('w')!.data).toEqual(f32(1, 2));
  });

  it('honours storage offsets and arbitrary strides', () => {
    const s = storageOf('0', range(24));
    const bytes = torchSave(stateDict(new Map([
      ['transposed', tensor(s, 2, [3, 2], [1, 3])],
      ['strided', tensor(s, 1, [2, 2, 2], [12, 1, 6])],
      ['row', tensor(s, 20, [1, 4], [99, 1])],
    ])), [s]);
    const out = readPth(bytes, 'views.pth');
    expect(out.get('transposed')!.data).toEqual(f32(2, 5, 3, 6, 4, 7));
    expect(out.get('strided')!.data).toEqual(f32(1, 7, 2, 8, 13, 19, 14, 20));
    expect(out.get('row')!.data).toEqual(f32(20, 21, 22, 23));
    expect(out.get('strided')!.shape).toEqual([2, 2, 2]);
  });

  it('reads tensors that share one storage into independent copies', () => {
    const s = storageOf('0', range(12));
    const whole = tensor(s, 0, [12], [1]);
    const bytes = torchSave(stateDict(new Map([
      ['whole', whole],
      ['tail', tensor(s, 6, [2, 3], [3, 1])],
      ['tied', whole],
    ])), [s]);
    const out = readPth(bytes, 'shared.pth');
    expect(out.get('tail')!.data).toEqual(f32(6, 7, 8, 9, 10, 11));
    expect(out.get('tied')!.data).toEqual(range(12));
    (out.get('whole')!.data as Float32Array)[6] = -1;
    expect(out.get('tail')!.data[0]).toBe(6);
    expect(out.get('tied')!.data[6]).toBe(6);
  });

  it('reads a scalar int64 (num_batches_tracked) and negative and large ints', () => {
    const s = storageOf('0', i64(-3n, 2n ** 62n));
    const bytes = torchSave(stateDict(new Map([
      ['a.num_batches_tracked', tensor(s, 0, [], [])],
      ['b.num_batches_tracked', tensor(s, 1, [], [])],
    ])), [s]);
    const out = readPth(bytes, 'ints.pth');
    expect(out.get('a.num_batches_tracked')).toEqual({ dtype: 'I64', shape: [], data: i64(-3n) });
    expect(out.get('b.num_batches_tracked')!.data).toEqual(i64(2n ** 62n));
  });

  it('widens half, bfloat16, double and int32 storages to float32', () => {
    const storages: Storage[] = [
      { key: '0', kind: 'HalfStorage', numel: 3, bytes: u16bytes(0x3c00, 0xc000, 0x0001) },
      { key: '1', kind: 'BFloat16Storage', numel: 2, bytes: u16bytes(0x3f80, 0xc0a0) },
      { key: '2', kind: 'DoubleStorage', numel: 2, bytes: new Uint8Array(new Float64Array([0.1, -2.5]).buffer) },
      { key: '3', kind: 'IntStorage', numel: 2, bytes: new Uint8Array(new Int32Array([-7, 1 << 20]).buffer) },
    ];
    const entries = new Map(storages.map((s) => [s.kind, tensor(s, 0, [s.numel], [1])]));
    const out = readPth(torchSave(stateDict(entries), storages), 'mixed.pth');
    expect(out.get('HalfStorage')).toEqual({ dtype: 'F16', shape: [3], data: f32(1, -2, 2 ** -24) });
    expect(out.get('BFloat16Storage')).toEqual({ dtype: 'BF16', shape: [2], data: f32(1, -5) });
    expect(out.get('DoubleStorage')!.data).toEqual(f32(Math.fround(0.1), -2.5));
    expect(out.get('IntStorage')!.data).toEqual(f32(-7, 1 << 20));
  });

  it('handles more than 256 memo entries and more than 1000 items (LONG_BINPUT, batched SETITEMS)', () => {
    const tensors = Object.fromEntries(Array.from({ length: 1100 }, (_, i) => [`layer.${i}.weight`, { shape: [2], data: f32(i, -i) }]));
    const out = readPth(pthOfTensors(tensors), 'big.pth');
    expect(out.size).toBe(1100);
    expect(out.get('layer.1099.weight')!.data).toEqual(f32(1099, -1099));
  });

  it('accepts a checkpoint dict holding the state_dict under "state_dict" or "model"', () => {
    const s = storageOf('0', f32(4, 5));
    const weights = stateDict(new Map([['w', tensor(s, 0, [2], [1])]]));
    for (const wrapper of ['state_dict', 'model']) {
      const checkpoint = new Map<unknown, unknown>([['epoch', 3], ['lr', 0.1], [wrapper, weights], ['note', null]]);
      expect(readPth(torchSave(checkpoint, [s]), 'ckpt.pth').get('w')!.data).toEqual(f32(4, 5));
    }
  });

  it('unwraps torch._utils._rebuild_parameter', () => {
    const s = storageOf('0', f32(1, 2));
    const param = new Reduce(new Global('torch._utils', '_rebuild_parameter'), new Tuple([tensor(s, 0, [2], [1]), true, orderedDict()]));
    expect(readPth(torchSave(new Map([['p', param]]), [s]), 'p.pth').get('p')!.data).toEqual(f32(1, 2));
  });

  it('reads protocol-4 opcodes: FRAME, SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE, BINUNICODE8', () => {
    const shortStr = (text: string) => [0x8c, text.length, ...new TextEncoder().encode(text), 0x94];
    const framed = (body: number[]) => new Uint8Array([0x80, 0x04, 0x95, ...le64(body.length), ...body]);
    const newOrderedDict = [...shortStr('collections'), ...shortStr('OrderedDict'), 0x93, 0x94, 0x29, 0x52, 0x94];
    const withItem = framed([...newOrderedDict, 0x8d, ...le64(3), 0x61, 0x62, 0x63, 0x4e, 0x73, 0x2e]);
    const globals = new Map([['collections.OrderedDict', new PyCallable('collections.OrderedDict', () => new Map())]]);
    expect(unpickle(withItem, { source: 'p4', globals, persistentLoad: () => null })).toEqual(new Map([['abc', null]]));
    expect(readPth(zipOfPickle(framed([...newOrderedDict, 0x2e]), []), 'p4.pth').size).toBe(0);
  });
});

// --- safetensors --------------------------------------------------------------------------------

describe('safetensors', () => {
  it('round-trips F32 and I64 tensors, scalars, empty tensors and metadata', () => {
    const tensors = sampleTensors();
    const named = new Map(Object.entries(tensors).map(([k, t]) => [k, { dtype: t.data instanceof BigInt64Array ? 'I64' : 'F32', ...t } as NamedTensor]));
    const bytes = writeSafetensors(named, { format: 'pt', epoch: '7' });
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
    expectTensors(readSafetensors(bytes, 'model.safetensors'), tensors);
    expect(readSafetensorsMetadata(bytes, 'model.safetensors')).toEqual({ format: 'pt', epoch: '7' });
    expect(readSafetensorsMetadata(writeSafetensors({}), 'empty.safetensors')).toEqual({});
  });

  it('accepts a plain record and reads unaligned data', () => {
    const bytes = writeSafetensors({ b: { dtype: 'F32', shape: [3], data: f32(1.5, -2, 3) } });
    expect(readSafetensors(bytes, 'rec').get('b')!.data).toEqual(f32(1.5, -2, 3));
    const data = new Uint8Array(new Float32Array([7, 8]).buffer);
    const unaligned = rawSafetensors({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, data); // header length 49
    expect(readSafetensors(unaligned, 'odd').get('x')!.data).toEqual(f32(7, 8));
    const offsetView = new Uint8Array(unaligned.length + 3);
    offsetView.set(unaligned, 3);
    expect(readSafetensors(offsetView.subarray(3), 'view').get('x')!.data).toEqual(f32(7, 8));
  });

  it('converts F16 and BF16 exactly', () => {
    const half: [number, number][] = [
      [0x0000, 0], [0x8000, -0], [0x3c00, 1], [0xc000, -2], [0x7bff, 65504], [0x0400, 2 ** -14],
      [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24], [0x3555, 0.333251953125], [0x7c00, Infinity], [0xfc00, -Infinity],
    ];
    const bf16: [number, number][] = [
      [0x3f80, 1], [0xc000, -2], [0x3eaa, 0.33203125], [0x0001, 2 ** -133], [0x7f7f, 3.3895313892515355e38], [0xff80, -Infinity],
    ];
    const header = {
      h: { dtype: 'F16', shape: [half.length + 1], data_offsets: [0, 2 * half.length + 2] },
      b: { dtype: 'BF16', shape: [bf16.length + 1], data_offsets: [2 * half.length + 2, 2 * (half.length + bf16.length) + 4] },
    };
    const data = u16bytes(...half.map(([bits]) => bits), 0x7e00, ...bf16.map(([bits]) => bits), 0x7fc0);
    const out = readSafetensors(rawSafetensors(header, data), 'half.safetensors');
    const h = out.get('h')!;
    expect(h.dtype).toBe('F16');
    expect([...h.data].slice(0, -1)).toEqual(half.map(([, v]) => v));
    expect(Object.is(h.data[1], -0)).toBe(true);
    expect(h.data[half.length]).toBeNaN();
    const b = out.get('b')!;
    expect([...b.data].slice(0, -1)).toEqual(bf16.map(([, v]) => v));
    expect(b.data[bf16.length]).toBeNaN();
  });

  it('widens F64 and I32', () => {
    const data = new Uint8Array([...new Uint8Array(new Float64Array([0.1, 1e300]).buffer), ...new Uint8Array(new Int32Array([-9, 5]).buffer)]);
    const header = { d: { dtype: 'F64', shape: [2], data_offsets: [0, 16] }, i: { dtype: 'I32', shape: [2], data_offsets: [16, 24] } };
    const out = readSafetensors(rawSafetensors(header, data), 'wide');
    expect(out.get('d')!.data).toEqual(f32(0.1, Infinity));
    expect(out.get('i')).toEqual({ dtype: 'I32', shape: [2], data: f32(-9, 5) });
  });

  it('refuses to write inconsistent tensors', () => {
    expect(formatError(() => writeSafetensors({ w: { dtype: 'F32', shape: [2, 2], data: f32(1) } })).message).toMatch(/"w".*4 elements.*holds 1/);
    expect(formatError(() => writeSafetensors({ w: { dtype: 'I64', shape: [1], data: f32(1) } })).message).toMatch(/I64 needs BigInt64Array/);
    expect(formatError(() => writeSafetensors({ w: { dtype: 'F32', shape: [-1], data: f32() } })).message).toMatch(/non-negative integers/);
    expect(formatError(() => writeSafetensors({ __metadata__: { dtype: 'F32', shape: [0], data: f32() } })).message).toMatch(/reserved/);
  });
});

describe('readWeights', () => {
  it('sniffs the format from the magic bytes', () => {
    const tensors = sampleTensors();
    expectTensors(readWeights(pthOfTensors(tensors), 'a.pth'), tensors);
    const st = writeSafetensors({ w: { dtype: 'F32', shape: [1], data: f32(3) } });
    expect(readWeights(st, 'a.safetensors').get('w')!.data).toEqual(f32(3));
  });

  it('converts a .pth into safetensors losslessly', () => {
    const tensors = sampleTensors();
    const converted = writeSafetensors(readWeights(pthOfTensors(tensors), 'a.pth'));
    expectTensors(readWeights(converted, 'a.safetensors'), tensors);
  });
});

// --- rejections ---------------------------------------------------------------------------------

describe('rejects malformed safetensors', () => {
  const valid = writeSafetensors({ a: { dtype: 'F32', shape: [2, 3], data: range(6) }, n: { dtype: 'I64', shape: [], data: i64(1n) } });
  const entry = (over: object) => ({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 8], ...over } });
  const eight = new Uint8Array(8);

  it('at every truncation point, naming the file', () => {
    for (let cut = 0; cut < valid.length; cut++) {
      expect(formatError(() => readSafetensors(valid.subarray(0, cut), 'cut.safetensors')).message).toMatch(/^cut\.safetensors: /);
    }
  });

  it('with an absurd header length', () => {
    for (const length of [2n ** 64n - 1n, 2n ** 53n, 200n * 1024n * 1024n, 1000n]) {
      expect(formatError(() => readSafetensors(rawSafetensors(entry({}), eight, length), 'h.st')).message).toMatch(/^h\.st: declares a \d+-byte header/);
    }
    const big = new Uint8Array(8 + 101 * 1024 * 1024);
    new DataView(big.buffer).setBigUint64(0, BigInt(101 * 1024 * 1024), true);
    expect(formatError(() => readSafetensors(big, 'huge.st')).message).toMatch(/limit 104857600/);
  });

  it('with a header that is not a JSON object', () => {
    for (const header of ['{"t": ', '[1, 2]', 'null', '"text"', '{"t": 1}']) {
      expect(() => readSafetensors(rawSafetensors(header), 'j.st')).toThrow(WeightsFormatError);
    }
    const invalidUtf8 = rawSafetensors('{"a":1}');
    invalidUtf8[10] = 0xff;
    expect(formatError(() => readSafetensors(invalidUtf8, 'u.st')).message).toMatch(/not valid UTF-8 JSON/);
  });

  it('with malformed entries, naming the key', () => {
    const cases: [object, RegExp][] = [
      [{ dtype: undefined }, /"t": header entry has no "dtype"/],
      [{ shape: [2.5] }, /"t": "shape" \[2\.5\] is not a list/],
      [{ shape: [-2] }, /"t": "shape"/],
      [{ shape: 'x' }, /"t": "shape"/],
      [{ data_offsets: [0] }, /"t": "data_offsets"/],
      [{ data_offsets: [-8, 0] }, /"t": "data_offsets"/],
      [{ data_offsets: [4, 0] }, /"t": data_offsets \[4, 0\] do not lie inside/],
      [{ data_offsets: [0, 16] }, /"t": data_offsets \[0, 16\] do not lie inside the 8-byte/],
      [{ shape: [3] }, /"t": shape \[3\] of F32 needs 12 bytes but data_offsets span 8/],
      [{ shape: [2 ** 40, 2 ** 40] }, /needs .* bytes but data_offsets span 8/],
      [{ dtype: 'U8' }, /"t": has unsupported dtype U8; supported: F32, F16, BF16, F64, I32, I64/],
      [{ dtype: 'F8_E4M3' }, /unsupported dtype F8_E4M3/],
    ];
    for (const [over, pattern] of cases) {
      expect(formatError(() => readSafetensors(rawSafetensors(entry(over), eight), 'e.st')).message).toMatch(pattern);
    }
    expect(formatError(() => readSafetensors(rawSafetensors({ t: 5 }, eight), 'e.st')).message).toMatch(/"t": header entry is not an object/);
    expect(formatError(() => readSafetensors(rawSafetensors({ __metadata__: { a: 1 } }), 'm.st')).message).toMatch(/__metadata__/);
  });

  it('with overlapping tensors', () => {
    const header = {
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
      empty: { dtype: 'F32', shape: [0], data_offsets: [4, 4] },
    };
    expect(formatError(() => readSafetensors(rawSafetensors(header, new Uint8Array(12)), 'o.st')).message).toMatch(/"b": bytes \[4, 12\) overlap those of "a"/);
  });
});

describe('rejects malformed .pth files', () => {
  const s = storageOf('0', range(6));
  const valid = torchSave(stateDict(new Map([['w', tensor(s, 0, [2, 3], [3, 1])]])), [s]);
  const withPickle = (obj: unknown, storages: Storage[] = [s]) => torchSave(obj, storages);
  const oneTensor = (t: Reduce) => withPickle(stateDict(new Map([['w', t]])));

  it('at every truncation point of the file and of data.pkl', () => {
    for (let cut = 0; cut < valid.length; cut++) {
      expect(formatError(() => readPth(valid.subarray(0, cut), 'cut.pth')).message).toMatch(/^cut\.pth/);
    }
    const pkl = pickle(stateDict(new Map([['w', tensor(s, 0, [2, 3], [3, 1])]])));
    for (let cut = 0; cut < pkl.length; cut++) {
      expect(() => readPth(zipOfPickle(pkl.subarray(0, cut), [s]), 'p.pth')).toThrow(WeightsFormatError);
    }
    expect(formatError(() => readPth(zipOfPickle(pkl.subarray(0, 20), [s]), 'p.pth')).message).toMatch(/^p\.pth \(archive\/data\.pkl\): pickle byte \d+: .*truncated/);
  });

  it('with malicious globals, before anything could run', () => {
    for (const [module, name] of [['os', 'system'], ['builtins', 'eval'], ['subprocess', 'Popen'], ['posix', 'system'], ['torch.storage', '_load_from_bytes']]) {
      const payload = new Reduce(new Global(module, name), new Tuple(['touch /tmp/pwned']));
      const err = formatError(() => readPth(withPickle(payload), 'evil.pth'));
      expect(err.message).toContain(`evil.pth (archive/data.pkl): pickle byte 2: refuses to load global ${module}.${name}: only PyTorch state_dict globals are allowed`);
      expect(err.message).toContain('torch.save(model.state_dict(), path)');
    }
    // The same through STACK_GLOBAL (protocol 4), hidden inside a state_dict value.
    const stackGlobal = new Raw([0x8c, 8, ...new TextEncoder().encode('builtins'), 0x8c, 4, ...new TextEncoder().encode('eval'), 0x93]);
    const hidden = new Map<string, unknown>([['w', new Reduce(new Global('collections', 'OrderedDict'), new Tuple([]))], ['x', stackGlobal]]);
    expect(formatError(() => readPth(withPickle(hidden), 'evil.pth')).message).toMatch(/refuses to load global builtins\.eval/);
  });

  it('with an unknown opcode, naming the byte and offset', () => {
    for (const op of [0xff, 0x69 /* INST */, 0x42 /* BINBYTES */]) {
      const bytes = zipOfPickle(new Uint8Array([0x80, 0x02, 0x7d, op, 0x2e]), []);
      expect(formatError(() => readPth(bytes, 'op.pth')).message).toMatch(new RegExp(`pickle byte 3: unknown or unsupported pickle opcode 0x${op.toString(16)}`));
    }
  });

  it('with broken pickle structure', () => {
    const cases: [number[], RegExp][] = [
      [[0x80, 0x02, 0x73, 0x2e], /pops from an empty stack/],
      [[0x80, 0x02, 0x74, 0x2e], /MARK that was never set/],
      [[0x80, 0x02, 0x68, 0x05, 0x2e], /memo entry 5/],
      [[0x80, 0x02, 0x5d, 0x4e, 0x4e, 0x73, 0x2e], /not a dict/],
      [[0x80, 0x02, 0x29, 0x4e, 0x61, 0x2e], /not a list/],
      [[0x80, 0x02, 0x4e, 0x29, 0x52, 0x2e], /not an allowed callable/],
      [[0x80, 0x09, 0x2e], /protocol 9/],
      [[0x80, 0x02, 0x58, 0xff, 0xff, 0xff, 0xff, 0x2e], /needs 4294967295 more bytes/],
      [[0x80, 0x02, 0x58, 0x01, 0, 0, 0, 0xc3, 0x2e], /not valid UTF-8/],
      [[0x80, 0x02, 0x63, 0x6f, 0x73, 0x2e], /unterminated/],
    ];
    for (const [pkl, pattern] of cases) {
      expect(formatError(() => readPth(zipOfPickle(new Uint8Array(pkl), []), 'b.pth')).message).toMatch(pattern);
    }
  });

  it('with storages that are missing, mis-sized, or read out of bounds, naming the key', () => {
    const missing = torchSave(stateDict(new Map([['w', tensor(s, 0, [6], [1])]])), []);
    expect(formatError(() => readPth(missing, 'm.pth')).message).toMatch(/storage data\/0, which the archive lacks/);
    const short: Storage = { ...s, bytes: s.bytes.subarray(0, 20) };
    expect(formatError(() => readPth(withPickle(stateDict(new Map([['w', tensor(short, 0, [5], [1])]])), [short]), 'm.pth')).message).toMatch(/holds 20 bytes but 6 F32 elements need 24/);
    const cases: [Reduce, RegExp][] = [
      [tensor(s, 1, [6], [1]), /"w": reaches element 6 of storage 0, which holds 6/],
      [tensor(s, 0, [2, 3], [4, 1]), /"w": reaches element 6/],
      [tensor(s, 7, [0], [1]), /"w": reaches element 7/],
      [tensor(s, 0, [10, 4], [0, 1]), /"w": has 40 elements but its storage 0 only 6 \(an expanded view\)/],
      [tensor(s, 0, [2 ** 40, 2 ** 40], [1, 1]), /expanded view/],
    ];
    for (const [t, pattern] of cases) expect(formatError(() => readPth(oneTensor(t), 'v.pth')).message).toMatch(pattern);
    expect(readPth(oneTensor(tensor(s, 6, [0, 3], [3, 1])), 'v.pth').get('w')!.data).toEqual(f32());
  });

  it('with malformed rebuild arguments and persistent ids', () => {
    const pid = (items: unknown[]) => new PersistentId(new Tuple(items));
    const rebuild = (args: unknown[]) => new Reduce(new Global('torch._utils', '_rebuild_tensor_v2'), new Tuple(args));
    const cases: [unknown, RegExp][] = [
      [rebuild([1, 0, new Tuple([1]), new Tuple([1]), false, null]), /_rebuild_tensor_v2 with malformed arguments/],
      [tensor(s, -1, [6], [1]), /malformed arguments/],
      [tensor(s, 0, [6], [1, 1]), /malformed arguments/],
      [tensor(s, 0, [6.5], [1]), /malformed arguments/],
      [pid(['module', 1, 2, 3, 4]), /not a torch storage/],
      [pid(['storage', 'torch.FloatStorage', '0', 'cpu', 6]), /malformed storage persistent id/],
      [pid(['storage', new Global('torch', 'FloatStorage'), '0', 'cpu', -1]), /malformed storage persistent id/],
      [new Reduce(new Global('collections', 'OrderedDict'), new Tuple([1])), /OrderedDict with arguments/],
    ];
    for (const [value, pattern] of cases) {
      expect(formatError(() => readPth(withPickle(new Map([['w', value]])), 'r.pth')).message).toMatch(pattern);
    }
    const twoTypes = new Map([['a', tensor(s, 0, [6], [1])], ['b', tensor({ ...s, kind: 'IntStorage' }, 0, [6], [1])]]);
    expect(formatError(() => readPth(withPickle(twoTypes), 'r.pth')).message).toMatch(/storage 0 with two different types/);
  });

  it('that are not state_dicts, saying what was found', () => {
    const cases: [unknown, RegExp][] = [
      [new Map<unknown, unknown>([['epoch', 3], ['optimizer', new Map()]]), /holds a dict whose values are not all tensors \(keys: "epoch", "optimizer"\)/],
      [[1, 2], /holds a list or tuple, not a state_dict/],
      [null, /holds None/],
      [tensor(s, 0, [6], [1]), /holds a single tensor/],
      [new Map([[1, tensor(s, 0, [6], [1])]]), /keys: 1\)/],
    ];
    for (const [value, pattern] of cases) {
      const err = formatError(() => readPth(withPickle(value), 'x.pth'));
      expect(err.message).toMatch(pattern);
      expect(err.message).toContain("under 'model_state_dict', 'state_dict' or 'model'");
    }
  });

  it('in other containers: legacy, TorchScript, compressed, big-endian, not a zip, several archives', () => {
    const legacy = new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
    expect(formatError(() => readWeights(legacy, 'old.pth')).message).toMatch(/^old\.pth: uses the legacy .* Re-save it with PyTorch 1\.6 or newer/);
    expect(formatError(() => readPth(new Uint8Array([1, 2, 3]), 'n.pth')).message).toMatch(/not a PyTorch zip checkpoint/);
    const script = zipSync({ 'm/data.pkl': pickle(null), 'm/constants.pkl': pickle(null) }, { level: 0 });
    expect(formatError(() => readPth(script, 'ts.pt')).message).toMatch(/TorchScript archive/);
    const deflated = zipSync({ 'archive/data.pkl': pickle(stateDict(new Map())) }, { level: 6 });
    expect(formatError(() => readPth(deflated, 'z.pth')).message).toMatch(/zip entry archive\/data\.pkl is compressed \(method 8\)/);
    const big = torchSave(stateDict(new Map()), [], { byteorder: 'big' });
    expect(formatError(() => readPth(big, 'be.pth')).message).toMatch(/byteorder "big"/);
    const none = zipSync({ 'archive/other.txt': new Uint8Array(1) }, { level: 0 });
    expect(formatError(() => readPth(none, 'e.pth')).message).toMatch(/exactly one <folder>\/data\.pkl but holds 0/);
    const two = zipSync({ 'a/data.pkl': pickle(stateDict(new Map())), 'b/data.pkl': pickle(stateDict(new Map())) }, { level: 0 });
    expect(formatError(() => readPth(two, 't.pth')).message).toMatch(/holds 2/);
    expect(readPth(zipSync({ 'a/data.pkl': pickle(stateDict(new Map())) }, { level: 0 }), 'ok.pth').size).toBe(0);
    const lying = valid.slice();
    new DataView(lying.buffer).setUint16(lying.length - 14, 0xffff, true); // EOCD: entries on this disk
    new DataView(lying.buffer).setUint16(lying.length - 12, 0xffff, true); // EOCD: total entries
    expect(formatError(() => readPth(lying, 'l.pth')).message).toMatch(/more zip entries than the file can hold/);
    expect(formatError(() => readPth(valid.subarray(0, 100), 'c.pth')).message).toMatch(/not a readable zip archive \(invalid zip data\)/);
  });
});

// --- fuzzing ------------------------------------------------------------------------------------

/** mulberry32: a tiny seeded PRNG. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(source: Uint8Array, random: () => number): Uint8Array {
  const pick = (n: number) => Math.floor(random() * n);
  const bytes = source.slice();
  switch (pick(4)) {
    case 0: {
      for (let flips = 1 + pick(8); flips > 0; flips--) bytes[pick(bytes.length)] ^= 1 << pick(8);
      return bytes;
    }
    case 1:
      return bytes.subarray(0, pick(bytes.length));
    case 2: {
      // Overwrite a range with bytes copied from elsewhere in the file.
      const length = 1 + pick(32);
      const from = pick(bytes.length - length);
      bytes.set(source.subarray(from, from + length), pick(bytes.length - length));
      return bytes;
    }
    default: {
      // Splice: cut a range out and insert another copy elsewhere.
      const from = pick(bytes.length);
      const to = Math.min(bytes.length, from + 1 + pick(64));
      const at = pick(bytes.length);
      const spliced = new Uint8Array([...bytes.subarray(0, at), ...bytes.subarray(from, to), ...bytes.subarray(at)]);
      return pick(2) ? spliced : new Uint8Array([...bytes.subarray(0, from), ...bytes.subarray(to)]);
    }
  }
}

/** Reads 2000 mutants; each must parse or be rejected by a deliberate check, never by a wrapped internal error. */
function fuzz(valid: Uint8Array, read: (bytes: Uint8Array) => unknown, seed: number) {
  const random = prng(seed);
  const outcomes = { parsed: 0, rejected: 0 };
  for (let i = 0; i < 2000; i++) {
    const bytes = mutate(valid, random);
    try {
      read(bytes);
      outcomes.parsed++;
    } catch (err) {
      if (!(err instanceof WeightsFormatError)) throw new Error(`case ${i}: ${String(err)}`, { cause: err });
      // withFileErrors' generic wrapper means an exception slipped past the reader's own checks.
      if (err.message.includes('could not be read')) throw new Error(`case ${i}: ${err.message}`, { cause: err });
      outcomes.rejected++;
    }
  }
  return outcomes;
}

describe('fuzzing', () => {
  const s = storageOf('0', range(24));
  const counter = storageOf('1', i64(5n));
  const weights = stateDict(new Map<string, unknown>([
    ['conv.weight', tensor(s, 0, [2, 3, 2, 2], contiguousStrides([2, 3, 2, 2]))],
    ['view', tensor(s, 3, [3, 2], [1, 4])],
    ['bn.num_batches_tracked', tensor(counter, 0, [], [])],
  ]));

  it('mutated .pth files either parse or throw WeightsFormatError', () => {
    const started = performance.now();
    const outcomes = fuzz(torchSave(weights, [s, counter]), (bytes) => readPth(bytes, 'fuzz.pth'), 1234);
    expect(outcomes.rejected).toBeGreaterThan(1000);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('mutated data.pkl streams inside a valid zip either parse or throw WeightsFormatError', () => {
    const started = performance.now();
    const outcomes = fuzz(pickle(weights), (bytes) => readPth(zipOfPickle(bytes, [s, counter]), 'fuzz.pth'), 4321);
    expect(outcomes.rejected).toBeGreaterThan(1000);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('mutated .safetensors files either parse or throw WeightsFormatError', () => {
    const valid = writeSafetensors({
      'conv.weight': { dtype: 'F32', shape: [2, 3, 2, 2], data: range(24) },
      'bn.num_batches_tracked': { dtype: 'I64', shape: [], data: i64(5n) },
      'fc.bias': { dtype: 'F32', shape: [3], data: f32(1, 2, 3) },
    }, { format: 'pt' });
    const started = performance.now();
    const outcomes = fuzz(valid, (bytes) => readWeights(bytes, 'fuzz.safetensors'), 5678);
    expect(outcomes.rejected).toBeGreaterThan(1000);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
