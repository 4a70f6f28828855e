/**
 * Loading and exporting state dicts between modules and weights files (torchvision key names).
 * Loading writes into the existing GPU tensors; problems are collected and reported together.
 */
import { Tensor, shapeStr } from '../autograd/tensor';
import type { NamedTensor } from './weights/types';
import { adaptStateDict } from './weights/compat';
import { Module, ScalarState, describeShape } from './module';
import { assertFiniteWeights } from './finite';
import { phrase } from '../wording';

export interface LoadReport {
  loaded: string[];
  missing: string[];
  unexpected: string[];
  /** "key: file [a, b] vs model [c, d]" */
  mismatched: string[];
  /** Changes made to the file's keys before loading (see adaptStateDict), one line each, to print. */
  notes: string[];
}

/** When only the classifier differs in size: its class count in the file and in the model. */
export interface ClassCountMismatch {
  key: string;
  fileClasses: number;
  modelClasses: number;
}

export class StateDictError extends Error {
  /** Set when the file fits the model except for the number of classes of its fc layer. */
  readonly classes: ClassCountMismatch | null;

  constructor(source: string, report: LoadReport, classes: ClassCountMismatch | null = null) {
    if (classes) {
      super(
        `${source}: the fc layer has ${classes.fileClasses} classes in the file (${classes.key} ` +
          `[${classes.fileClasses}, …]) but ${classes.modelClasses} in this model, which takes its classes from the data ` +
          `(${classes.modelClasses} class folders). Every other tensor matches, so the architecture is right: ` +
          `the file was trained on other classes. Use the data it was trained on, ${phrase('otherClassesNewRun')}.`,
      );
      this.name = 'StateDictError';
      this.classes = classes;
      return;
    }
    const parts: string[] = [];
    const list = (title: string, keys: string[]) => {
      if (keys.length) parts.push(`  ${title} (${keys.length}): ${keys.slice(0, 20).join(', ')}${keys.length > 20 ? `, … ${keys.length - 20} more` : ''}`);
    };
    list('wrong shape', report.mismatched);
    list('missing from the file', report.missing);
    list('unexpected in the file', report.unexpected);
    super(
      `${source}: the weights do not match the model.\n${parts.join('\n')}\n` +
        `  ${phrase('checkArch')} and that the file holds a state_dict for it (torchvision key names such as layer1.0.conv1.weight).`,
    );
    this.name = 'StateDictError';
    this.classes = null;
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The classifier's weight keys: a plain Linear (fc) or the recipe's Sequential(Dropout, Linear) (fc.1). */
const HEAD_WEIGHTS = ['fc.weight', 'fc.1.weight'];

/**
 * When the only differences are the classifier's output size (its weight's rows and its bias),
 * the two class counts; otherwise null.
 */
export function classCountMismatch(module: Module, tensors: Map<string, NamedTensor>, report: LoadReport): ClassCountMismatch | null {
  if (report.missing.length || report.unexpected.length || report.mismatched.length === 0) return null;
  const key = HEAD_WEIGHTS.find((k) => report.mismatched.some((m) => m.startsWith(`${k}:`)));
  if (!key) return null;
  const bias = key.replace(/weight$/, 'bias');
  if (!report.mismatched.every((m) => m.startsWith(`${key}:`) || m.startsWith(`${bias}:`))) return null;
  const file = tensors.get(key);
  const own = module.stateDict().get(key);
  if (!file || !(own instanceof Tensor) || file.shape.length !== 2 || own.shape.length !== 2 || file.shape[1] !== own.shape[1]) return null;
  return { key, fileClasses: file.shape[0], modelClasses: own.shape[0] };
}

/**
 * Copy `tensors` into the module. With strict (the default), any missing, unexpected or wrongly shaped
 * key throws one StateDictError listing all of them, before anything is written. Non-strict loads what
 * matches and reports the rest. Keys are first adapted as PyTorch would accept them (adaptStateDict:
 * a DataParallel `module.` prefix, missing num_batches_tracked); the report's notes say what changed.
 * A tensor to be loaded that holds NaN or Inf throws NonFiniteWeightsError (naming every such tensor),
 * also before anything is written, unless `allowNonFinite`.
 */
export function loadStateDict(module: Module, fileTensors: Map<string, NamedTensor>, opts: { strict?: boolean; source?: string; allowNonFinite?: boolean } = {}): LoadReport {
  const strict = opts.strict ?? true;
  const source = opts.source ?? 'state_dict';
  const tensors = adaptStateDict(fileTensors, source).tensors;
  const report = checkStateDict(module, fileTensors, source);
  if (strict && (report.missing.length || report.unexpected.length || report.mismatched.length)) {
    throw new StateDictError(source, report, classCountMismatch(module, tensors, report));
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

/** Compare a file's tensors (after adaptStateDict) with the module's keys and shapes, writing nothing. */
export function checkStateDict(module: Module, fileTensors: Map<string, NamedTensor>, source = 'state_dict'): LoadReport {
  const { tensors, notes } = adaptStateDict(fileTensors, source);
  const own = module.stateDict();
  const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [], notes };
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
