/**
 * The training loop (platform-neutral: Node CLI and the browser worker run this same code):
 *   train an epoch → validate → step the scheduler → check early stopping → write a checkpoint;
 * then evaluate the test set with the best weights and write the reports.
 *
 * Per step the CPU encodes forward, backward and the SGD update without waiting for the GPU; the only
 * readback is the step's loss and logits (for the progress bar and the training accuracy), awaited one
 * step later so that the GPU always has the next step queued.
 */
import { Tensor } from '../autograd/tensor';
import { noGrad, tidy } from '../autograd/scope';
import { checkLabels, crossEntropy } from '../autograd/ops/loss';
import type { GpuRuntime } from '../gpu/runtime';
import type { Module } from '../nn/module';
import { Dropout } from '../nn/layers';
import { exportStateDict, loadStateDict } from '../nn/state';
import { readSafetensors, writeSafetensors } from '../nn/weights/safetensors';
import type { NamedTensor } from '../nn/weights/types';
import type { Batch } from './data/loader';
import { SGD } from './sgd';
import { StepLR } from './scheduler';
import { EarlyStopping, type EarlyStoppingState } from './early_stopping';
import { ConfusionMatrix, argmaxRows, softmaxMax } from './metrics';
import { accuracyChart, confusionSvg, curvesSvg, lossChart, metricsCsv, type EpochRow } from './report';
import { reportHtml } from './html_report';
import { decodeCheckpoint, encodeCheckpoint } from './checkpoint';
import type { OutputStore } from './io';
import type { TrainConfig } from './config';

/** What the trainer needs from a data loader (src/train/data/loader.ts provides it). */
export interface BatchSource {
  readonly batchesPerEpoch: number;
  readonly skippedFiles: number;
  readonly samples: readonly unknown[];
  epoch(epoch: number, startBatch?: number): AsyncIterable<Batch>;
}

export interface TrainerData {
  classes: string[];
  train: BatchSource;
  val: BatchSource;
  test: BatchSource;
}

export interface Progress {
  phase: 'train' | 'val' | 'test';
  epoch: number;
  done: number;
  total: number;
  loss: number | null;
  imagesPerSecond: number;
  etaSeconds: number;
}

export interface TrainerEvents {
  log?(line: string): void;
  progress?(p: Progress): void;
  /** Called when a phase's progress is complete (to clear a progress bar). */
  phaseEnd?(phase: Progress['phase']): void;
  epochEnd?(row: EpochRow, history: EpochRow[]): void;
  /** Polled after every step: return true to save a checkpoint and stop (SIGINT, the page's Stop button). */
  shouldStop?(): boolean;
  /** Render an SVG document to PNG (Node: sharp); without it curves.png and confusion.png are not written. */
  renderPng?(svg: string): Promise<Uint8Array>;
  /** A small data: URL image of a dataset file, for report.html's misclassified examples. */
  thumbnail?(path: string): Promise<string>;
}

export interface Summary {
  test_accuracy: number;
  test_loss: number;
  best_epoch: number;
  best_val_loss: number;
  epochs_run: number;
  stopped_early: boolean;
  adapter: string;
  train_images_per_second: number;
  classes: string[];
  per_class_accuracy: Record<string, number | null>;
  confusion_matrix: number[][];
  skipped_files: number;
  /** Misclassified test images, most confident first. */
  misclassified: { index: number; path: string; label: string; predicted: string; confidence: number }[];
  config: TrainConfig;
}

export class TrainingDivergedError extends Error {
  constructor(epoch: number, step: number, loss: number, checkpoint: string) {
    super(
      `training diverged: the loss is ${loss} at epoch ${epoch}, step ${step}. ` +
        `The last good checkpoint (${checkpoint}) is kept; try a lower --lr, or resume with --resume after changing it.`,
    );
    this.name = 'TrainingDivergedError';
  }
}

/** The trainer's resumable state (saved in the checkpoint's metadata). */
interface TrainerState {
  /** The epoch in progress (1-based) and how many of its batches are done; step 0 = epoch not started. */
  epoch: number;
  step: number;
  partial: { lossSum: number; correct: number; seen: number; seconds: number };
  history: EpochRow[];
  stepLosses: [number, number][];
  scheduler: { lastEpoch: number };
  early: EarlyStoppingState;
  dropoutCalls: Record<string, number>;
  imagesTrained: number;
  trainSeconds: number;
}

/**
 * One SGD step: forward, cross-entropy, backward and the update, all encoded without waiting for the GPU.
 * Every temporary is freed; the caller owns (and disposes) the returned loss and logits.
 */
