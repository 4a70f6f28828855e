/**
 * The training page: pick data (demo, folder or drop), optional weights and the hyper-parameters, then
 * train in a worker (worker.ts) while this page shows the progress, the charts and the results.
 */
import { browserGPU } from '../gpu/browser';
import { ARCH_NAMES } from '../nn/resnet';
import { DEMO_CLASSES, DEMO_IMAGES_PER_CLASS } from '../train/data/demo-images';
import { accuracyChart, lossChart, type EpochRow } from '../train/report';
import type { Progress, Summary } from '../train/trainer';
import { ConfigForm } from './form';
import { IdbStore } from './idb-store';
import { hasDirectoryPicker, pickedFromDrop, pickedFromInput, pickWithDirectoryPicker, type PickedFolder } from './pick-folder';
import { DOWNLOADS, type FromWorker, type RunInfo, type Thumbnail, type ToWorker } from './protocol';
import { formatLoss, renderConfusion, renderMetrics, renderMisclassified } from './results';

type State = 'loading' | 'no-webgpu' | 'idle' | 'running' | 'stopping' | 'stopped' | 'done' | 'error';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

/** What the page shows, also readable by tests as `window.resnetPage`. */
const page = {
  state: 'loading' as State,
  adapter: '',
  history: [] as EpochRow[],
  stepLosses: [] as [number, number][],
  summary: null as Summary | null,
  error: null as string | null,
  files: new Map<string, Uint8Array>(),
  /** Largest images/s seen in a training phase. */
  imagesPerSecond: 0,
  maxEpochs: 0,
};
(window as unknown as { resnetPage: typeof page }).resnetPage = page;

const form = new ConfigForm($('config'), ARCH_NAMES);
let folder: PickedFolder | null = null;
let weights: File | null = null;
let worker: Worker | null = null;
/** The run started last, and the one stopped in this page session. */
let currentRun: string | null = null;
let stoppedRun: string | null = null;
const downloadUrls = new Map<string, string>();

function log(line: string): void {
  const pre = $('log');
  pre.textContent += line + '\n';
  pre.scrollTop = pre.scrollHeight;
}

function isDemo(): boolean {
  return $<HTMLInputElement>('source-demo').checked;
}

function runName(): string | null {
  return isDemo() ? 'demo' : folder ? `folder:${folder.root}` : null;
}

function setState(s: State): void {
  page.state = s;
  document.body.dataset.state = s;
  const busy = s === 'running' || s === 'stopping';
  const usable = s !== 'loading' && s !== 'no-webgpu';
  $<HTMLButtonElement>('train').disabled = !usable || busy || runName() === null;
  $<HTMLButtonElement>('stop').disabled = s !== 'running';
  form.setDisabled(busy);
  for (const id of ['source-demo', 'source-folder', 'pick-folder', 'weights-input', 'reset-config', 'limit']) $<HTMLInputElement>(id).disabled = busy;
  if (!busy) void refreshResume();
  else $<HTMLButtonElement>('resume').disabled = true;
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
  const per = DEMO_IMAGES_PER_CLASS;
  const total = DEMO_CLASSES.length * (per.train + per.val + per.test);
  const label = $('source-demo').parentElement!;
  label.lastChild!.textContent = ` Built-in demo: ${DEMO_CLASSES.length} colour classes of textures (${DEMO_CLASSES.join(', ')}), ${total} images drawn in the browser`;
}

function sourceChanged(): void {
  form.applyDefaults(isDemo());
  setState(page.state);
}

function folderPicked(f: PickedFolder | null): void {
  if (!f) return;
  folder = f;
  $<HTMLInputElement>('source-folder').checked = true;
  $('folder-info').textContent = `Folder "${f.root}": ${f.files.length} files.`;
  sourceChanged();
}

