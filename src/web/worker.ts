/**
 * The training worker: owns the GPU device and runs the trainer, so that the page stays responsive.
 * It takes one run at a time ('start'), and 'stop' asks the running one to checkpoint and stop.
 */
import { initGpu } from '../gpu/init';
import type { GpuRuntime } from '../gpu/runtime';
import { TrainingSession } from './session';
import { IdbStore } from './idb-store';
import { loadTuneCacheIdb } from './tune-cache.browser';
import { runLockName, type FromWorker, type ToWorker } from './protocol';
import { useWording } from '../wording';

// Messages (the trainer's log, errors) name the page's fields and buttons, not the CLI's flags.
useWording('page');

/** The parts of DedicatedWorkerGlobalScope used here (tsconfig's lib has DOM, not WebWorker). */
interface WorkerScope {
  postMessage(message: unknown, transfer: Transferable[]): void;
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
}
const scope = self as unknown as WorkerScope;
const post = (message: FromWorker, transfer: Transferable[] = []) => scope.postMessage(message, transfer);

let runtime: Promise<GpuRuntime> | null = null;
let session: TrainingSession | null = null;
/** One store per run name, kept open: when IndexedDB is unavailable its in-memory files still allow Stop + Resume. */
const stores = new Map<string, Promise<IdbStore>>();

function store(run: string): Promise<IdbStore> {
  let s = stores.get(run);
  if (!s) stores.set(run, (s = IdbStore.open(run, (line) => post({ type: 'log', line }))));
  return s;
}

async function gpu(): Promise<GpuRuntime> {
  if (!runtime) {
    runtime = initGpu().then(async (rt) => {
      post({ type: 'adapter', name: rt.adapter.name, description: rt.adapter.description, fallback: rt.adapter.isFallback });
      await loadTuneCacheIdb(rt, (line) => post({ type: 'log', line }));
      return rt;
    });
    runtime.catch(() => (runtime = null));
  }
  return runtime;
}

async function start(msg: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  if (session) {
    post({ type: 'log', line: 'a run is already in progress: stop it first' });
    return;
  }
  try {
    session = new TrainingSession(post);
    const s = session;
    // The run's Web Lock, held while it trains: another tab's page sees it and offers neither Resume nor Train for it.
    const locks = (navigator as Navigator & { locks?: LockManager }).locks;
    const train = async () => s.run(await gpu(), msg, await store(msg.run));
    if (!locks) await train();
    else {
      await locks.request(runLockName(msg.run), { ifAvailable: true }, async (lock) => {
        if (!lock) throw busyError(msg.identity.root);
        await train();
      });
    }
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    if (err.name === 'DeviceLostError') runtime = null; // the next run acquires a new device
    post({ type: 'error', name: err.name, message: err.message });
  } finally {
    session = null;
  }
}

function busyError(root: string): Error {
  const e = new Error(`another tab of this page is training "${root}" right now, into the same browser storage. Stop it in that tab (or let it finish), then Resume or Train here.`);
  e.name = 'RunBusyError';
  return e;
}

scope.onmessage = (ev) => {
  const msg = ev.data;
  if (msg.type === 'start') void start(msg);
  else if (msg.type === 'stop') session?.stop();
};
