/** The end-of-run view: the metrics table, the confusion matrix and the misclassified test images. */
import type { RGBImage } from '../train/data/image';
import type { EpochRow } from '../train/report';
import type { Summary } from '../train/run_report';
import type { Thumbnail } from './protocol';

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

const pct = (x: number | null) => (x === null || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(1)}%`);

/** A loss for display: fixed-point while it is sane, exponent notation when it has blown up. */
export function formatLoss(v: number | null): string {
  if (v === null) return '–';
  return Math.abs(v) >= 1e4 ? v.toExponential(2) : v.toFixed(4);
}

/** One row per epoch, as in metrics.csv. */
export function renderMetrics(tbody: HTMLElement, rows: readonly EpochRow[]): void {
  tbody.replaceChildren(
    ...rows.map((r) => {
      const tr = el('tr');
      for (const v of [String(r.epoch), r.lr.toExponential(2), formatLoss(r.train_loss), pct(r.train_acc), formatLoss(r.val_loss), pct(r.val_acc), r.seconds.toFixed(1)]) tr.append(el('td', v));
      return tr;
    }),
  );
}

/** Rows: true class; columns: predicted class; the last column is the class's accuracy. */
export function renderConfusion(container: HTMLElement, s: Summary): void {
  const table = el('table', undefined, 'confusion');
  const head = el('tr');
  head.append(el('th', 'true \\ predicted'), ...s.classes.map((c) => el('th', c)), el('th', 'accuracy'));
  table.append(head);
  const max = Math.max(1, ...s.confusion_matrix.flat());
  s.confusion_matrix.forEach((row, i) => {
    const tr = el('tr');
    tr.append(el('th', s.classes[i]));
    row.forEach((n, j) => {
      const td = el('td', String(n), i === j ? 'diag' : n > 0 ? 'off' : '');
      td.style.setProperty('--shade', String(n / max));
      tr.append(td);
    });
    tr.append(el('td', pct(s.per_class_accuracy[s.classes[i]])));
    table.append(tr);
  });
  container.replaceChildren(table);
}

/** Thumbnails of misclassified test images with their true and predicted classes. */
export function renderMisclassified(container: HTMLElement, s: Summary, thumbnails: readonly Thumbnail[]): void {
  container.replaceChildren();
  if (s.misclassified.length === 0) {
    container.append(el('p', s.test_images === 0 ? 'No test images: the test split is empty.' : 'No test image was misclassified.'));
    return;
  }
  const shown = thumbnails.length < s.misclassified.length ? ` (the first ${thumbnails.length} shown)` : '';
  container.append(el('p', `${s.misclassified.length} misclassified test images${shown}:`));
  const grid = el('div', undefined, 'thumbs');
  for (const t of thumbnails) {
    const fig = el('figure');
    const cap = el('figcaption');
    const name = t.path.slice(t.path.lastIndexOf('/') + 1);
    const confidence = `${(100 * t.confidence).toFixed(0)}%`;
    cap.append(el('span', name, 'file'), el('br'), el('span', t.label, 'true'), ' → ', el('span', t.predicted, 'pred'), ` ${confidence}`);
    fig.title = `${t.path}: a ${t.label} image, predicted ${t.predicted} with ${(100 * t.confidence).toFixed(1)}% confidence`;
    const canvas = toCanvas(t.image);
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', fig.title);
    fig.append(canvas, cap);
    grid.append(fig);
  }
  container.append(grid);
}

function toCanvas(img: RGBImage): HTMLCanvasElement {
  const canvas = el('canvas');
  canvas.width = img.width;
  canvas.height = img.height;
  const rgba = new ImageData(img.width, img.height);
  for (let i = 0, j = 0; j < img.data.length; i += 4, j += 3) {
    rgba.data[i] = img.data[j];
    rgba.data[i + 1] = img.data[j + 1];
    rgba.data[i + 2] = img.data[j + 2];
    rgba.data[i + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(rgba, 0, 0);
  return canvas;
}