function wireData(): void {
  describeDemo();
  for (const id of ['source-demo', 'source-folder']) $(id).addEventListener('change', sourceChanged);
  const input = $<HTMLInputElement>('folder-input');
  input.addEventListener('change', () => folderPicked(pickedFromInput(input.files)));
  $('pick-folder').addEventListener('click', async () => {
    if (!hasDirectoryPicker()) return input.click();
    try {
      folderPicked(await pickWithDirectoryPicker());
    } catch (e) {
      log(`cannot read the folder: ${(e as Error).message}`);
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
    if (page.state === 'running' || page.state === 'stopping' || !ev.dataTransfer) return;
    try {
      folderPicked(await pickedFromDrop(ev.dataTransfer));
    } catch (e) {
      log(`cannot read the dropped folder: ${(e as Error).message}`);
    }
  });
  const w = $<HTMLInputElement>('weights-input');
  w.addEventListener('change', () => {
    weights = w.files?.[0] ?? null;
    $('weights-clear').hidden = !weights;
  });
  $('weights-clear').addEventListener('click', () => {
    w.value = '';
    weights = null;
    $('weights-clear').hidden = true;
  });
  $('reset-config').addEventListener('click', () => form.reset(isDemo()));
}

// ---- Resume: offered when the run of the chosen data has a checkpoint and no summary yet.

async function refreshResume(): Promise<void> {
  const button = $<HTMLButtonElement>('resume');
  const note = $('resume-note');
  const run = runName();
  button.disabled = true;
  note.textContent = '';
  if (!run || page.state === 'loading' || page.state === 'no-webgpu') return;
  if (page.state === 'stopped' && stoppedRun === run) {
    // Stopped in this page session: the worker holds the checkpoint (in IndexedDB, or in memory without it).
    button.disabled = false;
    note.textContent = 'Stopped: Resume continues from the checkpoint.';
    return;
  }
  const store = await IdbStore.open(run);
  try {
    if (!(await store.has('checkpoint.safetensors')) || (await store.has('summary.json'))) return;
    const info = await store.read('run.json');
    const c = info ? (JSON.parse(new TextDecoder().decode(info)) as RunInfo).config : null;
    if (page.state === 'running' || page.state === 'stopping' || runName() !== run) return;
    button.disabled = false;
    note.textContent = `A stopped run${c ? ` (${c.arch}, ${c.imgSize} px, batch ${c.batchSize})` : ''} is saved in this browser.`;
  } finally {
    store.close();
  }
}

// ---- Training.

function send(message: ToWorker, transfer: Transferable[] = []): void {
  if (!worker) {
    worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    worker.onmessage = (ev: MessageEvent<FromWorker>) => onWorkerMessage(ev.data);
    worker.onerror = (ev) => fail('WorkerError', ev.message || 'the training worker failed to start');
  }
  worker.postMessage(message, transfer);
}

async function start(resume: boolean): Promise<void> {
  const run = runName();
  if (!run) return;
  const errorBox = $('config-error');
  errorBox.hidden = true;
  let config;
  try {
    config = form.read();
  } catch (e) {
    errorBox.textContent = (e as Error).message;
    errorBox.hidden = false;
    return;
  }
  const limitText = $<HTMLInputElement>('limit').value.trim() || '0';
  const limit = Number(limitText);
  if (!Number.isInteger(limit) || limit < 0) {
    errorBox.textContent = `subset must be a whole number of images per class (0: all), got '${limitText}'`;
    errorBox.hidden = false;
    return;
  }
  // Sent on resume too: without a checkpoint the worker starts afresh, with these weights.
  const bytes = weights ? new Uint8Array(await weights.arrayBuffer()) : null;
  page.error = null;
  if (!resume) clearOutputs();
  currentRun = run;
  stoppedRun = null;
  setState('running');
  $('gpu-error').hidden = true;
  const data = isDemo() || !folder ? { kind: 'demo' as const } : { kind: 'folder' as const, root: folder.root, files: folder.files };
  send({ type: 'start', run, data, config, weights: bytes && weights ? { name: weights.name, bytes } : null, limitPerClass: limit || null, resume }, bytes ? [bytes.buffer] : []);
}

function clearOutputs(): void {
  page.history = [];
  page.stepLosses = [];
  page.summary = null;
  page.imagesPerSecond = 0;
  page.files.clear();
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
    case 'phaseEnd':
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
      $('phase').textContent = 'stopped';
      log('stopped: the checkpoint is saved in this browser; press Resume to continue');
      setState('stopped');
      break;
    case 'done':
      showSummary(m.summary, m.thumbnails);
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
  const box = $('gpu-error');
  box.textContent = message;
  box.hidden = false;
  $('phase').textContent = 'failed';
  setState('error');
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

function showProgress(p: Progress): void {
  $('phase').textContent = p.phase === 'train' ? `epoch ${p.epoch}/${page.maxEpochs}` : p.phase === 'val' ? `validate ${p.epoch}` : 'test';
  const bar = $<HTMLProgressElement>('progress');
  bar.max = p.total;
  bar.value = p.done;
  const loss = p.loss === null ? '' : ` · loss ${formatLoss(p.loss)}`;
  const eta = Number.isFinite(p.etaSeconds) ? ` · ${Math.round(p.etaSeconds)} s left` : '';
  $('progress-text').textContent = `batch ${p.done}/${p.total}${loss} · ${p.imagesPerSecond.toFixed(1)} images/s${eta}`;
  if (p.phase === 'train') {
    page.imagesPerSecond = Math.max(page.imagesPerSecond, p.imagesPerSecond);
    // The loss reported with step k is step k−1's (the trainer reads it back one step late).
    if (p.loss !== null && p.done > 1) page.stepLosses.push([p.epoch - 1 + (p.done - 1) / p.total, p.loss]);
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
  const note = document.createElement('span');
  note.className = 'note';
  note.textContent = 'The trained weights and the metrics appear here as they are written.';
  $('downloads').replaceChildren(...(links.length ? links : [note]));
}

function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;
}

function wireButtons(): void {
  $('train').addEventListener('click', () => void start(false));
  $('resume').addEventListener('click', () => void start(true));
  $('stop').addEventListener('click', () => {
    send({ type: 'stop' });
    $('phase').textContent = 'stopping…';
    setState('stopping');
  });
}

wireData();
wireButtons();
form.applyDefaults(true);
renderCharts();
void checkWebGpu();
