/**
 * Finiteness checks of weights (CPU side, on tensors already read from a file or back from the GPU):
 * a NaN or Inf in a weight or a batch-norm statistic makes every later number meaningless, so such
 * weights are refused when loaded and never written as a checkpoint or best file.
 */
import type { NamedTensor } from './weights/types';
import { WeightsFormatError } from './weights/types';

export interface NonFiniteTensor {
  key: string;
  nan: number;
  posInf: number;
  negInf: number;
  size: number;
}

/** Count the NaN and ±Inf values of one float array (integer tensors are always finite). */
export function countNonFinite(data: Float32Array | Float64Array | BigInt64Array): { nan: number; posInf: number; negInf: number } {
  let nan = 0;
  let posInf = 0;
  let negInf = 0;
  if (data instanceof BigInt64Array) return { nan, posInf, negInf };
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    // v - v is 0 for every finite number and NaN for NaN and ±Inf: one comparison per value in the common case.
    if (v - v !== 0) {
      if (v !== v) nan++;
      else if (v > 0) posInf++;
      else negInf++;
    }
  }
  return { nan, posInf, negInf };
}

/** The tensors of `tensors` (optionally only the keys in `only`) that hold a NaN or an Inf, in order. */
export function findNonFinite(tensors: Iterable<[string, { data: Float32Array | Float64Array | BigInt64Array }]>, only?: (key: string) => boolean): NonFiniteTensor[] {
  const bad: NonFiniteTensor[] = [];
  for (const [key, t] of tensors) {
    if (only && !only(key)) continue;
    const c = countNonFinite(t.data);
    if (c.nan || c.posInf || c.negInf) bad.push({ key, ...c, size: t.data.length });
  }
  return bad;
}

/** "conv1.weight (3 NaN), bn1.running_var (1 +Inf), … 12 more" */
export function describeNonFinite(bad: NonFiniteTensor[], max = 8): string {
  const one = (b: NonFiniteTensor) => {
    const parts = [b.nan && `${b.nan} NaN`, b.posInf && `${b.posInf} +Inf`, b.negInf && `${b.negInf} -Inf`].filter(Boolean);
    return `${b.key} (${parts.join(', ')} of ${b.size})`;
  };
  return bad.slice(0, max).map(one).join(', ') + (bad.length > max ? `, … ${bad.length - max} more` : '');
}

/** Weights with NaN or Inf values; the message names the file and the tensors. */
export class NonFiniteWeightsError extends WeightsFormatError {
  constructor(
    source: string,
    readonly tensors: NonFiniteTensor[],
    total: number,
    hint = 'Such weights cannot be trained or give meaningful predictions: use another file (for a run that diverged, an earlier checkpoint or its best.safetensors).',
  ) {
    super(source, `${tensors.length} of ${total} tensors hold NaN or Inf values: ${describeNonFinite(tensors)}. ${hint}`);
  }
}

/** Throw NonFiniteWeightsError when any tensor (among `only`) holds NaN or Inf. */
export function assertFiniteWeights(source: string, tensors: Map<string, NamedTensor>, only?: (key: string) => boolean): void {
  const bad = findNonFinite(tensors, only);
  if (bad.length) throw new NonFiniteWeightsError(source, bad, only ? [...tensors.keys()].filter(only).length : tensors.size);
}
