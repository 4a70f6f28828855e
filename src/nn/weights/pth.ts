// PyTorch's zip checkpoint format (torch.save since 1.6): one top folder (its name varies, e.g.
// `archive/` or `resnet34-b627a593/`) holding `data.pkl` (the pickled object, whose tensors refer to
// storages by persistent id), `data/<key>` (each storage's raw little-endian bytes), `byteorder`
// and `version`. Entries are STORED (uncompressed).

import { unzipSync, type UnzipFileInfo } from 'fflate';
import { PyCallable, unpickle, type Fail } from './pickle';
import {
  DTYPE_SIZE,
  WeightsFormatError,
  decodeElements,
  numelOf,
  withFileErrors,
  type DType,
  type NamedTensor,
} from './types';

/** A storage class named in a persistent id, e.g. torch.FloatStorage. */
class StorageType {
  constructor(readonly dtype: DType) {}
}

/** One `data/<key>` record, decoded on first use. */
class Storage {
  private decoded?: Float32Array | BigInt64Array;
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly numel: number,
    readonly bytes: Uint8Array,
  ) {}

  elements(): Float32Array | BigInt64Array {
    return (this.decoded ??= decodeElements(this.dtype, this.bytes));
  }
}

/** What `_rebuild_tensor_v2` describes: a strided view of a storage, materialised once its key is known. */
class TensorView {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly size: readonly number[],
    readonly stride: readonly number[],
  ) {}
}

interface Archive {
  prefix: string;
  records: Map<string, Uint8Array>;
}

const STORAGE_DTYPES: ReadonlyArray<[string, DType]> = [
  ['FloatStorage', 'F32'],
  ['HalfStorage', 'F16'],
  ['BFloat16Storage', 'BF16'],
  ['DoubleStorage', 'F64'],
  ['IntStorage', 'I32'],
  ['LongStorage', 'I64'],
];

/** Everything a state_dict pickle may name; any other global is refused. */
const TORCH_GLOBALS: ReadonlyMap<string, unknown> = new Map<string, unknown>([
  ['collections.OrderedDict', new PyCallable('collections.OrderedDict', newOrderedDict)],
  ['torch._utils._rebuild_tensor_v2', new PyCallable('torch._utils._rebuild_tensor_v2', rebuildTensorV2)],
  ['torch._utils._rebuild_parameter', new PyCallable('torch._utils._rebuild_parameter', rebuildParameter)],
  ...STORAGE_DTYPES.map(([name, dtype]): [string, unknown] => [`torch.${name}`, new StorageType(dtype)]),
]);

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
/** torch.save before 1.6: PROTO 2, then LONG1 of the magic number 0x1950a86a20f9469cfc6c. */
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
/** The records we read; everything else in the archive is skipped unread. */
const WANTED_RECORD = /^[^/]+\/(data\.pkl|byteorder|data\/[^/]+)$/;
/** The smallest zip central-directory entry, to bound the entries a file of a given size can list. */
const MIN_ZIP_ENTRY_BYTES = 46;

const startsWith = (bytes: Uint8Array, magic: readonly number[]) => magic.every((b, i) => bytes[i] === b);

/** Is this PyTorch's zip format, or its legacy pickle format (which readPth explains how to convert)? */
export function looksLikePth(bytes: Uint8Array): boolean {
  return startsWith(bytes, ZIP_MAGIC) || startsWith(bytes, LEGACY_MAGIC);
}

/**
 * Reads the tensors of a `torch.save(model.state_dict(), path)` file. A checkpoint dict holding
 * the state_dict under 'model_state_dict', 'state_dict' or 'model' is accepted too. Every tensor comes back as a
 * contiguous row-major copy; `source` names the file in error messages.
 */
export function readPth(bytes: Uint8Array, source: string): Map<string, NamedTensor> {
  return withFileErrors(source, () => {
    const archive = openArchive(bytes, source);
    const storages = new Map<string, Storage>();
    const root = unpickle(pickleOf(archive), {
      source: `${source} (${archive.prefix}data.pkl)`,
      globals: TORCH_GLOBALS,
      persistentLoad: (pid, fail) => loadStorage(pid, archive, storages, fail),
    });
    const tensors = new Map<string, NamedTensor>();
    for (const [key, view] of findStateDict(root, source)) tensors.set(key, materialise(view, key, source));
    return tensors;
  });
}

// --- the zip container --------------------------------------------------------------------------

