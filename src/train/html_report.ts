/** report.html: the run's error analysis in one self-contained page (inline SVG charts, data: URL thumbnails). */
import type { Summary } from './trainer';

export interface MisclassifiedShown {
  path: string;
  label: string;
  predicted: string;
  confidence: number;
  thumbnail: string | null;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const pct = (v: number | null) => (v === null ? '–' : `${(100 * v).toFixed(1)}%`);

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
${s.config.arch}, ${s.config.imgSize}px, batch ${s.config.batchSize}, lr ${s.config.lr} · ${s.train_images_per_second.toFixed(2)} training images/s on ${esc(s.adapter)}
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
