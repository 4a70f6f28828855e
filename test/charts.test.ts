/**
 * The charts (issue 16.6): loss.svg, accuracy.svg, curves.png, report.html and the page all draw with
 * src/train/report.ts. Ticks are round (1, 2 or 5 × 10^k apart), epochs integer, accuracy in %, the
 * legend clear of the data, a log axis when one curve dwarfs another, and empty charts free of "1.05e-9".
 * Pure string checks on the SVG: no GPU.
 */
import { describe, it, expect } from 'vitest';
import { LOG_SCALE_RATIO, accuracyChart, chartLayout, curvesSvg, isOneTwoFive, linearAxis, logAxis, lossChart, type EpochRow } from '../src/train/report';

const row = (epoch: number, r: Partial<EpochRow> = {}): EpochRow => ({ epoch, lr: 0.01, train_loss: 1, train_acc: 0.5, val_loss: 1, val_acc: 0.5, seconds: 1, ...r });
const rows = (n: number, f: (e: number) => Partial<EpochRow>) => Array.from({ length: n }, (_, i) => row(i + 1, f(i + 1)));

/** Text of every <text class="cls"> in document order. */
const texts = (svg: string, cls: string) => [...svg.matchAll(new RegExp(`<text class="${cls}"[^>]*>([^<]*)</text>`, 'g'))].map((m) => m[1]);
const attrs = (svg: string, cls: string, name: string) => [...svg.matchAll(new RegExp(`<text class="${cls}"[^>]*\\b${name}="([^"]+)"`, 'g'))].map((m) => Number(m[1]));
const num = (label: string) => Number(label.replace('%', ''));

/** The data's drawn points: polyline vertices and marker circles (with their radius). */
function dataPoints(svg: string): { x: number; y: number; r: number }[] {
  const out: { x: number; y: number; r: number }[] = [];
  for (const m of svg.matchAll(/<polyline class="data"[^>]*points="([^"]+)"/g)) {
    for (const p of m[1].split(' ')) {
      const [x, y] = p.split(',').map(Number);
      out.push({ x, y, r: 1 }); // stroke-width 2
    }
  }
  for (const m of svg.matchAll(/<circle class="data" cx="([^"]+)" cy="([^"]+)" r="([^"]+)"/g)) out.push({ x: Number(m[1]), y: Number(m[2]), r: Number(m[3]) });
  return out;
}

const legendBox = (svg: string) => {
  const m = /<g class="legend" data-box="([^"]+)"/.exec(svg);
  const [x, y, w, h] = m![1].split(' ').map(Number);
  return { x, y, w, h };
};

/** The ticks are evenly spaced by a 1-2-5 step and every tick is a multiple of it. */
function expectRoundTicks(values: number[]) {
  expect(values.length).toBeGreaterThanOrEqual(2);
  const step = values[1] - values[0];
  expect(isOneTwoFive(Number(step.toPrecision(10))), `step ${step} of ${values}`).toBe(true);
  values.forEach((v, i) => {
    expect(Math.abs(v - values[0] - i * step)).toBeLessThan(step * 1e-6);
    expect(Math.abs(v / step - Math.round(v / step))).toBeLessThan(1e-6);
  });
}

describe('ticks (16.6)', () => {
  it('isOneTwoFive accepts 1, 2 and 5 times a power of ten and nothing else', () => {
    for (const v of [1, 2, 5, 10, 0.2, 0.05, 500, 1e-4]) expect(isOneTwoFive(v)).toBe(true);
    for (const v of [0.895, 1.79, 3.58, 1.5, 3, 0.25, 0, -1, NaN]) expect(isOneTwoFive(v)).toBe(false);
  });

  it('a linear axis over any range has evenly spaced 1-2-5 ticks that cover the range', () => {
    const ranges: [number, number][] = [[0, 3.58], [0, 1.79], [0, 0.895], [0, 78], [0.3, 0.41], [0, 1e-9], [0, 2.302585], [-1.3, 4.7], [12, 13]];
    for (const [lo, hi] of ranges) {
      const a = linearAxis(lo, hi);
      expectRoundTicks(a.ticks);
      expect(a.min).toBeLessThanOrEqual(lo);
      expect(a.max).toBeGreaterThanOrEqual(hi);
      expect(a.ticks.length).toBeLessThanOrEqual(7);
      // Labels show the values exactly, without float noise; in exponent form only for a tiny range.
      a.labels.forEach((l, i) => {
        expect(l).not.toMatch(hi - lo < 1e-4 ? /\d{4}/ : /e|\d{5}/);
        expect(Number(l)).toBe(a.ticks[i]);
      });
    }
  });

  it('a log axis has ticks at 1, 2 and 5 × 10^k', () => {
    for (const [lo, hi] of [[0.9, 78], [0.01, 2.3], [1e-4, 10], [3, 7]]) {
      const a = logAxis(lo, hi);
      for (const t of a.ticks) expect(isOneTwoFive(t), `${t}`).toBe(true);
      expect(a.min).toBeLessThanOrEqual(lo);
      expect(a.max).toBeGreaterThanOrEqual(hi);
      a.labels.forEach((l, i) => expect(Number(l)).toBeCloseTo(a.ticks[i], 12));
    }
  });

  it('the loss chart has round y ticks and integer epoch ticks, for 1 to 40 epochs', () => {
    for (let n = 1; n <= 40; n++) {
      const svg = lossChart(rows(n, (e) => ({ train_loss: 1.79 / e, val_loss: 3.58 / (e + 1) })), []);
      const yt = texts(svg, 'ytick').map(num);
      // Past 30 epochs the losses span a factor of 30 and the axis turns log: ticks at 1-2-5 × 10^k.
      if (svg.includes('log scale')) for (const t of yt) expect(isOneTwoFive(t), `${yt}`).toBe(true);
      else expectRoundTicks(yt);
      const xt = texts(svg, 'xtick');
      for (const t of xt) expect(t, `epochs ${n}: ${xt}`).toMatch(/^\d+$/);
      expectRoundTicks(xt.map(Number));
      expect(Number(xt[xt.length - 1])).toBeGreaterThanOrEqual(n);
    }
  });

  it('with per-batch losses (fractional x) the epoch ticks stay integer', () => {
    const r = rows(3, (e) => ({ train_loss: 1 / e }));
    const steps: [number, number][] = Array.from({ length: 30 }, (_, i) => [(i + 1) / 10, 1.2 - i / 40]);
    for (const t of texts(lossChart(r, steps), 'xtick')) expect(t).toMatch(/^\d+$/);
  });
});

