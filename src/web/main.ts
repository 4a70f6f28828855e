/**
 * The training page: pick data (demo, folder or drop), optional weights and the hyper-parameters, then
 * train in a worker (worker.ts) while this page shows the progress, the charts and the results.
 *
 * A run is stored in IndexedDB under its data source ("demo", or "folder:" and the folder's name) with the
 * data's identity (classes, image count, a hash of the files): a stopped run is offered for Resume, and a
 * finished run's results shown again, only for the same data. The worker holds a Web Lock per run while it
 * trains, and a page offers neither Train nor Resume for a run that another tab holds.
 */
import { browserGPU } from '../gpu/navigator.browser';
import { ARCH_NAMES } from '../nn/resnet';
import { DEMO_CLASSES, DEMO_IMAGES_PER_CLASS, DEMO_VERSION } from '../train/data/demo-images';
import { decodeImageBlob } from '../train/data/decode.browser';
import type { RGBImage } from '../train/data/image';
import { accuracyChart, lossChart, type EpochRow } from '../train/report';
import type { CompileProgress, Progress } from '../train/trainer';
import { compileLine } from '../train/compile_status';
import type { Summary } from '../train/run_report';
import type { TrainConfig } from '../train/config';
import { checkDecodable, folderIdentity, identityMismatch, scanPicked, tiffNote, weightsProblem } from './checks';
import { ConfigForm, FieldError, fieldName, parseDecimal, precisionSupport } from './form';
import { IdbStore } from './idb-store';
import { hasDirectoryPicker, pickedFromDrop, pickedFromInput, pickWithDirectoryPicker, type PickedFolder } from './pick-folder';
import {
  CHECKPOINT,
  DOWNLOADS,
  RESULTS,
  RUN_INFO,
  THUMBNAILS,
  parseRunInfo,
  runLockName,
  type DataIdentity,
  type FromWorker,
  type RunInfo,
  type SavedResults,
  type Thumbnail,
  type ToWorker,
} from './protocol';
import { formatLoss, renderConfusion, renderMetrics, renderMisclassified } from './results';
import { useWording } from '../wording';

// Messages name the page's fields and buttons, not the CLI's flags (the worker chooses the same).
useWording('page');

type State = 'loading' | 'no-webgpu' | 'idle' | 'running' | 'stopping' | 'stopped' | 'done' | 'error';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

/** What the page shows, also readable by tests as `window.resnetPage`. */
const page = {
  state: 'loading' as State,
  adapter: '',
  /** Whether the adapter has shader-f16, so that the precision field offers f16. */
  f16: false,
  history: [] as EpochRow[],
  stepLosses: [] as [number, number][],
  summary: null as Summary | null,
  error: null as string | null,
  files: new Map<string, Uint8Array>(),
  /** Largest images/s measured in a training phase. */
  imagesPerSecond: 0,
  maxEpochs: 0,
  /** 'start' messages sent to the worker (a double click must send one). */
  starts: 0,
  /** What the saved-run check found for the chosen data (see refreshSaved). */
  saved: 'none' as 'none' | 'resumable' | 'mismatch' | 'busy' | 'finished',
};
(window as unknown as { resnetPage: typeof page }).resnetPage = page;

const form = new ConfigForm($('config'), ARCH_NAMES);

