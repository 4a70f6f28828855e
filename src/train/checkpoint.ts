/**
 * Checkpoints: one safetensors file holding the model's state_dict (keys "model.<torchvision key>"), the SGD
 * momentum buffers ("optim.<param index>") and the trainer's state as JSON metadata. Written through an
 * OutputStore, which replaces the file atomically.
 */
import type { Module } from '../nn/module';
import type { NamedTensor } from '../nn/weights/types';
import { exportStateDict, loadStateDict } from '../nn/state';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../nn/weights/safetensors';
import type { SGD, SGDStateDict } from './sgd';
import { Tensor } from '../autograd/tensor';

/** `metadata`: extra __metadata__ entries (the trainer adds arch, classes, img_size, mean and std for predict.js). */
export async function encodeCheckpoint(model: Module, optimizer: SGD, trainerState: unknown, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const tensors = new Map<string, NamedTensor>();
  for (const [k, v] of await exportStateDict(model)) tensors.set(`model.${k}`, v);
  const sd = optimizer.stateDict();
  const entries = Object.entries(sd.state);
  const bufs = await Promise.all(entries.map(([, s]) => (s.momentum_buffer instanceof Tensor ? s.momentum_buffer.toArray() : Promise.resolve(s.momentum_buffer))));
  entries.forEach(([i, s], j) => {
    const data = bufs[j];
    if (data) tensors.set(`optim.${i}`, { dtype: 'F32', shape: s.momentum_buffer instanceof Tensor ? [...s.momentum_buffer.shape] : [data.length], data });
  });
  const { state: _omit, ...groups } = sd;
  return writeSafetensors(tensors, { ...metadata, format: 'webgpu-resnet-checkpoint-v1', optimizer: JSON.stringify(groups), trainer: JSON.stringify(trainerState) });
}

/** Restore model and optimizer from a checkpoint; returns the trainer's state. */
export function decodeCheckpoint<T>(bytes: Uint8Array, source: string, model: Module, optimizer: SGD): T {
  const meta = readSafetensorsMetadata(bytes, source);
  if (meta.format !== 'webgpu-resnet-checkpoint-v1' || !meta.trainer || !meta.optimizer) {
    throw new Error(`${source}: not a checkpoint written by this trainer (no checkpoint metadata); start without --resume or pick another --out`);
  }
  const tensors = readSafetensors(bytes, source);
  const modelTensors = new Map<string, NamedTensor>();
  const state: SGDStateDict['state'] = {};
  for (const [k, v] of tensors) {
    if (k.startsWith('model.')) modelTensors.set(k.slice(6), v);
    else if (k.startsWith('optim.')) state[Number(k.slice(6))] = { momentum_buffer: v.data as Float32Array };
  }
  loadStateDict(model, modelTensors, { source });
  optimizer.loadStateDict({ state, ...(JSON.parse(meta.optimizer) as Omit<SGDStateDict, 'state'>) });
  return JSON.parse(meta.trainer) as T;
}
