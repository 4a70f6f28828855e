/**
 * Loading and exporting state dicts between modules and weights files (torchvision key names).
 * Loading writes into the existing GPU tensors; problems are collected and reported together.
 */
import { Tensor, shapeStr } from '../autograd/tensor';
import type { NamedTensor } from './weights/types';
import { Module, ScalarState, describeShape } from './module';
import { assertFiniteWeights } from './finite';

export interface LoadReport {
  loaded: string[];
  missing: string[];
  unexpected: string[];
  /** "key: file [a, b] vs model [c, d]" */
  mismatched: string[];
}

export class StateDictError extends Error {
  constructor(source: string, report: LoadReport) {
    const parts: string[] = [];
    const list = (title: string, keys: string[]) => {
      if (keys.length) parts.push(`  ${title} (${keys.length}): ${keys.slice(0, 20).join(', ')}${keys.length > 20 ? `, … ${keys.length - 20} more` : ''}`);
    };
    list('wrong shape', report.mismatched);
    list('missing from the file', report.missing);
    list('unexpected in the file', report.unexpected);
    super(
      `${source}: the weights do not match the model.\n${parts.join('\n')}\n` +
        `  Check --arch and that the file holds a state_dict for it (torchvision key names such as layer1.0.conv1.weight).`,
    );
    this.name = 'StateDictError';
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Copy `tensors` into the module. With strict (the default), any missing, unexpected or wrongly shaped
 * key throws one StateDictError listing all of them, before anything is written. Non-strict loads what
 * matches and reports the rest. A tensor to be loaded that holds NaN or Inf throws NonFiniteWeightsError
 * (naming every such tensor), also before anything is written, unless `allowNonFinite`.
 */
export function loadStateDict(module: Module, tensors: Map<string, NamedTensor>, opts: { strict?: boolean; source?: string; allowNonFinite?: boolean } = {}): LoadReport {
  const strict = opts.strict ?? true;
  const report = checkStateDict(module, tensors);
  if (strict && (report.missing.length || report.unexpected.length || report.mismatched.length)) {
    throw new StateDictError(opts.source ?? 'state_dict', report);
  }
  const bad = new Set(report.mismatched.map((m) => m.slice(0, m.indexOf(':'))));
  if (!opts.allowNonFinite) {
    const own = module.stateDict();
    assertFiniteWeights(opts.source ?? 'state_dict', tensors, (k) => own.has(k) && !bad.has(k));
  }
  for (const [key, target] of module.stateDict()) {
    const src = tensors.get(key);
    if (!src || bad.has(key)) continue;
    if (target instanceof ScalarState) target.value = Number(src.data[0]);
    else {
      const data = src.data instanceof Float32Array ? src.data : Float32Array.from(src.data, Number);
      target.rt.write(target.buffer, data);
    }
    report.loaded.push(key);
  }
  return report;
}

/** Compare a file's tensors with the module's keys and shapes, writing nothing. */
export function checkStateDict(module: Module, tensors: Map<string, NamedTensor>): LoadReport {
  const own = module.stateDict();
  const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [] };
  for (const [key, target] of own) {
    const src = tensors.get(key);
    if (!src) {
      report.missing.push(key);
      continue;
    }
    const ok = target instanceof Tensor ? sameShape(src.shape, target.shape) : src.shape.length === 0 || (src.shape.length === 1 && src.shape[0] === 1);
    if (!ok) report.mismatched.push(`${key}: file ${shapeStr(src.shape)} vs model ${describeShape(target)}`);
  }
  for (const key of tensors.keys()) if (!own.has(key)) report.unexpected.push(key);
  return report;
}

/** Read every parameter and buffer back to the CPU, as F32 (and I64 for num_batches_tracked). */
export async function exportStateDict(module: Module): Promise<Map<string, NamedTensor>> {
  const out = new Map<string, NamedTensor>();
  const entries = [...module.stateDict()];
  const values = await Promise.all(entries.map(([, v]) => (v instanceof Tensor ? v.toArray() : Promise.resolve(null))));
  entries.forEach(([k, v], i) => {
    if (v instanceof ScalarState) out.set(k, { dtype: 'I64', shape: [], data: BigInt64Array.of(BigInt(v.value)) });
    else out.set(k, { dtype: 'F32', shape: [...(v as Tensor).shape], data: values[i]! });
  });
  return out;
}