/** A picked folder that passed the pick-time checks, with its identity. */
interface ChosenFolder extends PickedFolder {
  identity: DataIdentity;
}
let folder: ChosenFolder | null = null;
let weights: File | null = null;
/** Why the chosen weights file cannot be used (Train refuses while it is set). */
let weightsError: string | null = null;
let worker: Worker | null = null;
/** Set from a Train/Resume click until the worker answers or the click is refused: a double click starts once. */
let starting = false;
/** The run started last, and its info (the config it trains with). */
let currentRun: { run: string; info: RunInfo } | null = null;
/** The run stopped in this page session (its checkpoint may live only in the worker's memory). */
let stoppedRun: { run: string; info: RunInfo } | null = null;
/** The saved run of the chosen data, when it can be resumed. */
let resumable: RunInfo | null = null;
/** The run whose results the page shows (run name and fingerprint), so a reload or a re-pick restores them once. */
let shownResults: string | null = null;
/** Stop was pressed during the run now ending, and in which phase. */
let stopAsked: { phase: Progress['phase'] | null; epoch: number; last: boolean } | null = null;
let lastProgress: Progress | null = null;
/** Speed is measured between two progress messages of one phase, never from the first alone. */
let speed: { key: string; t0: number; done0: number } | null = null;
const downloadUrls = new Map<string, string>();

function log(line: string): void {
  const pre = $('log');
  pre.textContent += line + '\n';
  pre.scrollTop = pre.scrollHeight;
}

function isDemo(): boolean {
  return $<HTMLInputElement>('source-demo').checked;
}

const DEMO_IDENTITY: DataIdentity = {
  root: 'demo',
  classes: [...DEMO_CLASSES],
  images: DEMO_CLASSES.length * (DEMO_IMAGES_PER_CLASS.train + DEMO_IMAGES_PER_CLASS.val + DEMO_IMAGES_PER_CLASS.test),
  fingerprint: DEMO_VERSION,
};

/** The chosen data: its storage slot and identity, or null when no usable folder is chosen. */
function chosen(): { run: string; identity: DataIdentity } | null {
  if (isDemo()) return { run: 'demo', identity: DEMO_IDENTITY };
  return folder ? { run: `folder:${folder.root}`, identity: folder.identity } : null;
}

function busy(): boolean {
  return page.state === 'running' || page.state === 'stopping';
}

function setState(s: State): void {
  page.state = s;
  document.body.dataset.state = s;
  const usable = s !== 'loading' && s !== 'no-webgpu';
  updateButtons();
  form.setDisabled(busy());
  for (const id of ['source-demo', 'source-folder', 'pick-folder', 'weights-input', 'weights-clear', 'reset-config', 'limit']) $<HTMLInputElement>(id).disabled = busy();
  if (usable && !busy()) void refreshSaved();
}

function updateButtons(): void {
  const usable = page.state !== 'loading' && page.state !== 'no-webgpu';
  $<HTMLButtonElement>('train').disabled = !usable || busy() || starting || chosen() === null || page.saved === 'busy';
  $<HTMLButtonElement>('stop').disabled = page.state !== 'running';
  $<HTMLButtonElement>('resume').disabled = !usable || busy() || starting || page.saved !== 'resumable';
}

// ---- Errors and notes: one alert box by the buttons, scrolled into view and focused (or the invalid field focused).

function showError(message: string, focus?: HTMLElement): void {
  const box = $('run-error');
  box.textContent = message;
  box.hidden = false;
  (focus ?? box).focus({ preventScroll: true });
  const instant = 'instant' as ScrollBehavior;
  if (!focus) return box.scrollIntoView({ block: 'center', behavior: instant });
  // The field and the message both in view where they fit together; else the message, as near the field as it goes.
  const f = focus.getBoundingClientRect();
  const b = box.getBoundingClientRect();
  const top = Math.min(f.top, b.top);
  const bottom = Math.max(f.bottom, b.bottom);
  if (bottom - top <= window.innerHeight - 16) window.scrollBy({ top: (top + bottom - window.innerHeight) / 2, behavior: instant });
  else window.scrollBy({ top: f.top < b.top ? b.bottom - window.innerHeight + 8 : b.top - 8, behavior: instant });
}

function clearError(): void {
  $('run-error').hidden = true;
  form.markInvalid(null);
  $('limit').removeAttribute('aria-invalid');
}

function note(text: string): void {
  $('run-note').textContent = text;
}

// ---- WebGPU availability, checked before anything else.

