/** The messages between the page (main.ts) and the training worker (worker.ts). */
import type { TrainConfig } from '../train/config';
import type { PickedFile } from '../train/data/browser-files';
import type { RGBImage } from '../train/data/image';
import type { EpochRow } from '../train/report';
import type { Progress, Summary } from '../train/trainer';

/** Where the images come from: the built-in demo (drawn in the worker) or a folder the user picked. */
export type DataSpec = { kind: 'demo' } | { kind: 'folder'; root: string; files: PickedFile[] };

export interface RunRequest {
  type: 'start';
  /** Names the run's storage (one per dataset: "demo" or the folder's name). */
  run: string;
  data: DataSpec;
  config: TrainConfig;
  weights: { name: string; bytes: Uint8Array } | null;
  /** Use only the first N images of each class in each split (a quick trial); null: all. */
  limitPerClass: number | null;
  /** Continue from the run's checkpoint (its saved config is used) instead of starting afresh. */
  resume: boolean;
}

export type ToWorker = RunRequest | { type: 'stop' };

/** What the page keeps of a run (saved as run.json beside the checkpoint). */
export interface RunInfo {
  run: string;
  data: 'demo' | 'folder';
  config: TrainConfig;
  weights: string | null;
  limitPerClass: number | null;
}

export interface Thumbnail {
  index: number;
  label: string;
  predicted: string;
  image: RGBImage;
}

export type FromWorker =
  | { type: 'adapter'; name: string; description: string; fallback: boolean }
  | { type: 'log'; line: string }
  | { type: 'dataset'; description: string; classes: string[]; trainImages: number }
  | { type: 'started'; info: RunInfo; resumed: boolean; history: EpochRow[] }
  | { type: 'progress'; progress: Progress }
  | { type: 'phaseEnd'; phase: Progress['phase'] }
  | { type: 'epoch'; row: EpochRow; history: EpochRow[] }
  | { type: 'file'; name: string; data: Uint8Array }
  | { type: 'stopped' }
  | { type: 'done'; summary: Summary; thumbnails: Thumbnail[] }
  | { type: 'error'; name: string; message: string };

/** The outputs the page offers for download, mirrored from the worker's store as they are written. */
export const DOWNLOADS = ['best.safetensors', 'metrics.csv', 'summary.json', 'loss.svg', 'accuracy.svg'] as const;
