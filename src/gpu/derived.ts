/**
 * Write generations, and the cache of derived buffers that they make safe.
 *
 * Every write the runtime issues to a buffer gives that buffer a new generation number: a dispatch's bindings
 * that its shader does not declare read-only, write(), copy()'s destination, clear(), and a buffer handed out by
 * alloc(). A derived buffer is one computed from others, such as Winograd's transformed filters or a batch norm
 * folded into a scale and a shift. Inside DerivedCache.scope() it is kept and served again for as long as none of
 * its sources has been written since it was made. Evaluation opens a scope around its loop: the weights do not
 * change between its batches, so their derived buffers are made once per evaluation, not once per batch. A
 * source written in between (an optimizer step, a state dict load, an in-place op) has a new generation, and
 * the derived buffers are made again. Outside a scope, or past the byte budget, they are made for each use and
 * released after it.
 */

/** Generation numbers of buffers: a new one at each write the runtime issues (see the header). */
export class WriteGenerations {
  private gens = new WeakMap<GPUBuffer, number>();
  private next = 0;

  /** The buffer was written (or handed out): it gets a new generation. */
  mark(buf: GPUBuffer): void {
    this.gens.set(buf, ++this.next);
  }

  /** The buffer's generation: it changes with every write issued to it (0 before the first). */
  of(buf: GPUBuffer): number {
    return this.gens.get(buf) ?? 0;
  }
}

/**
 * The storage bindings (by number) that a WGSL module declares read-only (`var<storage, read>`) in every
 * declaration that uses the number. A dispatch may write any other binding.
 */
export function readOnlyBindings(shader: string): Set<number> {
  const read = new Set<number>();
  const written = new Set<number>();
  const re = /@binding\((\d+)\)(?:\s*@group\(\d+\))?\s*var\s*<\s*storage\s*(?:,\s*(\w+)\s*)?>/g;
  for (const m of shader.matchAll(re)) (m[2] === 'read' ? read : written).add(Number(m[1]));
  return new Set([...read].filter((n) => !written.has(n)));
}

interface Entry {
  bufs: GPUBuffer[];
  gens: number[];
  bytes: number;
}

/** Buffers derived from others, kept while their sources are unwritten, inside a scope (see the header). */
export class DerivedCache {
  private depth = 0;
  private entries = new Map<string, Entry>();
  private ids = new WeakMap<GPUBuffer, number>();
  private nextId = 0;
  private held = 0;
  /** The most bytes the cache holds at once (default 1 GiB); derived buffers past it are made for each use. */
  budget = 2 ** 30;
  /** Uses served from the cache, and uses that made their buffers (tests, benchmarks). */
  readonly counters = { hits: 0, made: 0 };

  constructor(
    private readonly writes: WriteGenerations,
    private readonly release: (buf: GPUBuffer) => void,
  ) {}

  /** Whether a scope is open. */
  get active(): boolean {
    return this.depth > 0;
  }

  /** Bytes the cache holds now. */
  get heldBytes(): number {
    return this.held;
  }

  /**
   * Run `fn` with the cache open (scopes nest); when the outermost scope ends, every kept buffer goes back to
   * the pool. For work that does not change the sources between uses, such as an evaluation loop.
   */
  async scope<T>(fn: () => Promise<T> | T): Promise<T> {
    this.depth++;
    try {
      return await fn();
    } finally {
      if (--this.depth === 0) this.clear();
    }
  }

  /** Release every kept buffer. */
  clear(): void {
    for (const e of this.entries.values()) for (const b of e.bufs) this.release(b);
    this.entries.clear();
    this.held = 0;
  }

  /**
   * `use` with the buffers that `make` derives from `sources`: kept ones while no source has been written since
   * they were made (inside a scope), else new ones. `name` must tell apart everything but the sources' contents
   * that the buffers depend on (shapes, options). `use` must not release or write them.
   */
  use<T>(name: string, sources: readonly (GPUBuffer | null)[], make: () => GPUBuffer[], use: (bufs: GPUBuffer[]) => T): T {
    if (this.depth === 0) return this.once(make, use);
    const key = `${name}|${sources.map((s) => (s ? this.id(s) : '-')).join(',')}`;
    // The generations before make() reads the sources: a write issued after this point makes the entry stale.
    const gens = sources.map((s) => (s ? this.writes.of(s) : 0));
    const kept = this.entries.get(key);
    if (kept && kept.gens.every((g, i) => g === gens[i])) {
      this.counters.hits++;
      return use(kept.bufs);
    }
    if (kept) this.drop(key, kept);
    const bufs = make();
    this.counters.made++;
    const bytes = bufs.reduce((s, b) => s + b.size, 0);
    if (this.held + bytes > this.budget) return this.useThenRelease(bufs, use);
    this.entries.set(key, { bufs, gens, bytes });
    this.held += bytes;
    return use(bufs);
  }

  private once<T>(make: () => GPUBuffer[], use: (bufs: GPUBuffer[]) => T): T {
    const bufs = make();
    this.counters.made++;
    return this.useThenRelease(bufs, use);
  }

  /** `use`, then release the buffers. */
  private useThenRelease<T>(bufs: GPUBuffer[], use: (bufs: GPUBuffer[]) => T): T {
    try {
      return use(bufs);
    } finally {
      for (const b of bufs) this.release(b);
    }
  }

  private drop(key: string, e: Entry): void {
    for (const b of e.bufs) this.release(b);
    this.entries.delete(key);
    this.held -= e.bytes;
  }

  private id(buf: GPUBuffer): number {
    let id = this.ids.get(buf);
    if (id === undefined) this.ids.set(buf, (id = ++this.nextId));
    return id;
  }
}