async function checkWebGpu(): Promise<void> {
  try {
    const adapter = await browserGPU().requestAdapter();
    if (!adapter) {
      throw new Error(
        'WebGPU is present but no GPU adapter is available (requestAdapter() returned null): it may be turned off, or this GPU is blocklisted. ' +
          'In Chrome or Edge, turn on Settings › System › "Use graphics acceleration", or enable chrome://flags/#enable-unsafe-webgpu ' +
          '(Linux), or start Chromium with --enable-unsafe-webgpu.',
      );
    }
    const i = adapter.info;
    page.adapter = [i.vendor, i.architecture, i.device].filter(Boolean).join(' / ') || i.description || 'unknown adapter';
    const support = precisionSupport(adapter.features as unknown as ReadonlySet<string>, page.adapter);
    page.f16 = support.f16;
    form.setPrecisionSupport(support);
    const software = (i as { isFallbackAdapter?: boolean }).isFallbackAdapter || /swiftshader|llvmpipe|lavapipe/i.test(page.adapter);
    $('gpu-status').textContent = `WebGPU adapter: ${page.adapter}${software ? ' (a software adapter on the CPU: keep the settings small, e.g. resnet18, 32–64 px and a subset of the images)' : ''}`;
    setState('idle');
  } catch (e) {
    $('gpu-status').textContent = 'WebGPU is not available in this browser.';
    const box = $('gpu-error');
    box.textContent = (e as Error).message;
    box.hidden = false;
    setState('no-webgpu');
  }
}

// ---- Data source and weights.

function describeDemo(): void {
  const label = $('source-demo').parentElement!;
  label.lastChild!.textContent = ` Built-in demo: ${DEMO_CLASSES.length} colour classes of textures (${DEMO_CLASSES.join(', ')}), ${DEMO_IDENTITY.images} images drawn in the browser`;
}

function sourceChanged(): void {
  form.applyDefaults(isDemo());
  setState(page.state);
}

/** Check a picked folder now (layout, classes, decodable images), so that its problems show at pick time. */
async function folderPicked(f: PickedFolder | null, how: string): Promise<void> {
  if (!f) return; // cancelled
  $<HTMLInputElement>('source-folder').checked = true;
  folder = null;
  const info = $('folder-info');
  info.textContent = `Reading folder "${f.root}" (${f.files.length} files)…`;
  clearError();
  setState(page.state);
  try {
    if (f.files.length === 0) throw new Error(`the folder ${how} holds no files (or the browser was not allowed to read them). Choose the folder that holds the class folders, or train/, val/ and test/.`);
    const { tree, dataset, tiff } = await scanPicked(f.root, f.files);
    await checkDecodable(f.root, dataset, async (path) => decodeImageBlob(tree.file(path)!, path));
    const identity = await folderIdentity(dataset, tree);
    folder = { ...f, identity };
    info.textContent = `Folder "${f.root}": ${f.files.length} files, ${identity.images} images in ${identity.classes.length} classes (${identity.classes.join(', ')}).${tiff ? ' ' + tiffNote(tiff) : ''}`;
    log(dataset.description);
  } catch (e) {
    info.textContent = `Folder "${f.root}" cannot be used: see the message above the buttons.`;
    showError(`Folder "${f.root}": ${(e as Error).message}`);
  }
  sourceChanged();
}

async function weightsPicked(file: File | null): Promise<void> {
  const input = $<HTMLInputElement>('weights-input');
  weights = file;
  weightsError = null;
  input.removeAttribute('aria-invalid');
  $('weights-clear').hidden = !file;
  if (!file) return;
  const head = new Uint8Array(await file.slice(0, 8).arrayBuffer());
  const problem = weightsProblem(file.name, head, file.size);
  if (problem) {
    weightsError = `${file.name}: ${problem}`;
    input.setAttribute('aria-invalid', 'true');
    showError(weightsError, input);
  } else clearError();
}

