/**
 * The GPU runtime: one code path for Node (Dawn) and the browser once a `GPU` object is in hand.
 * It owns the device, the pipeline cache, the buffer pool, command batching and readback, and turns
 * WebGPU's asynchronous errors into errors that name the op.
 */
import { BufferPool, type PoolStats } from './pool';
import { DerivedCache, WriteGenerations, readOnlyBindings } from './derived';
import { DeviceLostError, GpuError, GpuOpError, NoAdapterError } from './errors';
import { CompileSession, type PipelineRequest, WarmUpDevice, createPipeline, pipelineKey } from './compile';

export interface RuntimeOptions {
  /** Substring of the adapter's name to require (also read from WEBGPU_ADAPTER by the Node platform). */
  adapterName?: string;
  /** Dispatches encoded before a submit is forced. */
  maxDispatchesPerSubmit?: number;
  /** Request these optional features when the adapter has them (default: all of FEATURES_WANTED). */
  features?: GPUFeatureName[];
  log?: (line: string) => void;
  /** Free pooled bytes kept for reuse; buffers released beyond it are destroyed (default 2 GiB). */
  poolMaxFreeBytes?: number;
  /**
   * Devices that compile at once during precompile() on a driver that compiles at the first dispatch
   * (lavapipe): the runtime's own and `compileDevices - 1` helpers (default 1: no helpers). initGpu sets it
   * in Node from the CPU count (at most 4), and to 1 when Mesa's shader cache is off, which carries the
   * helpers' results.
   */
  compileDevices?: number;
}

/** What precompile() did: the pipelines it compiled and how long that took. */
export interface PrecompileResult {
  pipelines: number;
  seconds: number;
}

/** GPU work that waits, in order, for the pipelines it needs (see GpuRuntime.precompile). */
type Deferred =
  | { kind: 'dispatch'; spec: DispatchSpec; key: string; entries: GPUBindGroupEntry[] }
  | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; bytes: number; op: string }
  | { kind: 'clear'; buf: GPUBuffer; byteOffset: number; bytes: number; op: string }
  | { kind: 'write'; buf: GPUBuffer; data: Uint8Array; byteOffset: number }
  | { kind: 'retire'; buf: GPUBuffer };

export interface AdapterDescription {
  name: string;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallback: boolean;
  features: string[];
  /**
   * The adapter's subgroup-matrix configurations (GPUAdapterInfo.subgroupMatrixConfigs, as plain objects), where
   * the feature was granted (device.adapterInfo lists none in Dawn): kernels/matmul/smatrix.ts picks from them.
   */
  subgroupMatrixConfigs?: SubgroupMatrixConfig[];
}

/** One subgroup-matrix configuration: component types of the operands and of the result, M × N × K. */
export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

/** A storage buffer binding: a whole buffer, or a byte range of one. */
export interface Binding {
  buffer: GPUBuffer;
  offset?: number;
  size?: number;
}

export interface DispatchSpec {
  /** The op's name and shapes, used in error messages and debug labels: `conv2d[8x64x56x56 k3 s1]`. */
  op: string;
  /** WGSL source (a kernel family's *.wgsl, imported as text). */
  shader: string;
  /** The kernel's declared name (its contract's, e.g. 'matmul/matmul_subgroup.wgsl'), for reports. */
  kernel?: string;
  entry?: string;
  /** WGSL `override` constants. Each distinct set compiles one pipeline, cached. */
  constants?: Record<string, number>;
  /** Bound at @binding(0) as a uniform buffer (at most 256 bytes). */
  uniforms?: ArrayBufferView;
  /** Storage buffers at @binding(1), @binding(2), … (null leaves a binding number unused). */
  bindings: (Binding | GPUBuffer | null)[];
  workgroups: readonly [number, number?, number?];
}

/**
 * The optional features a runtime asks for where the adapter has them. 'chromium-experimental-subgroup-matrix'
 * (kernels/matmul/smatrix.ts) is offered by Dawn only with its 'allow_unsafe_apis' toggle.
 */
export const FEATURES_WANTED: GPUFeatureName[] = ['subgroups', 'timestamp-query', 'shader-f16', 'chromium-experimental-subgroup-matrix'] as GPUFeatureName[];
const LIMITS_WANTED = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

/** Bind groups the runtime keeps (see GpuRuntime.bindGroups): a few steps' worth of a ResNet's dispatches. */
const BIND_GROUP_CACHE = 8192;
const UNIFORM_SLOT = 256;

/** Bytes of one element of a WGSL storage array's element type: the minimum binding size it declares. */
function elementBytes(type: string): number {
  const t = type.replace(/\s+/g, '');
  if (/^(f32|i32|u32|atomic<[iu]32>)$/.test(t)) return 4;
  if (/^(f16)$/.test(t)) return 2;
  const v = /^vec([234])(?:<(f32|i32|u32|f16)>|([fiuh]))$/.exec(t);
  if (v) {
    const n = v[1] === '3' ? 4 : Number(v[1]);
    return n * (v[2] === 'f16' || v[3] === 'h' ? 2 : 4);
  }
  return 16; // anything else (not used by the kernels' WGSL): a conservative guess, never below a vec4
}

