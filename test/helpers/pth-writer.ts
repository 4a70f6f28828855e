// Test-only writer of the bytes torch.save(obj, f) produces (PyTorch ≥ 1.6 zip format, pickle
// protocol 2), so the reader can be tested without PyTorch. It follows CPython's Pickler for
// protocol 2: GLOBAL for classes and functions, BINUNICODE for str, BININT1/BININT2/BININT/LONG1
// for int, TUPLE1-3 for short tuples, MARK…SETITEMS in batches of 1000, BINPUT after every
// memoizable object and BINGET on a repeat, and torch's persistent ids for storages. The zip
// matches PyTorch's writer: STORED entries, data aligned to 64 bytes with an "FB" extra field.

/** A Python global (class or function), written with GLOBAL. */
export class Global {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
}

export class Tuple {
  constructor(readonly items: unknown[]) {}
}

/** `func(*args)` via REDUCE, then optional dict items (SETITEMS) and state (BUILD), as __reduce__ returns. */
export class Reduce {
  constructor(
    readonly func: Global,
    readonly args: Tuple,
    readonly dictItems?: Map<unknown, unknown>,
    readonly state?: unknown,
  ) {}
}

/** An object pickled by reference: pid then BINPERSID. */
export class PersistentId {
  constructor(readonly pid: Tuple) {}
}

/** Bytes spliced into the pickle stream verbatim. */
export class Raw {
  constructor(readonly bytes: number[]) {}
}

export type StorageKind = 'FloatStorage' | 'HalfStorage' | 'BFloat16Storage' | 'LongStorage' | 'DoubleStorage' | 'IntStorage';

export interface Storage {
  key: string;
  kind: StorageKind;
  numel: number;
  bytes: Uint8Array;
}

const ORDERED_DICT = new Global('collections', 'OrderedDict');
const REBUILD_TENSOR = new Global('torch._utils', '_rebuild_tensor_v2');

/** `collections.OrderedDict(items)` as CPython pickles it. */
export function orderedDict(items?: Map<unknown, unknown>, state?: unknown): Reduce {
  return new Reduce(ORDERED_DICT, new Tuple([]), items, state);
}

/** A tensor as Tensor.__reduce_ex__ pickles it. */
export function tensor(storage: Storage, offset: number, size: number[], stride: number[]): Reduce {
  const pid = new PersistentId(new Tuple(['storage', new Global('torch', storage.kind), storage.key, 'cpu', storage.numel]));
  return new Reduce(REBUILD_TENSOR, new Tuple([pid, offset, new Tuple(size), new Tuple(stride), false, orderedDict()]));
}

