/**
 * Loading torchvision weights into a ResNet whose head may differ: the recipe replaces fc by
 * Sequential(Dropout, Linear(512, classes)), so ImageNet's fc.weight / fc.bias are dropped (and said so),
 * while every backbone key must match exactly.
 */
import type { NamedTensor } from './weights/types';
import { shapeStr } from '../autograd/tensor';
import { checkStateDict, loadStateDict, StateDictError, type LoadReport } from './state';
import type { ResNet } from './resnet';
import { describeShape } from './module';
import { adaptStateDict } from './weights/compat';

export interface PretrainedReport extends LoadReport {
  /** Human-readable lines to print. */
  messages: string[];
}

export function loadPretrained(model: ResNet, fileTensors: Map<string, NamedTensor>, source: string): PretrainedReport {
  // A DataParallel prefix or missing batch-norm counters are fixed first, so the head is found by its key.
  const { tensors, notes } = adaptStateDict(fileTensors, source);
  const own = model.stateDict();
  const isHead = (k: string) => k === 'fc' || k.startsWith('fc.');
  const fileHead = [...tensors.keys()].filter(isHead);
  const modelHead = [...own.keys()].filter(isHead);
  const headMatches = fileHead.length === modelHead.length && modelHead.every((k) => {
    const f = tensors.get(k);
    const m = own.get(k);
    return f && m && 'shape' in m && shapeStr(f.shape) === shapeStr(m.shape);
  });
  if (headMatches) {
    const r = loadStateDict(model, tensors, { source });
    return { ...r, notes, messages: [...notes, `${source}: loaded all ${r.loaded.length} tensors`] };
  }
  // The file's head does not fit this model: load the backbone strictly and keep our head's initialisation.
  const backbone = new Map([...tensors].filter(([k]) => !isHead(k)));
  const check = checkStateDict(model, backbone);
  const backboneMissing = check.missing.filter((k) => !isHead(k));
  if (backboneMissing.length || check.unexpected.length || check.mismatched.length) {
    throw new StateDictError(source, { ...check, missing: backboneMissing });
  }
  const r = loadStateDict(model, backbone, { strict: false, source });
  const dropped = fileHead.map((k) => `${k} ${shapeStr(tensors.get(k)!.shape)}`);
  const fileWeight = fileHead.map((k) => tensors.get(k)!).find((t) => t.shape.length === 2);
  const classes = fileWeight ? `${fileWeight.shape[0]} classes in the file, ${model.numClasses} in this model (from the data); ` : '';
  const messages = [
    ...notes,
    `${source}: loaded ${r.loaded.length} backbone tensors`,
    `  the file's head (${dropped.join(', ') || 'none'}) does not fit this model's head ` +
      `(${modelHead.map((k) => `${k} ${describeShape(own.get(k)!)}`).join(', ')}): ${classes}` +
      `it was dropped, and the new head keeps its seeded initialisation`,
  ];
  return { ...r, notes, messages };
}
