/** torch.optim.lr_scheduler.StepLR: lr = base_lr · gamma^floor(epoch / step_size), stepped once per epoch. */
export class StepLR {
  /** Number of step() calls so far (PyTorch's last_epoch). */
  lastEpoch = 0;
  constructor(
    readonly baseLr: number,
    readonly stepSize: number,
    readonly gamma = 0.1,
  ) {
    if (!(stepSize >= 1)) throw new Error(`StepLR: stepSize must be ≥ 1, got ${stepSize}`);
  }
  /** The learning rate for the current epoch. */
  get lr(): number {
    return this.baseLr * this.gamma ** Math.floor(this.lastEpoch / this.stepSize);
  }
  step(): number {
    this.lastEpoch++;
    return this.lr;
  }
  stateDict(): { lastEpoch: number } {
    return { lastEpoch: this.lastEpoch };
  }
  loadStateDict(s: { lastEpoch: number }): void {
    this.lastEpoch = s.lastEpoch;
  }
}
