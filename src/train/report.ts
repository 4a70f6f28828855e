/** Training reports: metrics.csv rows, and loss/accuracy curves as SVG (the same chart in Node and the page). */

export interface EpochRow {
  epoch: number;
  /** The optimizer's lr for the epoch's last batch (the epoch's lr, unless the schedule steps per batch). */
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

/** One row of steps.csv: [step, epoch, loss, lr, images_per_second]. */
export type StepRow = [number, number, number, number, number];

export const STEPS_COLUMNS = ['step', 'epoch', 'loss', 'lr', 'images_per_second'] as const;

/**
 * steps.csv: one row per training batch. `step` counts the batches trained since the run began (over
 * epochs and resumes; a dropped one-image batch is not one); `loss` is that batch's mean loss; `lr` the
 * learning rate it was trained with; `images_per_second` its images over the time from the previous
 * batch's loss reading to its own (the first batch of a start or resume includes the start-up).
 */
export function stepsCsv(rows: readonly StepRow[]): string {
  const fmt = (v: number) => (Number.isInteger(v) ? String(v) : Number.isFinite(v) ? String(Number(v.toPrecision(6))) : Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf');
  return [STEPS_COLUMNS.join(','), ...rows.map((r) => r.map(fmt).join(','))].join('\n') + '\n';
}

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  /** Draw a marker at each point (default: when the series has fewer than 40 points). */
  markers?: boolean;
  /**
   * A background series (the per-batch losses): drawn, and inside the axis's range, but not counted by
   * the log-scale rule, so that one lucky batch does not turn the axis logarithmic.
   */
  background?: boolean;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

/** An axis: its range, where its ticks go, and how they are labelled. */
export interface Axis {
  scale: 'linear' | 'log';
  min: number;
  max: number;
  ticks: number[];
  labels: string[];
}

/** The 1-2-5 steps: 1, 2 or 5 times a power of ten. */
export function isOneTwoFive(v: number): boolean {
  if (!(v > 0) || !Number.isFinite(v)) return false;
  const e = Math.floor(Math.log10(v));
  const m = v / 10 ** e;
  return [1, 2, 5, 10].some((k) => Math.abs(m - k) < 1e-9 * k);
}

/** The smallest 1-2-5 step at least `raw` (and at least `minStep`). */
function niceStep(raw: number, minStep = 0): number {
  const r = Math.max(raw, minStep, Number.MIN_VALUE);
  const e = Math.floor(Math.log10(r));
  for (const k of [1, 2, 5, 10]) {
    const s = k * 10 ** e;
    if (s >= r * (1 - 1e-12)) return Number(s.toPrecision(12));
  }
  return 10 ** (e + 1);
}

/** Decimals that show a multiple of `step` exactly (step = 1, 2 or 5 × 10^e: max(0, -e)). */
function decimalsFor(step: number): number {
  return Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
}

/**
 * A linear axis over [lo, hi] with round ticks: the step is 1, 2 or 5 × 10^k, chosen so that there are at
 * most `maxTicks` intervals, and the range is widened to the ticks around it. `integer` keeps steps ≥ 1
 * (epochs). `suffix` is appended to each label ("%").
 */
export function linearAxis(lo: number, hi: number, opts: { maxTicks?: number; integer?: boolean; suffix?: string } = {}): Axis {
  const maxTicks = opts.maxTicks ?? 5;
  if (!(hi > lo)) hi = lo + (opts.integer ? 1 : Math.abs(lo) > 0 ? Math.abs(lo) : 1);
  const step = niceStep((hi - lo) / maxTicks, opts.integer ? 1 : 0);
  const dec = decimalsFor(step);
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  for (let k = first; k <= last; k++) ticks.push(Number((k * step).toFixed(dec)));
  // Steps below 1e-4 or from 1e6 up are labelled in exponent form (2e-5), shorter than their decimals.
  const tiny = step < 1e-4 || step >= 1e6;
  const label = (t: number) => (t === 0 ? (tiny ? '0' : (0).toFixed(dec)) : tiny ? Number(t.toPrecision(6)).toExponential().replace('e+', 'e') : t.toFixed(dec));
  const labels = ticks.map((t) => label(t) + (opts.suffix ?? ''));
  return { scale: 'linear', min: ticks[0], max: ticks[ticks.length - 1], ticks, labels };
}

/** A number as a short label without float noise: 0.05, 2, 1000; 1e-5 and 2e+6 outside [0.001, 100000). */
function logLabel(v: number): string {
  if (v < 1e-3 || v >= 1e5) return v.toExponential(0).replace('e+', 'e');
  return String(Number(v.toPrecision(3)));
}

/**
 * A log10 axis over [lo, hi] (both > 0): ticks at 1, 2 and 5 × 10^k when the range spans at most 3 decades,
 * at the powers of ten otherwise (every other one, or sparser, past 6 decades). The range is widened to the
 * ticks around it.
 */
export function logAxis(lo: number, hi: number): Axis {
  const e0 = Math.floor(Math.log10(lo) + 1e-9);
  const e1 = Math.ceil(Math.log10(hi) - 1e-9);
  const decades = Math.max(1, e1 - e0);
  const cands: number[] = [];
  if (decades <= 3) {
    for (let e = e0; e <= e1; e++) for (const k of [1, 2, 5]) cands.push(Number((k * 10 ** e).toPrecision(3)));
  } else {
    const every = Math.ceil(decades / 6);
    for (let e = e0; e <= e1; e += every) cands.push(Number((10 ** e).toPrecision(3)));
    if (cands[cands.length - 1] < hi) cands.push(Number((10 ** (e0 + Math.ceil(decades / every) * every)).toPrecision(3)));
  }
  // Keep the ticks inside the data's range, plus the one just below and the one just above it.
  const below = cands.filter((t) => t <= lo * (1 + 1e-9));
  const above = cands.filter((t) => t >= hi * (1 - 1e-9));
  const lowT = below.length ? below[below.length - 1] : cands[0];
  const highT = above.length ? above[0] : cands[cands.length - 1];
  const ticks = cands.filter((t) => t >= lowT && t <= highT);
  return { scale: 'log', min: lowT, max: highT, ticks, labels: ticks.map(logLabel) };
}

/**
 * When `yScale` is 'auto', the y axis is logarithmic when every value drawn is positive and, among the
 * main series (per-epoch train and validation loss; not the per-batch background), the largest is at
 * least this many times the smallest: a linear axis from 0 would then put the smallest values within
 * 1/30 (about 3%) of the plot's height above the axis, flattened into it (a validation loss of 78 over
 * train losses of 1 to 2 is an example). Values ≤ 0 keep the axis linear.
 */
export const LOG_SCALE_RATIO = 30;

export interface ChartOptions {
  /** The x values are epochs: integer ticks only. */
  integerX?: boolean;
  /** 'auto' (default): see LOG_SCALE_RATIO. */
  yScale?: 'auto' | 'linear' | 'log';
  /** The y axis's title ("loss", "accuracy (%)"); " (log scale)" is added on a log axis. */
  yLabel?: string;
  /** Appended to the y tick labels ("%"). */
  ySuffix?: string;
  /** Bounds the y axis never goes past (accuracy: [0, 100]). */
  yClamp?: [number, number];
  /** The x axis always covers [0, xMinEnd] at least (default 1). */
  xMinEnd?: number;
  width?: number;
  height?: number;
}

/** Where everything goes in a chart; lineChartSvg draws it, and tests check it. */
export interface ChartLayout {
  width: number;
  height: number;
  /** The plot area (inside the axes), in SVG units. */
  plot: { x: number; y: number; w: number; h: number };
  /** The legend's box: a band between the title and the plot, clear of the plot area. */
  legend: { x: number; y: number; w: number; h: number; items: { name: string; color: string; x: number; y: number }[] };
  x: Axis;
  y: Axis;
  /** The finite points of each series in SVG coordinates. */
  series: { name: string; color: string; markers: boolean; points: [number, number][] }[];
  /** Values that could not be drawn (NaN, ±Inf), named for a note under the legend. */
  notDrawn: string[];
  empty: boolean;
}

/** Compute a chart's layout: axes with round ticks, the legend band above the plot, and the points mapped. */
export function chartLayout(series: Series[], opts: ChartOptions = {}): ChartLayout {
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  const finite = series.map((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  const all = finite.flat();
  const notDrawn: string[] = [];
  for (const s of series) {
    for (const [x, y] of s.points) if (!Number.isFinite(y)) notDrawn.push(`${s.name} ${Number.isNaN(y) ? 'nan' : y > 0 ? 'inf' : '-inf'} at ${opts.integerX ? 'epoch ' : 'x = '}${x}`);
  }
  const empty = all.length === 0;
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const x = linearAxis(Math.min(0, ...xs), Math.max(opts.xMinEnd ?? 1, ...xs), { maxTicks: 10, integer: opts.integerX });
  const [cLo, cHi] = opts.yClamp ?? [-Infinity, Infinity];
  let y: Axis;
  const yMin = Math.min(...ys);
  const yMax = Math.max(...ys);
  const main = finite.filter((_, i) => !series[i].background).flat().map((p) => p[1]);
  const ratio = main.length ? Math.max(...main) / Math.min(...main) : 0;
  const wantLog = opts.yScale === 'log' || (opts.yScale !== 'linear' && !empty && yMin > 0 && ratio >= LOG_SCALE_RATIO);
  if (!empty && yMin > 0 && wantLog) {
    y = logAxis(yMin, yMax);
  } else {
    // Non-negative data (losses, accuracies) keep 0 on the axis unless clamped otherwise.
    const lo = empty ? Math.max(0, cLo) : Math.max(cLo, Math.min(0, yMin));
    const hi = empty ? (opts.yClamp ? cHi : 1) : Math.min(cHi, yMax);
    y = linearAxis(lo, hi, { suffix: opts.ySuffix });
    if (opts.yClamp && (y.min < cLo || y.max > cHi)) {
      const keep = y.ticks.map((t, i) => [t, y.labels[i]] as const).filter(([t]) => t >= cLo - 1e-9 && t <= cHi + 1e-9);
      y = { ...y, ticks: keep.map((k) => k[0]), labels: keep.map((k) => k[1]), min: Math.max(y.min, cLo), max: Math.min(y.max, cHi) };
    }
  }
  // The legend: one row of items (wrapping when they do not fit) in a band between the title and the plot.
  const yLabelW = 18;
  const tickW = 8 + 7 * Math.max(...y.labels.map((l) => l.length), 1);
  const left = yLabelW + tickW;
  const right = 16;
  const items: ChartLayout['legend']['items'] = [];
  const rowH = 18;
  let cx = left;
  let row = 0;
  const top0 = 30;
  for (const s of series) {
    const w = 12 + 6 + 7 * s.name.length + 18;
    if (cx + w > width - right && cx > left) {
      row++;
      cx = left;
    }
    items.push({ name: s.name, color: s.color, x: cx, y: top0 + row * rowH });
    cx += w;
  }
  const rows = series.length ? row + 1 : 0;
  const noteRows = notDrawn.length ? 1 : 0;
  const legend = { x: left, y: top0, w: width - right - left, h: (rows + noteRows) * rowH, items };
  const top = top0 + legend.h + 8;
  const bottom = 44;
  const plot = { x: left, y: top, w: width - left - right, h: height - top - bottom };
  const px = (v: number) => plot.x + ((v - x.min) / (x.max - x.min)) * plot.w;
  const fy = y.scale === 'log' ? (v: number) => Math.log10(v) : (v: number) => v;
  const py = (v: number) => plot.y + plot.h - ((fy(v) - fy(y.min)) / (fy(y.max) - fy(y.min) || 1)) * plot.h;
  return {
    width,
    height,
    plot,
    legend,
    x,
    y,
    series: series.map((s, i) => ({ name: s.name, color: s.color, markers: s.markers ?? finite[i].length < 40, points: finite[i].map(([a, b]) => [px(a), py(b)] as [number, number]) })),
    notDrawn,
    empty,
  };
}

/** A small line chart as a standalone SVG document: round ticks, the legend in a band above the plot. */
export function lineChartSvg(title: string, xLabel: string, series: Series[], width = 640, height = 360, opts: ChartOptions = {}): string {
  const L = chartLayout(series, { width, height, ...opts });
  const { plot } = L;
  const f = (v: number) => v.toFixed(1);
  const py = (t: number) => {
    const fy = L.y.scale === 'log' ? Math.log10 : (v: number) => v;
    return plot.y + plot.h - ((fy(t) - fy(L.y.min)) / (fy(L.y.max) - fy(L.y.min) || 1)) * plot.h;
  };
  const px = (t: number) => plot.x + ((t - L.x.min) / (L.x.max - L.x.min)) * plot.w;
  const yTitle = (opts.yLabel ?? '') + (L.y.scale === 'log' ? ' (log scale)' : '');
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<text x="${f(plot.x + plot.w / 2)}" y="${height - 8}" text-anchor="middle">${esc(xLabel)}</text>`,
  ];
  if (yTitle) parts.push(`<text transform="translate(13,${f(plot.y + plot.h / 2)}) rotate(-90)" text-anchor="middle">${esc(yTitle)}</text>`);
  L.y.ticks.forEach((t, i) => {
    const y = f(py(t));
    parts.push(`<line x1="${plot.x}" x2="${plot.x + plot.w}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`);
    parts.push(`<text class="ytick" x="${plot.x - 6}" y="${f(py(t) + 4)}" text-anchor="end">${esc(L.y.labels[i])}</text>`);
  });
  L.x.ticks.forEach((t, i) => {
    const x = f(px(t));
    parts.push(`<line x1="${x}" x2="${x}" y1="${plot.y + plot.h}" y2="${plot.y + plot.h + 4}" stroke="#333"/>`);
    parts.push(`<text class="xtick" x="${x}" y="${plot.y + plot.h + 17}" text-anchor="middle">${esc(L.x.labels[i])}</text>`);
  });
  parts.push(`<line x1="${plot.x}" x2="${plot.x}" y1="${plot.y}" y2="${plot.y + plot.h}" stroke="#333"/>`);
  parts.push(`<line x1="${plot.x}" x2="${plot.x + plot.w}" y1="${plot.y + plot.h}" y2="${plot.y + plot.h}" stroke="#333"/>`);
  if (L.empty) parts.push(`<text x="${f(plot.x + plot.w / 2)}" y="${f(plot.y + plot.h / 2)}" text-anchor="middle" fill="#888">no data yet</text>`);
  for (const s of L.series) {
    if (s.points.length > 1) parts.push(`<polyline class="data" fill="none" stroke="${s.color}" stroke-width="2" points="${s.points.map(([x, y]) => `${f(x)},${f(y)}`).join(' ')}"/>`);
    if (s.markers || s.points.length === 1) for (const [x, y] of s.points) parts.push(`<circle class="data" cx="${f(x)}" cy="${f(y)}" r="3" fill="${s.color}"/>`);
  }
  parts.push(`<g class="legend" data-box="${[L.legend.x, L.legend.y, L.legend.w, L.legend.h].map(f).join(' ')}">`);
  for (const it of L.legend.items) {
    parts.push(`<rect x="${it.x}" y="${it.y + 2}" width="12" height="12" fill="${it.color}"/>`);
    parts.push(`<text x="${it.x + 18}" y="${it.y + 12}">${esc(it.name)}</text>`);
  }
  if (L.notDrawn.length) {
    const rows = new Set(L.legend.items.map((i) => i.y)).size;
    parts.push(`<text x="${L.legend.x}" y="${L.legend.y + rows * 18 + 12}" fill="#a00">not drawn (not finite): ${esc(L.notDrawn.slice(0, 3).join(', '))}${L.notDrawn.length > 3 ? ', …' : ''}</text>`);
  }
  parts.push('</g>');
  parts.push('</svg>');
  return parts.join('\n');
}

/**
 * The loss curves of a run: train loss per step (light) and per epoch, validation loss per epoch. The y
 * axis turns logarithmic when one curve dwarfs another (see LOG_SCALE_RATIO).
 */
export function lossChart(rows: EpochRow[], stepLosses: [number, number][] = []): string {
  const series: Series[] = [];
  if (stepLosses.length) series.push({ name: 'train (batch)', color: '#9ecae1', points: stepLosses, markers: false, background: true });
  series.push({ name: 'train', color: '#1f77b4', points: rows.map((r) => [r.epoch, r.train_loss]) });
  // An unmeasured value (null) is left out; a measured NaN or ±Inf is named in a note over the plot.
  const measured = (f: (r: EpochRow) => number | null): [number, number][] => rows.filter((r) => f(r) !== null).map((r) => [r.epoch, f(r)!]);
  if (rows.some((r) => r.val_loss !== null)) series.push({ name: 'validation', color: '#d62728', points: measured((r) => r.val_loss) });
  return lineChartSvg('Loss', 'epoch', series, 640, 360, { integerX: true, yLabel: 'loss' });
}

/** Accuracy per epoch in percent (as the CLI's and the page's headlines give it). */
export function accuracyChart(rows: EpochRow[]): string {
  const pct = (f: (r: EpochRow) => number | null): [number, number][] => rows.filter((r) => f(r) !== null).map((r) => [r.epoch, 100 * f(r)!]);
  const series: Series[] = [{ name: 'train', color: '#1f77b4', points: pct((r) => r.train_acc) }];
  if (rows.some((r) => r.val_acc !== null)) series.push({ name: 'validation', color: '#d62728', points: pct((r) => r.val_acc) });
  return lineChartSvg('Accuracy', 'epoch', series, 640, 360, { integerX: true, yScale: 'linear', yLabel: 'accuracy (%)', ySuffix: '%', yClamp: [0, 100] });
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
