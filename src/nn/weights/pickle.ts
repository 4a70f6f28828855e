// A restricted unpickler: enough of the pickle protocol (2, plus the framing and short strings of 4)
// to read what torch.save writes, and nothing that can run code. GLOBAL and STACK_GLOBAL resolve
// only names in the caller's allow-list; REDUCE and NEWOBJ only call the JS functions in that list.
//
// Python values become: None → null, bool → boolean, int → number (bigint beyond 2^53), float →
// number, str → string, list → array, tuple → frozen array, dict → Map.

import { WeightsFormatError } from './types';

/** Builds the error for the current position; allow-listed callables receive one to report bad arguments. */
export type Fail = (detail: string) => WeightsFormatError;

/** An allow-listed Python callable, implemented in JS. */
export class PyCallable {
  constructor(
    readonly name: string,
    readonly invoke: (args: readonly unknown[], fail: Fail) => unknown,
  ) {}
}

export interface UnpickleOptions {
  /** Names the stream in errors, e.g. `model.pth (archive/data.pkl)`. */
  source: string;
  /** "module.name" → the value GLOBAL pushes (a PyCallable, or a marker object such as a storage type). */
  globals: ReadonlyMap<string, unknown>;
  /** Resolves a persistent id (BINPERSID); torch uses these for storages. */
  persistentLoad(pid: unknown, fail: Fail): unknown;
}

const MAX_STACK = 1 << 20;
const MAX_MARKS = 1 << 16;
const MAX_MEMO = 1 << 20;
const MAX_GLOBAL_NAME = 256;
const HIGHEST_PROTOCOL = 5;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Unpickles one object. Throws WeightsFormatError on anything malformed, truncated or not allowed. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  return new Unpickler(bytes, options).run();
}

class Unpickler {
  private pos = 0;
  private opStart = 0;
  private stack: unknown[] = [];
  private readonly marks: unknown[][] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly view: DataView;
  private readonly fail: Fail = (detail) =>
    new WeightsFormatError(this.options.source, `pickle byte ${this.opStart}: ${detail}`);