/**
 * The minimum binding size of each storage binding a shader declares (@binding(n) var<storage, …> name:
 * array<T>): one element of T, the largest where a binding number is declared more than once (by different
 * entry points). WebGPU rejects a smaller binding ("Binding size (4) is smaller than the minimum binding
 * size (16)"), which a tensor of fewer than 4 floats read through a vec4 view would otherwise hit.
 */
export function declaredMinBindingSizes(shader: string): Map<number, number> {
  const out = new Map<number, number>();
  const re = /@binding\((\d+)\)\s*var<storage[^>]*>\s*\w+\s*:\s*array<\s*([\w<>\s]+?)\s*>\s*;/g;
  for (const m of shader.matchAll(re)) {
    const n = Number(m[1]);
    out.set(n, Math.max(out.get(n) ?? 0, elementBytes(m[2])));
  }
  return out;
}
const UNIFORM_SLOTS = 512;

interface Batch {
  encoder: GPUCommandEncoder;
  pass: GPUComputePassEncoder | null;
  ops: string[];
  dispatches: number;
  uniformSlots: number;
}

export class GpuRuntime {
  readonly pool: BufferPool;
  readonly limits: Record<(typeof LIMITS_WANTED)[number], number>;
  readonly features: ReadonlySet<string>;
  private readonly maxDispatchesPerSubmit: number;
  private pipelines = new Map<string, GPUComputePipeline>();
  /** The runtime's device as a compiler: its shader modules, and its warm-ups in a precompile. */
  private compiler: WarmUpDevice;
  /** Pipelines being created outside a precompile session (each resolves when stored). */
  private creating = new Map<string, Promise<void>>();
  /** Non-null while GPU work waits for pipelines: the commands, in order (see precompile). */
  private deferred: Deferred[] | null = null;
  /** Callers waiting for the deferred work to be submitted (read, sync, precompile). */
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private session: CompileSession | null = null;
  private lastDropped: unknown = null;
  private sessionHelpers: Promise<WarmUpDevice[]> | null = null;
  private readonly compileDevices: number;
  /**
   * Whether the driver compiles a pipeline at its first dispatch rather than at its creation (lavapipe):
   * precompile() then compiles by warm-up dispatches (see compile.ts). Set from the adapter; tests may change it.
   */
  compilesOnFirstDispatch: boolean;
  private minBindingSizes = new Map<string, Map<number, number>>();
  private batch: Batch | null = null;
  private uniformArena: GPUBuffer;
  private uniformStaging = new Uint8Array(UNIFORM_SLOT * UNIFORM_SLOTS);
  private pendingChecks: Promise<void>[] = [];
  private firstError: GpuError | null = null;
  private lost: DeviceLostError | null = null;
  private destroyed = false;
  private readbackFree: GPUBuffer[] = [];
  /**
   * Per-op GPU time from timestamp queries (benchmarks only): when set, every dispatch runs in its own
   * compute pass with timestamps, and its duration is added under the op's name (the part before '[', or
   * the whole name with shapes when profileShapes is set).
   */
  profile: Map<string, { ms: number; count: number }> | null = null;
  profileShapes = false;
  private querySet: GPUQuerySet | null = null;
  private queryResolve: GPUBuffer | null = null;
  private profiledOps: string[] = [];
  /** A CPU-based driver (lavapipe, SwiftShader, a fallback adapter): for choices that depend on the kind of adapter. */
  get isSoftware(): boolean {
    // Asked per dispatch by some launchers: the adapter's strings are matched once.
    if (this.software === undefined) {
      const d = `${this.adapter.name} ${this.adapter.description}`.toLowerCase();
      this.software = this.adapter.isFallback || /llvmpipe|lavapipe|swiftshader|software/.test(d);
    }
    return this.software;
  }
  private software: boolean | undefined;
  /**
   * Make the kernel choices of the other kind of adapter: 'hardware' on a software adapter takes the GPU path
   * (the tiled GEMMs, implicit-GEMM convolutions, their fused epilogues), so that tests check that path's
   * numbers on lavapipe; null returns to the adapter's own kind. Set it before any work: kernel
   * configurations derived from the kind (kernelConfig's defaults) are made once per runtime.
   */
  setAdapterKind(kind: 'software' | 'hardware' | null): void {
    this.software = kind === null ? undefined : kind === 'software';
  }
  /** Totals, for tests and benchmarks. */
  readonly counters = { dispatches: 0, submits: 0, readbacks: 0, pipelinesCompiled: 0, bindGroupsCreated: 0 };
  /**
   * Bind groups by pipeline layout and bound ranges (see bindGroupFor). Dawn in Node spends about 8 µs per entry
   * turning a createBindGroup descriptor into its own (53 µs for 6 entries), more than the dispatch itself; a
   * training loop binds the same pooled buffers in the same order every step, so its groups are made once. A
   * buffer's id is never reused, so a group of a destroyed buffer is never found again; the oldest groups go past
   * BIND_GROUP_CACHE entries.
   */
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly layouts = new WeakMap<GPUComputePipeline, { layout: GPUBindGroupLayout; id: number }>();
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextObjectId = 1;
  /** Each buffer's write generation: a new one at every write this runtime issues (see derived.ts). */
  readonly writes = new WriteGenerations();
  /** Buffers derived from others (transformed filters, folded batch norms), kept inside derived.scope(). */
  readonly derived: DerivedCache;
  /** Set while deferred work is replayed: its writes were marked when they were asked for. */
  private replaying = false;
  /** Per shader: the bindings it declares read-only; a dispatch marks its other bindings written. */
  private readOnly = new Map<string, Set<number>>();
  /** Called with every dispatch as it is asked for (benchmarks: which kernels and configurations ran). */
  dispatchLog: ((spec: DispatchSpec) => void) | null = null;
  /** Pipelines created so far (the cache's size). */
  get pipelineCount(): number {
    return this.pipelines.size;
  }

