/** A one-line progress bar for a terminal; on a non-terminal it prints a line every `every` updates. */
export interface ProgressState {
  done: number;
  total: number;
  loss: number | null;
  imagesPerSecond: number;
  etaSeconds: number;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const ss = String(Math.floor(s % 60)).padStart(2, '0');
  return h ? `${h}:${String(m % 60).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export class ProgressBar {
  private lastLen = 0;
  private updates = 0;
  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly every = 10,
  ) {}

  render(p: ProgressState, width = 24): string {
    const frac = p.total ? Math.min(1, p.done / p.total) : 0;
    const full = Math.round(frac * width);
    const bar = '█'.repeat(full) + '░'.repeat(width - full);
    const loss = p.loss === null ? '   …  ' : p.loss.toFixed(4);
    return `${this.label} ${bar} ${p.done}/${p.total} loss ${loss} ${p.imagesPerSecond.toFixed(1)} img/s ETA ${formatDuration(p.etaSeconds)}`;
  }

  update(p: ProgressState): void {
    const line = this.render(p);
    if (this.stream.isTTY) {
      this.stream.write(`\r${line}${' '.repeat(Math.max(0, this.lastLen - line.length))}`);
      this.lastLen = line.length;
    } else if (++this.updates % this.every === 0 || p.done === p.total) {
      this.stream.write(line + '\n');
    }
  }

  /** Clear the bar's line (a summary line is printed in its place). */
  end(): void {
    if (this.stream.isTTY && this.lastLen) this.stream.write(`\r${' '.repeat(this.lastLen)}\r`);
    this.lastLen = 0;
  }
}
