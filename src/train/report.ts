/** Training reports: metrics.csv rows, and loss/accuracy curves as SVG (the same chart in Node and the page). */

export interface EpochRow {
  epoch: number;
  lr: number;
  train_loss: number;
  train_acc: number;
  /** null when there is no validation split (nothing was measured). */
  val_loss: number | null;
  val_acc: number | null;
  seconds: number;
}

export const METRICS_COLUMNS: (keyof EpochRow)[] = ['epoch', 'lr', 'train_loss', 'train_acc', 'val_loss', 'val_acc', 'seconds'];

/**
 * metrics.csv: one row per epoch. A non-finite value (a validation loss that overflowed) is written as nan,
 * inf or -inf, which Python's float() and pandas read back; null (how JSON, and checkpoints written before
 * non-finite numbers were kept, store them) is written as nan.
 */
export function metricsCsv(rows: EpochRow[]): string {
  // An unmeasured value (null: no validation split) is an empty field, never a made-up 0; NaN and ±Inf are written as such.
  const fmt = (v: number | null | undefined) =>
    v === null || v === undefined ? '' : Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : Number.isInteger(v) ? String(v) : v.toPrecision(6);
  return [METRICS_COLUMNS.join(','), ...rows.map((r) => METRICS_COLUMNS.map((c) => fmt(r[c])).join(','))].join('\n') + '\n';
}

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

