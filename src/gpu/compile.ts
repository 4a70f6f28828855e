/**
 * Pipeline compilation for the runtime (runtime.ts): pipelines are created with createComputePipelineAsync,
 * and a compile session (GpuRuntime.precompile) compiles a whole set in parallel before any of its work runs.
 *
 * Drivers differ in when they compile. A GPU driver (and Chrome) compiles inside createComputePipelineAsync,
 * on Dawn's worker threads: starting every creation at once is the parallel compile. Lavapipe (llvmpipe)
 * creates a pipeline in milliseconds and compiles it with LLVM at its first dispatch, on the device's one queue
 * thread, so creations in parallel buy nothing there. A session on such a driver compiles by warming: one
 * dispatch of one workgroup per pipeline, with the pipeline's real uniforms on scratch buffers, shared out
 * between the runtime's device and helper devices of the same adapter (each has its own queue thread). The
 * helpers' results reach the runtime's device through Mesa's shader cache on disk, which every device of the
 * process reads; the runtime's device then only loads them at its first dispatch.
 */
import { GpuOpError } from './errors';

/** A pipeline to create, with the uniforms and binding sizes of its first dispatch (for a warm-up). */
export interface PipelineRequest {
  key: string;
  /** The op of its first dispatch (named in errors: `<op> (compiling <entry>)`). */
  op: string;
  shader: string;
  entry: string;
  constants?: Record<string, number>;
  /** The first dispatch's uniform bytes (null: the kernel binds none). */
  uniforms: Uint8Array | null;
  /** Bytes bound at @binding(1), @binding(2), …; null where a binding number is left unused. */
  bindingSizes: (number | null)[];
}

/** pipelineKey's keys by shader, then by entry point and constants: the same string object for the same pipeline. */
const keys = new Map<string, Map<string, string>>();

/**
 * The cache key of a pipeline: entry point, override constants and WGSL source. Every dispatch asks for one, so
 * it is made once per pipeline and then looked up: a key made afresh (a string as long as the shader) is hashed
 * again by each Map lookup, about 27 µs for a 10 KB shader, where the kept string's hash is cached (under 1 µs).
 */
export function pipelineKey(entry: string, constants: Record<string, number> | undefined, shader: string): string {
  const variant = `${entry}|${constants ? JSON.stringify(constants) : ''}`;
  let byVariant = keys.get(shader);
  if (!byVariant) keys.set(shader, (byVariant = new Map()));
  let key = byVariant.get(variant);
  if (key === undefined) byVariant.set(variant, (key = `${variant}|${shader}`));
  return key;
}

/** What a kernel is called in compile errors and progress: `<op> (compiling <entry>)`. */
export function compileLabel(req: Pick<PipelineRequest, 'op' | 'entry'>): string {
  return `${req.op} (compiling ${req.entry})`;
}

/** Shader modules of one device, cached by source, with the validation error (if any) of each. */
export class ModuleCache {
  private modules = new Map<string, { module: GPUShaderModule; error: Promise<GPUError | null> }>();
  constructor(readonly device: GPUDevice) {}

  get(shader: string, label: string): { module: GPUShaderModule; error: Promise<GPUError | null> } {
    let m = this.modules.get(shader);
    if (!m) {
      this.device.pushErrorScope('validation');
      const module = this.device.createShaderModule({ code: shader, label });
      const error = this.device.popErrorScope().catch(() => null);
      m = { module, error };
      this.modules.set(shader, m);
    }
    return m;
  }
}

/**
 * Create a pipeline with createComputePipelineAsync. A failure (a WGSL error, an unknown entry point, a bad
 * override constant) becomes a GpuOpError naming the kernel, with the shader module's own messages when it
 * has any (they carry the WGSL line numbers).
 */
export async function createPipeline(modules: ModuleCache, req: PipelineRequest): Promise<GPUComputePipeline> {
  const { module, error } = modules.get(req.shader, req.op);
  try {
    return await modules.device.createComputePipelineAsync({
      label: `${req.op}:${req.entry}`,
      layout: 'auto',
      compute: { module, entryPoint: req.entry, constants: req.constants },
    });
  } catch (e) {
    const moduleError = await error;
    const detail = (moduleError?.message ?? String((e as Error).message ?? e)).split('\n').slice(0, 8).join('\n  ');
    throw new GpuOpError('validation', [compileLabel(req)], detail);
  }
}

/** Scratch storage bytes per binding of a warm-up: at most this much of each real binding is bound. */
const SCRATCH_BYTES = 1 << 16;
const UNIFORM_BYTES = 256;

/**
 * Compiles pipelines on a driver that compiles at the first dispatch, by dispatching each once: one workgroup,
 * the real uniforms (so that every loop ends as in the real dispatch), scratch buffers in place of the real
 * ones (robust buffer access keeps every access inside them). Nothing the model owns is read or written.
 */
export class WarmUpDevice {
  readonly modules: ModuleCache;
  private scratch: GPUBuffer[] = [];
  private uniform: GPUBuffer | null = null;

  constructor(
    readonly device: GPUDevice,
    /** A helper device made for the session (destroyed with it), not the runtime's own. */
    readonly helper: boolean,
  ) {
    this.modules = new ModuleCache(device);
  }

  private scratchBuffer(i: number): GPUBuffer {
    this.scratch[i] ??= this.device.createBuffer({ label: `warm-up scratch ${i + 1}`, size: SCRATCH_BYTES, usage: GPUBufferUsage.STORAGE });
    return this.scratch[i];
  }

