/**
 * Checkpoints: one safetensors file holding the model's state_dict (keys "model.<torchvision key>"), the SGD
 * momentum buffers ("optim.<param index>") and the trainer's state as JSON metadata. Written through an
 * OutputStore, which replaces the file atomically.
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
import type { SGD, SGDStateDict } from './sgd';
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

/**
 * Every tensor of a checkpoint, read back from the GPU: "model.<key>" and "optim.<param index>". The trainer
 * checks these for NaN/Inf before anything is written, and reuses the model's part as the best weights.
 */
export async function checkpointTensors(model: Module, optimizer: SGD): Promise<Map<string, NamedTensor>> {
  const tensors = new Map<string, NamedTensor>();
  for (const [k, v] of await exportStateDict(model)) tensors.set(`model.${k}`, v);
  const sd = optimizer.stateDict();
  const entries = Object.entries(sd.state);
  const bufs = await Promise.all(entries.map(([, s]) => (s.momentum_buffer instanceof Tensor ? s.momentum_buffer.toArray() : Promise.resolve(s.momentum_buffer))));
  entries.forEach(([i, s], j) => {
    const data = bufs[j];
    if (data) tensors.set(`optim.${i}`, { dtype: 'F32', shape: s.momentum_buffer instanceof Tensor ? [...s.momentum_buffer.shape] : [data.length], data });
  });
  return tensors;
}

/** The model's state_dict inside checkpoint tensors ("model." removed). */
export function modelPart(tensors: Map<string, NamedTensor>): Map<string, NamedTensor> {
  const out = new Map<string, NamedTensor>();
  for (const [k, v] of tensors) if (k.startsWith('model.')) out.set(k.slice(6), v);
  return out;
}

/** The checkpoint file's bytes from checkpointTensors, the optimizer's hyper-parameters and the trainer's state. */
/** `metadata`: extra __metadata__ entries (the trainer adds arch, classes, img_size, mean and std for predict.js). */
export function encodeCheckpointTensors(tensors: Map<string, NamedTensor>, optimizer: SGD, trainerState: unknown, metadata: Record<string, string> = {}): Uint8Array {
  const { state: _omit, ...groups } = optimizer.stateDict();
  return writeSafetensors(tensors, { ...metadata, format: CHECKPOINT_FORMAT, optimizer: JSON.stringify(groups), trainer: stringifyState(trainerState) });
}

export async function encodeCheckpoint(model: Module, optimizer: SGD, trainerState: unknown, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  return encodeCheckpointTensors(await checkpointTensors(model, optimizer), optimizer, trainerState, metadata);
}

/** Restore model and optimizer from a checkpoint; returns the trainer's state. Refuses NaN/Inf weights or momentum. */
export function decodeCheckpoint<T>(bytes: Uint8Array, source: string, model: Module, optimizer: SGD): T {
  const meta = readSafetensorsMetadata(bytes, source);
  if (meta.format !== CHECKPOINT_FORMAT || !meta.trainer || !meta.optimizer) {
    throw new Error(`${source}: not a checkpoint written by this trainer (no checkpoint metadata); ${phrase('notACheckpoint')}`);
  }
  const tensors = readSafetensors(bytes, source);
  assertFiniteWeights(source, tensors);
  const modelTensors = modelPart(tensors);
  const state: SGDStateDict['state'] = {};
  for (const [k, v] of tensors) if (k.startsWith('optim.')) state[Number(k.slice(6))] = { momentum_buffer: v.data as Float32Array };
  loadStateDict(model, modelTensors, { source });
  optimizer.loadStateDict({ state, ...(JSON.parse(meta.optimizer) as Omit<SGDStateDict, 'state'>) });
  return parseState<T>(meta.trainer);
}