describe('accuracy in % (16.6)', () => {
  it('the accuracy axis is labelled in %, and a point sits at 100 × its fraction on it', () => {
    const r = rows(5, (e) => ({ train_acc: 0.4 + 0.1 * e, val_acc: 0.35 + 0.08 * e }));
    const svg = accuracyChart(r);
    const labels = texts(svg, 'ytick');
    for (const l of labels) expect(l).toMatch(/^\d+%$/);
    const vals = labels.map(num);
    expectRoundTicks(vals);
    expect(Math.min(...vals)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...vals)).toBeLessThanOrEqual(100);
    expect(Math.max(...vals)).toBeGreaterThanOrEqual(90);
    expect(svg).toContain('accuracy (%)');
    // Read each train marker back through the tick positions: value = linear interpolation between ticks.
    const ty = attrs(svg, 'ytick', 'y').map((y) => y - 4);
    const circles = [...svg.matchAll(/<circle class="data" cx="[^"]+" cy="([^"]+)"[^>]*fill="#1f77b4"/g)].map((m) => Number(m[1]));
    expect(circles).toHaveLength(5);
    const perPx = (vals[vals.length - 1] - vals[0]) / (ty[0] - ty[ty.length - 1]);
    circles.forEach((cy, i) => expect(vals[0] + (ty[0] - cy) * perPx).toBeCloseTo(100 * r[i].train_acc, 0));
  });

  it('accuracy never gets an axis past 100% or below 0%', () => {
    const svg = accuracyChart(rows(3, () => ({ train_acc: 1, val_acc: 0.999 })));
    const vals = texts(svg, 'ytick').map(num);
    expect(Math.max(...vals)).toBe(100);
    expect(Math.min(...vals)).toBe(0);
  });
});

describe('the legend is clear of the data (16.6)', () => {
  const cases: [string, string][] = [
    // Data in the top right corner, where the legend used to be drawn.
    ['rising loss', lossChart(rows(8, (e) => ({ train_loss: 0.1 * e, val_loss: 0.12 * e })))],
    ['flat top accuracy', accuracyChart(rows(8, () => ({ train_acc: 1, val_acc: 1 })))],
    ['batch losses', lossChart(rows(4, (e) => ({ train_loss: 2 / e })), Array.from({ length: 80 }, (_, i) => [(i + 1) / 20, 2.5 - (i % 7) / 5] as [number, number]))],
    ['log scale', lossChart(rows(5, (e) => ({ train_loss: 1.5 - e / 10, val_loss: e === 5 ? 78 : 1.4 })))],
  ];
  it.each(cases)('%s: no drawn point (with its radius) falls in the legend box, which lies above the plot', (_name, svg) => {
    const box = legendBox(svg);
    const pts = dataPoints(svg);
    expect(pts.length).toBeGreaterThan(0);
    const plotTop = Math.min(...attrs(svg, 'ytick', 'y').map((y) => y - 4));
    expect(box.y + box.h).toBeLessThanOrEqual(plotTop);
    for (const p of pts) {
      const inside = p.x + p.r > box.x && p.x - p.r < box.x + box.w && p.y + p.r > box.y && p.y - p.r < box.y + box.h;
      expect(inside, `point ${p.x},${p.y} in legend ${JSON.stringify(box)}`).toBe(false);
    }
  });

  it('many series wrap onto more legend rows, and the plot moves down to make room', () => {
    const series = Array.from({ length: 9 }, (_, k) => ({ name: `a long series name ${k}`, color: '#000', points: [[1, k] as [number, number]] }));
    const L = chartLayout(series);
    expect(new Set(L.legend.items.map((i) => i.y)).size).toBeGreaterThan(1);
    expect(L.legend.y + L.legend.h).toBeLessThanOrEqual(L.plot.y);
    for (const it of L.legend.items) expect(it.x + 18 + 7 * it.name.length).toBeLessThanOrEqual(L.width);
  });
});

