/**
 * The autotuner: for each kernel site and shape, time every candidate on the live adapter and keep the
 * fastest. Targets come from a recording run (recordChoices: every choice a piece of work makes, with its
 * candidates and the heuristic's pick). Each candidate runs the site's call on scratch buffers of the call's
 * sizes (from the pool, zeroed, released afterwards) with the chooser forcing that candidate at that site and
 * shape, so tuning never touches a real tensor. Tuning waits on the GPU: run it before training, not inside a step.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import { type KernelChooser, type KernelSite, setKernelChooser } from '../config';
import { conv2dBackwardData, conv2dBackwardWeight, conv2dForward, conv2dGeometry, convShape } from '../conv';
import { matmul } from '../matmul';
import { bnBackwardReduce, bnStatsTrain } from '../batchnorm';
import { type TunedChoice, TuneTable, tableChooser } from './cache';
import { type Candidate, type MeasureOptions, type Timer, createTimer, measureAll } from './timer';

/** One site and shape to tune: the candidates that can run it and the heuristic's pick (as strings). */
export interface TuneTarget {
  site: KernelSite;
  shape: string;
  candidates: readonly string[];
  heuristic: string;
  /**
   * The convolution call that made this choice, for a product inside one (a Winograd batched product, shape
   * 'MxNxK x<planes>'; an implicit GEMM's gather, 'MxNxK implicit.<pass> <geometry>'), which cannot run alone:
   * the convolution's site, shape and the algorithm it ran. The tuner times the whole convolution with that
   * algorithm and each candidate of the product.
   */
  within?: { site: KernelSite; shape: string; pick: string };
}

/**
 * Every kernel choice that `fn` makes (site, shape, candidates, heuristic), in first-seen order. The choices
 * stay the heuristic's while it runs (or `serve`'s picks, where it has one); the work it encodes runs as usual.
 */
export async function recordChoices(rt: GpuRuntime, fn: () => unknown, serve?: TuneTable): Promise<TuneTarget[]> {
  const served = serve ? tableChooser(serve) : null;
  const seen = new Map<string, TuneTarget>();
  // The last convolution choice: a packed product's choice that follows it (its shape has a suffix) is made inside it.
  let conv: TuneTarget['within'] | undefined;
  const restore = setKernelChooser(rt, ((r, c) => {
    const k = `${c.site} ${c.shape}`;
    const pick = served?.(r, c);
    const target: TuneTarget = { site: c.site, shape: c.shape, candidates: c.candidates.map(String), heuristic: String(c.heuristic) };
    if (c.site.startsWith('conv2d.')) conv = { site: c.site, shape: c.shape, pick: String(pick ?? c.heuristic) };
    else if (c.site === 'matmul' && c.shape.includes(' ') && conv) target.within = conv;
    if (!seen.has(k)) seen.set(k, target);
    return pick;
  }) as KernelChooser);
  try {
    await fn();
    await rt.sync();
  } finally {
    restore();
  }
  return [...seen.values()];
}

/** A site's call on scratch buffers, for timing. */
interface ScratchCall {
  run(): void;
  dispose(): void;
}

/** Scratch buffers of `floats` floats each, zeroed (the pool may hand back NaN or denormals, which slow some adapters). */
function scratch(rt: GpuRuntime, ...floats: number[]): GPUBuffer[] {
  return floats.map((n) => {
    const b = rt.alloc(n * 4);
    rt.clear(b, 0, b.size, 'tune-scratch');
    return b;
  });
}

