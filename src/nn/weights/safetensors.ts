// safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header length,
// a JSON header {key: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {..}}, then the
// raw little-endian tensor bytes, offsets counted from the end of the header.

import {
  DTYPE_SIZE,
  WeightsFormatError,
  decodeElements,
  isDType,
  numelOf,
  withFileErrors,
  type DType,
  type NamedTensor,
} from './types';

/** Largest JSON header accepted; real headers are kilobytes. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const METADATA_KEY = '__metadata__';
const SUPPORTED = Object.keys(DTYPE_SIZE).join(', ');

interface Entry {
  key: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

interface Parsed {
  entries: Entry[];
  metadata: Record<string, string>;
  data: Uint8Array;
}

/** Reads every tensor of a safetensors file. `source` names the file in error messages. */
export function readSafetensors(bytes: Uint8Array, source: string): Map<string, NamedTensor> {
  return withFileErrors(source, () => {
    const { entries, data } = parse(bytes, source);
    const tensors = new Map<string, NamedTensor>();
    for (const { key, dtype, shape, begin, end } of entries) {
      tensors.set(key, { dtype, shape, data: decodeElements(dtype, data.subarray(begin, end)) });
    }
    return tensors;
  });
}

/** Reads only the `__metadata__` string map of a safetensors file (empty when there is none). */
export function readSafetensorsMetadata(bytes: Uint8Array, source: string): Record<string, string> {
  return withFileErrors(source, () => parse(bytes, source).metadata);
}

/**
 * Serialises tensors as safetensors. Float32Array data is written as F32 (whatever dtype it was read
 * from) and BigInt64Array data as I64; tensors keep their insertion order, packed back to back.
 */
export function writeSafetensors(
  tensors: Map<string, NamedTensor> | Record<string, NamedTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const items = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = Object.create(null);
  if (metadata !== undefined) header[METADATA_KEY] = checkedMetadata(metadata, 'writeSafetensors');
  let offset = 0;
  for (const [key, tensor] of items) {
    checkWritable(key, tensor);
    const dtype = tensor.data instanceof BigInt64Array ? 'I64' : 'F32';
    header[key] = { dtype, shape: tensor.shape, data_offsets: [offset, offset + tensor.data.byteLength] };
    offset += tensor.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces so the data region starts 8-byte aligned, as the reference writer does.
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let cursor = 8 + headerLength;
  for (const [, { data }] of items) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), cursor);
    cursor += data.byteLength;
  }
  return out;
}

function checkWritable(key: string, tensor: NamedTensor): void {
  const fail = (detail: string) => new WeightsFormatError('writeSafetensors', detail, key);
  if (key === METADATA_KEY) throw fail(`"${METADATA_KEY}" is reserved; pass metadata as the second argument.`);
  if (!isShape(tensor.shape)) throw fail(`shape ${JSON.stringify(tensor.shape)} is not a list of non-negative integers.`);
  const isI64 = tensor.data instanceof BigInt64Array;
  if (isI64 !== (tensor.dtype === 'I64')) {
    throw fail(`dtype ${tensor.dtype} does not match its ${tensor.data.constructor.name} data; I64 needs BigInt64Array, every other dtype Float32Array.`);
  }
  if (tensor.data.length !== numelOf(tensor.shape)) {
    throw fail(`shape [${tensor.shape}] needs ${numelOf(tensor.shape)} elements but data holds ${tensor.data.length}.`);
  }
}

function parse(bytes: Uint8Array, source: string): Parsed {
  const fail = (detail: string, key?: string) => new WeightsFormatError(source, detail, key);
  if (bytes.length < 8) {
    throw fail(`is ${bytes.length} bytes long, too short for a safetensors file. The file is truncated: download or save it again.`);
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  const limit = Math.min(bytes.length - 8, MAX_HEADER_BYTES);
  if (headerLength > BigInt(limit)) {
    throw fail(
      `declares a ${headerLength}-byte header but at most ${limit} bytes are possible (file size ${bytes.length}, limit ${MAX_HEADER_BYTES}). ` +
        'It is truncated or not a safetensors file: check the path, or download or save it again.',
    );
  }
  const dataStart = 8 + Number(headerLength);
  const header = parseHeaderJson(bytes.subarray(8, dataStart), fail);
  const data = bytes.subarray(dataStart);
  const entries: Entry[] = [];
  let metadata: Record<string, string> = {};
  for (const [key, raw] of Object.entries(header)) {
    if (key === METADATA_KEY) metadata = checkedMetadata(raw, source);
    else entries.push(parseEntry(key, raw, data.length, fail));
  }
  checkNoOverlap(entries, fail);
  return { entries, metadata, data };
}

function parseHeaderJson(bytes: Uint8Array, fail: (detail: string) => WeightsFormatError): Record<string, unknown> {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw fail(`has a header that is not valid UTF-8 JSON (${(err as Error).message}). The file is corrupt or not a safetensors file.`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw fail('has a header that is not a JSON object. The file is corrupt or not a safetensors file.');
  }
  return header as Record<string, unknown>;
}

function parseEntry(key: string, raw: unknown, dataLength: number, fail: (d: string, k?: string) => WeightsFormatError): Entry {
  const bad = (detail: string) => fail(`${detail} The file is corrupt: download or save it again.`, key);
  if (raw === null || typeof raw !== 'object') throw bad('header entry is not an object.');
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== 'string') throw bad('header entry has no "dtype" string.');
  if (!isDType(dtype)) {
    throw fail(`has unsupported dtype ${dtype}; supported: ${SUPPORTED}. Convert it (e.g. tensor.float()) before saving.`, key);
  }
  if (!isShape(shape)) throw bad(`"shape" ${JSON.stringify(shape)} is not a list of non-negative integers.`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
    throw bad(`"data_offsets" ${JSON.stringify(offsets)} is not a pair of non-negative integers.`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataLength) {
    throw bad(`data_offsets [${begin}, ${end}] do not lie inside the ${dataLength}-byte data region.`);
  }
  const expected = numelOf(shape) * DTYPE_SIZE[dtype];
  if (end - begin !== expected) {
    throw bad(`shape [${shape}] of ${dtype} needs ${expected} bytes but data_offsets span ${end - begin}.`);
  }
  return { key, dtype, shape: [...shape], begin, end };
}

function checkNoOverlap(entries: Entry[], fail: (d: string, k?: string) => WeightsFormatError): void {
  const sorted = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const [prev, next] = [sorted[i - 1], sorted[i]];
    if (next.begin < prev.end) {
      throw fail(`bytes [${next.begin}, ${next.end}) overlap those of "${prev.key}" [${prev.begin}, ${prev.end}). The file is corrupt: download or save it again.`, next.key);
    }
  }
}

function checkedMetadata(raw: unknown, source: string): Record<string, string> {
  const valid = raw !== null && typeof raw === 'object' && !Array.isArray(raw) && Object.values(raw).every((v) => typeof v === 'string');
  if (!valid) throw new WeightsFormatError(source, `"${METADATA_KEY}" must be an object of strings to strings.`);
  return { ...(raw as Record<string, string>) };
}

function isIndex(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isShape(value: unknown): value is number[] {
  return Array.isArray(value) && value.every(isIndex);
}
