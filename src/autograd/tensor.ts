/**
 * Tensor: a contiguous float32 (or int32) array on the GPU with a shape, plus the autograd fields.
 * Reshapes share the storage; storage goes back to the buffer pool when its last tensor is disposed.
 */
import { getRuntime } from '../gpu/current';
import type { GpuRuntime } from '../gpu/runtime';
import { fillConst, fillRandom } from '../kernels/elementwise';
import { trackTensor } from './scope';
import type { GradNode } from './graph';
import * as basic from './ops/basic';
import * as shapeOps from './ops/shape';
import * as reduce from './ops/reduce';
import * as nnOps from './ops/nn';
import * as unary from './ops/unary';
import * as binary from './ops/binary';
import * as half from './ops/half';
import { backward as runBackward, type BackwardOptions } from './graph';
import { f16Bytes, requireF16 } from '../kernels/cast';
import { decodeF16, encodeF16 } from '../kernels/cast/half';

/** float32, int32 (labels, indices), or float16 (activations under autocast; needs the adapter's shader-f16). */
export type DType = 'f32' | 'i32' | 'f16';
export type Shape = readonly number[];

/** Bytes of a tensor of `n` elements of `dtype` (float16 tensors take whole 4-byte words). */
export function dtypeBytes(dtype: DType, n: number): number {
  return dtype === 'f16' ? f16Bytes(n) : n * 4;
}