function wireData(): void {
  describeDemo();
  for (const id of ['source-demo', 'source-folder']) $(id).addEventListener('change', sourceChanged);
  const input = $<HTMLInputElement>('folder-input');
  input.addEventListener('change', () => {
    const picked = pickedFromInput(input.files);
    void folderPicked(picked ?? { root: '(the chosen folder)', files: [] }, 'you chose');
    input.value = ''; // the same folder picked again is a new pick
  });
  $('pick-folder').addEventListener('click', async () => {
    if (!hasDirectoryPicker()) return input.click();
    try {
      await folderPicked(await pickWithDirectoryPicker(), 'you chose');
    } catch (e) {
      showError(`cannot read the folder: ${(e as Error).message}`);
    }
  });
  const drop = $('drop-zone');
  drop.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    if (busy() || !ev.dataTransfer) return;
    try {
      const picked = await pickedFromDrop(ev.dataTransfer);
      await folderPicked(picked ?? { root: '(the dropped items)', files: [] }, 'dropped here');
    } catch (e) {
      showError(`cannot read the dropped folder: ${(e as Error).message}`);
    }
  });
  const w = $<HTMLInputElement>('weights-input');
  w.addEventListener('change', () => void weightsPicked(w.files?.[0] ?? null));
  $('weights-clear').addEventListener('click', () => {
    w.value = '';
    void weightsPicked(null);
  });
  $('reset-config').addEventListener('click', () => {
    form.reset(isDemo());
    clearError();
  });
}

// ---- The saved run of the chosen data: offered for Resume, its results restored, or refused with a reason.

async function lockHeld(run: string): Promise<boolean> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  if (!locks) return false;
  const q = await locks.query();
  return (q.held ?? []).some((l) => l.name === runLockName(run));
}

function settingsText(info: RunInfo): string {
  const c = info.config;
  const rest = (Object.keys(c) as (keyof TrainConfig)[])
    .filter((k) => !['arch', 'imgSize', 'batchSize'].includes(k))
    .map((k) => `${fieldName(k)} ${k === 'split' ? c.split.join(',') : c[k]}`);
  return `${rest.join(', ')}, subset ${info.limitPerClass ?? 0}${info.weights ? `, started from ${info.weights}` : ''}`;
}

let refreshing = 0;
async function refreshSaved(): Promise<void> {
  const ticket = ++refreshing;
  const data = chosen();
  const resumeNote = $('resume-note');
  const set = (saved: typeof page.saved, text: string, info: RunInfo | null = null) => {
    if (ticket !== refreshing) return;
    page.saved = saved;
    resumable = saved === 'resumable' ? info : null;
    resumeNote.textContent = text;
    updateButtons();
  };
  if (!data || busy()) return set('none', '');
  if (await lockHeld(data.run)) {
    set('busy', `Another tab of this page is training "${data.identity.root}" now: Train and Resume are off here until it stops there.`);
    setTimeout(() => ticket === refreshing && !busy() && void refreshSaved(), 2000);
    return;
  }
  let info: RunInfo | null = null;
  let hasCheckpoint = false;
  let results: SavedResults | null = null;
  let thumbs: Uint8Array | null = null;
  const files = new Map<string, Uint8Array>();
  const store = await IdbStore.open(data.run);
  try {
    hasCheckpoint = (await store.has(CHECKPOINT)) && !(await store.has('summary.json'));
    const raw = await store.read(RUN_INFO);
    info = raw ? parseRunInfo(raw) : null;
    const r = await store.read(RESULTS);
    if (r && info && !identityMismatch(info.identity, data.identity) && shownResults !== `${data.run}#${data.identity.fingerprint}`) {
      results = JSON.parse(new TextDecoder().decode(r)) as SavedResults;
      thumbs = await store.read(THUMBNAILS);
      for (const name of DOWNLOADS) {
        const bytes = await store.read(name);
        if (bytes) files.set(name, bytes.slice());
      }
    }
  } finally {
    store.close();
  }
  if (ticket !== refreshing || busy()) return;
  // Results shown for other data (another folder, or the demo) are cleared; this data's own come back from storage.
  const key = `${data.run}#${data.identity.fingerprint}`;
  if (shownResults !== null && shownResults !== key && !results) {
    clearOutputs();
    $('phase').textContent = 'idle';
    note('');
  }
  // Stopped in this page session without browser storage: the worker's memory holds the checkpoint.
  if (!hasCheckpoint && page.state === 'stopped' && stoppedRun?.run === data.run) {
    hasCheckpoint = true;
    info = stoppedRun.info;
  }
  if (results) {
    page.files = files;
    restoreResults(data.run, data.identity, results, thumbs);
  }
  if (!hasCheckpoint || !info) return set(shownResults === key ? 'finished' : 'none', '');
  const mismatch = identityMismatch(info.identity, data.identity);
  if (mismatch) {
    return set('mismatch', `A stopped run is saved under this name, but ${mismatch}. Resume is off: its checkpoint does not belong to this data. Train starts a new run here and deletes that saved one (it asks first).`);
  }
  const c = info.config;
  set(
    'resumable',
    `A stopped run (${c.arch}, ${c.imgSize} px, batch ${c.batchSize}) is saved in this browser. ` +
      `Resume continues it with all its saved settings (${settingsText(info)}); edits in the form do not apply to it, only to Train, which starts a new run.`,
    info,
  );
}

