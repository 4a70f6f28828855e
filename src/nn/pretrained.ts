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

export interface PretrainedReport extends LoadReport {
  /** Human-readable lines to print. */
  messages: string[];
}

export function loadPretrained(model: ResNet, tensors: Map<string, NamedTensor>, source: string): PretrainedReport {
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
    return { ...r, messages: [`${source}: loaded all ${r.loaded.length} tensors`] };
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
  const messages = [
    `${source}: loaded ${r.loaded.length} backbone tensors`,
    `  the file's head (${dropped.join(', ') || 'none'}) does not fit this model's head ` +
      `(${modelHead.map((k) => `${k} ${describeShape(own.get(k)!)}`).join(', ')}): ` +
      `it was dropped, and the new head keeps its seeded initialisation`,
  ];
  return { ...r, messages };
}