/** The call that reaches `site` with `shape`, on scratch buffers; null for a shape this build cannot parse. */
function scratchCall(rt: GpuRuntime, site: KernelSite, shape: string): ScratchCall | null {
  const ints = (re: RegExp) => re.exec(shape)?.slice(1).map(Number) ?? null;
  const done = (bufs: GPUBuffer[], run: () => void): ScratchCall => ({ run, dispose: () => bufs.forEach((b) => rt.release(b)) });
  if (site.startsWith('conv2d.')) {
    // convShape: the geometry, with ' f16' for the float16 path's convolutions (zeros are float16 values).
    const v = ints(/^(\d+)x(\d+)x(\d+)x(\d+)->(\d+) k(\d+)x(\d+) s(\d+) p(\d+)(?: f16)?$/);
    if (!v) return null;
    const [N, C, H, W, O, KH, KW, s, p] = v;
    const g = conv2dGeometry([N, C, H, W], [O, C, KH, KW], s, p);
    const o = { halfOperands: shape.endsWith(' f16') };
    if (convShape(g, o) !== shape) return null;
    const bufs = scratch(rt, N * C * H * W, O * C * KH * KW, N * O * g.OH * g.OW);
    const [x, w, y] = bufs;
    if (site === 'conv2d.forward') return done(bufs, () => conv2dForward(rt, x, w, null, y, g, o));
    if (site === 'conv2d.data') return done(bufs, () => conv2dBackwardData(rt, y, w, x, g, o));
    return done(bufs, () => conv2dBackwardWeight(rt, x, y, w, g, o));
  }
  if (site === 'matmul') {
    // 'MxNxK', or 'MxNxK f16' for products of float16 values (zeros are).
    const v = ints(/^(\d+)x(\d+)x(\d+)(?: f16)?$/);
    if (!v) return null;
    const [M, N, K] = v;
    const bufs = scratch(rt, M * K, K * N, M * N);
    return done(bufs, () => matmul(rt, bufs[0], bufs[1], bufs[2], M, N, K, { halfInputs: shape.endsWith(' f16') }));
  }
  if (site === 'batchnorm.reduce') {
    const v = ints(/^(\d+)x(\d+)x(\d+)$/);
    if (!v) return null;
    const [n, c, hw] = v;
    const s = { n, c, hw };
    const bufs = scratch(rt, n * c * hw, n * c * hw, 2 * c, c, c, c, c, c, c);
    const [x, dy, stats, rm, rv, weight, bias, dw, db] = bufs;
    return done(bufs, () => {
      bnStatsTrain(rt, x, stats, rm, rv, s, 0.1, 1e-5);
      bnBackwardReduce(rt, dy, x, stats, { weight, bias }, dw, db, s, true);
    });
  }
  return null;
}

export interface TuneOptions extends Omit<MeasureOptions, 'maxReps' | 'warmup'> {
  /** The clock (default: createTimer(rt): timestamp queries where offered, else wall time). */
  timer?: Timer;
  /** Picks so far: nested choices (an im2col convolution's matmul) use them while timing; the results go into it. */
  table?: TuneTable;
  /**
   * A candidate must beat the heuristic's pick by this fraction to replace it (default 0.03): noise does not
   * flip a choice.
   */
  margin?: number;
  /** Replaces the timer (tests): ms of `candidate` at `target`; `encode` queues one launch of it. */
  measure?: (target: TuneTarget, candidate: string, encode: () => void) => Promise<number>;
  /** One line per tuned site and shape. */
  log?: (line: string) => void;
}

/** Convolutions last: an im2col candidate's matmuls then run with their tuned kernels (sites not listed: last). */
const ORDER: Partial<Record<KernelSite, number>> = { matmul: 0, 'batchnorm.reduce': 1, 'conv2d.forward': 2, 'conv2d.data': 3, 'conv2d.weight': 4 };
const rank = (site: KernelSite) => ORDER[site] ?? 5;

/** Dispatches one timing window may hold before the runtime would submit part of it early. */
const WINDOW_DISPATCHES = 400;

/**
 * Time every candidate of every target with two or more, on scratch buffers, and keep the fastest (the
 * heuristic's pick unless another beats it by `margin`). Returns the tuned choices (also added to opts.table).
 * The runtime's chooser is restored afterwards; install the table with useTuneTable.
 */
