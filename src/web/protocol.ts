/** The messages between the page (main.ts) and the training worker (worker.ts). */
import { withRecipeDefaults, type TrainConfig } from '../train/config';
import type { PickedFile } from '../train/data/files.browser';
import type { RGBImage } from '../train/data/image';
import type { EpochRow } from '../train/report';
import type { CompileProgress, Progress } from '../train/trainer';
import type { Summary } from '../train/run_report';

/** Where the images come from: the built-in demo (drawn in the worker) or a folder the user picked. */
export type DataSpec = { kind: 'demo' } | { kind: 'folder'; root: string; files: PickedFile[] };

/**
 * What a run was trained on, so that a saved run is only resumed (or its results shown) for the same data:
 * the folder's name, its classes, its image count and a hash of its image files' paths and sizes.
 */
export interface DataIdentity {
  root: string;
  classes: string[];
  images: number;
  fingerprint: string;
}

export interface RunRequest {
  type: 'start';
  /** Names the run's storage: one slot per data source ("demo", or "folder:" and the folder's name). */
  run: string;
  /** The data's identity: a resume checks it against the saved run's. */
  identity: DataIdentity;
  data: DataSpec;
  config: TrainConfig;
  weights: { name: string; bytes: Uint8Array } | null;
  /** Use only the first N images of each class in each split (a quick trial); null: all. */
  limitPerClass: number | null;
  /** Continue from the run's checkpoint (its saved config is used) instead of starting afresh. */
  resume: boolean;
}

/** The Web Lock a tab's worker holds while it trains run `run`, so that no other tab resumes or restarts it meanwhile. */
export function runLockName(run: string): string {
  return `webgpu-resnet run ${run}`;
}

export type ToWorker = RunRequest | { type: 'stop' };

/** What the page keeps of a run (saved as run.json beside the checkpoint). */
export interface RunInfo {
  run: string;
  data: 'demo' | 'folder';
  /** Absent in runs saved before identities were kept: such a run is not resumed. */
  identity?: DataIdentity;
  config: TrainConfig;
  weights: string | null;
  limitPerClass: number | null;
}

export interface Thumbnail {
  index: number;
  /** The file's path in the picked folder (or the demo's name for it). */
  path: string;
  label: string;
  predicted: string;
  /** The softmax probability of the predicted class. */
  confidence: number;
  image: RGBImage;
}

/** A finished run's view, saved beside its outputs so that a reloaded page shows it again (RESULTS + THUMBNAILS). */
export interface SavedResults {
  summary: Summary;
  history: EpochRow[];
  /** The thumbnails without their pixels, which are concatenated in THUMBNAILS. */
  thumbnails: Omit<Thumbnail, 'image'>[];
  sizes: [number, number][];
}
export const RESULTS = 'results.json';
export const THUMBNAILS = 'thumbnails.rgb';
export const RUN_INFO = 'run.json';

/** A saved run.json; its config gets the recipe's values for settings added since it was saved (a run saved before optimizers could be chosen trained SGD + StepLR). */
export function parseRunInfo(bytes: Uint8Array): RunInfo {
  const info = JSON.parse(new TextDecoder().decode(bytes)) as RunInfo;
  return { ...info, config: withRecipeDefaults(info.config) };
}
export const CHECKPOINT = 'checkpoint.safetensors';

export type FromWorker =
  | { type: 'adapter'; name: string; description: string; fallback: boolean }
  | { type: 'log'; line: string }
  | { type: 'dataset'; description: string; classes: string[]; trainImages: number }
  | { type: 'started'; info: RunInfo; resumed: boolean; history: EpochRow[] }
  | { type: 'progress'; progress: Progress }
  | { type: 'compile'; progress: CompileProgress }
  | { type: 'compiled'; phase: Progress['phase']; pipelines: number; seconds: number }
  | { type: 'phaseEnd'; phase: Progress['phase'] }
  | { type: 'epoch'; row: EpochRow; history: EpochRow[] }
  | { type: 'file'; name: string; data: Uint8Array }
  | { type: 'stopped' }
  | { type: 'done'; summary: Summary; thumbnails: Thumbnail[] }
  | { type: 'error'; name: string; message: string };

/** The outputs the page offers for download, mirrored from the worker's store as they are written. */
export const DOWNLOADS = ['best.safetensors', 'metrics.csv', 'steps.csv', 'summary.json', 'loss.svg', 'accuracy.svg'] as const;