  /** Dispatch `pipeline` (created from `req` on this device) once and wait until it has run. Errors are ignored: the real dispatch reports its own. */
  async warm(req: PipelineRequest, pipeline: GPUComputePipeline): Promise<void> {
    const d = this.device;
    const entries: GPUBindGroupEntry[] = [];
    if (req.uniforms) {
      this.uniform ??= d.createBuffer({ label: 'warm-up uniforms', size: UNIFORM_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      const bytes = new Uint8Array(UNIFORM_BYTES);
      bytes.set(req.uniforms.subarray(0, UNIFORM_BYTES));
      d.queue.writeBuffer(this.uniform, 0, bytes);
      entries.push({ binding: 0, resource: { buffer: this.uniform, offset: 0, size: UNIFORM_BYTES } });
    }
    req.bindingSizes.forEach((size, i) => {
      if (size === null) return;
      entries.push({ binding: i + 1, resource: { buffer: this.scratchBuffer(i), offset: 0, size: Math.min(size, SCRATCH_BYTES) } });
    });
    d.pushErrorScope('validation');
    const encoder = d.createCommandEncoder({ label: `warm-up ${req.op}` });
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, d.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }));
    pass.dispatchWorkgroups(1);
    pass.end();
    d.queue.submit([encoder.finish()]);
    const scope = d.popErrorScope().catch(() => null);
    await d.queue.onSubmittedWorkDone();
    await scope;
  }

  destroy(): void {
    for (const b of this.scratch) b?.destroy();
    this.uniform?.destroy();
    if (this.helper) this.device.destroy();
  }
}

/** What a compile session needs from the runtime. */
export interface CompileHost {
  /** The runtime's device and its module cache. */
  main: WarmUpDevice;
  /** Whether the driver compiles at the first dispatch (warm-ups), or at creation (creations in parallel). */
  warmUp: boolean;
  /** Helper devices for warm-ups (resolved when they are ready; an empty list without helpers). */
  helpers: Promise<WarmUpDevice[]>;
  /** Keep a pipeline created on the runtime's device. */
  store(key: string, pipeline: GPUComputePipeline): void;
  onProgress?(done: number, total: number): void;
}

/**
 * One compile session: the pipelines added while it is open are compiled in parallel. finished() resolves once
 * it is closed and every pipeline added exists on the runtime's device (compiled, or to be loaded from the
 * shader cache at its first dispatch), and rejects with the first compile error.
 */
export class CompileSession {
  readonly started = performance.now();
  private queue: PipelineRequest[] = [];
  private waiters: (() => void)[] = [];
  private closed = false;
  private done = 0;
  private total = 0;
  private creations: Promise<void>[] = [];
  /** Compiled on a helper device: created on the runtime's device at the end. */
  private elsewhere: PipelineRequest[] = [];
  private failed = false;
  private readonly workers: Promise<void> | null;

  constructor(private readonly host: CompileHost) {
    this.workers = host.warmUp ? this.runWorkers() : null;
    this.workers?.catch(() => undefined); // observed by finished()
  }

  /** Pipelines added so far. */
  get size(): number {
    return this.total;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private wait(): Promise<void> {
    return new Promise<void>((r) => this.waiters.push(r));
  }

  private tick(): void {
    this.done++;
    if (this.closed) this.host.onProgress?.(this.done, this.total);
  }

  add(req: PipelineRequest): void {
    this.total++;
    if (this.host.warmUp) this.queue.push(req);
    else {
      const created = createPipeline(this.host.main.modules, req).then((p) => {
        this.host.store(req.key, p);
        this.tick();
      });
      created.catch(() => {
        this.failed = true;
        this.notify();
      });
      this.creations.push(created);
    }
    this.notify();
  }

  /** No more pipelines: the session ends when those added are ready. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // The set is known from here on: the first report (none for an empty set), then one per compiled pipeline.
    if (this.total > 0) this.host.onProgress?.(this.done, this.total);
    this.notify();
  }

  private done$: Promise<void> | null = null;

  finished(): Promise<void> {
    return (this.done$ ??= this.workers ?? this.creationsDone());
  }

  private async creationsDone(): Promise<void> {
    for (let seen = 0; ; ) {
      if (seen < this.creations.length) {
        const batch = this.creations.slice(seen);
        seen = this.creations.length;
        await Promise.all(batch);
      } else if (this.closed) return;
      else await this.wait();
    }
  }

  private async next(): Promise<PipelineRequest | null> {
    for (;;) {
      if (this.failed) return null;
      if (this.queue.length) return this.queue.shift()!;
      if (this.closed) return null;
      await this.wait();
    }
  }

  private async worker(dev: WarmUpDevice): Promise<void> {
    for (let req = await this.next(); req; req = await this.next()) {
      let pipeline: GPUComputePipeline;
      try {
        pipeline = await createPipeline(dev.modules, req);
      } catch (e) {
        this.failed = true;
        this.notify();
        throw e;
      }
      await dev.warm(req, pipeline);
      if (dev.helper) this.elsewhere.push(req);
      else this.host.store(req.key, pipeline);
      this.tick();
    }
  }

  private async runWorkers(): Promise<void> {
    const main = this.worker(this.host.main);
    main.catch(() => undefined); // observed below
    const helpers = await this.host.helpers;
    await Promise.all([main, ...helpers.map((h) => this.worker(h))]);
    // Compiled elsewhere: created here, in parallel (quick on such a driver: the shader cache holds the code).
    await Promise.all(this.elsewhere.map(async (req) => this.host.store(req.key, await createPipeline(this.host.main.modules, req))));
  }
}