function openArchive(bytes: Uint8Array, source: string): Archive {
  if (startsWith(bytes, LEGACY_MAGIC)) {
    throw new WeightsFormatError(
      source,
      'uses the legacy (pre-1.6, non-zip) torch.save format, which is not supported. ' +
        'Re-save it with PyTorch 1.6 or newer: torch.save(torch.load(old_path), new_path).',
    );
  }
  if (!startsWith(bytes, ZIP_MAGIC)) {
    throw new WeightsFormatError(source, 'is not a PyTorch zip checkpoint (no zip header). Check the path, or save it again with torch.save.');
  }
  const { records, torchScript } = readZipRecords(bytes, source);
  if (torchScript) {
    throw new WeightsFormatError(source, 'is a TorchScript archive (torch.jit.save), not a state_dict. Save the weights with torch.save(model.state_dict(), path).');
  }
  const prefixes = [...records.keys()].filter((name) => name.endsWith('/data.pkl')).map((name) => name.slice(0, -'data.pkl'.length));
  if (prefixes.length !== 1) {
    throw new WeightsFormatError(
      source,
      `must hold exactly one <folder>/data.pkl but holds ${prefixes.length}. It is not a torch.save checkpoint, or it is corrupt: save it again with torch.save.`,
    );
  }
  const archive = { prefix: prefixes[0], records };
  checkByteOrder(archive, source);
  return archive;
}

/**
 * Extracts the records readPth needs, skipping the rest unread. fflate trusts the zip's own counts
 * and sizes, so bound the number of entries by the file size and accept only STORED entries.
 */
function readZipRecords(bytes: Uint8Array, source: string): { records: Map<string, Uint8Array>; torchScript: boolean } {
  const fail = (detail: string) => new WeightsFormatError(source, detail);
  const maxEntries = Math.floor(bytes.length / MIN_ZIP_ENTRY_BYTES) + 1;
  let seen = 0;
  let torchScript = false;
  const filter = (entry: UnzipFileInfo): boolean => {
    if (++seen > maxEntries) throw fail('lists more zip entries than the file can hold. The file is corrupt: download or save it again.');
    torchScript ||= /^[^/]+\/constants\.pkl$/.test(entry.name);
    if (!WANTED_RECORD.test(entry.name)) return false;
    if (entry.compression !== 0) {
      throw fail(`zip entry ${entry.name} is compressed (method ${entry.compression}); torch.save stores entries uncompressed. Save it again with torch.save.`);
    }
    if (entry.size !== entry.originalSize) throw fail(`zip entry ${entry.name} has inconsistent sizes. The file is corrupt: download or save it again.`);
    return true;
  };
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, { filter });
  } catch (err) {
    if (err instanceof WeightsFormatError) throw err;
    const detail = `is not a readable zip archive (${(err as Error).message}). The file is truncated or corrupt: download or save it again.`;
    throw new WeightsFormatError(source, detail, undefined, { cause: err });
  }
  return { records: new Map(Object.entries(files)), torchScript };
}

function pickleOf(archive: Archive): Uint8Array {
  return archive.records.get(`${archive.prefix}data.pkl`) as Uint8Array; // openArchive found it
}

function checkByteOrder(archive: Archive, source: string): void {
  const marker = archive.records.get(`${archive.prefix}byteorder`);
  const order = marker === undefined ? 'little' : new TextDecoder().decode(marker);
  if (order !== 'little') {
    throw new WeightsFormatError(source, `was saved with byteorder "${order}"; only little-endian files are read. Save it again on a little-endian machine.`);
  }
}

// --- pickle callbacks ---------------------------------------------------------------------------

/** Persistent id ('storage', torch.FloatStorage, '0', 'cpu', numel) → the storage `data/0`. */
function loadStorage(pid: unknown, archive: Archive, storages: Map<string, Storage>, fail: Fail): Storage {
  if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') {
    throw fail('has a persistent id that is not a torch storage. Only tensors saved by torch.save are read.');
  }
  const [, type, key, , numel] = pid as unknown[];
  if (!(type instanceof StorageType) || typeof key !== 'string' || !Number.isSafeInteger(numel) || (numel as number) < 0) {
    throw fail('has a malformed storage persistent id. The file is corrupt: download or save it again.');
  }
  const cached = storages.get(key);
  if (cached !== undefined) {
    if (cached.dtype !== type.dtype || cached.numel !== numel) throw fail(`uses storage ${key} with two different types or sizes. The file is corrupt.`);
    return cached;
  }
  const name = `data/${key}`;
  const bytes = archive.records.get(archive.prefix + name);
  if (bytes === undefined) throw fail(`refers to storage ${name}, which the archive lacks. The file is truncated or corrupt: download or save it again.`);
  const expected = (numel as number) * DTYPE_SIZE[type.dtype];
  if (bytes.length !== expected) {
    throw fail(`storage ${name} holds ${bytes.length} bytes but ${numel} ${type.dtype} elements need ${expected}. The file is truncated or corrupt.`);
  }
  const storage = new Storage(key, type.dtype, numel as number, bytes);
  storages.set(key, storage);
  return storage;
}

function newOrderedDict(args: readonly unknown[], fail: Fail): Map<unknown, unknown> {
  if (args.length !== 0) throw fail('calls collections.OrderedDict with arguments; torch.save never does.');
  return new Map();
}