export function storageOf(key: string, data: Float32Array | BigInt64Array): Storage {
  const kind = data instanceof BigInt64Array ? 'LongStorage' : 'FloatStorage';
  return { key, kind, numel: data.length, bytes: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
}

export function contiguousStrides(size: number[]): number[] {
  const strides = size.map(() => 1);
  for (let d = size.length - 2; d >= 0; d--) strides[d] = strides[d + 1] * size[d + 1];
  return strides;
}

/**
 * What `model.state_dict()` is: an OrderedDict of tensors whose instance dict carries `_metadata`
 * (one {'version': 1} per module), so the pickle ends with a BUILD.
 */
export function stateDict(entries: Map<string, unknown>): Reduce {
  const metadata = orderedDict(new Map([['', new Map([['version', 1]])]]));
  return orderedDict(entries, new Map([['_metadata', metadata]]));
}

/** A state_dict of contiguous tensors, one storage each, as torch.save(model.state_dict()) writes it. */
export function pthOfTensors(tensors: Record<string, { shape: number[]; data: Float32Array | BigInt64Array }>, archive = 'archive'): Uint8Array {
  const storages: Storage[] = [];
  const entries = new Map<string, unknown>();
  for (const [key, { shape, data }] of Object.entries(tensors)) {
    const storage = storageOf(String(storages.length), data);
    storages.push(storage);
    entries.set(key, tensor(storage, 0, shape, contiguousStrides(shape)));
  }
  return torchSave(stateDict(entries), storages, { archive });
}

export interface SaveOptions {
  archive?: string;
  byteorder?: string | null;
}

/** torch.save's zip: data.pkl, byteorder, data/<key> in sorted key order, version, .data/serialization_id. */
export function torchSave(obj: unknown, storages: Storage[], options: SaveOptions = {}): Uint8Array {
  return zipOfPickle(pickle(obj), storages, options);
}

export function zipOfPickle(pickleBytes: Uint8Array, storages: Storage[], { archive = 'archive', byteorder = 'little' }: SaveOptions = {}): Uint8Array {
  const text = (s: string) => new TextEncoder().encode(s);
  const records: [string, Uint8Array][] = [[`${archive}/data.pkl`, pickleBytes]];
  if (byteorder !== null) records.push([`${archive}/byteorder`, text(byteorder)]);
  for (const s of [...storages].sort((a, b) => (a.key < b.key ? -1 : 1))) records.push([`${archive}/data/${s.key}`, s.bytes]);
  records.push([`${archive}/version`, text('3\n')], [`${archive}/.data/serialization_id`, text('0123456789012345678901234567890123456789')]);
  return zipStored(records);
}

// --- pickle protocol 2 --------------------------------------------------------------------------

export function pickle(obj: unknown): Uint8Array {
  const p = new Pickler();
  p.bytes(0x80, 2);
  p.save(obj);
  p.bytes(0x2e);
  return new Uint8Array(p.out);
}

class Pickler {
  readonly out: number[] = [];
  private readonly memo = new Map<unknown, number>();

  bytes(...values: number[]): void {
    for (const v of values) this.out.push(v);
  }

  save(obj: unknown): void {
    if (obj === null) return this.bytes(0x4e);
    if (obj === true || obj === false) return this.bytes(obj ? 0x88 : 0x89);
    if (typeof obj === 'bigint') return this.saveInt(obj);
    if (typeof obj === 'number') return Number.isInteger(obj) ? this.saveInt(BigInt(obj)) : this.saveFloat(obj);
    if (obj instanceof Raw) return this.bytes(...obj.bytes);
    if (obj instanceof PersistentId) return this.save(obj.pid), this.bytes(0x51);
    const memoKey = obj instanceof Global ? `global:${obj.module}.${obj.name}` : obj;
    if (this.memo.has(memoKey)) return this.get(this.memo.get(memoKey)!);
    if (typeof obj === 'string') this.saveString(obj);
    else if (obj instanceof Global) this.bytes(0x63, ...utf8(`${obj.module}\n${obj.name}\n`));
    else if (obj instanceof Tuple) return this.saveTuple(obj, memoKey);
    else if (obj instanceof Reduce) return this.saveReduce(obj);
    else if (obj instanceof Map) return this.bytes(0x7d), this.memoize(obj), this.setItems(obj);
    else if (Array.isArray(obj)) return this.bytes(0x5d), this.memoize(obj), this.appends(obj);
    else throw new Error(`pth-writer cannot pickle ${String(obj)}`);
    this.memoize(memoKey);
  }

  private saveInt(v: bigint): void {
    if (v >= 0n && v <= 0xffn) return this.bytes(0x4b, Number(v));
    if (v >= 0n && v <= 0xffffn) return this.bytes(0x4d, ...le(v, 2));
    if (v >= -0x80000000n && v <= 0x7fffffffn) return this.bytes(0x4a, ...le(v, 4));
    let n = 1;
    while (v < -(1n << BigInt(8 * n - 1)) || v >= 1n << BigInt(8 * n - 1)) n++;
    this.bytes(0x8a, n, ...le(v, n));
  }

  private saveFloat(v: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    this.bytes(0x47, ...b);
  }

  private saveString(s: string): void {
    const encoded = utf8(s);
    this.bytes(0x58, ...le(BigInt(encoded.length), 4), ...encoded);
  }

  private saveTuple(t: Tuple, memoKey: unknown): void {
    const n = t.items.length;
    if (n === 0) return this.bytes(0x29);
    if (n <= 3) {
      for (const item of t.items) this.save(item);
      this.bytes([0x85, 0x86, 0x87][n - 1]);
    } else {
      this.bytes(0x28);
      for (const item of t.items) this.save(item);
      this.bytes(0x74);
    }
    this.memoize(memoKey);
  }

  private saveReduce(r: Reduce): void {
    this.save(r.func);
    this.save(r.args);
    this.bytes(0x52);
    this.memoize(r);
    if (r.dictItems) this.setItems(r.dictItems);
    if (r.state !== undefined) this.save(r.state), this.bytes(0x62);
  }

  private setItems(items: Map<unknown, unknown>): void {
    const all = [...items];
    for (let i = 0; i < all.length; i += 1000) {
      const batch = all.slice(i, i + 1000);
      if (batch.length > 1) this.bytes(0x28);
      for (const [k, v] of batch) this.save(k), this.save(v);
      this.bytes(batch.length > 1 ? 0x75 : 0x73);
    }
  }

  private appends(items: unknown[]): void {
    for (let i = 0; i < items.length; i += 1000) {
      const batch = items.slice(i, i + 1000);
      if (batch.length > 1) this.bytes(0x28);
      for (const v of batch) this.save(v);
      this.bytes(batch.length > 1 ? 0x65 : 0x61);
    }
  }

  private memoize(key: unknown): void {
    const index = this.memo.size;
    this.memo.set(key, index);
    if (index < 256) this.bytes(0x71, index);
    else this.bytes(0x72, ...le(BigInt(index), 4));
  }

  private get(index: number): void {
    if (index < 256) this.bytes(0x68, index);
    else this.bytes(0x6a, ...le(BigInt(index), 4));
  }
}

function utf8(s: string): number[] {
  return [...new TextEncoder().encode(s)];
}

/** n-byte little-endian two's complement. */
function le(v: bigint, n: number): number[] {
  const out: number[] = [];
  let x = BigInt.asUintN(8 * n, v);
  for (let i = 0; i < n; i++, x >>= 8n) out.push(Number(x & 0xffn));
  return out;
}

// --- zip (STORED, 64-byte aligned like PyTorch's miniz writer) -----------------------------------

const ALIGNMENT = 64;

function zipStored(records: [string, Uint8Array][]): Uint8Array {
  // Chunks rather than one number[] per byte, so a whole ResNet's storages (tens of MB) write in well under a second.
  const parts: Uint8Array[] = [];
  let length = 0;
  const push = (bytes: Uint8Array | number[]) => {
    const chunk = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
    parts.push(chunk);
    length += chunk.length;
  };
  const central: number[] = [];
  for (const [name, data] of records) {
    const nameBytes = utf8(name);
    const offset = length;
    const start = offset + 30 + nameBytes.length + 4;
    const padding = (ALIGNMENT - (start % ALIGNMENT)) % ALIGNMENT;
    const extra = [0x46, 0x42, ...le(BigInt(padding), 2), ...new Array<number>(padding).fill(0x5a)]; // "FB", then 'Z's
    const crc = crc32(data);
    const common = [...le(20n, 2), 0, 0, 0, 0, 0, 0, 0, 0x21, ...le(BigInt(crc), 4), ...le(BigInt(data.length), 4), ...le(BigInt(data.length), 4), ...le(BigInt(nameBytes.length), 2)];
    push([...le(0x04034b50n, 4), ...common, ...le(BigInt(extra.length), 2), ...nameBytes, ...extra]);
    push(data);
    central.push(...le(0x02014b50n, 4), ...le(20n, 2), ...common, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...le(BigInt(offset), 4), ...nameBytes);
  }
  const end = [
    ...le(0x06054b50n, 4), 0, 0, 0, 0,
    ...le(BigInt(records.length), 2), ...le(BigInt(records.length), 2),
    ...le(BigInt(central.length), 4), ...le(BigInt(length), 4), 0, 0,
  ];
  push(central);
  push(end);
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
