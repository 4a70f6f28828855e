/**
 * Checkpoints: one safetensors file holding the model's state_dict (keys "model.<torchvision key>"), the
 * optimizer's state tensors (SGD's momentum buffer as "optim.<param index>", as before Adam existed; any other
 * as "optim.<param index>.<torch's name>", e.g. "optim.3.exp_avg") and, as JSON metadata, the optimizer's
 * param groups and step counts and the trainer's state. Written through an OutputStore, which replaces the
 * file atomically.
 *
 * The trainer's state may hold non-finite numbers (a validation loss of NaN or Infinity): JSON has none, so
 * they are written as {"$number": "NaN" | "Infinity" | "-Infinity"} and read back as numbers.
 */
import type { Module } from '../nn/module';
import type { NamedTensor } from '../nn/weights/types';
import { exportStateDict, loadStateDict } from '../nn/state';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../nn/weights/safetensors';
import { phrase } from '../wording';
import { assertFiniteWeights } from '../nn/finite';
import type { Optimizer, OptimizerStateDict, StateValue } from './optimizer';
import { Tensor } from '../autograd/tensor';

export const CHECKPOINT_FORMAT = 'webgpu-resnet-checkpoint-v1';

/** JSON.stringify that keeps NaN and ±Infinity (as {"$number": "NaN"}), for the trainer's state. */
export function stringifyState(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? { $number: String(v) } : v));
}

/** The inverse of stringifyState. */
export function parseState<T>(text: string): T {
  return JSON.parse(text, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      const n = (v as { $number?: unknown }).$number;
      if (keys.length === 1 && (n === 'NaN' || n === 'Infinity' || n === '-Infinity')) return Number(n);
    }
    return v;
  }) as T;
}

/** The checkpoint key of a state tensor: SGD's momentum buffer keeps the key it had before other optimizers. */
const optimKey = (index: string, name: string) => (name === 'momentum_buffer' ? `optim.${index}` : `optim.${index}.${name}`);

/**
 * Every tensor of a checkpoint, read back from the GPU: "model.<key>" and the optimizer's state tensors
 * ("optim.<param index>[.<name>]"). The trainer checks these for NaN/Inf before anything is written, and reuses
 * the model's part as the best weights.
 */
export async function checkpointTensors(model: Module, optimizer: Optimizer): Promise<Map<string, NamedTensor>> {
  const tensors = new Map<string, NamedTensor>();
  for (const [k, v] of await exportStateDict(model)) tensors.set(`model.${k}`, v);
  const entries = Object.entries(optimizer.stateDict().state).flatMap(([i, s]) =>
    Object.entries(s).flatMap(([name, v]) => (v instanceof Tensor || v instanceof Float32Array ? [{ key: optimKey(i, name), v }] : [])),
  );
  const data = await Promise.all(entries.map(({ v }) => (v instanceof Tensor ? v.toArray() : Promise.resolve(v))));
  entries.forEach(({ key, v }, j) => tensors.set(key, { dtype: 'F32', shape: v instanceof Tensor ? [...v.shape] : [data[j].length], data: data[j] }));
  return tensors;
}

/** The optimizer's metadata: its param groups, and the state that is not a tensor (Adam's step counts) by parameter index. */
function optimizerMetadata(optimizer: Optimizer): string {
  const { state, param_groups } = optimizer.stateDict();
  const scalars: Record<string, Record<string, number>> = {};
  for (const [i, s] of Object.entries(state)) {
    for (const [name, v] of Object.entries(s)) if (typeof v === 'number') (scalars[i] ??= {})[name] = v;
  }
  return JSON.stringify(Object.keys(scalars).length ? { param_groups, state: scalars } : { param_groups });
}

/** The model's state_dict inside checkpoint tensors ("model." removed). */
export function modelPart(tensors: Map<string, NamedTensor>): Map<string, NamedTensor> {
  const out = new Map<string, NamedTensor>();
  for (const [k, v] of tensors) if (k.startsWith('model.')) out.set(k.slice(6), v);
  return out;
}

/** The checkpoint file's bytes from checkpointTensors, the optimizer's hyper-parameters and the trainer's state. */
/** `metadata`: extra __metadata__ entries (the trainer adds arch, classes, img_size, mean and std for predict.js). */
export function encodeCheckpointTensors(tensors: Map<string, NamedTensor>, optimizer: Optimizer, trainerState: unknown, metadata: Record<string, string> = {}): Uint8Array {
  return writeSafetensors(tensors, { ...metadata, format: CHECKPOINT_FORMAT, optimizer: optimizerMetadata(optimizer), trainer: stringifyState(trainerState) });
}

export async function encodeCheckpoint(model: Module, optimizer: Optimizer, trainerState: unknown, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  return encodeCheckpointTensors(await checkpointTensors(model, optimizer), optimizer, trainerState, metadata);
}

/**
 * Restore model and optimizer from a checkpoint; returns the trainer's state. Refuses NaN/Inf weights or
 * optimizer state. Reads the checkpoints written before Adam (SGD's buffers as "optim.<i>", no step counts).
 */
export function decodeCheckpoint<T>(bytes: Uint8Array, source: string, model: Module, optimizer: Optimizer): T {
  const meta = readSafetensorsMetadata(bytes, source);
  if (meta.format !== CHECKPOINT_FORMAT || !meta.trainer || !meta.optimizer) {
    throw new Error(`${source}: not a checkpoint written by this trainer (no checkpoint metadata); ${phrase('notACheckpoint')}`);
  }
  const tensors = readSafetensors(bytes, source);
  assertFiniteWeights(source, tensors);
  const modelTensors = modelPart(tensors);
  const saved = JSON.parse(meta.optimizer) as Pick<OptimizerStateDict, 'param_groups'> & { state?: Record<string, Record<string, number>> };
  const state: Record<string, Record<string, StateValue>> = {};
  for (const [i, s] of Object.entries(saved.state ?? {})) state[i] = { ...s };
  for (const [k, v] of tensors) {
    const m = /^optim\.(\d+)(?:\.(\w+))?$/.exec(k);
    if (m) (state[m[1]] ??= {})[m[2] ?? 'momentum_buffer'] = v.data as Float32Array;
  }
  loadStateDict(model, modelTensors, { source });
  optimizer.loadStateDict({ state, param_groups: saved.param_groups });
  return parseState<T>(meta.trainer);
}
