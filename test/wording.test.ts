/**
 * Library errors name no CLI flag (issue 16): the library's messages name config fields and methods by
 * default, the CLIs choose their flags, the page its fields and buttons (src/wording.ts). CPU only: the
 * errors are built as the library builds them (the Trainer's own refusals, which need a GPU, are checked
 * in resume_checks.test.ts and data_checks.test.ts). A source scan keeps flags out of library code.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { PHRASE_NAMES, outputFolder, phrase, setting, settingIs, useWording, wording, type Wording } from '../src/wording';
import { StateDictError } from '../src/nn/state';
import { DeviceLostError, GpuOpError } from '../src/gpu/errors';
import { decodeCheckpoint } from '../src/train/checkpoint';
import { writeSafetensors } from '../src/nn/weights/safetensors';
import { ConfigError, RECIPE_DEFAULTS, validateConfig } from '../src/train/config';
import { FolderStore } from '../src/train/store.node';

const FLAG = /--[a-z]/;

afterEach(() => {
  useWording('fields');
});

/** The messages of library failures, built in wording `w`. */
function libraryMessages(w: Wording): Record<string, string> {
  const was = useWording(w);
  try {
    const report = { loaded: [], missing: ['layer4.0.conv1.weight'], unexpected: [], mismatched: [], adapted: [] };
    const classes = { key: 'fc.weight', fileClasses: 10, modelClasses: 2 };
    const notCheckpoint = writeSafetensors(new Map([['w', { dtype: 'F32' as const, shape: [1], data: new Float32Array([1]) }]]));
    let checkpointError = '';
    try {
      decodeCheckpoint(notCheckpoint, 'runs/x/checkpoint.safetensors', null as never, null as never);
    } catch (e) {
      checkpointError = (e as Error).message;
    }
    let configError = '';
    try {
      validateConfig({ ...RECIPE_DEFAULTS, imgSize: 8 });
    } catch (e) {
      configError = (e as Error).message;
    }
    return {
      stateDict: new StateDictError('w.safetensors', report as never).message,
      classes: new StateDictError('runs/x/checkpoint.safetensors', report as never, classes).message,
      oom: new GpuOpError('out-of-memory', ['conv2d'], 'Out of memory').message,
      limit: new GpuOpError('limit', ['allocate'], 'too big').message,
      lost: new DeviceLostError('unknown', 'reset').message,
      checkpoint: checkpointError,
      config: configError,
      folder: new FolderStore('runs/x').label,
    };
  } finally {
    useWording(was);
  }
}