/** A GPU buffer shared by a tensor and its reshaped views. */
export class Storage {
  refs = 1;
  constructor(
    readonly rt: GpuRuntime,
    readonly buffer: GPUBuffer,
    readonly bytes: number,
  ) {}
  release(): void {
    if (--this.refs === 0) this.rt.release(this.buffer);
  }
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape [${shape.join(', ')}]: dimensions must be non-negative integers`);
    n *= d;
  }
  return n;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

let nextId = 1;

export class Tensor {
  readonly __isTensor = true;
  readonly id = nextId++;
  readonly size: number;
  requiresGrad = false;
  /** The accumulated gradient of a leaf tensor (owned by this tensor). */
  grad: Tensor | null = null;
  /** The op that produced this tensor, while the graph is alive. */
  node: GradNode | null = null;
  /** A name for error messages (parameters are named after their state_dict key). */
  name?: string;
  private storage: Storage | null;

  /** Wraps a storage; use the static constructors instead. */
  constructor(storage: Storage, readonly shape: Shape, readonly dtype: DType = 'f32') {
    this.size = numel(shape);
    this.storage = storage;
    trackTensor(this);
  }

  get rt(): GpuRuntime {
    if (!this.storage && this.evictedFrom) return this.evictedFrom;
    return this.live().rt;
  }

  /** The runtime of a tensor whose buffer evictStorage() gave back (its shape and runtime stay usable). */
  private evictedFrom: GpuRuntime | null = null;

  get buffer(): GPUBuffer {
    return this.live().buffer;
  }

  get isDisposed(): boolean {
    return this.storage === null;
  }

  /** The bytes of its values in the buffer (4 per element; float16: 2, rounded up to whole words). */
  get byteLength(): number {
    return dtypeBytes(this.dtype, this.size);
  }

  /**
   * @internal Gives the buffer back while keeping the tensor object (ops/half.ts: a float32 copy that an op's
   * backward closure names is freed after the forward and made again from the float16 tensor when needed).
   */
  evictStorage(): void {
    if (this.storage) this.evictedFrom = this.storage.rt;
    this.storage?.release();
    this.storage = null;
  }

  /** @internal Takes over the storage of `src` (same shape and dtype), which is left disposed. */
  adoptStorage(src: Tensor): void {
    if (src.size !== this.size || src.dtype !== this.dtype) throw new Error('adoptStorage: shape or dtype differ');
    this.storage?.release();
    this.storage = src.storage;
    src.storage = null;
  }

  private live(): Storage {
    if (!this.storage) {
      throw new Error(
        `Tensor${this.name ? ` '${this.name}'` : ''} ${shapeStr(this.shape)} was used after dispose(). ` +
          `If it was disposed by tidy(), return it from the tidy() callback or keep() it; run backward() inside the same tidy() as the forward pass.`,
      );
    }
    return this.storage;
  }

  // ------------------------------------------------------------------ creation

  /** An uninitialised tensor (its contents are whatever the pooled buffer held). */
  static empty(shape: Shape, dtype: DType = 'f32', rt: GpuRuntime = getRuntime()): Tensor {
    if (dtype === 'f16') requireF16(rt, 'a float16 tensor');
    const bytes = dtypeBytes(dtype, numel(shape));
    return new Tensor(new Storage(rt, rt.alloc(bytes), bytes), shape, dtype);
  }

  static fromArray(data: ArrayLike<number>, shape?: Shape, dtype: DType = 'f32', rt: GpuRuntime = getRuntime()): Tensor {
    const s = shape ?? [data.length];
    if (numel(s) !== data.length) throw new Error(`fromArray: ${data.length} values do not fill shape ${shapeStr(s)}`);
    const typed =
      dtype === 'f16' ? encodeF16(data) : dtype === 'f32' ? (data instanceof Float32Array ? data : Float32Array.from(data)) : data instanceof Int32Array ? data : Int32Array.from(data);
    const t = Tensor.empty(s, dtype, rt);
    rt.write(t.buffer, typed);
    return t;
  }

  static full(shape: Shape, value: number, rt: GpuRuntime = getRuntime()): Tensor {
    const t = Tensor.empty(shape, 'f32', rt);
    fillConst(rt, t.buffer, t.size, value);
    return t;
  }

  static zeros(shape: Shape, rt?: GpuRuntime): Tensor {
    return Tensor.full(shape, 0, rt);
  }

  static ones(shape: Shape, rt?: GpuRuntime): Tensor {
    return Tensor.full(shape, 1, rt);
  }

  /** Uniform in [low, high), generated on the GPU; the same seed gives the same values. */
  static rand(shape: Shape, seed: number, low = 0, high = 1, rt: GpuRuntime = getRuntime()): Tensor {
    const t = Tensor.empty(shape, 'f32', rt);
    fillRandom(rt, 'uniform', t.buffer, t.size, seed, low, high);
    return t;
  }

  /** Normal(mean, std), generated on the GPU; the same seed gives the same values. */
  static randn(shape: Shape, seed: number, mean = 0, std = 1, rt: GpuRuntime = getRuntime()): Tensor {
    const t = Tensor.empty(shape, 'f32', rt);
    fillRandom(rt, 'normal', t.buffer, t.size, seed, mean, std);
    return t;
  }

  // ------------------------------------------------------------------ views and lifetime

  /** A tensor sharing this one's storage, with another shape (no copy, not tracked by autograd). */
  view(shape: Shape): Tensor {
    const st = this.live();
    if (numel(shape) !== this.size) throw new Error(`cannot view ${shapeStr(this.shape)} as ${shapeStr(shape)}`);
    st.refs++;
    return new Tensor(st, shape, this.dtype);
  }

  /** Return the buffer to the pool (once every view of it is disposed). Safe to call twice. */
  dispose(): void {
    if (!this.storage) return;
    this.storage.release();
    this.storage = null;
    this.node?.release();
    this.node = null;
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  /** Read the values back to the CPU. */
  async toArray(): Promise<Float32Array> {
    const st = this.live();
    const bytes = await st.rt.read(st.buffer, this.byteLength, 0, `toArray${shapeStr(this.shape)}`);
    return this.dtype === 'f16' ? decodeF16(new Uint16Array(bytes), this.size) : new Float32Array(bytes);
  }

  async toInt32Array(): Promise<Int32Array> {
    const st = this.live();
    return new Int32Array(await st.rt.read(st.buffer, this.size * 4, 0, `toInt32Array${shapeStr(this.shape)}`));
  }

  /**
   * What String(t), template literals and console.log show. The values live on the GPU and reading them is
   * asynchronous, so this names the shape, dtype and autograd state; `await t.format()` adds the values.
   */
  toString(): string {
    const flags = [this.dtype, this.requiresGrad ? (this.node ? `grad_fn=${this.node.op}` : 'requires_grad') : '', this.isDisposed ? 'disposed' : ''].filter((f) => f);
    return `Tensor${this.name ? ` '${this.name}'` : ''}${shapeStr(this.shape)} ${flags.join(' ')}`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  /** toString() with the values: all of them up to `maxValues`, else the first and last few. Reads the GPU. */
  async format(maxValues = 12): Promise<string> {
    const v = this.dtype === 'i32' ? await this.toInt32Array() : await this.toArray();
    const fmt = (x: number) => (this.dtype === 'i32' ? String(x) : Number.isInteger(x) && Math.abs(x) < 1e6 ? `${x}.` : x.toPrecision(4));
    const half = Math.max(1, Math.floor(maxValues / 2));
    const shown = v.length <= maxValues ? Array.from(v, fmt) : [...Array.from(v.subarray(0, half), fmt), '…', ...Array.from(v.subarray(v.length - half), fmt)];
    return `${this.toString()} [${shown.join(', ')}]`;
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item() needs a one-element tensor, got ${shapeStr(this.shape)}`);
    return (await this.toArray())[0];
  }

  // ------------------------------------------------------------------ autograd

  /** Mark as a leaf that collects gradients. */
  requireGrad(flag = true): this {
    this.requiresGrad = flag;
    return this;
  }

  /** Back-propagate from this tensor (a scalar, or with an explicit upstream gradient of the same shape). */
  backward(grad?: Tensor, opts?: BackwardOptions): void {
    runBackward(this, grad, opts);
  }

  /** A tensor sharing the storage, cut from the graph. */
  detach(): Tensor {
    return this.view(this.shape);
  }

  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  /** A float16 copy (torch's .half()); itself when already float16. Differentiable. */
  half(): Tensor {
    return half.toDtype(this, 'f16');
  }

  /** A float32 copy (torch's .float()); itself when already float32. Differentiable. */
  float(): Tensor {
    return half.toDtype(this, 'f32');
  }

  // ------------------------------------------------------------------ ops (see ops/*.ts)
  // Each op family keeps its methods in its own section below (torch's method names, camelCase).

  // ---- unary elementwise (ops/unary.ts)

  /** e^x, elementwise (F.exp). */
  exp(): Tensor {
    return unary.exp(this);
  }
  /** The natural logarithm, elementwise (F.log). */
  log(): Tensor {
    return unary.log(this);
  }
  /** The square root, elementwise (F.sqrt). */
  sqrt(): Tensor {
    return unary.sqrt(this);
  }
  /** 1 / √x, elementwise (F.rsqrt). */
  rsqrt(): Tensor {
    return unary.rsqrt(this);
  }
  /** |x|, elementwise (F.abs). */
  abs(): Tensor {
    return unary.abs(this);
  }
  /** −x, elementwise (F.neg). */
  neg(): Tensor {
    return unary.neg(this);
  }
  /** tanh, elementwise (F.tanh). */
  tanh(): Tensor {
    return unary.unaryOp('tanh')(this);
  }
  /** The logistic sigmoid, elementwise (F.sigmoid). */
  sigmoid(): Tensor {
    return unary.unaryOp('sigmoid')(this);
  }
  /** max(x, 0), elementwise (F.relu). */
  relu(): Tensor {
    return unary.unaryOp('relu')(this);
  }
  /** torch's x.clamp(min, max): either bound may be omitted (undefined or null), or given as `{ min, max }` (F.clamp). */
  clamp(min?: number | null | unary.ClampOptions, max?: number | null): Tensor {
    return unary.clamp(this, min, max);
  }

  // ---- broadcasting binary (ops/binary.ts)

  /** this + other, broadcasting (other may be a number). */
  add(other: Tensor | number): Tensor {
    return binary.add(this, other);
  }
  /** this − other, broadcasting. */
  sub(other: Tensor | number): Tensor {
    return binary.sub(this, other);
  }
  /** this · other, elementwise, broadcasting. */
  mul(other: Tensor | number): Tensor {
    return binary.mul(this, other);
  }
  /** this / other, elementwise, broadcasting. */
  div(other: Tensor | number): Tensor {
    return binary.div(this, other);
  }
  /** this^exponent, elementwise, broadcasting (torch.pow's special cases and gradients). */
  pow(exponent: Tensor | number): Tensor {
    return binary.pow(this, exponent);
  }
  /** max(this, other), elementwise, broadcasting (NaN if either is NaN). */
  maximum(other: Tensor | number): Tensor {
    return binary.maximum(this, other);
  }
  /** min(this, other), elementwise, broadcasting (NaN if either is NaN). */
  minimum(other: Tensor | number): Tensor {
    return binary.minimum(this, other);
  }
  /** This tensor broadcast to a shape, copied (torch's x.expand(2, 3) or x.expand([2, 3]); −1 keeps a dim). */
  expand(...shape: number[] | [Shape]): Tensor {
    return binary.expand(this, typeof shape[0] === 'number' || shape.length === 0 ? (shape as number[]) : (shape[0] as Shape));
  }

  // ---- reductions (ops/reduce.ts)

  /** Sum over dim (a dim or a list; all when omitted), as torch's x.sum(dim, keepdim). */
  sum(dim?: reduce.Dims, keepdim = false): Tensor {
    return reduce.sum(this, dim, keepdim);
  }
  /** Mean over dim (a dim or a list; all when omitted). */
  mean(dim?: reduce.Dims, keepdim = false): Tensor {
    return reduce.mean(this, dim, keepdim);
  }
  /** max(): the largest element; max(dim, keepdim): { values, indices } along dim. */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): reduce.ValuesIndices;
  max(dim?: number, keepdim = false): Tensor | reduce.ValuesIndices {
    return dim === undefined ? reduce.max(this) : reduce.max(this, dim, keepdim);
  }
  /** min(): the smallest element; min(dim, keepdim): { values, indices } along dim. */
  min(): Tensor;
  min(dim: number, keepdim?: boolean): reduce.ValuesIndices;
  min(dim?: number, keepdim = false): Tensor | reduce.ValuesIndices {
    return dim === undefined ? reduce.min(this) : reduce.min(this, dim, keepdim);
  }
  /** Index (i32) of the largest element along dim, or into the flattened tensor. */
  argmax(dim?: number, keepdim = false): Tensor {
    return reduce.argmax(this, dim, keepdim);
  }
  /** Index (i32) of the smallest element along dim, or into the flattened tensor. */
  argmin(dim?: number, keepdim = false): Tensor {
    return reduce.argmin(this, dim, keepdim);
  }
  /** Variance over dim (all when omitted), with torch's correction (default 1) or unbiased. */
  var(dim?: reduce.Dims, opts?: reduce.VarOptions): Tensor {
    return reduce.variance(this, dim, opts);
  }
  /** Standard deviation over dim (all when omitted). */
  std(dim?: reduce.Dims, opts?: reduce.VarOptions): Tensor {
    return reduce.std(this, dim, opts);
  }
  /** log Σ exp over dim, max-shifted. */
  logsumexp(dim: reduce.Dims, keepdim = false): Tensor {
    return reduce.logsumexp(this, dim, keepdim);
  }
  /** The k largest (or smallest) along dim: { values, indices }. */
  topk(k: number, dim = -1, largest = true, sorted = true): reduce.ValuesIndices {
    return reduce.topk(this, k, dim, largest, sorted);
  }

  // ---- shape (ops/shape.ts)

  /** Dims dim0 and dim1 swapped (a copy), as torch's x.transpose(dim0, dim1). */
  transpose(dim0: number, dim1: number): Tensor {
    return shapeOps.transpose(this, dim0, dim1);
  }
  /** A 2-D tensor transposed (a copy); 0-D and 1-D tensors come back as a view, as torch's x.t(). */
  t(): Tensor {
    return shapeOps.t(this);
  }
  /** The dims reordered (a copy): x.permute(2, 0, 1) or x.permute([2, 0, 1]), as torch's. */
  permute(dims: readonly number[]): Tensor;
  permute(...dims: number[]): Tensor;
  permute(...dims: (number | readonly number[])[]): Tensor {
    return shapeOps.permute(this, typeof dims[0] === 'object' ? dims[0] : (dims as number[]));
  }
  /** This tensor as a view sharing its storage (tensors are always contiguous here), tracked by autograd. */
  contiguous(): Tensor {
    return shapeOps.contiguous(this);
  }
  /** Elements start … start + length − 1 along dim (a copy), as torch's x.narrow. */
  narrow(dim: number, start: number, length: number): Tensor {
    return shapeOps.narrow(this, dim, start, length);
  }
  /** x[..., start:end:step, ...] along dim with Python's bounds (a copy); see slice in ops/shape.ts. */
  slice(dim: number, start?: number, end?: number, step = 1): Tensor {
    return shapeOps.slice(this, dim, start, end, step);
  }
  /** torch's x.gather(dim, index), index an 'i32' tensor. */
  gather(dim: number, index: Tensor): Tensor {
    return shapeOps.gather(this, dim, index);
  }
  /** torch's x.index_select(dim, index), index a 1-D 'i32' tensor. */
  indexSelect(dim: number, index: Tensor): Tensor {
    return shapeOps.indexSelect(this, dim, index);
  }
  /** Size-1 dims removed (all, or those among dim); a view sharing the storage. */
  squeeze(dim?: number | readonly number[]): Tensor {
    return shapeOps.squeeze(this, dim);
  }
  /** A size-1 dim inserted at dim; a view sharing the storage. */
  unsqueeze(dim: number): Tensor {
    return shapeOps.unsqueeze(this, dim);
  }
  /** dim split into sizes (one may be −1); a view sharing the storage. */
  unflatten(dim: number, sizes: readonly number[]): Tensor {
    return shapeOps.unflatten(this, dim, sizes);
  }

  // ---- nn (ops/nn.ts)

  /** softmax along `dim` (torch's x.softmax(dim)). */
  softmax(dim: number): Tensor {
    return nnOps.softmax(this, dim);
  }
  /** log-softmax along `dim` (torch's x.log_softmax(dim)). */
  logSoftmax(dim: number): Tensor {
    return nnOps.logSoftmax(this, dim);
  }

  // ---- basic

  scale(s: number): Tensor {
    return basic.scale(this, s);
  }
  reshape(shape: Shape): Tensor {
    return basic.reshape(this, shape);
  }
  flatten(startDim = 1): Tensor {
    return basic.flatten(this, startDim);
  }
}