/** _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]). */
function rebuildTensorV2(args: readonly unknown[], fail: Fail): TensorView {
  const [storage, offset, size, stride] = args;
  const valid =
    (args.length === 6 || args.length === 7) &&
    storage instanceof Storage &&
    isIndex(offset) &&
    isIndexList(size) &&
    isIndexList(stride) &&
    size.length === stride.length;
  if (!valid) throw fail('calls torch._utils._rebuild_tensor_v2 with malformed arguments. The file is corrupt: download or save it again.');
  return new TensorView(storage, offset, [...size], [...stride]);
}

/** _rebuild_parameter(data, requires_grad, backward_hooks): a Parameter is just its tensor here. */
function rebuildParameter(args: readonly unknown[], fail: Fail): TensorView {
  if (args.length !== 3 || !(args[0] instanceof TensorView)) {
    throw fail('calls torch._utils._rebuild_parameter with malformed arguments. The file is corrupt.');
  }
  return args[0];
}

function isIndex(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isIndexList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every(isIndex);
}

// --- from the unpickled object to tensors -------------------------------------------------------

function isTensorDict(value: unknown): value is Map<string, TensorView> {
  return value instanceof Map && [...value].every(([key, item]) => typeof key === 'string' && item instanceof TensorView);
}

/** Where training scripts put the state_dict in a checkpoint dict (the PyTorch tutorial's is model_state_dict). */
const CHECKPOINT_KEYS = ['model_state_dict', 'state_dict', 'model'];

function findStateDict(root: unknown, source: string): Map<string, TensorView> {
  if (isTensorDict(root)) return root;
  for (const wrapper of CHECKPOINT_KEYS) {
    const inner = root instanceof Map ? root.get(wrapper) : undefined;
    if (isTensorDict(inner)) return inner;
  }
  throw new WeightsFormatError(
    source,
    `holds ${describe(root)}, not a state_dict of tensors. Save the weights with torch.save(model.state_dict(), path) ` +
      "(a checkpoint dict with the state_dict under 'model_state_dict', 'state_dict' or 'model' is also accepted).",
  );
}

function describe(value: unknown): string {
  if (value instanceof TensorView) return 'a single tensor';
  if (Array.isArray(value)) return 'a list or tuple';
  if (!(value instanceof Map)) return value === null ? 'None' : `a ${typeof value}`;
  const keys = [...value.keys()].map((k) => JSON.stringify(typeof k === 'bigint' ? String(k) : k) ?? String(k));
  const shown = keys.slice(0, 12).join(', ') + (keys.length > 12 ? `, … (${keys.length} keys)` : '');
  return `a dict whose values are not all tensors (keys: ${shown || 'none'})`;
}

/** A contiguous copy of a strided view, after checking every element lies inside its storage. */
function materialise(view: TensorView, key: string, source: string): NamedTensor {
  const { storage, offset, size, stride } = view;
  const fail = (detail: string) => new WeightsFormatError(source, detail, key);
  const numel = numelOf(size);
  if (numel > storage.numel) {
    throw fail(`has ${numel} elements but its storage ${storage.key} only ${storage.numel} (an expanded view). Save tensor.contiguous() instead.`);
  }
  const last = size.reduce((end, n, d) => end + (n - 1) * stride[d], offset);
  if (numel === 0 ? offset > storage.numel : last >= storage.numel) {
    throw fail(`reaches element ${Math.max(last, offset)} of storage ${storage.key}, which holds ${storage.numel}. The file is corrupt: download or save it again.`);
  }
  const width = DTYPE_SIZE[storage.dtype];
  const data = isContiguous(size, stride)
    ? decodeElements(storage.dtype, storage.bytes.subarray(offset * width, (offset + numel) * width))
    : gather(storage.elements(), offset, size, stride);
  return { dtype: storage.dtype, shape: [...size], data };
}

function isContiguous(size: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expected) return false;
    expected *= size[d];
  }
  return true;
}

function gather(src: Float32Array | BigInt64Array, offset: number, size: readonly number[], stride: readonly number[]) {
  const numel = numelOf(size);
  if (src instanceof BigInt64Array) {
    const out = new BigInt64Array(numel);
    forEachStrided(offset, size, stride, (i, at) => (out[i] = src[at]));
    return out;
  }
  const out = new Float32Array(numel);
  forEachStrided(offset, size, stride, (i, at) => (out[i] = src[at]));
  return out;
}

/** Visits a strided view in row-major order: visit(output index, storage index). */
function forEachStrided(offset: number, size: readonly number[], stride: readonly number[], visit: (i: number, at: number) => void): void {
  const numel = numelOf(size);
  const index = new Array<number>(size.length).fill(0);
  let at = offset;
  for (let i = 0; i < numel; i++) {
    visit(i, at);
    for (let d = size.length - 1; d >= 0; d--) {
      at += stride[d];
      if (++index[d] < size[d]) break;
      at -= stride[d] * size[d];
      index[d] = 0;
    }
  }
}