  private constructor(
    /** Held so that it is not garbage-collected: Dawn's instance dies with it, and the device with it. */
    readonly gpu: GPU,
    readonly device: GPUDevice,
    readonly adapter: AdapterDescription,
    opts: RuntimeOptions,
  ) {
    this.maxDispatchesPerSubmit = opts.maxDispatchesPerSubmit ?? 512;
    this.compileDevices = Math.max(1, Math.floor(opts.compileDevices ?? 1));
    this.compiler = new WarmUpDevice(device, false);
    this.compilesOnFirstDispatch = /llvmpipe|lavapipe/i.test(`${adapter.name} ${adapter.description}`);
    this.features = new Set(device.features as unknown as Iterable<string>);
    const lim = {} as Record<(typeof LIMITS_WANTED)[number], number>;
    for (const k of LIMITS_WANTED) lim[k] = Number(device.limits[k]);
    this.limits = lim;
    this.derived = new DerivedCache(this.writes, (buf) => this.release(buf));
    this.pool = new BufferPool(
      (size) => this.createStorageBuffer(size),
      opts.poolMaxFreeBytes ?? 2 ** 31,
      (buf) => this.retireBuffer(buf),
    );
    this.uniformArena = device.createBuffer({
      label: 'uniform-arena',
      size: UNIFORM_SLOT * UNIFORM_SLOTS,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    device.lost.then((info) => {
      if (!this.destroyed) this.lost = new DeviceLostError(info.reason ?? 'unknown', info.message ?? '');
    });
    device.addEventListener?.('uncapturederror', (ev: Event) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.recordError(err, ['(outside any batch)']);
    });
  }

  /** Acquire an adapter and a device from a `GPU` object (navigator.gpu, or the `webgpu` package's create()). */
  static async create(gpu: GPU, opts: RuntimeOptions = {}): Promise<GpuRuntime> {
    let adapter: GPUAdapter | null = null;
    try {
      adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    } catch (e) {
      throw new NoAdapterError(String((e as Error).message ?? e));
    }
    if (!adapter) throw new NoAdapterError('requestAdapter() returned null');
    const info = adapter.info;
    const name = [info.vendor, info.architecture, info.device].filter((s) => s).join(' / ') || info.description || 'unknown adapter';
    if (opts.adapterName && !name.toLowerCase().includes(opts.adapterName.toLowerCase()) && !info.description.toLowerCase().includes(opts.adapterName.toLowerCase())) {
      throw new NoAdapterError(`WEBGPU_ADAPTER='${opts.adapterName}' does not match the adapter found: ${name}`);
    }
    const wanted = opts.features ?? FEATURES_WANTED;
    const requiredFeatures = wanted.filter((f) => adapter!.features.has(f));
    const requiredLimits: Record<string, number> = {};
    for (const k of LIMITS_WANTED) requiredLimits[k] = Number(adapter.limits[k]);
    const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'webgpu-resnet' });
    const description: AdapterDescription = {
      name,
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      isFallback: Boolean((info as { isFallbackAdapter?: boolean }).isFallbackAdapter),
      features: requiredFeatures,
    };
    if (requiredFeatures.includes('chromium-experimental-subgroup-matrix' as GPUFeatureName)) {
      const configs = (info as { subgroupMatrixConfigs?: Iterable<SubgroupMatrixConfig> }).subgroupMatrixConfigs ?? [];
      description.subgroupMatrixConfigs = [...configs].map((c) => ({ componentType: String(c.componentType), resultComponentType: String(c.resultComponentType), M: c.M, N: c.N, K: c.K }));
    }
    return new GpuRuntime(gpu, device, description, opts);
  }

  // ---------------------------------------------------------------- buffers

  private createStorageBuffer(size: number): GPUBuffer {
    this.throwIfBroken();
    if (size > this.limits.maxBufferSize) {
      throw new GpuOpError('limit', ['allocate'], `a buffer of ${size} bytes exceeds maxBufferSize ${this.limits.maxBufferSize}`);
    }
    return this.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  }

  /**
   * Test mode of the allocator (not a kernel setting, so it stays here): every buffer handed out by alloc()
   * is first filled with NaN, so an output element that a kernel forgets to write reads back as NaN (and NaN
   * never passes a numerics test). Off by default; the op tests and the in-browser gradient checks turn it on.
   */
  poison = false;

  /** A pooled storage buffer of at least `bytes` bytes. Release it with release(). */
  alloc(bytes: number): GPUBuffer {
    const buf = this.pool.acquire(Math.max(4, bytes));
    this.writes.mark(buf);
    if (this.poison) this.write(buf, new Uint32Array(buf.size / 4).fill(0xffffffff));
    return buf;
  }

  release(buf: GPUBuffer): void {
    this.pool.release(buf);
  }

  /** Buffers to destroy once the commands encoded so far are submitted (see retireBuffer). */
  private retired: GPUBuffer[] = [];

  /**
   * Destroy a buffer that the pool gave up. Commands still being encoded may name it (a tensor freed right
   * after the dispatch that reads it), and a buffer destroyed before its submit fails validation ("used in
   * submit while destroyed"); so with a batch open the destroy waits for flush(). Destroying after the
   * submit is safe: WebGPU finishes submitted work first.
   */
  private retireBuffer(buf: GPUBuffer): void {
    if (this.deferred) this.deferred.push({ kind: 'retire', buf });
    else if (this.batch) this.retired.push(buf);
    else buf.destroy();
  }

  /** Give every free pooled buffer back to the device (after the commands that may use them are submitted). */
  trimPool(): void {
    this.pool.trim();
  }

  poolStats(): PoolStats {
    return this.pool.getStats();
  }

  /**
   * Write bytes into a buffer. Commands already encoded run before this write (they are submitted first),
   * so a pooled buffer that an earlier, unsubmitted dispatch still reads is never overwritten too soon.
   */
  write(buf: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
    this.throwIfBroken();
    if (!this.replaying) this.writes.mark(buf);
    const n = data.byteLength;
    if (n > 0 && this.deferred) {
      this.deferred.push({ kind: 'write', buf, data: new Uint8Array(data.buffer, data.byteOffset, n).slice(), byteOffset });
      return;
    }
    if (this.batch) this.flush();
    if (n === 0) return;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, n);
    if (n % 4 === 0) {
      this.device.queue.writeBuffer(buf, byteOffset, bytes as Uint8Array<ArrayBuffer>);
    } else {
      const padded = new Uint8Array(Math.ceil(n / 4) * 4);
      padded.set(bytes);
      this.device.queue.writeBuffer(buf, byteOffset, padded);
    }
  }

  /** Allocate a pooled buffer and upload `data` into it. */
  upload(data: ArrayBufferView): GPUBuffer {
    const buf = this.alloc(data.byteLength);
    this.write(buf, data);
    return buf;
  }

  /** Copy a byte range of one buffer into another, in command order. Sizes must be multiples of 4. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number, op = 'copy'): void {
    if (bytes === 0) return;
    if (!this.replaying) this.writes.mark(dst);
    if (this.deferred) {
      this.throwIfBroken();
      this.deferred.push({ kind: 'copy', src, srcOffset, dst, dstOffset, bytes, op });
      return;
    }
    const b = this.encoderFor(op, false);
    b.encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Zero a byte range of a buffer, in command order. Offset and size must be multiples of 4. */
  clear(buf: GPUBuffer, byteOffset: number, bytes: number, op = 'clear'): void {
    if (bytes === 0) return;
    if (!this.replaying) this.writes.mark(buf);
    if (this.deferred) {
      this.throwIfBroken();
      this.deferred.push({ kind: 'clear', buf, byteOffset, bytes, op });
      return;
    }
    this.encoderFor(op, false).encoder.clearBuffer(buf, byteOffset, bytes);
  }

  /** Read `byteLength` bytes of a buffer back to the CPU. Everything encoded before it runs first. */
  async read(buf: GPUBuffer, byteLength: number, byteOffset = 0, op = 'read'): Promise<ArrayBuffer> {
    this.throwIfBroken();
    if (byteLength === 0) {
      await this.checkErrors();
      return new ArrayBuffer(0);
    }
    const size = Math.ceil(byteLength / 4) * 4;
    const staging = this.takeReadback(size);
    this.copy(buf, byteOffset, staging, 0, size, op);
    if (this.deferred) {
      try {
        await this.drain();
      } catch (e) {
        staging.destroy();
        throw e;
      }
    } else this.flush();
    this.counters.readbacks++;
    try {
      await Promise.race([staging.mapAsync(GPUMapMode.READ, 0, size), this.lostPromise()]);
      await this.checkErrors();
      const out = staging.getMappedRange(0, size).slice(0, byteLength);
      staging.unmap();
      this.readbackFree.push(staging);
      return out;
    } catch (e) {
      this.throwIfBroken();
      await this.checkErrors();
      throw e instanceof GpuError ? e : new GpuOpError('internal', [op], String((e as Error).message ?? e));
    }
  }

  private takeReadback(size: number): GPUBuffer {
    const i = this.readbackFree.findIndex((b) => b.size >= size && b.size <= size * 4);
    if (i >= 0) return this.readbackFree.splice(i, 1)[0];
    return this.device.createBuffer({ size: Math.max(256, size), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  private lostPromise(): Promise<never> {
    return this.device.lost.then((info) => {
      throw new DeviceLostError(info.reason ?? 'unknown', info.message ?? '');
    });
  }

  // ---------------------------------------------------------------- pipelines

  /**
   * Compile, in parallel and before any of it runs, every pipeline that the GPU work encoded from now on needs.
   * The work waits in a queue (dispatches, copies, clears, writes, in order) while the new pipelines compile,
   * and is submitted once the last one is ready. The set closes at the next readback, sync() or
   * endPrecompile(), so that one training step's work (forward, backward, update) is one session.
   * onProgress(done, total) is called when the set closes (unless it is empty) and then for each pipeline
   * compiled. Resolves once the work is submitted; rejects, as the waiting readback does, with a GpuOpError
   * naming the kernel when a pipeline does not compile (its work is then dropped).
   * On a GPU the pipelines compile on Dawn's (or the browser's) threads; on lavapipe, which compiles at the
   * first dispatch, by warm-up dispatches on this device and on `compileDevices - 1` helpers (compile.ts).
   */
  precompile(onProgress?: (done: number, total: number) => void): Promise<PrecompileResult> {
    this.throwIfBroken();
    if (this.session) throw new GpuError('precompile: a precompile session is already open; end it first (a readback, sync() or endPrecompile()).');
    const helpers = this.compilesOnFirstDispatch && this.compileDevices > 1 ? this.helperDevices(this.compileDevices - 1) : Promise.resolve([]);
    const session = new CompileSession({
      main: this.compiler,
      warmUp: this.compilesOnFirstDispatch,
      helpers,
      store: (key, p) => this.storePipeline(key, p),
      onProgress,
    });
    this.session = session;
    this.sessionHelpers = helpers;
    this.deferred ??= [];
    const submitted = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    session.finished().then(
      () => this.afterSession(session, null),
      (e) => this.afterSession(session, e),
    );
    return submitted.then(() => ({ pipelines: session.size, seconds: (performance.now() - session.started) / 1000 }));
  }

  /** Close the open precompile session: the pipelines seen so far are the set (a readback or sync() does this too). */
  endPrecompile(): void {
    this.session?.close();
  }

  private afterSession(session: CompileSession, error: unknown): void {
    if (this.session === session) this.session = null;
    const helpers = this.sessionHelpers;
    this.sessionHelpers = null;
    void helpers?.then((hs) => hs.forEach((h) => h.destroy()));
    if (error) this.dropDeferred(error);
    else this.replayIfReady();
  }

  /** Helper devices of the same adapter, with the same features and limits (so that they compile the same code). */
  private async helperDevices(n: number): Promise<WarmUpDevice[]> {
    const out: WarmUpDevice[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const adapter = await this.gpu.requestAdapter({ powerPreference: 'high-performance' });
        if (!adapter || adapter.info.description !== this.adapter.description || adapter.info.device !== this.adapter.device) break;
        const requiredLimits: Record<string, number> = {};
        for (const k of LIMITS_WANTED) requiredLimits[k] = this.limits[k];
        const requiredFeatures = [...this.features].filter((f) => adapter.features.has(f)) as GPUFeatureName[];
        const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'webgpu-resnet compile helper' });
        out.push(new WarmUpDevice(device, true));
      }
    } catch {
      // Fewer helpers: the runtime's device compiles the rest.
    }
    return out;
  }

  private storePipeline(key: string, p: GPUComputePipeline): void {
    if (this.pipelines.has(key)) return;
    this.pipelines.set(key, p);
    this.counters.pipelinesCompiled++;
  }

  /** Start creating the pipeline of a dispatch whose pipeline is not cached (once per key). */
  private requestPipeline(key: string, spec: DispatchSpec, entry: string): void {
    if (this.pipelines.has(key) || this.creating.has(key)) return;
    const req: PipelineRequest = {
      key,
      op: spec.op,
      shader: spec.shader,
      entry,
      constants: spec.constants,
      uniforms: spec.uniforms ? new Uint8Array(spec.uniforms.buffer, spec.uniforms.byteOffset, spec.uniforms.byteLength).slice() : null,
      bindingSizes: spec.bindings.map((b) => (b ? ('buffer' in b ? (b.size ?? b.buffer.size - (b.offset ?? 0)) : b.size) : null)),
    };
    let ready: Promise<void>;
    if (this.session && !this.session.isClosed) {
      this.session.add(req);
      ready = this.session.finished();
    } else {
      ready = createPipeline(this.compiler.modules, req).then((p) => this.storePipeline(key, p));
    }
    this.creating.set(key, ready);
    ready.then(
      () => {
        this.creating.delete(key);
        this.replayIfReady();
      },
      (e) => {
        this.creating.delete(key);
        this.dropDeferred(e);
      },
    );
  }

  /** Wait until the deferred work (if any) is submitted; closes an open precompile session. */
  private drain(): Promise<void> {
    this.session?.close();
    if (!this.deferred) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.replayIfReady();
    return p;
  }

  /** Submit the deferred work once no pipeline it needs is still being created. */
  private replayIfReady(): void {
    if (!this.deferred || this.creating.size > 0 || this.session || this.destroyed) return;
    const list = this.deferred;
    this.deferred = null;
    // The writes were marked when they were asked for (see derived.ts), not again now.
    this.replaying = true;
    try {
      for (const c of list) {
        if (c.kind === 'dispatch') this.encodeDispatch(c.spec, this.pipelines.get(c.key)!, c.entries);
        else if (c.kind === 'copy') this.copy(c.src, c.srcOffset, c.dst, c.dstOffset, c.bytes, c.op);
        else if (c.kind === 'clear') this.clear(c.buf, c.byteOffset, c.bytes, c.op);
        else if (c.kind === 'write') this.write(c.buf, c.data, c.byteOffset);
        else this.retireBuffer(c.buf);
      }
      this.flush();
    } catch (e) {
      for (const w of this.waiters.splice(0)) w.reject(e);
      return;
    } finally {
      this.replaying = false;
    }
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  /**
   * A pipeline failed to compile: the work waiting for it is dropped (its buffers' destroys still happen), and
   * the error goes to every caller waiting for that work; with none waiting, to the next call (throwIfBroken).
   */
  private dropDeferred(error: unknown): void {
    if (error === this.lastDropped) return; // already delivered (a session's error reaches every key it held)
    this.lastDropped = error;
    const list = this.deferred ?? [];
    this.deferred = null;
    this.session?.close();
    for (const c of list) if (c.kind === 'retire') this.retireBuffer(c.buf);
    // Derived buffers made by the dropped work were never computed: none may be served.
    this.derived.clear();
    const err = error instanceof GpuError ? error : new GpuOpError('internal', ['(compiling)'], String((error as Error)?.message ?? error));
    const waiting = this.waiters.splice(0);
    if (waiting.length) for (const w of waiting) w.reject(err);
    else if (!this.firstError) this.firstError = err;
  }

  // ---------------------------------------------------------------- dispatch

  private encoderFor(op: string, wantPass: boolean): Batch {
    this.throwIfBroken();
    if (!this.batch) {
      this.device.pushErrorScope('out-of-memory');
      this.device.pushErrorScope('validation');
      this.batch = { encoder: this.device.createCommandEncoder(), pass: null, ops: [], dispatches: 0, uniformSlots: 0 };
    }
    const b = this.batch;
    if (wantPass && !b.pass) b.pass = b.encoder.beginComputePass(this.timestampWrites(op));
    if (!wantPass && b.pass) {
      b.pass.end();
      b.pass = null;
    }
    if (b.ops[b.ops.length - 1] !== op) b.ops.push(op);
    return b;
  }

  /**
   * Encode one compute dispatch. Nothing runs until the batch is submitted (flush, read, or a full batch).
   * A dispatch whose pipeline is not compiled yet starts its compile (createComputePipelineAsync) and waits,
   * with the work encoded after it, until it is ready (see precompile).
   */
  dispatch(spec: DispatchSpec): void {
    const [x, y = 1, z = 1] = spec.workgroups;
    const maxWg = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg || !Number.isInteger(x) || !Number.isInteger(y) || !Number.isInteger(z) || x < 0 || y < 0 || z < 0) {
      throw new GpuOpError('limit', [spec.op], `workgroup count [${x}, ${y}, ${z}] is invalid (each must be an integer in 0..${maxWg})`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    this.throwIfBroken();
    if (spec.uniforms && spec.uniforms.byteLength > UNIFORM_SLOT) throw new GpuOpError('limit', [spec.op], `uniforms of ${spec.uniforms.byteLength} bytes exceed ${UNIFORM_SLOT}`);
    const entries = this.storageEntries(spec);
    this.markWritten(spec);
    // Counted when asked for: a dispatch waiting for its pipeline is encoded later, when the pipeline is ready.
    this.counters.dispatches++;
    this.dispatchLog?.(spec);
    const entry = spec.entry ?? 'main';
    const key = pipelineKey(entry, spec.constants, spec.shader);
    const pipeline = this.pipelines.get(key);
    if (pipeline && !this.deferred) {
      this.encodeDispatch(spec, pipeline, entries);
      return;
    }
    if (!pipeline) this.requestPipeline(key, spec, entry);
    this.deferred ??= [];
    const u = spec.uniforms;
    this.deferred.push({ kind: 'dispatch', key, entries, spec: { ...spec, uniforms: u ? new Uint8Array(u.buffer, u.byteOffset, u.byteLength).slice() : undefined } });
  }

  /** A new write generation for each binding of the dispatch that its shader does not declare read-only. */
  private markWritten(spec: DispatchSpec): void {
    const readOnly = this.readOnly.get(spec.shader) ?? readOnlyBindings(spec.shader);
    this.readOnly.set(spec.shader, readOnly);
    spec.bindings.forEach((bd, i) => {
      if (bd && !readOnly.has(i + 1)) this.writes.mark('buffer' in bd ? bd.buffer : bd);
    });
  }

  /** The storage bindings of a dispatch, checked against the limits and the shader's minimum binding sizes. */
  private storageEntries(spec: DispatchSpec): GPUBindGroupEntry[] {
    const entries: GPUBindGroupEntry[] = [];
    const maxBind = this.limits.maxStorageBufferBindingSize;
    let mins = this.minBindingSizes.get(spec.shader);
    if (!mins) this.minBindingSizes.set(spec.shader, (mins = declaredMinBindingSizes(spec.shader)));
    spec.bindings.forEach((bd, i) => {
      if (!bd) return;
      const r: Binding = 'buffer' in bd ? bd : { buffer: bd };
      const offset = r.offset ?? 0;
      let size = r.size ?? r.buffer.size - offset;
      // A range shorter than the shader's element (a tensor of 1-3 floats read as vec4) is widened to one
      // element: the kernel still reads only the range's floats (pooled buffers are whole multiples of 256 bytes).
      const min = mins.get(i + 1) ?? 4;
      if (size < min) {
        if (offset + min > r.buffer.size) {
          throw new GpuOpError('limit', [spec.op], `binding ${i + 1} (${size} bytes at offset ${offset}) cannot be widened to the shader's minimum of ${min} bytes: the buffer holds ${r.buffer.size} bytes`);
        }
        size = min;
      }
      if (size > maxBind) {
        throw new GpuOpError('limit', [spec.op], `binding ${i + 1} is ${size} bytes, above maxStorageBufferBindingSize ${maxBind}`);
      }
      entries.push({ binding: i + 1, resource: { buffer: r.buffer, offset, size } });
    });
    return entries;
  }

  /** Encode a checked dispatch with its compiled pipeline into the open batch. */
  private encodeDispatch(spec: DispatchSpec, pipeline: GPUComputePipeline, storage: GPUBindGroupEntry[]): void {
    if (this.batch && this.batch.uniformSlots >= UNIFORM_SLOTS) this.flush();
    const b = this.encoderFor(spec.op, true);
    const entries = [...storage];
    if (spec.uniforms) {
      const u = spec.uniforms;
      const off = b.uniformSlots++ * UNIFORM_SLOT;
      this.uniformStaging.set(new Uint8Array(u.buffer, u.byteOffset, u.byteLength), off);
      entries.unshift({ binding: 0, resource: { buffer: this.uniformArena, offset: off, size: UNIFORM_SLOT } });
    }
    const group = this.bindGroupFor(spec.op, pipeline, entries);
    const [x, y = 1, z = 1] = spec.workgroups;
    b.pass!.setPipeline(pipeline);
    b.pass!.setBindGroup(0, group);
    b.pass!.dispatchWorkgroups(x, y, z);
    if (this.profile && this.querySet) {
      b.pass!.end();
      b.pass = null;
    }
    b.dispatches++;
    if (b.dispatches >= this.maxDispatchesPerSubmit) this.flush();
  }

  /** A bind group of `entries` (buffer ranges) for the pipeline's layout: the cached one, or a new one kept. */
  private bindGroupFor(label: string, pipeline: GPUComputePipeline, entries: GPUBindGroupEntry[]): GPUBindGroup {
    let l = this.layouts.get(pipeline);
    if (!l) this.layouts.set(pipeline, (l = { layout: pipeline.getBindGroupLayout(0), id: this.nextObjectId++ }));
    let key = String(l.id);
    for (const e of entries) {
      const r = e.resource as GPUBufferBinding;
      let id = this.bufferIds.get(r.buffer);
      if (id === undefined) this.bufferIds.set(r.buffer, (id = this.nextObjectId++));
      key += `|${e.binding}:${id}:${r.offset ?? 0}:${r.size ?? ''}`;
    }
    let group = this.bindGroups.get(key);
    if (!group) {
      group = this.device.createBindGroup({ label, layout: l.layout, entries });
      this.counters.bindGroupsCreated++;
      if (this.bindGroups.size >= BIND_GROUP_CACHE) this.bindGroups.delete(this.bindGroups.keys().next().value!);
      this.bindGroups.set(key, group);
    }
    return group;
  }

  /**
   * Submit everything encoded so far. Does not wait for the GPU. Work waiting for its pipelines (see
   * precompile) is submitted when they are ready, not here: sync() and read() wait for it.
   */
  flush(): void {
    const b = this.batch;
    if (!b) return; // (while work is deferred no batch is open: the replay submits it)
    this.batch = null;
    if (b.pass) b.pass.end();
    const profiled = this.resolveProfile(b.encoder);
    if (b.uniformSlots > 0) this.device.queue.writeBuffer(this.uniformArena, 0, this.uniformStaging, 0, b.uniformSlots * UNIFORM_SLOT);
    this.device.queue.submit([b.encoder.finish()]);
    this.counters.submits++;
    if (this.retired.length) {
      for (const r of this.retired) r.destroy();
      this.retired = [];
    }
    const validation = this.device.popErrorScope();
    const oom = this.device.popErrorScope();
    this.track(validation, b.ops);
    this.track(oom, b.ops);
    if (profiled) this.pendingChecks.push(profiled());
  }

  private timestampWrites(op: string): GPUComputePassDescriptor | undefined {
    if (!this.profile || !this.features.has('timestamp-query')) return undefined;
    if (!this.querySet) {
      this.querySet = this.device.createQuerySet({ type: 'timestamp', count: 2 * this.maxDispatchesPerSubmit });
      this.queryResolve = this.device.createBuffer({ size: 16 * this.maxDispatchesPerSubmit, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    }
    const i = this.profiledOps.length;
    this.profiledOps.push(op);
    return { timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } };
  }

  /** Resolve this batch's timestamps into a readback; returns a function that awaits it and adds the times. */
  private resolveProfile(encoder: GPUCommandEncoder): (() => Promise<void>) | null {
    const ops = this.profiledOps;
    if (!ops.length || !this.querySet || !this.queryResolve) return null;
    this.profiledOps = [];
    const staging = this.device.createBuffer({ size: 16 * ops.length, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, 2 * ops.length, this.queryResolve, 0);
    encoder.copyBufferToBuffer(this.queryResolve, 0, staging, 0, 16 * ops.length);
    return async () => {
      await staging.mapAsync(GPUMapMode.READ);
      const t = new BigInt64Array(staging.getMappedRange());
      ops.forEach((op, i) => {
        const key = this.profileShapes ? op : op.split('[')[0];
        const e = this.profile?.get(key) ?? { ms: 0, count: 0 };
        e.ms += Number(t[2 * i + 1] - t[2 * i]) / 1e6;
        e.count++;
        this.profile?.set(key, e);
      });
      staging.unmap();
      staging.destroy();
    };
  }

  private track(p: Promise<GPUError | null>, ops: string[]): void {
    const check = p.then(
      (err) => {
        if (err) this.recordError(err, ops);
      },
      () => undefined,
    );
    this.pendingChecks.push(check);
    if (this.pendingChecks.length > 256) this.pendingChecks.splice(0, 128);
  }

  private recordError(err: GPUError, ops: string[]): void {
    if (this.firstError) return;
    const kind = err.constructor?.name === 'GPUOutOfMemoryError' || /out of memory|OutOfMemory/i.test(err.message) ? 'out-of-memory' : err.constructor?.name === 'GPUInternalError' ? 'internal' : 'validation';
    this.firstError = new GpuOpError(kind, ops, err.message.split('\n').slice(0, 6).join('\n  '));
  }

  /** Throw an error recorded by an earlier batch, or the device loss. Synchronous and cheap. */
  throwIfBroken(): void {
    if (this.lost) throw this.lost;
    if (this.destroyed) throw new GpuError('The GPU runtime was destroyed; create a new one.');
    if (this.firstError) {
      const e = this.firstError;
      this.firstError = null;
      throw e;
    }
  }

  /** Wait for the GPU's verdict on everything submitted, and throw the first error. */
  async checkErrors(): Promise<void> {
    await this.drain();
    const checks = this.pendingChecks;
    this.pendingChecks = [];
    await Promise.all(checks);
    this.throwIfBroken();
  }

  /** Submit and wait until the GPU has finished all work so far. */
  async sync(): Promise<void> {
    await this.drain();
    this.flush();
    await Promise.race([this.device.queue.onSubmittedWorkDone(), this.lostPromise()]);
    await this.checkErrors();
  }

  private destroyHooks: (() => void)[] = [];

  /** Run fn when this runtime is destroyed (after the device is). */
  onDestroy(fn: () => void): void {
    this.destroyHooks.push(fn);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.batch = null;
    this.deferred = null;
    this.session?.close();
    for (const w of this.waiters.splice(0)) w.reject(new GpuError('The GPU runtime was destroyed while work waited for its pipelines to compile.'));
    for (const r of this.retired) r.destroy();
    this.retired = [];
    this.derived.clear();
    this.bindGroups.clear();
    this.pool.destroyAll();
    for (const b of this.readbackFree) b.destroy();
    this.uniformArena.destroy();
    this.device.destroy();
    for (const fn of this.destroyHooks.splice(0)) fn();
  }
}