/** Show a finished run's results and downloads read back from browser storage. */
function restoreResults(run: string, identity: DataIdentity, r: SavedResults, pixels: Uint8Array | null): void {
  shownResults = `${run}#${identity.fingerprint}`;
  page.history = r.history;
  page.stepLosses = [];
  renderMetrics($('metrics'), page.history);
  renderCharts();
  let at = 0;
  const thumbnails: Thumbnail[] = [];
  r.thumbnails.forEach((t, i) => {
    const [width, height] = r.sizes[i];
    const n = width * height * 3;
    if (pixels && at + n <= pixels.length) thumbnails.push({ ...t, image: { width, height, data: pixels.subarray(at, at + n) } as RGBImage });
    at += n;
  });
  for (const url of downloadUrls.values()) URL.revokeObjectURL(url);
  downloadUrls.clear();
  for (const name of DOWNLOADS) if (page.files.has(name)) downloadUrls.set(name, URL.createObjectURL(new Blob([page.files.get(name)! as BlobPart])));
  renderDownloads();
  showSummary(r.summary, thumbnails);
  $('phase').textContent = 'done (saved)';
  note(`Showing the finished run of "${identity.root}" saved in this browser: its results and downloads. Train starts a new run.`);
}

// ---- Training.

function send(message: ToWorker, transfer: Transferable[] = []): void {
  if (!worker) {
    worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    worker.onmessage = (ev: MessageEvent<FromWorker>) => onWorkerMessage(ev.data);
    worker.onerror = (ev) => fail('WorkerError', ev.message || 'the training worker failed to start');
  }
  if (message.type === 'start') page.starts++;
  worker.postMessage(message, transfer);
}

/** Train (resume false: a new run with the form's settings) or Resume (the saved run with its saved settings). */
async function start(resume: boolean): Promise<void> {
  if (starting || busy()) return;
  const data = chosen();
  if (!data) return;
  starting = true;
  updateButtons();
  try {
    await startChecked(resume, data);
  } finally {
    starting = false;
    updateButtons();
  }
}

