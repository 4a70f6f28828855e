/**
 * The run's reports, assembled from what the trainer measured and written through its OutputStore:
 *   after every epoch: metrics.csv, loss.svg, accuracy.svg, curves.png (when PNGs can be rendered);
 *   at every checkpoint: steps.csv;
 *   at the end: summary.json (the Summary), confusion.png and report.html (the error analysis).
 * The trainer only calls these; it builds no report itself.
 */
import type { TrainConfig } from './config';
import type { OutputStore } from './io';
import type { ConfusionMatrix } from './metrics';
import { accuracyChart, confusionSvg, curvesSvg, lossChart, metricsCsv, stepsCsv, type EpochRow, type StepRow } from './report';

export interface Summary {
  /** null when there is no test split (nothing was measured). */
  test_accuracy: number | null;
  test_loss: number | null;
  /** Test images evaluated (0: no test split). */
  test_images: number;
  /** The epoch whose weights best.safetensors holds (the last one when there is no validation split). */
  best_epoch: number;
  /** null when there is no validation split. */
  best_val_loss: number | null;
  epochs_run: number;
  stopped_early: boolean;
  adapter: string;
  /** The precision the run trained in: config.precision, or 'f32' where the adapter lacks shader-f16. */
  precision: 'f32' | 'f16';
  train_images_per_second: number;
  classes: string[];
  per_class_accuracy: Record<string, number | null>;
  confusion_matrix: number[][];
  skipped_files: number;
  /** Misclassified test images, most confident first. */
  misclassified: { index: number; path: string; label: string; predicted: string; confidence: number }[];
  config: TrainConfig;
}

/** A split's evaluation: loss, confusion matrix, and per sample its predicted class (-1: not evaluated) and confidence. */
export interface Evaluation {
  loss: number;
  matrix: ConfusionMatrix;
  predictions: Int32Array;
  confidence: Float32Array;
}

/** What summary.json is assembled from, besides the test evaluation. */
export interface SummaryParts {
  classes: string[];
  /** The test split's samples (their labels and paths name the misclassified images). */
  testSamples: readonly { label?: number; path?: string }[];
  hasTest: boolean;
  /** null when there is no validation split. */
  best: { epoch: number; valLoss: number } | null;
  epochsRun: number;
  stoppedEarly: boolean;
  adapter: string;
  precision: 'f32' | 'f16';
  trainImagesPerSecond: number;
  skippedFiles: number;
  config: TrainConfig;
}

/** The end-of-run summary (summary.json): test metrics, per-class accuracy and the misclassified images, most confident first. */
export function buildSummary(test: Evaluation, p: SummaryParts): Summary {
  const { classes } = p;
  const perClass = test.matrix.perClassAccuracy();
  const misclassified: Summary['misclassified'] = [];
  test.predictions.forEach((pred, i) => {
    const label = p.testSamples[i]?.label;
    if (pred >= 0 && label !== undefined && pred !== label) {
      misclassified.push({ index: i, path: p.testSamples[i].path ?? String(i), label: classes[label], predicted: classes[pred], confidence: test.confidence[i] });
    }
  });
  misclassified.sort((a, b) => b.confidence - a.confidence);
  return {
    test_accuracy: p.hasTest ? test.matrix.accuracy : null,
    test_loss: p.hasTest ? test.loss : null,
    test_images: test.matrix.total,
    best_epoch: p.best ? p.best.epoch : p.epochsRun,
    best_val_loss: p.best ? p.best.valLoss : null,
    epochs_run: p.epochsRun,
    stopped_early: p.stoppedEarly,
    adapter: p.adapter,
    precision: p.precision,
    train_images_per_second: p.trainImagesPerSecond,
    classes,
    per_class_accuracy: Object.fromEntries(classes.map((c, i) => [c, perClass[i]])),
    confusion_matrix: test.matrix.counts,
    skipped_files: p.skippedFiles,
    misclassified,
    config: p.config,
  };
}

/** What the charts draw: the per-epoch rows, and per trained batch [epoch - 1 + batch / batches per epoch, loss]. */
export interface Curves {
  history: EpochRow[];
  stepLosses: [number, number][];
}

/** How PNGs and thumbnails are made (TrainerEvents' renderPng and thumbnail); without them none is written or shown. */
export interface ReportRenderers {
  renderPng?(svg: string): Promise<Uint8Array>;
  thumbnail?(path: string): Promise<string>;
}

/** After every epoch: metrics.csv, loss.svg, accuracy.svg and curves.png. */
export async function writeEpochReports(store: OutputStore, curves: Curves, render: ReportRenderers = {}): Promise<void> {
  const { history: h, stepLosses } = curves;
  await store.write('metrics.csv', metricsCsv(h));
  await store.write('loss.svg', lossChart(h, stepLosses));
  await store.write('accuracy.svg', accuracyChart(h));
  if (render.renderPng) await store.write('curves.png', await render.renderPng(curvesSvg(h, stepLosses)));
}

