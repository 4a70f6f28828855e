/** The command-line tools, run as a user runs them (node dist/*.js): argument errors, conversion, a short training run, resume. */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyDataset } from '../helpers/tiny-dataset';
import { torchAvailable } from '../helpers/torch';
import { readSafetensors, readSafetensorsMetadata } from '../../src/nn/weights/safetensors';

function run(script: string, args: string[], timeout = 300_000) {
  const r = spawnSync(process.execPath, [join('dist', script), ...args], { encoding: 'utf8', timeout });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  if (!existsSync('dist/train.js')) execFileSync(process.execPath, ['build.mjs', '--no-types'], { stdio: 'inherit' });
});

describe('cli: train.js arguments', () => {
  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['--batch-size', '0'], /--batch-size must be ≥ 1, got 0/],
    [['--lr=-1'], /--lr must be > 0, got -1/],
    [['--img-size', '0'], /--img-size must be ≥ 32, got 0/],
    [['--lr', 'fast'], /--lr needs a number, got 'fast'/],
    [['--arch', 'vgg16'], /--arch must be resnet18, resnet34 or resnet50/],
    [['--split', '0.5,0.5'], /--split needs three fractions/],
    [['--winograd-tile', '3'], /--winograd-tile must be 2 or 4, got '3'/],
    [['--crop-scale', '0,1'], /--crop-scale must be two fractions of the image's area with 0 < min ≤ max ≤ 1, got 0,1/],
    [['--crop-scale', '0.5'], /--crop-scale needs two numbers min,max, got '0\.5'/],
    [['--crop-ratio', '2,1'], /--crop-ratio must be two aspect ratios \(width \/ height\) with 0 < min ≤ max, got 2,1/],
    [['--augment', 'heavy'], /--augment must be standard or none, got 'heavy'/],
    [['--augment', 'none', '--no-flip'], /--no-flip has no effect with --augment none/],
    [['--flip', '--no-flip'], /--flip and --no-flip exclude each other/],
    [['--train-layers', 'layer5'], /--train-layers: 'layer5' is not a layer of a ResNet with parameters; name some of conv1, bn1, layer1, layer2, layer3, layer4, fc, or all/],
    [['--freeze-backbone', '--train-layers', 'layer4,fc'], /--freeze-backbone trains fc alone, which contradicts --train-layers layer4,fc/],
    [['--optimizer', 'rmsprop'], /--optimizer must be one of sgd, adam, adamw, got 'rmsprop'/],
    [['--scheduler', 'plateau'], /--scheduler must be one of step, cosine, onecycle, got 'plateau'/],
    [['--grad-clip=-1'], /--grad-clip must be ≥ 0, got -1/],
    [['--warmup-epochs', '1.5'], /--warmup-epochs must be an integer, got 1.5/],
    [['--scheduler', 'onecycle', '--warmup-epochs', '1'], /--warmup-epochs must be 0 with --scheduler onecycle/],
    [['--max-epochs', '2', '--warmup-epochs', '2'], /--warmup-epochs must be less than --max-epochs 2/],
    [['--optimizer', 'adam', '--momentum', '0.8'], /--momentum is SGD's: --optimizer adam has none/],
    [['--scheduler', 'cosine', '--step-size', '2'], /--step-size is StepLR's: --scheduler cosine does not use it/],
  ])('%j is rejected with a clear error and the usage line (exit 2)', (args, message) => {
    const r = run('train.js', args as string[]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message as RegExp);
    expect(r.err).toMatch(/usage: node dist\/train\.js/);
  });

  it('--help prints every flag', () => {
    const r = run('train.js', ['--help']);
    expect(r.code).toBe(0);
    for (const f of ['--data', '--weights', '--out', '--resume', '--arch', '--img-size', '--batch-size', '--lr', '--momentum', '--weight-decay', '--step-size', '--gamma', '--patience', '--max-epochs', '--dropout', '--seed', '--winograd-tile', '--optimizer', '--grad-clip', '--scheduler', '--warmup-epochs', '--augment', '--crop-scale', '--crop-ratio', '--no-flip', '--freeze-backbone', '--train-layers', '--freeze-bn']) {
      expect(r.out).toContain(f);
    }
  });

  it('a missing --data folder is reported before any GPU work', () => {
    const r = run('train.js', ['--data', '/no/such/folder']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/\/no\/such\/folder/);
    expect(r.out).not.toMatch(/adapter:/);
  });
});