async function startChecked(resume: boolean, data: { run: string; identity: DataIdentity }): Promise<void> {
  clearError();
  let info: RunInfo;
  let bytes: Uint8Array | null = null;
  if (resume) {
    if (!resumable) return void refreshSaved();
    info = resumable;
    if (await refusedByLock(data)) return;
  } else {
    let config: TrainConfig;
    try {
      config = form.read();
    } catch (e) {
      if (!(e instanceof FieldError)) throw e;
      const field = e.key ? document.querySelector<HTMLElement>(`#config [name="${fieldName(e.key)}"]`) : null;
      form.markInvalid(e.key);
      showError(`Not started: ${e.message}.`, field ?? undefined);
      return;
    }
    const limitInput = $<HTMLInputElement>('limit');
    const limitText = limitInput.value.trim() || '0';
    const limit = parseDecimal(limitText);
    if (limit === null || !Number.isInteger(limit) || limit < 0) {
      limitInput.setAttribute('aria-invalid', 'true');
      showError(`Not started: subset must be a whole number of images per class (0: all), got '${limitText}'.`, limitInput);
      return;
    }
    if (weightsError) {
      $('weights-input').setAttribute('aria-invalid', 'true');
      showError(`Not started: ${weightsError}`, $('weights-input'));
      return;
    }
    if (await refusedByLock(data)) return;
    // Train replaces the data's slot: a stopped run there is deleted, so ask first.
    if (page.saved === 'resumable' || page.saved === 'mismatch') {
      const what = page.saved === 'resumable' ? `the stopped run of "${data.identity.root}" saved in this browser (Resume would continue it)` : `the stopped run saved under the name "${data.identity.root}" (of other files)`;
      if (!window.confirm(`Train starts a new run and deletes ${what}. Start the new run?`)) {
        note('Train cancelled: the stopped run is kept.');
        return;
      }
    }
    info = { run: data.run, data: isDemo() ? 'demo' : 'folder', identity: data.identity, config, weights: weights?.name ?? null, limitPerClass: limit || null };
    if (weights) bytes = new Uint8Array(await weights.arrayBuffer());
  }
  page.error = null;
  stopAsked = null;
  speed = null;
  lastProgress = null;
  note('');
  if (!resume) clearOutputs();
  currentRun = { run: data.run, info };
  stoppedRun = null;
  setState('running');
  $('gpu-error').hidden = true;
  const spec = isDemo() || !folder ? { kind: 'demo' as const } : { kind: 'folder' as const, root: folder.root, files: folder.files };
  send(
    { type: 'start', run: data.run, identity: data.identity, data: spec, config: info.config, weights: bytes && weights ? { name: weights.name, bytes } : null, limitPerClass: info.limitPerClass, resume },
    bytes ? [bytes.buffer as ArrayBuffer] : [],
  );
}

/** Another tab's worker trains this data now (it holds the run's lock): say so instead of starting. */
async function refusedByLock(data: { run: string; identity: DataIdentity }): Promise<boolean> {
  if (!(await lockHeld(data.run))) return false;
  showError(`Not started: another tab of this page is training "${data.identity.root}" now. Stop it there (or let it finish), then Train or Resume here.`);
  void refreshSaved();
  return true;
}

function clearOutputs(): void {
  page.history = [];
  page.stepLosses = [];
  page.summary = null;
  page.imagesPerSecond = 0;
  page.files.clear();
  shownResults = null;
  for (const url of downloadUrls.values()) URL.revokeObjectURL(url);
  downloadUrls.clear();
  renderDownloads();
  renderCharts();
  renderMetrics($('metrics'), []);
  $('results').hidden = true;
}