/** steps.csv: one row per trained batch so far. */
export async function writeStepsCsv(store: OutputStore, steps: readonly StepRow[]): Promise<void> {
  await store.write('steps.csv', stepsCsv(steps));
}

/** At the end: summary.json, the epoch reports, confusion.png and report.html (per-class accuracy, the most confidently misclassified test images). */
export async function writeFinalReports(store: OutputStore, summary: Summary, curves: Curves, render: ReportRenderers = {}): Promise<void> {
  await store.write('summary.json', JSON.stringify(summary, null, 2) + '\n');
  await writeEpochReports(store, curves, render);
  const svg = confusionSvg(summary.classes, summary.confusion_matrix);
  if (render.renderPng) await store.write('confusion.png', await render.renderPng(svg));
  const shown = summary.misclassified.slice(0, 24);
  const thumbnail = render.thumbnail;
  const thumbs = thumbnail ? await Promise.all(shown.map((m) => thumbnail(m.path).catch(() => null))) : shown.map(() => null);
  const curvesChart = curvesSvg(curves.history, curves.stepLosses);
  await store.write('report.html', reportHtml(summary, curvesChart, svg, shown.map((m, i) => ({ ...m, thumbnail: thumbs[i] }))));
}

/** A misclassified test image as report.html shows it. */
export interface MisclassifiedShown {
  path: string;
  label: string;
  predicted: string;
  confidence: number;
  thumbnail: string | null;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const pct = (v: number | null) => (v === null ? '–' : `${(100 * v).toFixed(1)}%`);

/** report.html: the run's error analysis in one self-contained page (inline SVG charts, data: URL thumbnails). */
export function reportHtml(s: Summary, curvesSvg: string, confusionSvg: string, shown: MisclassifiedShown[]): string {
  const perClass = s.classes
    .map((c, i) => {
      const n = s.confusion_matrix[i].reduce((a, b) => a + b, 0);
      return `<tr><td>${esc(c)}</td><td>${n}</td><td>${pct(s.per_class_accuracy[c])}</td></tr>`;
    })
    .join('\n');
  const noTest = s.test_accuracy === null;
  const headline = noTest ? 'No test split: no test accuracy was measured' : `Test accuracy ${(100 * s.test_accuracy!).toFixed(2)}%`;
  const cards = shown
    .map(
      (m) => `<figure>${m.thumbnail ? `<img src="${m.thumbnail}" alt="${esc(m.path)}">` : '<div class="noimg">no preview</div>'}
<figcaption><b>${esc(m.predicted)}</b> (${pct(m.confidence)})<br>true: ${esc(m.label)}<br><small>${esc(m.path.split('/').slice(-2).join('/'))}</small></figcaption></figure>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Training report: ${noTest ? 'no test split' : `${(100 * s.test_accuracy!).toFixed(2)}% test accuracy`}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: right; } td:first-child { text-align: left; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; } figure { margin: 0; width: 150px; font-size: 12px; }
figure img { width: 150px; height: 150px; object-fit: cover; border: 2px solid #d62728; } .noimg { width: 150px; height: 150px; background: #eee; }
svg { max-width: 100%; height: auto; }
</style></head><body>
<h1>${headline}</h1>
<p>${s.test_loss === null ? '' : `Test loss ${s.test_loss.toFixed(4)} · `}${s.best_val_loss === null ? `no validation split: weights of the last epoch, ${s.best_epoch}` : `best epoch ${s.best_epoch}`} of ${s.epochs_run}${s.stopped_early ? ' (stopped early)' : ''} ·
${s.config.arch}, ${s.config.imgSize}px, batch ${s.config.batchSize}, ${s.config.optimizer} lr ${s.config.lr}, ${s.config.scheduler} schedule${s.precision === 'f16' ? ', float16 (mixed precision)' : ''} · ${s.train_images_per_second.toFixed(2)} training images/s on ${esc(s.adapter)}
${s.skipped_files ? ` · ${s.skipped_files} unreadable files skipped` : ''}</p>
<h2>Curves</h2>
${curvesSvg}
<h2>Per-class accuracy</h2>
<table><tr><th>class</th><th>test images</th><th>accuracy</th></tr>
${perClass}
</table>
<h2>Confusion matrix</h2>
${confusionSvg}
<h2>Most confidently misclassified test images (${shown.length} of ${s.misclassified.length})</h2>
<div class="grid">
${noTest ? '<p>No test images.</p>' : cards || '<p>None: every test image was classified correctly.</p>'}
</div>
</body></html>
`;
}