  constructor(
    private readonly bytes: Uint8Array,
    private readonly options: UnpickleOptions,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  run(): unknown {
    for (;;) {
      this.opStart = this.pos;
      const opcode = this.u8();
      if (opcode === 0x2e /* STOP */) return this.pop();
      this.step(opcode);
    }
  }

  private step(op: number): void {
    switch (op) {
      case 0x80: return this.proto(); // PROTO
      case 0x95: return this.frame(); // FRAME
      case 0x7d: return this.push(new Map()); // EMPTY_DICT '}'
      case 0x5d: return this.push([]); // EMPTY_LIST ']'
      case 0x29: return this.push(Object.freeze([])); // EMPTY_TUPLE ')'
      case 0x28: return this.mark(); // MARK '('
      case 0x74: return this.push(Object.freeze(this.popMark())); // TUPLE 't'
      case 0x85: return this.tupleOf(1); // TUPLE1
      case 0x86: return this.tupleOf(2); // TUPLE2
      case 0x87: return this.tupleOf(3); // TUPLE3
      case 0x58: return this.push(this.text(this.u32())); // BINUNICODE 'X'
      case 0x8c: return this.push(this.text(this.u8())); // SHORT_BINUNICODE
      case 0x8d: return this.push(this.text(this.u64())); // BINUNICODE8
      case 0x4a: return this.push(this.i32()); // BININT 'J'
      case 0x4b: return this.push(this.u8()); // BININT1 'K'
      case 0x4d: return this.push(this.u16()); // BININT2 'M'
      case 0x8a: return this.push(this.long(this.u8())); // LONG1
      case 0x47: return this.push(this.f64()); // BINFLOAT 'G'
      case 0x88: return this.push(true); // NEWTRUE
      case 0x89: return this.push(false); // NEWFALSE
      case 0x4e: return this.push(null); // NONE 'N'
      case 0x71: return this.put(this.u8()); // BINPUT 'q'
      case 0x72: return this.put(this.u32()); // LONG_BINPUT 'r'
      case 0x94: return this.put(this.memo.size); // MEMOIZE
      case 0x68: return this.get(this.u8()); // BINGET 'h'
      case 0x6a: return this.get(this.u32()); // LONG_BINGET 'j'
      case 0x73: return this.setItems([this.pop(), this.pop()].reverse()); // SETITEM 's'
      case 0x75: return this.setItems(this.popMark()); // SETITEMS 'u'
      case 0x61: return this.append([this.pop()]); // APPEND 'a'
      case 0x65: return this.append(this.popMark()); // APPENDS 'e'
      case 0x63: return this.push(this.resolve(this.line(), this.line())); // GLOBAL 'c'
      case 0x93: return this.stackGlobal(); // STACK_GLOBAL
      case 0x52: // REDUCE 'R'
      case 0x81: return this.call(); // NEWOBJ: cls.__new__(cls, *args), the same for our callables
      case 0x62: return this.build(); // BUILD 'b'
      case 0x51: return this.push(this.options.persistentLoad(this.pop(), this.fail)); // BINPERSID 'Q'
      default: {
        const shown = op >= 0x20 && op < 0x7f ? ` ('${String.fromCharCode(op)}')` : '';
        throw this.fail(
          `unknown or unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}${shown}. ` +
            'Only the subset torch.save writes is read: re-save the weights with torch.save(model.state_dict(), path).',
        );
      }
    }
  }

  // --- bounded reads --------------------------------------------------------------------------

  private take(n: number): Uint8Array {
    if (n > this.bytes.length - this.pos) {
      throw this.fail(`needs ${n} more bytes but only ${this.bytes.length - this.pos} remain. The file is truncated: download or save it again.`);
    }
    this.pos += n;
    return this.bytes.subarray(this.pos - n, this.pos);
  }

  private at(n: number): number {
    this.take(n);
    return this.pos - n;
  }

  private u8(): number {
    return this.view.getUint8(this.at(1));
  }

  private u16(): number {
    return this.view.getUint16(this.at(2), true);
  }

  private u32(): number {
    return this.view.getUint32(this.at(4), true);
  }

  private i32(): number {
    return this.view.getInt32(this.at(4), true);
  }

  /** BINFLOAT is big-endian. */
  private f64(): number {
    return this.view.getFloat64(this.at(8), false);
  }

  private u64(): number {
    const n = this.view.getBigUint64(this.at(8), true);
    // Anything beyond the remaining bytes fails in take(); clamp so the comparison stays exact.
    return n > BigInt(this.bytes.length) ? Infinity : Number(n);
  }

  private text(n: number): string {
    const raw = this.take(n);
    try {
      return utf8.decode(raw);
    } catch {
      throw this.fail('holds a string that is not valid UTF-8. The file is corrupt: download or save it again.');
    }
  }

  /** A newline-terminated ASCII line, as GLOBAL writes its module and name. */
  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0 || end - this.pos > MAX_GLOBAL_NAME) {
      throw this.fail('has a GLOBAL name that is unterminated or too long. The file is truncated or corrupt.');
    }
    const name = this.text(end - this.pos);
    this.pos += 1;
    return name;
  }

  /** LONG1: little-endian two's complement. */
  private long(n: number): number | bigint {
    const raw = this.take(n);
    let value = 0n;
    for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(raw[i]);
    if (n > 0 && raw[n - 1] & 0x80) value -= 1n << BigInt(8 * n);
    const small = Number(value);
    return Number.isSafeInteger(small) ? small : value;
  }

  // --- stack, marks and memo ------------------------------------------------------------------

  private push(value: unknown): void {
    if (this.stack.length >= MAX_STACK) throw this.fail(`the stack grew past ${MAX_STACK} items. The file is corrupt.`);
    this.stack.push(value);
  }

  private pop(): unknown {
    if (this.stack.length === 0) throw this.fail('pops from an empty stack. The file is corrupt.');
    return this.stack.pop();
  }

  private top(): unknown {
    if (this.stack.length === 0) throw this.fail('reads from an empty stack. The file is corrupt.');
    return this.stack[this.stack.length - 1];
  }

  private mark(): void {
    if (this.marks.length >= MAX_MARKS) throw this.fail(`nests MARKs deeper than ${MAX_MARKS}. The file is corrupt.`);
    this.marks.push(this.stack);
    this.stack = [];
  }

  private popMark(): unknown[] {
    const outer = this.marks.pop();
    if (outer === undefined) throw this.fail('ends a MARK that was never set. The file is corrupt.');
    const items = this.stack;
    this.stack = outer;
    return items;
  }

  private tupleOf(n: number): void {
    if (this.stack.length < n) throw this.fail(`builds a ${n}-tuple from a stack of ${this.stack.length}. The file is corrupt.`);
    this.push(Object.freeze(this.stack.splice(this.stack.length - n, n)));
  }

  private put(index: number): void {
    if (this.memo.size >= MAX_MEMO && !this.memo.has(index)) throw this.fail(`the memo grew past ${MAX_MEMO} entries. The file is corrupt.`);
    this.memo.set(index, this.top());
  }

  private get(index: number): void {
    if (!this.memo.has(index)) throw this.fail(`refers to memo entry ${index}, which was never stored. The file is corrupt.`);
    this.push(this.memo.get(index));
  }

  // --- containers -----------------------------------------------------------------------------

  private setItems(items: unknown[]): void {
    const dict = this.top();
    if (!(dict instanceof Map)) throw this.fail('sets items on something that is not a dict. The file is corrupt.');
    if (items.length % 2 !== 0) throw this.fail('sets a key without a value. The file is corrupt.');
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  }

  private append(items: unknown[]): void {
    const list = this.top();
    if (!Array.isArray(list) || Object.isFrozen(list)) throw this.fail('appends to something that is not a list. The file is corrupt.');
    if (list.length + items.length > MAX_STACK) throw this.fail(`a list grew past ${MAX_STACK} items. The file is corrupt.`);
    for (const item of items) list.push(item);
  }

  // --- globals and calls ----------------------------------------------------------------------

  private proto(): void {
    const version = this.u8();
    if (version > HIGHEST_PROTOCOL) throw this.fail(`uses pickle protocol ${version}; at most ${HIGHEST_PROTOCOL} is understood.`);
  }

  /** FRAME announces how many bytes of opcodes follow; it is only a buffering hint, so just check it. */
  private frame(): void {
    const length = this.u64();
    if (length > this.bytes.length - this.pos) throw this.fail(`announces a ${length}-byte frame but only ${this.bytes.length - this.pos} bytes remain. The file is truncated.`);
  }

  private stackGlobal(): void {
    const name = this.pop();
    const module = this.pop();
    if (typeof module !== 'string' || typeof name !== 'string') throw this.fail('STACK_GLOBAL needs two strings. The file is corrupt.');
    this.push(this.resolve(module, name));
  }

  private resolve(module: string, name: string): unknown {
    const qualified = `${module}.${name}`;
    if (!this.options.globals.has(qualified)) {
      throw this.fail(
        `refuses to load global ${qualified}: only PyTorch state_dict globals are allowed ` +
          `(${[...this.options.globals.keys()].join(', ')}), and nothing in the file is ever executed. ` +
          'If the file holds a whole pickled model or other Python objects, re-save just the weights with ' +
          'torch.save(model.state_dict(), path).',
      );
    }
    return this.options.globals.get(qualified);
  }

  /** Instance state (a state_dict's `_metadata`, say) is not modelled: check the shape and drop it. */
  private build(): void {
    this.pop();
    this.top();
  }

  private call(): void {
    const args = this.pop();
    const callable = this.pop();
    if (!(callable instanceof PyCallable)) throw this.fail('calls something that is not an allowed callable. The file is corrupt.');
    if (!Array.isArray(args)) throw this.fail(`calls ${callable.name} without an argument tuple. The file is corrupt.`);
    this.push(callable.invoke(args, this.fail));
  }
}