function onWorkerMessage(m: FromWorker): void {
  switch (m.type) {
    case 'adapter':
      log(`adapter: ${m.name}${m.description ? ` (${m.description})` : ''}${m.fallback ? ', a fallback (software) adapter' : ''}`);
      break;
    case 'log':
      log(m.line);
      break;
    case 'dataset':
      log(m.description);
      break;
    case 'started':
      page.maxEpochs = m.info.config.maxEpochs;
      if (currentRun) currentRun.info = m.info;
      if (m.resumed) {
        form.show(m.info.config);
        $<HTMLInputElement>('limit').value = String(m.info.limitPerClass ?? 0);
        page.history = m.history;
        renderMetrics($('metrics'), page.history);
        renderCharts();
      }
      break;
    case 'progress':
      showProgress(m.progress);
      break;
    case 'compile':
      showCompile(m.progress);
      break;
    case 'compiled':
      log(`compiled ${m.pipelines} GPU kernel${m.pipelines === 1 ? '' : 's'} in ${m.seconds.toFixed(1)} s (once per browser: they are cached)`);
      break;
    case 'phaseEnd':
      speed = null;
      break;
    case 'epoch':
      page.history = m.history;
      renderMetrics($('metrics'), page.history);
      renderCharts();
      break;
    case 'file':
      page.files.set(m.name, m.data);
      renderDownload(m.name);
      break;
    case 'stopped':
      stoppedRun = currentRun;
      speed = null;
      $('phase').textContent = 'stopped';
      note('Stopped: the checkpoint is saved in this browser. Resume continues the run with its saved settings.');
      log('stopped: the checkpoint is saved in this browser; press Resume to continue');
      setState('stopped');
      break;
    case 'done':
      if (currentRun) shownResults = `${currentRun.run}#${currentRun.info.identity?.fingerprint}`;
      showSummary(m.summary, m.thumbnails);
      if (stopAsked) {
        const text = `Stop came ${stopAsked.phase === 'test' ? 'during the test' : stopAsked.phase === 'val' ? "during the last epoch's validation" : 'after the last training step'}, when there was nothing left to stop: the run finished, and its results are below (there is nothing to resume).`;
        note(text);
        log(text);
      }
      setState('done');
      break;
    case 'error':
      fail(m.name, m.message);
      break;
  }
}

function fail(name: string, message: string): void {
  page.error = `${name}: ${message}`;
  log(`error: ${message}`);
  $('phase').textContent = 'failed';
  setState('error');
  showError(message);
}

let chartPending = false;
function renderCharts(): void {
  if (chartPending) return;
  chartPending = true;
  requestAnimationFrame(() => {
    chartPending = false;
    $('loss-chart').innerHTML = lossChart(page.history, page.stepLosses);
    $('acc-chart').innerHTML = accuracyChart(page.history);
  });
}

/** The first step's kernels compiling (before any of it runs): `compiling kernels 12/52` in the status. */
function showCompile(p: CompileProgress): void {
  if (page.state === 'stopping') return;
  $('phase').textContent = 'compiling kernels';
  const bar = $<HTMLProgressElement>('progress');
  bar.max = p.total;
  bar.value = p.done;
  bar.setAttribute('aria-valuetext', `compiling GPU kernels: ${p.done} of ${p.total}`);
  $('progress-text').dataset.phase = `compile ${p.phase}`;
  $('progress-text').textContent = compileLine(p.done, p.total);
}

function showProgress(p: Progress): void {
  lastProgress = p;
  $('phase').textContent =
    page.state === 'stopping' ? (stopAsked?.last ? 'finishing…' : 'stopping…') : p.phase === 'train' ? `epoch ${p.epoch}/${page.maxEpochs}` : p.phase === 'val' ? `validate ${p.epoch}` : 'test';
  const bar = $<HTMLProgressElement>('progress');
  bar.max = p.total;
  bar.value = p.done;
  bar.setAttribute('aria-valuetext', `${p.phase === 'train' ? `training epoch ${p.epoch}` : p.phase === 'val' ? `validating epoch ${p.epoch}` : 'testing'}: batch ${p.done} of ${p.total}`);
  const loss = p.loss === null ? '' : ` · loss ${formatLoss(p.loss)}`;
  // The first message of a phase comes before any batch has been timed: no speed until a second one.
  const key = `${p.phase} ${p.epoch}`;
  const now = performance.now();
  let rate = '';
  if (!speed || speed.key !== key || p.done <= speed.done0) speed = { key, t0: now, done0: p.done };
  else {
    const batchesPerSecond = (p.done - speed.done0) / ((now - speed.t0) / 1000);
    const ips = batchesPerSecond * (currentRun?.info.config.batchSize ?? 1);
    const eta = (p.total - p.done) / batchesPerSecond;
    rate = ` · ${ips.toFixed(1)} images/s · ${Math.round(eta)} s left`;
    if (p.phase === 'train') page.imagesPerSecond = Math.max(page.imagesPerSecond, ips);
  }
  $('progress-text').dataset.phase = key;
  $('progress-text').textContent = `batch ${p.done}/${p.total}${loss}${rate || ' · measuring speed…'}`;
  if (p.phase === 'train') {
    // A step's loss comes with the next step's message (the trainer reads it back one step late); the epoch's
    // last step's comes with its own: lossOf says which.
    if (p.loss !== null && p.lossOf !== null) page.stepLosses.push([p.epoch - 1 + p.lossOf / p.total, p.loss]);
    renderCharts();
  }
}

