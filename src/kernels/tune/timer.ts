/**
 * GPU timing for the autotuner: one "window" holds everything a callback encodes, and its duration is read
 * from timestamp queries where the adapter offers 'timestamp-query', else as wall time around a GPU sync.
 * measureMs() repeats the work inside one window until the window is well above the timer's resolution (a
 * timestamp quantised to 65 µs, or a sync that costs a timer tick, must not make a 10 µs kernel look free or
 * slow), then takes the median over repeated windows.
 */
import type { GpuRuntime } from '../../gpu/runtime';

/** A clock for GPU work. */
export interface Timer {
  /** 'timestamp' (GPU timestamp queries), 'wall' (wall time around a sync), or a test's own name. */
  readonly kind: string;
  /** The smallest duration it tells apart from zero, in ms (its quantum, or the cost of an empty window). */
  readonly resolutionMs: number;
  /** The duration in ms of the GPU work that `encode` queues (encode only encodes; it must not await). */
  window(encode: () => void): Promise<number>;
  /** The timer to use when this one reads zero however long the window (timestamps that do not tick). */
  readonly fallback?: Timer;
  /** Free what the timer holds on the device. */
  dispose?(): void;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Wall time around a GPU sync: the GPU is idle before the window opens, and the window closes when its work is done. */
export class WallTimer implements Timer {
  readonly kind = 'wall';
  private constructor(
    private readonly rt: GpuRuntime,
    readonly resolutionMs: number,
  ) {}

  /** A wall timer whose resolution is the median cost of an empty window on this runtime. */
  static async create(rt: GpuRuntime): Promise<WallTimer> {
    const t = new WallTimer(rt, 0);
    const empty: number[] = [];
    for (let i = 0; i < 5; i++) empty.push(await t.window(() => undefined));
    return new WallTimer(rt, Math.max(median(empty), 1e-3));
  }

  async window(encode: () => void): Promise<number> {
    await this.rt.sync();
    const t0 = performance.now();
    encode();
    await this.rt.sync();
    return performance.now() - t0;
  }
}

/**
 * GPU timestamps written by two empty compute passes, one submitted just before the window's work and one
 * after it, on the same queue. The work is encoded first and submitted between the two, so the time spent
 * encoding is not in the window; if the runtime had to submit while encoding (a full batch), the window is
 * taken again with the first timestamp before the encoding.
 */
export class TimestampTimer implements Timer {
  readonly kind = 'timestamp';
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuf: GPUBuffer;
  private readonly staging: GPUBuffer;
  resolutionMs = 0;
  /** The gcd of the raw timestamps seen while calibrating, in ns: the quantum of a quantising driver. */
  quantumNs = 0;

