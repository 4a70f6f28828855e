// State dicts that PyTorch's load_state_dict accepts but whose keys differ from the model's own,
// brought to torchvision's key names without looking at the model (so a CLI can infer the
// architecture from the result). Each change comes back as a note to print.

import type { NamedTensor } from './types';

export interface AdaptedStateDict {
  tensors: Map<string, NamedTensor>;
  /** One line per change made, starting with the file's name; empty when nothing changed. */
  notes: string[];
}

/** Prefixes a wrapper adds to every key: torch.nn.DataParallel / DistributedDataParallel. */
const DATA_PARALLEL = 'module.';

/**
 * Returns the tensors as a model's load_state_dict sees them:
 * - a `module.` prefix on every key (a model saved while wrapped in DataParallel) is stripped;
 * - a training checkpoint of this project (keys `model.*` and `optim.*`) gives its `model.*` tensors;
 * - batch-norm layers without `num_batches_tracked` (files from PyTorch before 0.4.1, or written by
 *   other tools) get the counter 0, as BatchNorm's _load_from_state_dict does for such files.
 * The input map is not modified; when nothing changes it is returned as is.
 */
export function adaptStateDict(tensors: Map<string, NamedTensor>, source: string): AdaptedStateDict {
  const notes: string[] = [];
  let current = tensors;
  for (;;) {
    const keys = [...current.keys()];
    if (keys.length > 0 && keys.every((k) => k.startsWith(DATA_PARALLEL))) {
      current = new Map([...current].map(([k, t]) => [k.slice(DATA_PARALLEL.length), t]));
      notes.push(
        `${source}: every key starts with "module." (the model was saved wrapped in torch.nn.DataParallel); ` +
          `the prefix was stripped from all ${keys.length} keys`,
      );
      continue;
    }
    const model = keys.filter((k) => k.startsWith('model.'));
    if (model.length > 0 && keys.every((k) => k.startsWith('model.') || k.startsWith('optim.'))) {
      current = new Map([...current].filter(([k]) => k.startsWith('model.')).map(([k, t]) => [k.slice('model.'.length), t]));
      const dropped = keys.length - model.length;
      notes.push(
        `${source}: every key starts with "model."${dropped ? ' or "optim."' : ''} (a training checkpoint); ` +
          `using its ${model.length} model tensors${dropped ? ` and ignoring ${dropped} optimizer tensors` : ''}`,
      );
      continue;
    }
    break;
  }
  const filled = fillBatchCounters(current);
  if (filled.added.length > 0) {
    current = filled.tensors;
    const shown = filled.added.slice(0, 3).join(', ') + (filled.added.length > 3 ? `, … (${filled.added.length} in all)` : '');
    notes.push(
      `${source}: ${filled.added.length} batch-norm layer${filled.added.length === 1 ? ' has' : 's have'} no num_batches_tracked ` +
        `(${shown}), as in files from older PyTorch; set to 0, as PyTorch's load_state_dict does ` +
        '(the counter does not change any output at the default momentum)',
    );
  }
  return { tensors: current, notes };
}

/** Adds `<layer>.num_batches_tracked = 0` (int64 scalar) after each `<layer>.running_var` that lacks it. */
function fillBatchCounters(tensors: Map<string, NamedTensor>): { tensors: Map<string, NamedTensor>; added: string[] } {
  const added: string[] = [];
  const out = new Map<string, NamedTensor>();
  for (const [key, t] of tensors) {
    out.set(key, t);
    if (!key.endsWith('running_var') || !(key === 'running_var' || key.endsWith('.running_var'))) continue;
    const layer = key.slice(0, -'running_var'.length);
    const counter = `${layer}num_batches_tracked`;
    if (tensors.has(counter) || !tensors.has(`${layer}running_mean`)) continue;
    out.set(counter, { dtype: 'I64', shape: [], data: new BigInt64Array(1) });
    added.push(counter);
  }
  return { tensors: out, added };
}