function showSummary(s: Summary, thumbnails: Thumbnail[]): void {
  page.summary = s;
  $('results').hidden = false;
  $('phase').textContent = 'done';
  $('test-accuracy').textContent = s.test_accuracy === null ? 'no test split' : `${(100 * s.test_accuracy).toFixed(1)}%`;
  $('test-details').textContent =
    `test loss ${formatLoss(s.test_loss)} · best epoch ${s.best_epoch} of ${s.epochs_run}${s.stopped_early ? ' (stopped early)' : ''} · ` +
    `${s.train_images_per_second.toFixed(1)} training images/s on ${s.adapter}`;
  renderConfusion($('confusion'), s);
  renderMisclassified($('misclassified'), s, thumbnails);
  log(s.test_accuracy === null ? 'no test split: no test accuracy was measured' : `test accuracy ${(100 * s.test_accuracy).toFixed(2)}% (loss ${formatLoss(s.test_loss)})`);
}

/** Offer `name` (new or rewritten) for download; the links keep the order of DOWNLOADS. */
function renderDownload(name: string): void {
  const old = downloadUrls.get(name);
  if (old) URL.revokeObjectURL(old);
  const data = page.files.get(name)!;
  downloadUrls.set(name, URL.createObjectURL(new Blob([data as BlobPart])));
  renderDownloads();
}

function renderDownloads(): void {
  const links = DOWNLOADS.filter((name) => downloadUrls.has(name)).map((name) => {
    const a = document.createElement('a');
    a.href = downloadUrls.get(name)!;
    a.download = name;
    a.textContent = `${name} (${formatBytes(page.files.get(name)!.length)})`;
    return a;
  });
  const empty = document.createElement('span');
  empty.className = 'note';
  empty.textContent = 'The trained weights and the metrics appear here as they are written.';
  $('downloads').replaceChildren(...(links.length ? links : [empty]));
}

function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;
}

function wireButtons(): void {
  $('train').addEventListener('click', () => void start(false));
  $('resume').addEventListener('click', () => void start(true));
  $('stop').addEventListener('click', () => {
    if (page.state !== 'running') return;
    send({ type: 'stop' });
    const p = lastProgress;
    // The trainer stops after a training step or at an epoch's end; after the last training step there is nothing left to stop.
    const last = !!p && p.epoch >= page.maxEpochs && (p.phase !== 'train' || p.done >= p.total);
    stopAsked = { phase: p?.phase ?? null, epoch: p?.epoch ?? 0, last };
    $('phase').textContent = last ? 'finishing…' : 'stopping…';
    if (last) note(`Stop came ${p!.phase === 'test' ? 'during the test' : "during the last epoch's validation"}: there is nothing left to stop, so the run finishes its validation and test and shows its results.`);
    setState('stopping');
  });
  // Another tab may have started, stopped or finished a run meanwhile.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && page.state !== 'loading' && page.state !== 'no-webgpu' && !busy()) void refreshSaved();
  });
}

wireData();
wireButtons();
form.applyDefaults(true);
renderCharts();
void checkWebGpu();