export function trainStep(model: Module, optimizer: SGD, x: Tensor, y: Tensor, labelSmoothing = 0): { loss: Tensor; logits: Tensor } {
  optimizer.zeroGrad();
  const out = tidy(() => {
    const logits = model.forward(x);
    const loss = crossEntropy(logits, y, { labelSmoothing });
    loss.backward();
    return { loss: loss.detach(), logits: logits.detach() };
  });
  optimizer.step();
  return out;
}

const CHECKPOINT = 'checkpoint.safetensors';
const BEST = 'best.safetensors';

export class Trainer {
  readonly optimizer: SGD;
  readonly scheduler: StepLR;
  readonly early: EarlyStopping;
  private state: TrainerState;
  private bestWeights: Map<string, NamedTensor> | null = null;

  constructor(
    readonly rt: GpuRuntime,
    readonly model: Module,
    readonly data: TrainerData,
    readonly config: TrainConfig,
    readonly store: OutputStore,
    readonly events: TrainerEvents = {},
  ) {
    this.optimizer = new SGD(model.parameters(), { lr: config.lr, momentum: config.momentum, weightDecay: config.weightDecay });
    this.scheduler = new StepLR(config.lr, config.stepSize, config.gamma);
    this.early = new EarlyStopping(config.patience, config.minDelta);
    this.state = {
      epoch: 1,
      step: 0,
      partial: { lossSum: 0, correct: 0, seen: 0, seconds: 0 },
      history: [],
      stepLosses: [],
      scheduler: this.scheduler.stateDict(),
      early: this.early.stateDict(),
      dropoutCalls: {},
      imagesTrained: 0,
      trainSeconds: 0,
    };
  }

  private log(line: string): void {
    this.events.log?.(line);
  }

  private dropouts(): [string, Dropout][] {
    return [...this.model.namedModules()].filter((e): e is [string, Dropout] => e[1] instanceof Dropout);
  }

  /** Restore from the last checkpoint in the store. Returns false when there is none. */
  async resume(): Promise<boolean> {
    const bytes = await this.store.read(CHECKPOINT);
    if (!bytes) return false;
    const st = decodeCheckpoint<TrainerState>(bytes, this.store.describe(CHECKPOINT), this.model, this.optimizer);
    this.state = st;
    this.scheduler.loadStateDict(st.scheduler);
    this.early.loadStateDict(st.early);
    for (const [name, d] of this.dropouts()) d.calls = st.dropoutCalls[name] ?? 0;
    const best = await this.store.read(BEST);
    if (best) this.bestWeights = readSafetensors(best, this.store.describe(BEST));
    this.log(`resumed from ${this.store.describe(CHECKPOINT)}: epoch ${st.epoch}, ${st.step} of its batches done`);
    return true;
  }

  private async saveCheckpoint(): Promise<void> {
    this.state.scheduler = this.scheduler.stateDict();
    this.state.early = this.early.stateDict();
    this.state.dropoutCalls = Object.fromEntries(this.dropouts().map(([n, d]) => [n, d.calls]));
    await this.store.write(CHECKPOINT, await encodeCheckpoint(this.model, this.optimizer, this.state));
  }