  private constructor(
    private readonly rt: GpuRuntime,
    readonly fallback: Timer,
  ) {
    const d = rt.device;
    this.querySet = d.createQuerySet({ type: 'timestamp', count: 2 });
    this.resolveBuf = d.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    this.staging = d.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  /**
   * A timestamp timer calibrated on empty windows, or null when the timestamps do not tick (all zero, or
   * going backwards). `fallback` serves measurements that read zero at any length.
   */
  static async create(rt: GpuRuntime, fallback: Timer): Promise<TimestampTimer | null> {
    const t = new TimestampTimer(rt, fallback);
    const raw: bigint[] = [];
    const empty: number[] = [];
    for (let i = 0; i < 5; i++) {
      const [a, b] = await t.stamps(() => undefined);
      raw.push(a, b);
      empty.push(Number(b - a) / 1e6);
    }
    if (raw.every((v) => v === 0n) || empty.some((ms) => ms < 0)) {
      t.dispose();
      return null;
    }
    t.quantumNs = Number(raw.reduce((g, v) => gcd(g, v < 0n ? -v : v), 0n));
    t.resolutionMs = Math.max(t.quantumNs / 1e6, median(empty), 1e-4);
    return t;
  }

  async window(encode: () => void): Promise<number> {
    const [a, b] = await this.stamps(encode);
    return Math.max(0, Number(b - a) / 1e6);
  }

  /** The raw begin and end timestamps (ns) around the work `encode` queues. */
  private async stamps(encode: () => void): Promise<[bigint, bigint]> {
    const rt = this.rt;
    rt.flush();
    const before = rt.counters.submits;
    encode();
    if (rt.counters.submits !== before) {
      // Part of the work went out before the first timestamp could: take the window again, stamp first.
      await rt.sync();
      this.mark('begin');
      encode();
    } else this.mark('begin');
    rt.flush();
    this.mark('end');
    await rt.sync();
    await this.staging.mapAsync(GPUMapMode.READ);
    const t = new BigInt64Array(this.staging.getMappedRange().slice(0));
    this.staging.unmap();
    return [t[0], t[1]];
  }

  /** Submit an empty compute pass that writes the window's begin or end timestamp (and, at the end, resolves both). */
  private mark(which: 'begin' | 'end'): void {
    const d = this.rt.device;
    const e = d.createCommandEncoder({ label: `tune-timestamp-${which}` });
    const writes: GPUComputePassTimestampWrites = which === 'begin' ? { querySet: this.querySet, beginningOfPassWriteIndex: 0 } : { querySet: this.querySet, endOfPassWriteIndex: 1 };
    e.beginComputePass({ timestampWrites: writes }).end();
    if (which === 'end') {
      e.resolveQuerySet(this.querySet, 0, 2, this.resolveBuf, 0);
      e.copyBufferToBuffer(this.resolveBuf, 0, this.staging, 0, 16);
    }
    d.queue.submit([e.finish()]);
  }

  dispose(): void {
    this.querySet.destroy();
    this.resolveBuf.destroy();
    this.staging.destroy();
  }
}

function gcd(a: bigint, b: bigint): bigint {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * The timer for a runtime: timestamp queries when the device has 'timestamp-query' and they tick (with the
 * wall timer as its fallback), else wall time. `timestamps: false` forces wall time.
 */
export async function createTimer(rt: GpuRuntime, opts: { timestamps?: boolean } = {}): Promise<Timer> {
  const wall = await WallTimer.create(rt);
  if (opts.timestamps === false || !rt.features.has('timestamp-query')) return wall;
  return (await TimestampTimer.create(rt, wall)) ?? wall;
}

export interface MeasureOptions {
  /** Windows per candidate, the one that sets the repeat count included (default 3); the result is their median. */
  samples?: number;
  /** Shortest window, in ms, whatever the timer (default 1). */
  minWindowMs?: number;
  /** A window must last at least this many times the timer's resolution (default 25: ≤ 4% quantisation error). */
  resolutionFactor?: number;
  /** Most launches in one window (default 256). */
  maxReps?: number;
  /** Run one untimed window per candidate first (default true). */
  warmup?: boolean;
  /** Stop after the first window when a launch already takes longer than this (ms). */
  giveUpAboveMs?: number;
  /** measureAll: stop after the first window when a launch takes longer than this many times the best first window (default 2). */
  giveUpFactor?: number;
}

export interface Measurement {
  /** Median ms of one launch. */
  ms: number;
  /** Launches per window. */
  reps: number;
  /** Each window's ms per launch. */
  samples: number[];
  /** The timer that gave it ('timestamp', 'wall', …). */
  timer: string;
  /** The window stayed below the resolution target at maxReps (a coarse result). */
  coarse: boolean;
}

/** One candidate for measureAll: what one launch encodes, and at most how many launches a window may hold. */
export interface Candidate {
  name: string;
  encode: () => void;
  maxReps?: number;
}

/** A timer that read 0 ms at the most launches a window may hold. */
class ZeroReading extends Error {}

/**
 * Median ms of one launch of each candidate, on one timer. Per candidate: a warm-up window (pipelines
 * compiled, buffers pooled), then the launch is repeated k times inside each window, k growing until a window
 * lasts at least max(minWindowMs, resolutionFactor × the timer's resolution). The timed windows then go round
 * the candidates in turn, so that a burst of load elsewhere falls on all of them; a candidate whose first
 * window is far slower than the best is not timed again. If any window reads zero at the most launches (a
 * timer that does not tick), every candidate is measured again on the timer's fallback; without one, it throws.
 */
export async function measureAll(timer: Timer, candidates: readonly Candidate[], opts: MeasureOptions = {}): Promise<Map<string, Measurement>> {
  const samples = Math.max(1, opts.samples ?? 3);
  const target = Math.max(opts.minWindowMs ?? 1, (opts.resolutionFactor ?? 25) * timer.resolutionMs);
  const repeat = (encode: () => void, k: number) => () => {
    for (let i = 0; i < k; i++) encode();
  };
  const state: { c: Candidate; k: number; per: number[]; coarse: boolean }[] = [];
  try {
    for (const c of candidates) {
      const maxReps = Math.max(1, c.maxReps ?? opts.maxReps ?? 256);
      if (opts.warmup !== false) await timer.window(c.encode);
      let k = 1;
      let w = await timer.window(c.encode);
      while (w < target && k < maxReps) {
        // Too short to trust: repeat the launch more times in one window (×8 when the window read nothing).
        k = Math.min(maxReps, w > 0 ? Math.max(2 * k, Math.ceil((1.25 * k * target) / w)) : 8 * k);
        w = await timer.window(repeat(c.encode, k));
      }
      if (!(w > 0)) throw new ZeroReading(`measureAll: the ${timer.kind} timer read 0 ms for ${k} launches in one window, and it has no fallback`);
      state.push({ c, k, per: [w / k], coarse: w < target });
    }
  } catch (e) {
    if (!(e instanceof ZeroReading)) throw e;
    if (timer.fallback) return measureAll(timer.fallback, candidates, opts);
    throw new Error(e.message);
  }
  const best = Math.min(...state.map((s) => s.per[0]));
  const active = state.filter((s) => s.per[0] <= (opts.giveUpFactor ?? 2) * best && (opts.giveUpAboveMs === undefined || s.per[0] <= opts.giveUpAboveMs));
  for (let i = 1; i < samples; i++) for (const s of active) s.per.push((await timer.window(repeat(s.c.encode, s.k))) / s.k);
  return new Map(state.map((s) => [s.c.name, { ms: median(s.per), reps: s.k, samples: s.per, timer: timer.kind, coarse: s.coarse }]));
}

/** Median ms of the GPU work `encode` queues: measureAll for one candidate (see there). */
export async function measureMs(timer: Timer, encode: () => void, opts: MeasureOptions = {}): Promise<Measurement> {
  return (await measureAll(timer, [{ name: 'it', encode }], opts)).get('it')!;
}
