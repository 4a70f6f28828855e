/**
 * The hyper-parameter form: one field per TrainConfig key, labelled with the CLI's flag name, holding
 * the recipe's defaults (RECIPE_DEFAULTS, plus DEMO_OVERRIDES for the demo, as the CLI does). Fields the
 * user edits keep their value when the data source changes. The optimizer and schedule settings sit in a
 * collapsible group (GROUPS). arch, optimizer and scheduler are selects;
 * picking adamw gives weight-decay AdamW's default (1e-2) unless the user set one, as the CLI does. `read()`
 * checks with validateConfig and throws a FieldError naming the field, which `markInvalid` marks
 * (aria-invalid) and focuses. The precision field offers f16 only where the page's adapter has shader-f16
 * (`precisionSupport`); elsewhere it is disabled at f32 with a note saying why.
 */
import { ConfigError, DEMO_OVERRIDES, FINE_TUNING_KEYS, OPTIMIZERS, PRECISIONS, RECIPE_DEFAULTS, SCHEDULERS, defaultWeightDecay, formatSetting, parseRange, parseTrainLayers, validateConfig, type OptimizerName, type TrainConfig } from '../train/config';
import { RESNET_LAYERS } from '../nn/resnet';
import { setting } from '../wording';

type Key = keyof TrainConfig;

/** A form value that is not valid: `key` names the field (null: a field outside the config form). */
export class FieldError extends ConfigError {
  constructor(key: Key | null, message: string) {
    super(message, key);
    this.name = 'FieldError';
  }
}

const HELP: Record<Key, string> = {
  arch: 'architecture',
  imgSize: 'crop size in pixels',
  batchSize: 'images per step',
  optimizer: 'sgd (the recipe), adam or adamw',
  lr: 'learning rate (onecycle: its peak)',
  momentum: 'SGD momentum',
  weightDecay: 'weight decay (adamw: decoupled, default 0.01)',
  gradClip: 'largest global L2 norm of the gradients (0: no clipping)',
  scheduler: 'step (the recipe), cosine (per epoch) or onecycle (per batch)',
  stepSize: 'StepLR period in epochs',
  gamma: 'StepLR factor',
  warmupEpochs: 'epochs of linear warm-up from 0.01·lr before step or cosine (0: none)',
  patience: 'early stopping: epochs without a better validation loss',
  minDelta: 'early stopping: smallest improvement that counts',
  maxEpochs: 'most epochs to train',
  dropout: 'dropout before the new fc layer',
  labelSmoothing: 'label smoothing ε',
  seed: 'seeds initialisation, shuffling, augmentation and dropout',
  split: 'train,val,test fractions for a folder without train/val/test',
  augment: 'training augmentation: standard (random resized crop and flip) or none (resize and center crop, as evaluation)',
  cropScale: "random resized crop: area range min,max as fractions of the image's",
  cropRatio: 'random resized crop: aspect-ratio range min,max (width/height; a/b fractions allowed)',
  flip: 'random horizontal flip in training',
  trainLayers: `layers that train, such as layer4,fc or fc (head only; the rest frozen), or all (of ${RESNET_LAYERS.join(', ')})`,
  freezeBn: 'batch norm in eval mode while training: running statistics fixed',
  precision: 'f32, or f16: mixed precision (float16 activations, float32 weights and loss, dynamic loss scaling); needs shader-f16',
};


/** How the page offers the precision field, given its adapter's features (null: not known yet). */
export interface PrecisionSupport {
  /** Whether f16 can be chosen: the adapter has shader-f16. */
  f16: boolean;
  /** Shown beside the field when f16 cannot be chosen ('' otherwise). */
  note: string;
}

/** f16 is offered only on an adapter with shader-f16; the note names the adapter that lacks it. */
export function precisionSupport(features: ReadonlySet<string> | null, adapter: string): PrecisionSupport {
  if (!features) return { f16: false, note: 'f32 only until a WebGPU adapter is found (f16 needs shader-f16)' };
  if (features.has('shader-f16')) return { f16: true, note: '' };
  return { f16: false, note: `f32 only: this adapter (${adapter}) lacks shader-f16, which f16 needs` };
}

/** A config key's field name on the page (the CLI flag without its dashes), as the page's wording names it in messages. */
export function fieldName(key: Key): string {
  return setting(key, 'page');
}

function defaults(demo: boolean): TrainConfig {
  return { ...RECIPE_DEFAULTS, split: [...RECIPE_DEFAULTS.split] as TrainConfig['split'], ...(demo ? DEMO_OVERRIDES : {}) };
}