  /**
   * Run (or continue) training, then test with the best weights. Returns null when stopped by
   * shouldStop() before the end: the checkpoint then holds everything needed to resume.
   */
  async run(): Promise<Summary | null> {
    const c = this.config;
    while (this.state.epoch <= c.maxEpochs && !this.early.shouldStop) {
      const epoch = this.state.epoch;
      this.optimizer.lr = this.scheduler.lr;
      if (!(await this.trainEpoch(epoch))) return this.stopped();
      const val = await this.evaluate(this.data.val, 'val', epoch);
      const p = this.state.partial;
      const row: EpochRow = {
        epoch,
        lr: this.optimizer.lr,
        train_loss: p.lossSum / Math.max(1, p.seen),
        train_acc: p.correct / Math.max(1, p.seen),
        val_loss: val.loss,
        val_acc: val.matrix.accuracy,
        seconds: p.seconds,
      };
      this.state.history.push(row);
      this.scheduler.step();
      if (this.early.update(epoch, val.loss)) {
        this.bestWeights = await exportStateDict(this.model);
        await this.store.write(BEST, writeSafetensors(this.bestWeights, { arch: c.arch, epoch: String(epoch), classes: JSON.stringify(this.data.classes) }));
      }
      this.state.epoch = epoch + 1;
      this.state.step = 0;
      this.state.partial = { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
      await this.saveCheckpoint();
      await this.writeReports();
      this.events.epochEnd?.(row, this.state.history);
      const more = this.state.epoch <= c.maxEpochs && !this.early.shouldStop;
      if (more && this.events.shouldStop?.()) return this.stopped();
    }
    return this.finish(this.early.shouldStop);
  }

  private stopped(): null {
    this.log(`stopped: ${this.store.describe(CHECKPOINT)} holds the progress; continue with --resume`);
    return null;
  }

  /** One training epoch from state.step; returns false when asked to stop (after saving a checkpoint). */
  private async trainEpoch(epoch: number): Promise<boolean> {
    const { model, optimizer, config: c, rt } = this;
    const loader = this.data.train;
    const total = loader.batchesPerEpoch;
    const p = this.state.partial;
    model.train();
    const t0 = performance.now() - p.seconds * 1000;
    let imagesThisRun = 0;
    const runStart = performance.now();
    let pending: Promise<void> | null = null;
    let lastLoss: number | null = null;
    let step = this.state.step;
    for await (const batch of loader.epoch(epoch, step)) {
      const n = batch.labels.length;
      const thisStep = ++step;
      checkLabels(batch.labels, this.data.classes.length, `training batch ${thisStep}`); // on the CPU: no GPU sync
      const x = Tensor.fromArray(batch.images, [n, 3, c.imgSize, c.imgSize], 'f32', rt);
      const y = Tensor.fromArray(batch.labels, [n], 'i32', rt);
      const { loss, logits } = trainStep(model, optimizer, x, y, c.labelSmoothing);
      const reads = Promise.all([loss.toArray(), logits.toArray()]);
      for (const t of [x, y, loss, logits]) t.dispose();
      // Wait for the previous step's numbers while this step runs on the GPU.
      if (pending) await pending;
      pending = reads.then(([l, lg]) => {
        const v = l[0];
        if (!Number.isFinite(v)) throw new TrainingDivergedError(epoch, thisStep, v, this.store.describe(CHECKPOINT));
        lastLoss = v;
        p.lossSum += v * n;
        const pred = argmaxRows(lg, n, lg.length / n);
        for (let i = 0; i < n; i++) if (pred[i] === batch.labels[i]) p.correct++;
        p.seen += n;
        this.state.stepLosses.push([epoch - 1 + thisStep / total, v]);
      });
      imagesThisRun += n;
      const elapsed = (performance.now() - runStart) / 1000;
      const ips = imagesThisRun / Math.max(elapsed, 1e-9);
      this.events.progress?.({ phase: 'train', epoch, done: thisStep, total, loss: lastLoss, imagesPerSecond: ips, etaSeconds: ((total - thisStep) * (elapsed / Math.max(1, thisStep - this.state.step))) });
      if (this.events.shouldStop?.() && thisStep < total) {
        await pending;
        p.seconds = (performance.now() - t0) / 1000;
        this.state.step = thisStep;
        this.state.imagesTrained += imagesThisRun;
        this.state.trainSeconds += (performance.now() - runStart) / 1000;
        this.events.phaseEnd?.('train');
        await this.saveCheckpoint();
        return false;
      }
    }
    if (pending) await pending;
    this.events.phaseEnd?.('train');
    p.seconds = (performance.now() - t0) / 1000;
    this.state.imagesTrained += imagesThisRun;
    this.state.trainSeconds += (performance.now() - runStart) / 1000;
    return true;
  }

  /** Loss and confusion matrix over a whole split, in eval mode and without a graph. */
  async evaluate(source: BatchSource, phase: 'val' | 'test', epoch: number): Promise<{ loss: number; matrix: ConfusionMatrix; predictions: Int32Array; confidence: Float32Array }> {
    const { model, config: c, rt } = this;
    model.eval();
    const matrix = new ConfusionMatrix(this.data.classes.length);
    const predictions = new Int32Array(source.samples.length).fill(-1);
    const confidence = new Float32Array(source.samples.length);
    let lossSum = 0;
    let seen = 0;
    const total = source.batchesPerEpoch;
    const start = performance.now();
    let done = 0;
    for await (const batch of source.epoch(0)) {
      const n = batch.labels.length;
      checkLabels(batch.labels, this.data.classes.length, `evaluation batch ${done + 1}`);
      const [l, lg] = await noGrad(() => {
        const x = Tensor.fromArray(batch.images, [n, 3, c.imgSize, c.imgSize], 'f32', rt);
        const y = Tensor.fromArray(batch.labels, [n], 'i32', rt);
        const out = tidy(() => {
          const logits = model.forward(x);
          return { loss: crossEntropy(logits, y, { reduction: 'sum' }), logits };
        });
        const reads = Promise.all([out.loss.toArray(), out.logits.toArray()]);
        for (const t of [x, y, out.loss, out.logits]) t.dispose();
        return reads;
      });
      const pred = argmaxRows(lg, n, lg.length / n);
      matrix.add(batch.labels, pred);
      const conf = softmaxMax(lg, n, lg.length / n);
      batch.indices.forEach((idx, i) => {
        predictions[idx] = pred[i];
        confidence[idx] = conf[i];
      });
      lossSum += l[0];
      seen += n;
      done++;
      const elapsed = (performance.now() - start) / 1000;
      this.events.progress?.({ phase, epoch, done, total, loss: lossSum / seen, imagesPerSecond: seen / elapsed, etaSeconds: (total - done) * (elapsed / done) });
    }
    this.events.phaseEnd?.(phase);
    model.train();
    const loss = lossSum / Math.max(1, seen);
    if (!Number.isFinite(loss)) this.log(`warning: the ${phase} loss is ${loss} at epoch ${epoch}`);
    return { loss, matrix, predictions, confidence };
  }

  private async writeReports(): Promise<void> {
    const h = this.state.history;
    await this.store.write('metrics.csv', metricsCsv(h));
    await this.store.write('loss.svg', lossChart(h, this.state.stepLosses));
    await this.store.write('accuracy.svg', accuracyChart(h));
    const png = this.events.renderPng;
    if (png) await this.store.write('curves.png', await png(curvesSvg(h, this.state.stepLosses)));
  }

  /** confusion.png and report.html: per-class accuracy and the most confidently misclassified test images. */
  private async writeErrorAnalysis(summary: Summary): Promise<void> {
    const svg = confusionSvg(summary.classes, summary.confusion_matrix);
    if (this.events.renderPng) await this.store.write('confusion.png', await this.events.renderPng(svg));
    const shown = summary.misclassified.slice(0, 24);
    const thumbs = this.events.thumbnail ? await Promise.all(shown.map((m) => this.events.thumbnail!(m.path).catch(() => null))) : shown.map(() => null);
    const curves = curvesSvg(this.state.history, this.state.stepLosses);
    await this.store.write('report.html', reportHtml(summary, curves, svg, shown.map((m, i) => ({ ...m, thumbnail: thumbs[i] }))));
  }

  private async finish(stoppedEarly: boolean): Promise<Summary> {
    if (this.bestWeights) {
      loadStateDict(this.model, this.bestWeights, { source: this.store.describe(BEST) });
      this.log(`restored the best weights (epoch ${this.early.bestEpoch}, val loss ${this.early.best.toFixed(4)})`);
    }
    const test = await this.evaluate(this.data.test, 'test', this.state.epoch);
    const classes = this.data.classes;
    const perClass = test.matrix.perClassAccuracy();
    const misclassified: Summary['misclassified'] = [];
    const samples = this.data.test.samples as { label?: number; path?: string }[];
    test.predictions.forEach((pred, i) => {
      const label = samples[i]?.label;
      if (pred >= 0 && label !== undefined && pred !== label) {
        misclassified.push({ index: i, path: samples[i].path ?? String(i), label: classes[label], predicted: classes[pred], confidence: test.confidence[i] });
      }
    });
    misclassified.sort((a, b) => b.confidence - a.confidence);
    const summary: Summary = {
      test_accuracy: test.matrix.accuracy,
      test_loss: test.loss,
      best_epoch: this.early.bestEpoch,
      best_val_loss: this.early.best,
      epochs_run: this.state.history.length,
      stopped_early: stoppedEarly,
      adapter: this.rt.adapter.name,
      train_images_per_second: this.state.imagesTrained / Math.max(1e-9, this.state.trainSeconds),
      classes,
      per_class_accuracy: Object.fromEntries(classes.map((c, i) => [c, perClass[i]])),
      confusion_matrix: test.matrix.counts,
      skipped_files: this.data.train.skippedFiles + this.data.val.skippedFiles + this.data.test.skippedFiles,
      misclassified,
      config: this.config,
    };
    await this.store.write('summary.json', JSON.stringify(summary, null, 2) + '\n');
    await this.writeReports();
    await this.writeErrorAnalysis(summary);
    return summary;
  }

  /** The per-epoch metrics so far. */
  history(): readonly EpochRow[] {
    return this.state.history;
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
