/** The CLI's progress bar (src/cli/progress.ts) on a terminal and on a log file. */
import { describe, it, expect } from 'vitest';
import { ProgressBar, formatDuration } from '../src/cli/progress';

/** A stream stand-in that records what is written. */
function stream(isTTY: boolean): NodeJS.WriteStream & { text: () => string } {
  let out = '';
  return { isTTY, write: (s: string) => ((out += s), true), text: () => out } as unknown as NodeJS.WriteStream & { text: () => string };
}
const state = (done: number, loss: number | null, ips: number | null, eta: number | null) => ({ done, total: 3, loss, imagesPerSecond: ips, etaSeconds: eta });

describe('ProgressBar', () => {
  it('shows no speed or time left until one is measured', () => {
    const bar = new ProgressBar('epoch 1/2', stream(true));
    expect(bar.render(state(1, null, null, null), 6)).toBe('epoch 1/2 ██░░░░ 1/3 loss    …     … img/s ETA --:--');
    expect(bar.render(state(2, 0.69312, 12.34, 65), 6)).toBe('epoch 1/2 ████░░ 2/3 loss 0.6931 12.3 img/s ETA 1:05');
    expect(formatDuration(null)).toBe('--:--');
  });

  it('on a log file: a line every `every` updates, and the final state once when the phase ends', () => {
    const s = stream(false);
    const bar = new ProgressBar('epoch 1/2', s, 2);
    bar.update(state(1, null, null, null));
    bar.update(state(2, 0.7, 10, 5)); // the 2nd update: printed
    bar.update(state(3, 0.6, 10, 1));
    bar.update(state(3, 0.5, 9, 0)); // the last batch's own numbers: the 4th update, printed
    bar.end();
    const lines = s.text().trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/3\/3 loss 0\.5000 9\.0 img\/s ETA 0:00$/);
    // An unprinted final state is printed by end(), once.
    const t = stream(false);
    const b = new ProgressBar('val  ', t, 10);
    b.update(state(1, 0.9, 20, 2));
    b.update(state(3, 0.8, 21, 0));
    b.end();
    b.end();
    expect(t.text().trim().split('\n')).toEqual([expect.stringMatching(/3\/3 loss 0\.8000 21\.0 img\/s/)]);
  });

  it('on a terminal: rewritten in place, cleared at the end', () => {
    const s = stream(true);
    const bar = new ProgressBar('test ', s);
    bar.update(state(1, 0.9, null, null));
    bar.update(state(3, 0.8, 21, 0));
    bar.end();
    expect(s.text().startsWith('\rtest ')).toBe(true);
    expect(s.text().endsWith('\r')).toBe(true);
    expect(s.text()).not.toContain('\n');
  });
});