/** The fields that are a choice among names (arch's names are the page's). */
const CHOICES: Partial<Record<Key, readonly string[]>> = { optimizer: OPTIMIZERS, scheduler: SCHEDULERS, augment: ['standard', 'none'], flip: ['on', 'off'], freezeBn: ['on', 'off'], precision: PRECISIONS };

/**
 * Settings shown in a collapsible group (closed at first, opened to show an invalid field), so that the form
 * stays short enough for a field and the error box below the form to fit on one screen. The group sits where
 * its first key comes in the config's order; its summary shows the values of its selects.
 */
const GROUPS: { title: string; keys: readonly Key[] }[] = [
  { title: 'optimizer and schedule', keys: ['optimizer', 'momentum', 'weightDecay', 'gradClip', 'scheduler', 'stepSize', 'gamma', 'warmupEpochs'] },
  { title: 'fine-tuning', keys: FINE_TUNING_KEYS },
];

function format(key: Key, c: TrainConfig): string {
  const v = c[key];
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  return formatSetting(v, key);
}

export class ConfigForm {
  private readonly fields = new Map<Key, HTMLInputElement | HTMLSelectElement>();
  private readonly edited = new Set<Key>();
  private readonly summaries: (() => void)[] = [];
  /** Whether f16 may be chosen (the adapter has shader-f16); false until the page knows its adapter. */
  private f16 = false;
  private disabled = false;
  private precisionNote: HTMLElement | null = null;

  constructor(container: HTMLElement, archNames: readonly string[]) {
    const groupBoxes = new Map<string, HTMLElement>();
    const boxOf = (key: Key): HTMLElement => {
      const g = GROUPS.find((x) => x.keys.includes(key));
      if (!g) return container;
      let box = groupBoxes.get(g.title);
      if (!box) {
        const details = document.createElement('details');
        const summary = document.createElement('summary');
        box = document.createElement('div');
        box.className = 'config';
        details.append(summary, box);
        container.append(details);
        groupBoxes.set(g.title, box);
        this.summaries.push(() => {
          const chosen = g.keys.flatMap((k) => (this.fields.get(k) instanceof HTMLSelectElement ? [this.fields.get(k)!.value] : []));
          summary.textContent = chosen.length ? `${g.title}: ${chosen.join(', ')}` : g.title;
        });
      }
      return box;
    };
    for (const key of Object.keys(RECIPE_DEFAULTS) as Key[]) {
      const label = document.createElement('label');
      label.title = HELP[key];
      const name = document.createElement('span');
      name.textContent = fieldName(key);
      let field: HTMLInputElement | HTMLSelectElement;
      const choices = key === 'arch' ? archNames : CHOICES[key];
      if (choices) {
        field = document.createElement('select');
        for (const a of choices) field.append(new Option(a, a));
      } else {
        field = document.createElement('input');
        field.type = 'text';
        field.inputMode = typeof RECIPE_DEFAULTS[key] === 'number' ? 'decimal' : 'text';
        field.size = 8;
      }
      field.name = fieldName(key);
      field.addEventListener('change', () => {
        this.edited.add(key);
        this.updateSummaries();
      });
      const help = document.createElement('small');
      help.textContent = HELP[key];
      label.append(name, field, help);
      if (key === 'precision') {
        this.precisionNote = document.createElement('small');
        this.precisionNote.id = 'precision-note';
        this.precisionNote.className = 'note';
        label.append(this.precisionNote);
        field.setAttribute('aria-describedby', 'precision-note');
      }
      boxOf(key).append(label);
      this.fields.set(key, field);
    }
    // Picking adamw gives weight-decay AdamW's default, unless the user set one.
    this.fields.get('optimizer')!.addEventListener('change', () => this.applyWeightDecayDefault());
    this.setPrecisionSupport(precisionSupport(null, ''));
  }

  /**
   * Offer f16 or not (see precisionSupport): without shader-f16 the field is disabled at f32, its f16 option
   * too, and the note says why; read() then gives f32 whatever the field shows.
   */
  setPrecisionSupport(support: PrecisionSupport): void {
    this.f16 = support.f16;
    const field = this.fields.get('precision') as HTMLSelectElement;
    for (const o of field.options) if (o.value === 'f16') o.disabled = !support.f16;
    if (!support.f16) field.value = 'f32';
    field.disabled = this.disabled || !support.f16;
    this.precisionNote!.textContent = support.note;
    this.precisionNote!.hidden = support.note === '';
  }

  private updateSummaries(): void {
    for (const update of this.summaries) update();
  }

