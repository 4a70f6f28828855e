/**
 * A pool of storage buffers, bucketed by size class. Freed buffers are kept for reuse, so a training
 * step that allocates the same shapes every time creates no new GPU buffers after the first step.
 *
 * Size classes: 256 B, then four classes per power of two (x1, x1.25, x1.5, x1.75), so at most 25% of a
 * buffer is wasted. Every buffer is STORAGE | COPY_SRC | COPY_DST.
 *
 * Of a size class's free buffers, acquire() hands out the one created first, whatever order they were released
 * in. So a loop that allocates and frees the same way every step gets the same buffers at the same points of
 * every step (a stack of freed buffers would permute them from step to step), and the runtime's bind groups,
 * which name buffers, are made once (GpuRuntime.bindGroupFor).
 */
export interface PoolStats {
  /** Bytes in buffers handed out and not yet released. */
  liveBytes: number;
  /** Peak of liveBytes since creation or the last resetPeak(). */
  peakLiveBytes: number;
  /** Bytes in free buffers kept for reuse. */
  freeBytes: number;
  liveBuffers: number;
  /** GPU buffers created so far (a pool hit creates none). */
  created: number;
}

export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const p = 2 ** Math.floor(Math.log2(bytes));
  for (const f of [1, 1.25, 1.5, 1.75, 2]) {
    const c = Math.ceil((p * f) / 256) * 256;
    if (c >= bytes) return c;
  }
  return p * 2;
}

export class BufferPool {
  /** Free buffers by size class, in descending order of creation (the oldest last, popped first). */
  private free = new Map<number, GPUBuffer[]>();
  /** The order buffers were created in. */
  private readonly order = new WeakMap<GPUBuffer, number>();
  private created = 0;
  private live = new Set<GPUBuffer>();
  private stats: PoolStats = { liveBytes: 0, peakLiveBytes: 0, freeBytes: 0, liveBuffers: 0, created: 0 };

  constructor(
    private readonly create: (size: number) => GPUBuffer,
    /** Free buffers beyond this many bytes are destroyed instead of kept. */
    private readonly maxFreeBytes = 2 ** 31,
    /**
     * Destroys a buffer the pool no longer keeps. A released buffer may still be named by commands that are
     * encoded but not yet submitted, so the runtime passes a function that defers the destroy until they
     * are submitted (WebGPU lets submitted work finish with a destroyed buffer, never unsubmitted work).
     */
    private readonly retire: (buf: GPUBuffer) => void = (buf) => buf.destroy(),
  ) {}

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    let buf = list?.pop();
    if (buf) {
      this.stats.freeBytes -= size;
    } else {
      buf = this.create(size);
      this.order.set(buf, this.created++);
      this.stats.created++;
    }
    this.live.add(buf);
    this.stats.liveBytes += size;
    this.stats.liveBuffers++;
    if (this.stats.liveBytes > this.stats.peakLiveBytes) this.stats.peakLiveBytes = this.stats.liveBytes;
    return buf;
  }

  release(buf: GPUBuffer): void {
    if (!this.live.delete(buf)) throw new Error('BufferPool.release: buffer is not live (released twice?)');
    const size = buf.size;
    this.stats.liveBytes -= size;
    this.stats.liveBuffers--;
    if (this.stats.freeBytes + size > this.maxFreeBytes) {
      this.retire(buf);
      return;
    }
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    // Insert by creation order (descending), found by bisection: the oldest stays last.
    const n = this.order.get(buf) ?? 0;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.order.get(list[mid]) ?? 0) > n) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, buf);
    this.stats.freeBytes += size;
  }

  /** Destroy every free buffer (live ones are untouched), through `retire`. */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) this.retire(b);
    this.free.clear();
    this.stats.freeBytes = 0;
  }

  resetPeak(): void {
    this.stats.peakLiveBytes = this.stats.liveBytes;
  }

  getStats(): PoolStats {
    return { ...this.stats };
  }

  /** Destroy every buffer at once, without deferring: only when the device itself is being destroyed. */
  destroyAll(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.stats.freeBytes = 0;
    for (const b of this.live) b.destroy();
    this.live.clear();
    this.stats.liveBytes = 0;
    this.stats.liveBuffers = 0;
  }
}
