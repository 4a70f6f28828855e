import { compileLine } from '../train/compile_status';

export { compileLine };

/** A one-line progress bar and status lines for a terminal; on a non-terminal they print a line every few updates. */
export interface ProgressState {
  done: number;
  total: number;
  loss: number | null;
  /** null: not measured yet. */
  imagesPerSecond: number | null;
  etaSeconds: number | null;
}

export function formatDuration(s: number | null): string {
  if (s === null || !Number.isFinite(s) || s < 0) return '--:--';
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const ss = String(Math.floor(s % 60)).padStart(2, '0');
  return h ? `${h}:${String(m % 60).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/**
 * One status line on a stream: rewritten in place on a terminal; on a non-terminal, a line is printed every
 * `every` updates, for every update marked `last`, and by `end(true)` where the latest was not.
 */
export class StatusLine {
  private lastLen = 0;
  private updates = 0;
  /** A non-terminal's latest line, where it was not printed. */
  private unprinted: string | null = null;
  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly every = 10,
  ) {}

  show(line: string, last = false): void {
    if (this.stream.isTTY) {
      this.stream.write(`\r${line}${' '.repeat(Math.max(0, this.lastLen - line.length))}`);
      this.lastLen = line.length;
    } else if (++this.updates % this.every === 0 || last) {
      this.stream.write(line + '\n');
      this.unprinted = null;
    } else this.unprinted = line;
  }

  /**
   * Clear the line (a summary line is printed in its place). `flush`: on a non-terminal, print the latest line
   * first where it was not printed.
   */
  end(flush = false): void {
    if (this.stream.isTTY && this.lastLen) this.stream.write(`\r${' '.repeat(this.lastLen)}\r`);
    else if (flush && this.unprinted !== null) this.stream.write(this.unprinted + '\n');
    this.unprinted = null;
    this.lastLen = 0;
  }
}


/**
 * Shows the compile of a model's pipelines: `compiling kernels 12/52` while it runs (on a non-terminal, the
 * first line only), then `compiled 52 kernels in 9.3 s`.
 */
export class CompileStatus {
  private readonly line: StatusLine;
  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.line = new StatusLine(stream, Infinity);
  }

  update(done: number, total: number): void {
    this.line.show(compileLine(done, total), done === 0);
  }

  end(pipelines: number, seconds: number): void {
    this.line.end();
    this.stream.write(`compiled ${pipelines} kernel${pipelines === 1 ? '' : 's'} in ${seconds.toFixed(1)} s\n`);
  }
}

export class ProgressBar {
  private readonly line: StatusLine;
  constructor(
    private readonly label: string,
    stream: NodeJS.WriteStream = process.stderr,
    every = 10,
  ) {
    this.line = new StatusLine(stream, every);
  }

  render(p: ProgressState, width = 24): string {
    const frac = p.total ? Math.min(1, p.done / p.total) : 0;
    const full = Math.round(frac * width);
    const bar = '█'.repeat(full) + '░'.repeat(width - full);
    const loss = p.loss === null ? '   …  ' : p.loss.toFixed(4);
    return `${this.label} ${bar} ${p.done}/${p.total} loss ${loss} ${p.imagesPerSecond === null ? '  …' : p.imagesPerSecond.toFixed(1)} img/s ETA ${formatDuration(p.etaSeconds)}`;
  }

  update(p: ProgressState): void {
    this.line.show(this.render(p));
  }

  /**
   * Clear the bar's line (a summary line is printed in its place); on a non-terminal, print its final state where
   * the latest update was not printed (a phase's last numbers come with its last update).
   */
  end(): void {
    this.line.end(true);
  }
}