describe('one curve dwarfing another: the log-scale rule (16.6)', () => {
  it(`a validation loss of 78 over train losses near 1 gets a log axis (max/min ≥ ${LOG_SCALE_RATIO})`, () => {
    const svg = lossChart(rows(5, (e) => ({ train_loss: 1.5 - e / 10, val_loss: e === 1 ? 78 : 1.4 - e / 20 })));
    expect(svg).toContain('loss (log scale)');
    for (const l of texts(svg, 'ytick')) expect(isOneTwoFive(Number(l)), l).toBe(true);
    // On the log axis the train curve spans a visible height: 1.4 → 1.0 is log10(1.4) of the decades shown.
    const L = chartLayout([{ name: 'train', color: '#000', points: [[1, 1.4], [5, 1]] }, { name: 'v', color: '#111', points: [[1, 78]] }]);
    const train = L.series[0].points;
    expect(train[1][1] - train[0][1]).toBeGreaterThan(0.05 * L.plot.h);
    const lin = chartLayout([{ name: 'train', color: '#000', points: [[1, 1.4], [5, 1]] }, { name: 'v', color: '#111', points: [[1, 78]] }], { yScale: 'linear' });
    expect(lin.series[0].points[1][1] - lin.series[0].points[0][1]).toBeLessThan(0.01 * lin.plot.h);
  });

  it('just under the ratio the axis stays linear, just over it turns log', () => {
    const pts = (ratio: number) => [{ name: 's', color: '#000', points: [[1, 1], [2, ratio]] as [number, number][] }];
    expect(chartLayout(pts(LOG_SCALE_RATIO * 0.99)).y.scale).toBe('linear');
    expect(chartLayout(pts(LOG_SCALE_RATIO * 1.01)).y.scale).toBe('log');
  });

  it('the per-batch losses (background) do not decide the scale, but stay inside the axis', () => {
    const r = rows(4, (e) => ({ train_loss: 2 / e, val_loss: 2.2 / e }));
    const lucky: [number, number][] = Array.from({ length: 40 }, (_, i) => [(i + 1) / 10, i === 30 ? 0.01 : 2.5 / (1 + i / 10)]);
    expect(lossChart(r, lucky)).not.toContain('log scale');
    const L = chartLayout([{ name: 'b', color: '#000', points: lucky, background: true }, { name: 't', color: '#111', points: [[1, 2], [4, 0.05]] }]);
    expect(L.y.scale).toBe('log');
    expect(L.y.min).toBeLessThanOrEqual(0.01);
    for (const s of L.series) for (const [, y] of s.points) expect(y).toBeGreaterThanOrEqual(L.plot.y - 1e-9), expect(y).toBeLessThanOrEqual(L.plot.y + L.plot.h + 1e-9);
  });

  it('a value of 0 (or below) keeps the axis linear; accuracy is always linear', () => {
    expect(chartLayout([{ name: 's', color: '#000', points: [[1, 0], [2, 50]] }]).y.scale).toBe('linear');
    expect(accuracyChart(rows(3, (e) => ({ train_acc: e === 1 ? 0.01 : 0.9 })))).not.toContain('log scale');
  });

  it('a normal run (2.3 → 0.3) keeps a linear loss axis from 0', () => {
    const svg = lossChart(rows(6, (e) => ({ train_loss: 2.3 / e, val_loss: 2.0 / e + 0.1 })));
    expect(svg).not.toContain('log scale');
    expect(texts(svg, 'ytick')[0]).toBe('0.0');
  });

  it('a non-finite validation loss is named in a note instead of vanishing', () => {
    const svg = lossChart(rows(3, (e) => ({ val_loss: e === 2 ? Infinity : 0.8 })));
    expect(svg).toContain('validation inf at epoch 2');
  });
});

describe('empty charts (16.6)', () => {
  it.each([
    ['loss', lossChart([], [])],
    ['accuracy', accuracyChart([])],
  ])('%s: round ticks, no exponent labels, and "no data yet"', (_n, svg) => {
    const y = texts(svg, 'ytick');
    const x = texts(svg, 'xtick');
    for (const l of [...y, ...x]) expect(l).toMatch(/^-?\d+(\.\d{1,2})?%?$/);
    expectRoundTicks(y.map(num));
    expect(x).toEqual(['0', '1']);
    expect(svg).toContain('no data yet');
  });

  it('curves.png\'s SVG holds both charts side by side', () => {
    const svg = curvesSvg(rows(2, () => ({})), []);
    expect(svg.match(/<g transform="translate\(/g)).toHaveLength(2);
    expect(svg).toContain('>Loss<');
    expect(svg).toContain('>Accuracy<');
  });
});
