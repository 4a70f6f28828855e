/**
 * The hyper-parameter form: one field per TrainConfig key, labelled with the CLI's flag name, holding
 * the recipe's defaults (RECIPE_DEFAULTS, plus DEMO_OVERRIDES for the demo, as the CLI does). Fields the
 * user edits keep their value when the data source changes. `read()` checks with validateConfig.
 */
import { ConfigError, DEMO_OVERRIDES, RECIPE_DEFAULTS, validateConfig, type TrainConfig } from '../train/config';

type Key = keyof TrainConfig;

const HELP: Record<Key, string> = {
  arch: 'architecture',
  imgSize: 'crop size in pixels',
  batchSize: 'images per step',
  lr: 'SGD learning rate',
  momentum: 'SGD momentum',
  weightDecay: 'SGD weight decay',
  stepSize: 'StepLR period in epochs',
  gamma: 'StepLR factor',
  patience: 'early stopping: epochs without a better validation loss',
  minDelta: 'early stopping: smallest improvement that counts',
  maxEpochs: 'most epochs to train',
  dropout: 'dropout before the new fc layer',
  labelSmoothing: 'label smoothing ε',
  seed: 'seeds initialisation, shuffling, augmentation and dropout',
  split: 'train,val,test fractions for a folder without train/val/test',
};

/** The CLI flag of a config key, as validateConfig names it in its errors. */
export function flagName(key: Key): string {
  return key.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`);
}

function defaults(demo: boolean): TrainConfig {
  return { ...RECIPE_DEFAULTS, split: [...RECIPE_DEFAULTS.split] as TrainConfig['split'], ...(demo ? DEMO_OVERRIDES : {}) };
}

function format(key: Key, c: TrainConfig): string {
  return key === 'split' ? c.split.join(',') : String(c[key]);
}

export class ConfigForm {
  private readonly fields = new Map<Key, HTMLInputElement | HTMLSelectElement>();
  private readonly edited = new Set<Key>();

  constructor(container: HTMLElement, archNames: readonly string[]) {
    for (const key of Object.keys(RECIPE_DEFAULTS) as Key[]) {
      const label = document.createElement('label');
      label.title = HELP[key];
      const name = document.createElement('span');
      name.textContent = flagName(key);
      let field: HTMLInputElement | HTMLSelectElement;
      if (key === 'arch') {
        field = document.createElement('select');
        for (const a of archNames) field.append(new Option(a, a));
      } else {
        field = document.createElement('input');
        field.type = 'text';
        field.inputMode = key === 'split' ? 'text' : 'decimal';
        field.size = 8;
      }
      field.name = flagName(key);
      field.addEventListener('change', () => this.edited.add(key));
      const help = document.createElement('small');
      help.textContent = HELP[key];
      label.append(name, field, help);
      container.append(label);
      this.fields.set(key, field);
    }
  }

  /** The defaults for the data source, in every field the user has not edited. */
  applyDefaults(demo: boolean): void {
    const d = defaults(demo);
    for (const [key, field] of this.fields) if (!this.edited.has(key)) field.value = format(key, d);
  }

  /** Back to the defaults everywhere. */
  reset(demo: boolean): void {
    this.edited.clear();
    this.applyDefaults(demo);
  }

  /** Show a given config (a resumed run's). */
  show(c: TrainConfig): void {
    for (const [key, field] of this.fields) field.value = format(key, c);
  }

  /** Set one field as if the user typed it (tests and presets). */
  set(key: Key, value: string): void {
    this.fields.get(key)!.value = value;
    this.edited.add(key);
  }

  /** The checked config; throws a ConfigError that names the field. */
  read(): TrainConfig {
    const c = defaults(false);
    const values = c as unknown as Record<Key, unknown>;
    for (const [key, field] of this.fields) {
      const raw = field.value.trim();
      if (key === 'arch') values.arch = raw;
      else if (key === 'split') c.split = raw.split(',').map((s) => parseNumber('split', s)) as TrainConfig['split'];
      else values[key] = parseNumber(flagName(key), raw);
    }
    return validateConfig(c, 'flags');
  }

  setDisabled(disabled: boolean): void {
    for (const f of this.fields.values()) f.disabled = disabled;
  }
}

function parseNumber(flag: string, raw: string): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) throw new ConfigError(`--${flag} needs a number, got '${raw}'`);
  return v;
}