describe('cli: training end to end', () => {
  let data: string;
  const common = ['--arch', 'resnet18', '--img-size', '32', '--batch-size', '4', '--lr', '0.01', '--seed', '3'];
  beforeAll(async () => {
    data = await makeTinyDataset();
  });

  it('trains, writes metrics.csv, summary.json, plots and best.safetensors; --resume reproduces an uninterrupted run', () => {
    const full = mkdtempSync(join(tmpdir(), 'run-full-'));
    const r = run('train.js', ['--data', data, '--out', full, '--max-epochs', '2', ...common]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/adapter: /);
    expect(r.out).toMatch(/test accuracy: [\d.]+%/);
    const csv = readFileSync(join(full, 'metrics.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds');
    expect(csv.length).toBe(3);
    const summary = JSON.parse(readFileSync(join(full, 'summary.json'), 'utf8'));
    for (const k of ['test_accuracy', 'test_loss', 'best_epoch', 'epochs_run', 'adapter', 'train_images_per_second', 'per_class_accuracy', 'confusion_matrix', 'classes']) {
      expect(summary, k).toHaveProperty(k);
    }
    expect(summary.classes).toEqual(['blue', 'red']);
    expect(summary.confusion_matrix.flat().reduce((a: number, b: number) => a + b, 0)).toBe(6);
    expect(existsSync(join(full, 'loss.svg'))).toBe(true);
    for (const png of ['curves.png', 'confusion.png']) expect(readFileSync(join(full, png)).subarray(1, 4).toString()).toBe('PNG');
    const report = readFileSync(join(full, 'report.html'), 'utf8');
    expect(report).toMatch(/Test accuracy [\d.]+%/);
    expect(report).toMatch(/Per-class accuracy/);
    expect(report).toMatch(/Most confidently misclassified test images/);
    const best = readSafetensors(new Uint8Array(readFileSync(join(full, 'best.safetensors'))), 'best');
    expect(best.get('fc.1.weight')!.shape).toEqual([2, 512]);
    expect(best.get('layer1.0.bn1.num_batches_tracked')!.dtype).toBe('I64');

    // The same run in two parts: one epoch, then --resume to two.
    const split = mkdtempSync(join(tmpdir(), 'run-split-'));
    expect(run('train.js', ['--data', data, '--out', split, '--max-epochs', '1', ...common]).code).toBe(0);
    const r2 = run('train.js', ['--data', data, '--out', split, '--max-epochs', '2', '--resume', ...common]);
    expect(r2.code, r2.err).toBe(0);
    expect(r2.out).toMatch(/resumed from/);
    const strip = (s: string) => s.trim().split('\n').map((l) => l.split(',').slice(0, 6).join(','));
    expect(strip(readFileSync(join(split, 'metrics.csv'), 'utf8'))).toEqual(strip(csv.join('\n')));
    const s2 = JSON.parse(readFileSync(join(split, 'summary.json'), 'utf8'));
    expect(s2.test_loss).toBe(summary.test_loss);

    if (torchAvailable()) {
      const out = execFileSync('/usr/bin/python3', ['tools/check_torch_load.py', join(full, 'best.safetensors'), 'resnet18', '2', '0.5'], { encoding: 'utf8' });
      expect(out).toMatch(/All keys matched successfully/);
    }
  });
});

describe('cli: optimizer and schedule flags end to end', () => {
  it('--optimizer adamw --scheduler cosine --warmup-epochs 1 --grad-clip 1: trains, with the warm-up lr, then the cosine schedule', async () => {
    const data = await makeTinyDataset({ train: 4, val: 2, test: 2 });
    const out = mkdtempSync(join(tmpdir(), 'run-adamw-'));
    const args = ['--data', data, '--out', out, '--arch', 'resnet18', '--img-size', '32', '--batch-size', '4', '--lr', '0.01', '--max-epochs', '2'];
    const r = run('train.js', [...args, '--optimizer', 'adamw', '--scheduler', 'cosine', '--warmup-epochs', '1', '--grad-clip', '1']);
    expect(r.code, r.err).toBe(0);
    // AdamW's default weight decay, since --weight-decay was not given.
    expect(r.out).toMatch(/optimizer adamw \(lr 0\.01, weight decay 0\.01\), schedule cosine per epoch after 1 warm-up epoch, gradients clipped to norm 1/);
    const rows = readFileSync(join(out, 'metrics.csv'), 'utf8').trim().split('\n').slice(1).map((l) => Number(l.split(',')[1]));
    expect(rows).toEqual([0.0001, 0.01]);
    const meta = JSON.parse(readSafetensorsMetadata(new Uint8Array(readFileSync(join(out, 'checkpoint.safetensors'))), 'checkpoint').optimizer);
    expect(meta.param_groups[0]).toMatchObject({ weight_decay: 0.01, betas: [0.9, 0.999] });
  });
});

describe('cli: convert.js', () => {
  it('converts a .pth to safetensors with the same tensors, and reports a bad file clearly', async () => {
    const { pthOfTensors } = await import('../helpers/pth-writer');
    const dir = mkdtempSync(join(tmpdir(), 'conv-'));
    const w = Float32Array.from({ length: 12 }, (_, i) => i / 7);
    writeFileSync(join(dir, 'in.pth'), pthOfTensors({ 'fc.weight': { shape: [3, 4], data: w }, 'bn.num_batches_tracked': { shape: [], data: BigInt64Array.of(5n) } }));
    const ok = run('convert.js', [join(dir, 'in.pth'), join(dir, 'out.safetensors')]);
    expect(ok.code, ok.err).toBe(0);
    const back = readSafetensors(new Uint8Array(readFileSync(join(dir, 'out.safetensors'))), 'out');
    expect(Array.from(back.get('fc.weight')!.data as Float32Array)).toEqual(Array.from(w));
    expect(back.get('bn.num_batches_tracked')!.data[0]).toBe(5n);
    writeFileSync(join(dir, 'trunc.pth'), readFileSync(join(dir, 'in.pth')).subarray(0, 100));
    const trunc = run('convert.js', [join(dir, 'trunc.pth'), join(dir, 'x.safetensors')]);
    expect(trunc.code).toBe(1);
    expect(trunc.err).toMatch(/trunc\.pth/);
    expect(trunc.err).not.toMatch(/    at /);
    const bad = run('convert.js', [join(dir, 'missing.pth'), join(dir, 'out.safetensors')]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/missing\.pth: cannot be read/);
    expect(run('convert.js', []).code).toBe(2);
  });
});

describe('cli: fine-tuning flags end to end', () => {
  it('--freeze-backbone --freeze-bn --no-flip --crop-scale train the head alone and go in summary.json; --resume with another --crop-scale is refused', async () => {
    const data = await makeTinyDataset({ train: 4, val: 2, test: 2 }, 40);
    const out = mkdtempSync(join(tmpdir(), 'run-tune-'));
    const args = ['--data', data, '--out', out, '--arch', 'resnet18', '--img-size', '32', '--batch-size', '4', '--seed', '3', '--max-epochs', '1'];
    const r = run('train.js', [...args, '--freeze-backbone', '--freeze-bn', '--no-flip', '--crop-scale', '0.5,1']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/fine-tuning: training fc \(1026 of 11\.18 M parameters\); the other layers are frozen/);
    const config = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).config;
    expect(config).toMatchObject({ augment: 'standard', cropScale: [0.5, 1], flip: false, trainLayers: ['fc'], freezeBn: true });
    const best = readSafetensors(new Uint8Array(readFileSync(join(out, 'best.safetensors'))), 'best');
    // Frozen batch norm: no running statistic moved from its initial value.
    expect(Array.from(best.get('layer4.1.bn2.running_var')!.data as Float32Array).every((v) => v === 1)).toBe(true);
    const again = run('train.js', [...args, '--resume', '--max-epochs', '2', '--freeze-backbone', '--freeze-bn', '--no-flip']);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/cannot resume from .*checkpoint\.safetensors: it was trained with --crop-scale 0\.5,1 but this run has --crop-scale 0\.08,1/);
  });
});