/** A small line chart as a standalone SVG document. */
export function lineChartSvg(title: string, xLabel: string, series: Series[], width = 640, height = 360): string {
  const pad = { l: 56, r: 16, t: 32, b: 44 };
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs, 0);
  const x1 = Math.max(...xs, 1);
  let y0 = Math.min(...ys, 0);
  let y1 = Math.max(...ys, 1e-9);
  if (y1 - y0 < 1e-9) y1 = y0 + 1;
  const span = y1 - y0;
  if (y0 < 0) y0 -= span * 0.02; // non-negative data (losses, accuracies) keep their axis at 0
  y1 += span * 0.05;
  const px = (x: number) => pad.l + ((x - x0) / (x1 - x0 || 1)) * (width - pad.l - pad.r);
  const py = (y: number) => height - pad.b - ((y - y0) / (y1 - y0)) * (height - pad.t - pad.b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<text x="${width / 2}" y="${height - 8}" text-anchor="middle">${esc(xLabel)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    parts.push(`<line x1="${pad.l}" x2="${width - pad.r}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/>`);
    parts.push(`<text x="${pad.l - 6}" y="${py(y) + 4}" text-anchor="end">${y.toPrecision(3)}</text>`);
  }
  const xTicks = Math.min(10, Math.max(1, Math.round(x1 - x0)));
  for (let i = 0; i <= xTicks; i++) {
    const x = x0 + ((x1 - x0) * i) / xTicks;
    parts.push(`<text x="${px(x)}" y="${height - pad.b + 16}" text-anchor="middle">${Number.isInteger(x) ? x : x.toFixed(1)}</text>`);
  }
  parts.push(`<line x1="${pad.l}" x2="${pad.l}" y1="${pad.t}" y2="${height - pad.b}" stroke="#333"/>`);
  parts.push(`<line x1="${pad.l}" x2="${width - pad.r}" y1="${height - pad.b}" y2="${height - pad.b}" stroke="#333"/>`);
  series.forEach((s, k) => {
    const pts = s.points.filter(([, y]) => Number.isFinite(y));
    if (pts.length) {
      parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
      if (pts.length < 40) for (const [x, y] of pts) parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    }
    parts.push(`<rect x="${width - pad.r - 120}" y="${pad.t + 4 + k * 18}" width="12" height="12" fill="${s.color}"/>`);
    parts.push(`<text x="${width - pad.r - 102}" y="${pad.t + 14 + k * 18}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** The loss curves of a run: train loss per step (light) and per epoch, validation loss per epoch. */
export function lossChart(rows: EpochRow[], stepLosses: [number, number][] = []): string {
  const series: Series[] = [];
  if (stepLosses.length) series.push({ name: 'train (batch)', color: '#9ecae1', points: stepLosses });
  series.push({ name: 'train', color: '#1f77b4', points: rows.map((r) => [r.epoch, r.train_loss]) });
  if (rows.some((r) => r.val_loss !== null)) series.push({ name: 'validation', color: '#d62728', points: rows.map((r) => [r.epoch, r.val_loss ?? NaN]) });
  return lineChartSvg('Loss', 'epoch', series);
}

export function accuracyChart(rows: EpochRow[]): string {
  const series: Series[] = [{ name: 'train', color: '#1f77b4', points: rows.map((r) => [r.epoch, r.train_acc]) }];
  if (rows.some((r) => r.val_acc !== null)) series.push({ name: 'validation', color: '#d62728', points: rows.map((r) => [r.epoch, r.val_acc ?? NaN]) });
  return lineChartSvg('Accuracy', 'epoch', series);
}

/** A few-line terminal plot of a series (for the end of a CLI run). */
export function asciiPlot(values: number[], width = 60, height = 8): string[] {
  const v = values.filter(Number.isFinite);
  if (v.length < 2) return [];
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  const grid = Array.from({ length: height }, () => new Array(width).fill(' '));
  for (let c = 0; c < width; c++) {
    const x = v[Math.min(v.length - 1, Math.round((c / (width - 1)) * (v.length - 1)))];
    const r = hi === lo ? height - 1 : Math.round(((hi - x) / (hi - lo)) * (height - 1));
    grid[r][c] = '•';
  }
  return grid.map((row, i) => `${(i === 0 ? hi : i === height - 1 ? lo : NaN).toFixed(3).replace('NaN', '     ').padStart(8)} │${row.join('')}`);
}

/** Loss and accuracy side by side in one SVG (rendered to curves.png by the CLI). */
export function curvesSvg(rows: EpochRow[], stepLosses: [number, number][] = []): string {
  const inner = (svg: string, x: number) => svg.replace(/^<svg[^>]*>/, `<g transform="translate(${x},0)">`).replace(/<\/svg>$/, '</g>');
  return [
    '<svg xmlns="http://www.w3.org/2000/svg" width="1280" height="360" viewBox="0 0 1280 360" font-family="sans-serif" font-size="12">',
    inner(lossChart(rows, stepLosses), 0),
    inner(accuracyChart(rows), 640),
    '</svg>',
  ].join('\n');
}

/** The confusion matrix as a heat map: rows are true classes, columns predictions, with counts. */
export function confusionSvg(classes: string[], counts: number[][]): string {
  const k = classes.length;
  const cell = Math.max(14, Math.min(48, Math.floor(720 / Math.max(k, 1))));
  const label = Math.min(180, 8 + 7 * Math.max(...classes.map((c) => c.length), 4));
  const size = Math.max(300, label + k * cell + 20);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size + 24}" viewBox="0 0 ${size} ${size + 24}" font-family="sans-serif" font-size="${Math.min(12, cell - 2)}">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="4" y="16" font-size="13">rows: true class · columns: predicted class</text>`,
  ];
  counts.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    parts.push(`<text x="${label - 4}" y="${24 + label + i * cell + cell / 2 + 4}" text-anchor="end">${esc(classes[i])}</text>`);
    row.forEach((v, j) => {
      const f = v / total;
      const shade = Math.round(255 - 200 * f);
      const fill = i === j ? `rgb(${shade},${255 - Math.round(60 * f)},${shade})` : `rgb(255,${shade},${shade})`;
      const x = label + j * cell;
      const y = 24 + label + i * cell;
      parts.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${v ? fill : '#fafafa'}" stroke="#ddd"/>`);
      if (v && cell >= 16) parts.push(`<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" text-anchor="middle">${v}</text>`);
    });
  });
  classes.forEach((c, j) => {
    const x = label + j * cell + cell / 2;
    parts.push(`<text transform="translate(${x},${20 + label}) rotate(-60)" text-anchor="start">${esc(c)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