describe('wording: library errors do not name CLI flags', () => {
  it("the library's default wording names config fields and methods, never a flag", () => {
    expect(wording()).toBe('fields');
    const m = libraryMessages('fields');
    for (const [what, text] of Object.entries(m)) expect(text, what).not.toMatch(FLAG);
    expect(m.stateDict).toMatch(/Check the model's architecture and that the file holds a state_dict/);
    expect(m.classes).toMatch(/Use the data it was trained on, or, to resume, another output store to start a new run\.$/);
    expect(m.oom).toMatch(/The GPU ran out of memory: try a smaller batch or image size\.$/);
    expect(m.lost).toMatch(/trainer\.resume\(\)/);
    expect(m.checkpoint).toMatch(/; start without trainer\.resume\(\) or use another output store$/);
    expect(m.config).toBe('imgSize must be ≥ 32, got 8');
    expect(m.folder).toBe('the output folder runs/x');
  });

  it("under 'flags' (the CLIs) the same failures read exactly as the command line's messages always did", () => {
    const m = libraryMessages('flags');
    expect(m.stateDict).toMatch(/\n {2}Check --arch and that the file holds a state_dict for it \(torchvision key names/);
    expect(m.classes).toMatch(/Use the data it was trained on, or, for --resume, another --out to start a new run\.$/);
    expect(m.oom).toBe('GPU out-of-memory error in op conv2d: Out of memory\n  The GPU ran out of memory: try a smaller --batch-size or --img-size.');
    expect(m.limit).toBe('GPU limit error in op allocate: too big\n  The work exceeds a device limit: try a smaller --batch-size or --img-size.');
    expect(m.lost).toBe('The GPU device was lost (unknown: reset). Nothing more can run on it; restart the process (training resumes from the last checkpoint with --resume).');
    expect(m.checkpoint).toBe('runs/x/checkpoint.safetensors: not a checkpoint written by this trainer (no checkpoint metadata); start without --resume or pick another --out');
    expect(m.config).toBe('--img-size must be ≥ 32, got 8');
    expect(m.folder).toBe('--out runs/x');
  });

  it("under 'page' the failures name the page's fields and buttons", () => {
    const m = libraryMessages('page');
    for (const [what, text] of Object.entries(m)) expect(text, what).not.toMatch(FLAG);
    expect(m.stateDict).toMatch(/Check the arch field/);
    expect(m.lost).toMatch(/reload the page \(Resume continues from the last checkpoint\)/);
    expect(m.checkpoint).toMatch(/; press Train to start a new run$/);
    expect(m.config).toBe('img-size must be ≥ 32, got 8');
  });

  it('every phrase and setting: a flag under flags, none under fields or page', () => {
    for (const name of PHRASE_NAMES) {
      expect(phrase(name, 'flags'), name).toMatch(FLAG);
      expect(phrase(name, 'fields'), name).not.toMatch(FLAG);
      expect(phrase(name, 'page'), name).not.toMatch(FLAG);
    }
    for (const key of Object.keys(RECIPE_DEFAULTS)) {
      expect(setting(key, 'flags')).toMatch(FLAG);
      expect(setting(key, 'fields')).toBe(key);
      expect(setting(key, 'page')).not.toMatch(FLAG);
    }
    expect([setting('maxEpochs', 'fields'), setting('maxEpochs', 'flags'), setting('maxEpochs', 'page')]).toEqual(['maxEpochs', '--max-epochs', 'max-epochs']);
    expect(outputFolder('d', 'page')).not.toMatch(FLAG);
  });

  it("a boolean setting reads as the CLI's switch under flags (--flip / --no-flip), true/false or on/off elsewhere", () => {
    expect([settingIs('flip', false, 'flags'), settingIs('freezeBn', true, 'flags')]).toEqual(['--no-flip', '--freeze-bn']);
    expect([settingIs('flip', false, 'fields'), settingIs('freezeBn', true, 'fields')]).toEqual(['flip false', 'freezeBn true']);
    expect([settingIs('flip', false, 'page'), settingIs('freezeBn', true, 'page')]).toEqual(['flip off', 'freeze-bn on']);
    expect([settingIs('cropScale', '0.5,1', 'flags'), settingIs('trainLayers', 'layer4,fc', 'page')]).toEqual(['--crop-scale 0.5,1', 'train-layers layer4,fc']);
  });

  it('a ConfigError carries the key and the problem (the page marks the field from them)', () => {
    let err: ConfigError | null = null;
    try {
      validateConfig({ ...RECIPE_DEFAULTS, lr: 0 }, 'page');
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect([err!.key, err!.problem, err!.message]).toEqual(['lr', 'must be > 0, got 0', 'lr must be > 0, got 0']);
  });
});

/** String and template-literal text of a TypeScript file (comments excluded). */
function literals(file: string): string[] {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n) || ts.isTemplateHead(n) || ts.isTemplateMiddle(n) || ts.isTemplateTail(n)) out.push(n.text);
    n.forEachChild(visit);
  };
  visit(src);
  return out;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('wording: the library source', () => {
  it("no string in src/{gpu,kernels,autograd,nn,train} names one of the CLIs' flags (src/wording.ts holds them)", () => {
    const flags = new Set(tsFiles('src/cli').flatMap((f) => literals(f).flatMap((s) => [...s.matchAll(/--([a-z][a-z-]*[a-z])/g)].map((m) => m[1]))));
    expect(flags.has('img-size') && flags.has('resume') && flags.has('out')).toBe(true);
    const found: string[] = [];
    for (const dir of ['gpu', 'kernels', 'autograd', 'nn', 'train']) {
      for (const f of tsFiles(join('src', dir))) {
        for (const s of literals(f)) for (const m of s.matchAll(/--([a-z][a-z-]*[a-z])/g)) if (flags.has(m[1])) found.push(`${f}: ${m[0]} in ${JSON.stringify(s.slice(0, 80))}`);
      }
    }
    expect(found).toEqual([]);
  });
});