  private applyWeightDecayDefault(): void {
    if (this.edited.has('weightDecay')) return;
    this.fields.get('weightDecay')!.value = String(defaultWeightDecay(this.fields.get('optimizer')!.value as OptimizerName));
  }

  /** The defaults for the data source, in every field the user has not edited. */
  applyDefaults(demo: boolean): void {
    const d = defaults(demo);
    for (const [key, field] of this.fields) if (!this.edited.has(key)) field.value = format(key, d);
    if (!this.f16) this.fields.get('precision')!.value = 'f32';
    this.applyWeightDecayDefault();
    this.updateSummaries();
  }

  /** Back to the defaults everywhere. */
  reset(demo: boolean): void {
    this.edited.clear();
    this.applyDefaults(demo);
  }

  /** Show a given config (a resumed run's; settings it predates show the recipe's value). */
  show(c: TrainConfig): void {
    const full = { ...RECIPE_DEFAULTS, ...c };
    for (const [key, field] of this.fields) field.value = format(key, full);
    // A group whose settings differ from the recipe's opens, so that a resumed run's choices are seen.
    for (const [key, field] of this.fields) {
      const group = field.closest('details');
      if (group && format(key, full) !== format(key, RECIPE_DEFAULTS)) group.open = true;
    }
    this.updateSummaries();
  }

  /** Set one field as if the user typed it (tests and presets). */
  set(key: Key, value: string): void {
    this.fields.get(key)!.value = value;
    this.edited.add(key);
    if (key === 'optimizer') this.applyWeightDecayDefault();
    this.updateSummaries();
  }

  /** The checked config; throws a FieldError that names the field (the first invalid one). */
  read(): TrainConfig {
    const c = defaults(false);
    const values = c as unknown as Record<Key, unknown>;
    for (const [key, field] of this.fields) {
      const raw = field.value.trim();
      if (key === 'flip' || key === 'freezeBn') values[key] = raw === 'on';
      else if (key === 'precision' && !this.f16) values[key] = 'f32'; // f16 is not offered on this adapter
      else if (key === 'arch' || CHOICES[key]) values[key] = raw;
      else if (key === 'split') c.split = raw.split(',').map((s) => parseNumber('split', s.trim())) as TrainConfig['split'];
      else if (key === 'cropScale' || key === 'cropRatio') values[key] = parseCropRange(key, raw);
      else if (key === 'trainLayers') {
        const parsed = parseTrainLayers(raw);
        if (parsed.problem) throw new FieldError(key, `${fieldName(key)}: ${parsed.problem}`);
        c.trainLayers = parsed.layers;
      }
      else values[key] = parseNumber(key, raw);
    }
    try {
      return validateConfig(c, 'page');
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      throw new FieldError(e.key, e.message);
    }
  }

  /** Mark `key`'s field invalid (aria-invalid) and focus it; every other field valid. */
  markInvalid(key: Key | null): void {
    for (const [k, f] of this.fields) {
      if (k === key) f.setAttribute('aria-invalid', 'true');
      else f.removeAttribute('aria-invalid');
    }
    if (!key) return;
    const field = this.fields.get(key)!;
    const group = field.closest('details');
    if (group) group.open = true;
    field.focus();
  }

  setDisabled(disabled: boolean): void {
    this.disabled = disabled;
    for (const [key, f] of this.fields) f.disabled = disabled || (key === 'precision' && !this.f16);
  }
}

/**
 * A plain decimal number ("32", "0.001", "1e-3", "-2"): Number() alone would also take "0x20", "0b1",
 * "0o7", "Infinity" and "" (as 0), none of which a user means as a setting.
 */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

export function parseDecimal(raw: string): number | null {
  return DECIMAL.test(raw) ? Number(raw) : null;
}

/** crop-scale / crop-ratio: two numbers (fractions a/b for the ratio). */
function parseCropRange(key: 'cropScale' | 'cropRatio', raw: string): [number, number] {
  const range = parseRange(key, raw, (p) => parseNumber(key, p));
  if (!range) throw new FieldError(key, `${fieldName(key)} needs two numbers min,max, got '${raw}'`);
  return range;
}

function parseNumber(key: Key, raw: string): number {
  const v = parseDecimal(raw);
  if (v === null || !Number.isFinite(v)) {
    const where = key === 'split' ? ' in each of its three fractions' : key === 'cropScale' || key === 'cropRatio' ? ' in each of min,max' : '';
    throw new FieldError(key, `${fieldName(key)} needs a decimal number${where}, got '${raw}'`);
  }
  return v;
}
