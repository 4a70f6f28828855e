/**
 * A seeded, stratified train/val/test split of a class-folder dataset: each class is shuffled with
 * its own stream (keyed by the class name, so adding a class leaves the others' splits alone) and
 * cut by the fractions.
 */
import { DataError } from './errors';
import { RNG_STREAM, Rng, hashString } from './rng';

export interface Sample {
  path: string;
  /** Index into the sorted class list. */
  label: number;
}

export interface SplitFractions {
  train: number;
  val: number;
  test: number;
}

export const DEFAULT_SPLIT_FRACTIONS: Readonly<SplitFractions> = { train: 0.5, val: 0.25, test: 0.25 };

export const SPLIT_NAMES = ['train', 'val', 'test'] as const;
export type SplitName = (typeof SPLIT_NAMES)[number];

export type Splits = Record<SplitName, Sample[]>;

export function checkFractions(f: SplitFractions): void {
  const values = SPLIT_NAMES.map((s) => f[s]);
  const sum = values.reduce((a, b) => a + b, 0);
  if (values.some((v) => !Number.isFinite(v) || v < 0) || Math.abs(sum - 1) > 1e-6 || f.train <= 0) {
    throw new DataError(
      `split fractions must be non-negative, sum to 1 and give train a share; got train ${f.train}, val ${f.val}, test ${f.test}`,
    );
  }
}

/**
 * How many of n samples go to each split: largest remainders, then every split with a positive
 * fraction gets at least one sample when there are enough to go round.
 */
export function splitCounts(n: number, f: SplitFractions): [number, number, number] {
  const exact = SPLIT_NAMES.map((s) => n * f[s]);
  const counts = exact.map(Math.floor);
  let left = n - counts.reduce((a, b) => a + b, 0);
  const byRemainder = [0, 1, 2].sort((a, b) => exact[b] - counts[b] - (exact[a] - counts[a]) || a - b);
  for (const i of byRemainder) {
    if (left === 0) break;
    counts[i]++;
    left--;
  }
  const wanted = [0, 1, 2].filter((i) => exact[i] > 0);
  if (n >= wanted.length) {
    for (const i of wanted) {
      if (counts[i] > 0) continue;
      const donor = [0, 1, 2].reduce((a, b) => (counts[b] > counts[a] ? b : a));
      counts[donor]--;
      counts[i]++;
    }
  }
  return [counts[0], counts[1], counts[2]];
}

/** Split `samples` (in dataset order) per class; each split keeps the dataset order. */
export function stratifiedSplit(samples: readonly Sample[], classes: readonly string[], f: SplitFractions, seed: number): Splits {
  checkFractions(f);
  const byClass: number[][] = classes.map(() => []);
  samples.forEach((s, i) => byClass[s.label].push(i));
  const splitOf = new Uint8Array(samples.length);
  classes.forEach((name, label) => {
    const members = Rng.derive(seed, RNG_STREAM.split, hashString(name)).shuffle(byClass[label]);
    const [nTrain, nVal] = splitCounts(members.length, f);
    members.forEach((i, rank) => {
      splitOf[i] = rank < nTrain ? 0 : rank < nTrain + nVal ? 1 : 2;
    });
  });
  const out: Splits = { train: [], val: [], test: [] };
  samples.forEach((s, i) => out[SPLIT_NAMES[splitOf[i]]].push(s));
  return out;
}
