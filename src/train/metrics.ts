/** Classification metrics accumulated on the CPU from read-back predictions. */
export class ConfusionMatrix {
  /** counts[true][predicted] */
  readonly counts: number[][];
  constructor(readonly numClasses: number) {
    this.counts = Array.from({ length: numClasses }, () => new Array(numClasses).fill(0));
  }
  add(truth: ArrayLike<number>, predicted: ArrayLike<number>): void {
    for (let i = 0; i < truth.length; i++) this.counts[truth[i]][predicted[i]]++;
  }
  get total(): number {
    return this.counts.reduce((s, r) => s + r.reduce((a, b) => a + b, 0), 0);
  }
  get correct(): number {
    return this.counts.reduce((s, r, i) => s + r[i], 0);
  }
  get accuracy(): number {
    return this.total ? this.correct / this.total : 0;
  }
  /** Recall per class (the fraction of each class's samples predicted correctly); null for an empty class. */
  perClassAccuracy(): (number | null)[] {
    return this.counts.map((r, i) => {
      const n = r.reduce((a, b) => a + b, 0);
      return n ? r[i] / n : null;
    });
  }
}

/** argmax over each row of an [N, C] array. */
export function argmaxRows(logits: Float32Array, n: number, c: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < c; j++) if (logits[i * c + j] > logits[i * c + best]) best = j;
    out[i] = best;
  }
  return out;
}

/** The softmax probability of each row's most likely class, for an [N, C] array of logits. */
export function softmaxMax(logits: Float32Array, n: number, c: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let j = 0; j < c; j++) m = Math.max(m, logits[i * c + j]);
    let z = 0;
    for (let j = 0; j < c; j++) z += Math.exp(logits[i * c + j] - m);
    out[i] = 1 / z;
  }
  return out;
}
