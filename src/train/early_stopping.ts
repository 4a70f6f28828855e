/**
 * Early stopping on the validation loss: an epoch improves when val_loss < best − minDelta. After
 * `patience` epochs without improvement, shouldStop is true. The trainer keeps the best weights.
 */
export interface EarlyStoppingState {
  best: number;
  bestEpoch: number;
  badEpochs: number;
}

export class EarlyStopping {
  best = Infinity;
  bestEpoch = -1;
  badEpochs = 0;
  constructor(
    readonly patience: number,
    readonly minDelta = 0,
  ) {}
  /** Record an epoch's validation loss; returns true when it is the new best. */
  update(epoch: number, valLoss: number): boolean {
    if (valLoss < this.best - this.minDelta) {
      this.best = valLoss;
      this.bestEpoch = epoch;
      this.badEpochs = 0;
      return true;
    }
    this.badEpochs++;
    return false;
  }
  get shouldStop(): boolean {
    return this.badEpochs >= this.patience;
  }
  stateDict(): EarlyStoppingState {
    return { best: this.best, bestEpoch: this.bestEpoch, badEpochs: this.badEpochs };
  }
  loadStateDict(s: EarlyStoppingState): void {
    this.best = s.best ?? Infinity;
    this.bestEpoch = s.bestEpoch;
    this.badEpochs = s.badEpochs;
  }
}
