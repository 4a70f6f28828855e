/**
 * How messages name settings and actions. A library user sets config fields and calls methods ('fields',
 * the default), the command line has flags ('flags'), and the browser page has form fields and buttons
 * ('page'). The wording is chosen once per process (or worker) by its entry point: the CLIs choose
 * 'flags', the page and its worker 'page'. Library code (train, nn, gpu, autograd) never names a CLI flag
 * itself: it asks this module. It sits below every layer (gpu included) and imports nothing.
 */

export type Wording = 'fields' | 'flags' | 'page';

let current: Wording = 'fields';

/** Choose the wording for this process (or worker); returns the previous one (to restore it in tests). */
export function useWording(w: Wording): Wording {
  const was = current;
  current = w;
  return was;
}

/** The wording in use. */
export function wording(): Wording {
  return current;
}

/** `imgSize` → `img-size`: a config key as the CLI flag (without dashes) and the page's field name. */
export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`);
}

/** A TrainConfig key as messages name it: `imgSize` (fields), `--img-size` (flags), `img-size` (the page's field). */
export function setting(key: string, w: Wording = current): string {
  return w === 'flags' ? `--${kebab(key)}` : w === 'page' ? kebab(key) : key;
}

/**
 * A setting with its value: `imgSize 32`, `--img-size 32`, `img-size 32`. A boolean setting is on or off:
 * `flip false`, `--no-flip` (the CLI's switches `--x` / `--no-x`), `flip off`.
 */
export function settingIs(key: string, value: string | number | boolean, w: Wording = current): string {
  if (typeof value === 'boolean') {
    if (w === 'flags') return `--${value ? '' : 'no-'}${kebab(key)}`;
    if (w === 'page') return `${kebab(key)} ${value ? 'on' : 'off'}`;
  }
  return `${setting(key, w)} ${value}`;
}

/** Actions and things that only the CLI names by a flag, in each wording. */
const PHRASES = {
  /** "stopped: X holds the progress; …" */
  continueRun: {
    flags: 'continue with --resume',
    fields: 'continue with trainer.resume()',
    page: 'press Resume to continue',
  },
  /** "Resume with the checkpoint's settings and data, or …." */
  newRunElsewhere: {
    flags: 'start a new run in another --out',
    fields: 'start a new run with another output store',
    page: 'press Train to start a new run (it replaces the saved one)',
  },
  /** After a divergence without a good checkpoint: "…; …." */
  restartLowerLr: {
    flags: 'start again with a lower --lr (and --overwrite, or another --out)',
    fields: 'start again with a lower lr (with another output store, or after clearing this one)',
    page: 'press Train to start again with a lower lr',
  },
  /** After a divergence with a good checkpoint: "…is finite; …." */
  lowerLrOrResume: {
    flags: 'try a lower --lr, or resume with --resume after changing it',
    fields: 'try a lower lr, or resume from it (trainer.resume()) with a config that has the lower lr',
    page: 'press Train to start again with a lower lr (Resume would keep the saved lr)',
  },
  /** "X: not a checkpoint written by this trainer (no checkpoint metadata); …" */
  notACheckpoint: {
    flags: 'start without --resume or pick another --out',
    fields: 'start without trainer.resume() or use another output store',
    page: 'press Train to start a new run',
  },
  /** A checkpoint of other classes: "Use the data it was trained on, …." */
  otherClassesNewRun: {
    flags: 'or, for --resume, another --out to start a new run',
    fields: 'or, to resume, another output store to start a new run',
    page: 'or press Train to start a new run',
  },
  /** Weights that do not fit the model: "  … and that the file holds a state_dict for it". */
  checkArch: {
    flags: 'Check --arch',
    fields: "Check the model's architecture",
    page: 'Check the arch field',
  },
  /** A split without a decodable image: "Fix or remove those files, or …." */
  otherDataFolder: {
    flags: 'point --data at another folder',
    fields: 'load another folder',
    page: 'pick another folder',
  },
  /** GPU out of memory or over a device limit: "…: …." */
  smallerWork: {
    flags: 'try a smaller --batch-size or --img-size',
    fields: 'try a smaller batch or image size',
    page: 'try a smaller batch-size or img-size',
  },
  /** The device was lost: "Nothing more can run on it; …." */
  restartDevice: {
    flags: 'restart the process (training resumes from the last checkpoint with --resume)',
    fields: 'start a new runtime with initGpu(), or restart the process (a Trainer continues from its last checkpoint with trainer.resume())',
    page: 'reload the page (Resume continues from the last checkpoint)',
  },
  /** An output folder in use or unusable: "…, or …". */
  otherOutputFolder: {
    flags: 'choose another --out',
    fields: 'choose another output folder',
    page: 'choose another output folder',
  },
  /** Why an earlier run's files are removed: "cannot remove X (…)". */
  removingRunFiles: {
    flags: '--overwrite',
    fields: "removing the earlier run's files",
    page: "removing the earlier run's files",
  },
} satisfies Record<string, Record<Wording, string>>;

export type Phrase = keyof typeof PHRASES;

/** One of the phrases above, in the wording in use (or `w`). */
export function phrase(name: Phrase, w: Wording = current): string {
  return PHRASES[name][w];
}

/** Every phrase's name (tests check each in each wording). */
export const PHRASE_NAMES = Object.keys(PHRASES) as Phrase[];

/** How messages name an output folder: `--out runs/x` (flags), `the output folder runs/x` (otherwise). */
export function outputFolder(dir: string, w: Wording = current): string {
  return w === 'flags' ? `--out ${dir}` : `the output folder ${dir}`;
}
