/**
 * Float64 closed forms of torch.optim.lr_scheduler's schedules: the lr of epoch (or step) e from the initial lr
 * alone. The schedulers themselves (src/train/scheduler.ts) use torch's chainable forms; these are independent.
 */
import type { SchedulerSpec } from './optim_cases';

type OneCycle = Extract<SchedulerSpec, { kind: 'onecycle' }>;

/** OneCycleLR's lr and momentum (or beta1) at step e for param group `group`. */
export function oneCycleRef(s: OneCycle, e: number, group = 0): { lr: number; momentum: number } {
  const max = typeof s.maxLr === 'number' ? s.maxLr : s.maxLr[group];
  const initial = max / s.divFactor;
  const min = initial / s.finalDivFactor;
  const anneal = (a: number, b: number, t: number) => (s.annealStrategy === 'cos' ? b + ((a - b) * (1 + Math.cos(Math.PI * t))) / 2 : a + (b - a) * t);
  const [lo, hi] = [s.baseMomentum, s.maxMomentum];
  // Phases: [last step, lr from, lr to, momentum from, momentum to].
  const up = s.pctStart * s.totalSteps - 1;
  const phases: [number, number, number, number, number][] = s.threePhase
    ? [[up, initial, max, hi, lo], [2 * s.pctStart * s.totalSteps - 2, max, initial, lo, hi], [s.totalSteps - 1, initial, min, hi, hi]]
    : [[up, initial, max, hi, lo], [s.totalSteps - 1, max, min, lo, hi]];
  let start = 0;
  for (let i = 0; i < phases.length; i++) {
    const [end, a, b, ma, mb] = phases[i];
    if (e <= end || i === phases.length - 1) {
      const t = (e - start) / (end - start);
      return { lr: anneal(a, b, t), momentum: anneal(ma, mb, t) };
    }
    start = end;
  }
  throw new Error('oneCycleRef: no phase');
}

/** The lr at epoch e of param group `group` whose initial lr is `base` (OneCycleLR takes its scale from maxLr instead). */
export function scheduleRef(s: SchedulerSpec, base: number, e: number, group = 0): number {
  switch (s.kind) {
    case 'step':
      return base * s.gamma ** Math.floor(e / s.stepSize);
    case 'multistep':
      return base * s.gamma ** s.milestones.filter((m) => m <= e).length;
    case 'exponential':
      return base * s.gamma ** e;
    case 'cosine':
      return s.etaMin + ((base - s.etaMin) * (1 + Math.cos((Math.PI * e) / s.tMax))) / 2;
    case 'linear':
      return base * (s.startFactor + ((s.endFactor - s.startFactor) * Math.min(e, s.totalIters)) / s.totalIters);
    case 'onecycle':
      return oneCycleRef(s, e, group).lr;
    case 'sequential': {
      const i = s.milestones.filter((m) => m <= e).length;
      return scheduleRef(s.schedulers[i], base, i === 0 ? e : e - s.milestones[i - 1], group);
    }
  }
}