export async function tuneTargets(rt: GpuRuntime, targets: readonly TuneTarget[], opts: TuneOptions = {}): Promise<TunedChoice[]> {
  const table = opts.table ?? new TuneTable();
  const margin = opts.margin ?? 0.03;
  const todo = targets.filter((t) => t.candidates.length > 1).sort((a, b) => rank(a.site) - rank(b.site));
  const ownTimer = !opts.measure && !opts.timer;
  const timer = opts.measure ? null : (opts.timer ?? (await createTimer(rt)));
  const poison = rt.poison;
  rt.poison = false; // scratch buffers are zeroed; NaN fills would only add writes to the windows
  const out: TunedChoice[] = [];
  try {
    for (const t of todo) {
      const call = scratchCall(rt, t.site, t.shape) ?? (t.within ? scratchCall(rt, t.within.site, t.within.shape) : null);
      if (!call) {
        opts.log?.(`tune ${t.site} ${t.shape}: skipped (this build cannot rebuild the call from its shape)`);
        continue;
      }
      const times: Record<string, number> = {};
      let timerKind = timer?.kind ?? 'given';
      // The heuristic's pick first; each candidate's launch runs with the chooser forcing it at this site and shape.
      const order = [t.heuristic, ...t.candidates.filter((c) => c !== t.heuristic)];
      const [ran, reached] = [new Set<string>(), new Set<string>()];
      const launch = (cand: string) => () => {
        ran.add(cand);
        const restore = setKernelChooser(rt, forcing(t, cand, table, () => reached.add(cand)));
        try {
          call.run();
        } finally {
          restore();
        }
      };
      try {
        if (opts.measure) for (const cand of order) times[cand] = await opts.measure(t, cand, launch(cand));
        else {
          const candidates: Candidate[] = [];
          for (const cand of order) {
            const before = rt.counters.dispatches;
            try {
              launch(cand)();
              await rt.sync(); // warm-up: pipelines compiled, pooled buffers in place
            } catch (e) {
              // A candidate that cannot run this shape here (a limit, out of memory) is left out.
              if (cand === t.heuristic) throw e;
              opts.log?.(`tune ${t.site} ${t.shape}: ${cand} failed (${(e as Error).message.split('\n')[0]}); left out`);
              ran.delete(cand);
              continue;
            }
            candidates.push({ name: cand, encode: launch(cand), maxReps: Math.max(1, Math.floor(WINDOW_DISPATCHES / Math.max(1, rt.counters.dispatches - before))) });
          }
          for (const [cand, m] of await measureAll(timer!, candidates, { ...opts, warmup: false })) {
            times[cand] = m.ms;
            timerKind = m.timer;
          }
        }
      } finally {
        call.dispose();
      }
      const missed = [...ran].filter((c) => !reached.has(c));
      if (missed.length) throw new Error(`tune ${t.site} ${t.shape}: the scratch call did not reach this site and shape for ${missed.join(', ')}`);
      const fastest = Object.keys(times).reduce((a, b) => (times[b] < times[a] ? b : a));
      const pick = times[t.heuristic] <= times[fastest] * (1 + margin) ? t.heuristic : fastest;
      const choice: TunedChoice = { site: t.site, shape: t.shape, pick, heuristic: t.heuristic, times, timer: timerKind };
      table.set(choice);
      out.push(choice);
      opts.log?.(describeChoice(choice));
    }
  } finally {
    rt.poison = poison;
    if (ownTimer) timer?.dispose?.();
  }
  return out;
}

/**
 * A chooser that forces `cand` at the target's site and shape (calling `hit` when it does), the enclosing
 * convolution's algorithm where the target is inside one, and serves `table` elsewhere.
 */
function forcing(t: TuneTarget, cand: string, table: TuneTable, hit: () => void): KernelChooser {
  const rest = tableChooser(table);
  return <T>(r: GpuRuntime, c: { site: KernelSite; shape: string; candidates: readonly T[]; heuristic: T }) => {
    if (t.within && c.site === t.within.site && c.shape === t.within.shape) return c.candidates.find((x) => String(x) === t.within!.pick);
    if (c.site !== t.site || c.shape !== t.shape) return rest(r, c);
    hit();
    return c.candidates.find((x) => String(x) === cand);
  };
}

/** One line: the site, the shape, each candidate's time, and the pick against the heuristic's. */
export function describeChoice(c: TunedChoice): string {
  const times = Object.entries(c.times)
    .sort((a, b) => a[1] - b[1])
    .map(([k, ms]) => `${k} ${ms.toFixed(3)} ms`)
    .join(', ');
  const vs = c.pick === c.heuristic ? `the heuristic's pick` : `heuristic ${c.heuristic}: ${(c.times[c.heuristic] / c.times[c.pick]).toFixed(2)}x faster`;
  return `tune ${c.site} ${c.shape}: ${times} -> ${c.pick} (${vs})`;
}
