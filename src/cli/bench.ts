/**
 * `node dist/bench.js`: kernel microbenchmarks on ResNet-34's shapes and a whole-model training step (the
 * engine is src/bench/engine.ts). This file parses the flags, prints each result line and writes the JSON report.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { superviseSelf } from '../gpu/supervise.node';
import { parseArgs } from 'node:util';
import { initGpu } from '../gpu/init';
import { type BenchOptions, runBench } from '../bench/engine';
import { tuneBench } from '../bench/tune';
import { type ParityResult, ParityFixtureError, resnetParity } from '../bench/parity';
import { TUNE_CACHE_USAGE, loadCliTuneCache, saveCliTuneCache, tuneCacheFlagError } from './tune';
import { ARCH_NAMES, RESNET_LAYERS } from '../nn/resnet';
import { finalFeatureSide } from '../train/config';

const OPTIONS = {
  quick: { type: 'boolean' },
  json: { type: 'string' },
  batch: { type: 'string' },
  'model-batch': { type: 'string' },
  'img-size': { type: 'string' },
  arch: { type: 'string' },
  samples: { type: 'string' },
  'no-kernels': { type: 'boolean' },
  'no-model': { type: 'boolean' },
  help: { type: 'boolean' },
  profile: { type: 'boolean' },
  'profile-shapes': { type: 'boolean' },
  'conv-algorithm': { type: 'string' },
  'winograd-tile': { type: 'string' },
  steps: { type: 'string' },
  'train-layers': { type: 'string' },
  'freeze-bn': { type: 'boolean' },
  tune: { type: 'boolean' },
  'tune-only': { type: 'boolean' },
  'tune-cache': { type: 'string' },
  'no-tune-cache': { type: 'boolean' },
  precision: { type: 'string' },
  'compare-precision': { type: 'boolean' },
  parity: { type: 'string' },
} as const;

/** A usage error: one line naming the flag and what it takes (exit 2), never a stack trace. */
function usageError(message: string): number {
  console.error(`bench: ${message} (run with --help for all options)`);
  return 2;
}

/**
 * The flags' values that cannot run: a count that is not a whole number ≥ 1, an image size outside 32–1024 (as
 * train.js), an unknown architecture or layer, or a model batch of 1 where the last feature maps are 1×1 (batch
 * norm in training needs 2 values per channel). Returns the error line, or null.
 */
function flagValueError(values: { [k: string]: string | boolean | undefined }): string | null {
  for (const flag of ['batch', 'model-batch', 'samples', 'steps']) {
    const v = values[flag];
    if (typeof v === 'string' && !(/^\d+$/.test(v) && Number(v) >= 1)) return `--${flag} must be a whole number ≥ 1, got '${v}'`;
  }
  const size = values['img-size'];
  if (typeof size === 'string' && !(/^\d+$/.test(size) && Number(size) >= 32 && Number(size) <= 1024)) return `--img-size must be a whole number from 32 to 1024, got '${size}'`;
  const arch = values.arch;
  if (typeof arch === 'string' && !ARCH_NAMES.includes(arch)) return `--arch must be one of ${ARCH_NAMES.join(', ')}, got '${arch}'`;
  const layers = values['train-layers'];
  if (typeof layers === 'string') {
    const bad = layers.split(',').filter((l) => !(RESNET_LAYERS as readonly string[]).includes(l));
    if (bad.length) return `--train-layers takes a comma-separated list of ${RESNET_LAYERS.join(', ')}; '${bad.join(',')}' is not one`;
  }
  return null;
}

async function main(): Promise<number> {
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];
  try {
    values = parseArgs({ options: OPTIONS }).values;
  } catch (e) {
    return usageError((e as Error).message);
  }
  if (values.help) {
    console.log('usage: node dist/bench.js [--quick] [--json FILE] [--batch N (kernels, default 32)] [--model-batch N (default 8)] [--img-size N (default 224)] [--arch resnet34] [--samples N] [--steps N] [--no-kernels] [--no-model] [--profile | --profile-shapes (GPU time per op, or per op and shape, of one train step)] [--conv-algorithm winograd|implicit|im2col (kernel rows; default: the adapter\'s choice per shape)] [--winograd-tile 2|4] [--tune | --tune-only] [--tune-cache FILE | --no-tune-cache] [--train-layers LIST (the model step trains only these top-level layers, such as fc or layer4,fc)] [--freeze-bn (the model step\'s batch norm in eval mode)] [--precision f32|f16] [--compare-precision] [--parity DIR]\n\n  --tune                time every kernel candidate of the kernel rows\' shapes and of the model step (--model-batch,\n                        --img-size, --arch) on this adapter, print each choice against the heuristic\'s, keep the\n                        fastest in the tune cache, then run the benchmarks with them\n  --tune-only           the same, without the benchmarks\n  --precision P         the model rows\' precision: f32 (default) or f16 (the train step under autocast with loss\n                        scaling, as train.js --precision f16; the eval forward under autocast). Each row of the JSON\n                        records the precision it ran in; without shader-f16 one line says so and f32 runs\n  --compare-precision   the model rows in f32, then in f16: prints f16\'s peak GPU memory against f32\'s (the\n                        reduction) and the speed ratios; the JSON has both rows (model_rows) and precision_comparison\n  --parity DIR          before the benchmarks, check ResNet-34 on this adapter against PyTorch: the fixture that\n                        `python3 tools/make_resnet_fixture.py DIR` makes (eval logits, a train step\'s logits, loss and\n                        gradients, the running statistics), each error against its tolerance, with the kernels the\n                        benchmarks run (tuned ones included); the JSON gets `parity`, and the exit status is 1\n                        when one is over\n' + TUNE_CACHE_USAGE);
    return 0;
  }
  const tuneFlags = { file: values['tune-cache'] ?? null, disabled: values['no-tune-cache'] === true };
  const flagError = tuneCacheFlagError(tuneFlags);
  if (flagError) {
    console.error(`bench: ${flagError}`);
    return 2;
  }
  const valueError = flagValueError(values);
  if (valueError) return usageError(valueError);
  const parityDir = values.parity;
  if (parityDir !== undefined) {
    const missing = ['fixture.safetensors', 'model.pth'].filter((f) => !existsSync(join(parityDir, f)));
    if (missing.length) return usageError(`--parity ${parityDir}: ${missing.join(' and ')} not found there; make the fixture with: python3 tools/make_resnet_fixture.py ${parityDir}`);
  }
  const tune = values.tune === true || values['tune-only'] === true;
  const quick = values.quick === true;
  for (const [flag, allowed] of [['winograd-tile', ['2', '4']], ['conv-algorithm', ['winograd', 'implicit', 'im2col']], ['precision', ['f32', 'f16']]] as const) {
    const v = values[flag];
    if (v !== undefined && !(allowed as readonly string[]).includes(v)) {
      return usageError(`--${flag} must be one of ${allowed.join(', ')}, got '${v}'`);
    }
  }
  const batch = Number(values.batch ?? (quick ? 4 : 32));
  const modelBatch = Number(values['model-batch'] ?? (quick ? 2 : 8));
  const size = Number(values['img-size'] ?? (quick ? 112 : 224));
  const samples = Number(values.samples ?? (quick ? 3 : 5));
  if (modelBatch === 1 && !values['no-model'] && !values['freeze-bn'] && finalFeatureSide(size) === 1) {
    return usageError(`--model-batch 1 cannot train at --img-size ${size}: the last feature maps are 1×1, and batch norm in training needs at least 2 images per batch. Use --model-batch 2 or more, an --img-size above 32, or --freeze-bn`);
  }
  const rt = await initGpu();
  const log = (s: string) => console.log(s);
  const cache = await loadCliTuneCache(rt, tuneFlags, log, (l) => console.error(l), tune);
  const options: BenchOptions = {
    batch,
    modelBatch,
    size,
    arch: values.arch ?? 'resnet34',
    samples,
    steps: Number(values.steps ?? (quick ? 2 : 3)),
    quick,
    kernels: !values['no-kernels'],
    model: !values['no-model'],
    profile: values['profile-shapes'] ? 'shapes' : values.profile === true,
    convAlgorithm: values['conv-algorithm'] as BenchOptions['convAlgorithm'],
    winogradTile: values['winograd-tile'] === '2' ? 2 : undefined,
    tuning: { trainLayers: values['train-layers'] ? values['train-layers'].split(',') : undefined, freezeBn: values['freeze-bn'] === true },
    precision: values.precision === 'f16' ? 'f16' : 'f32',
    comparePrecision: values['compare-precision'] === true,
  };
  const tuned = tune ? await tuneBench(rt, options, cache.table, log) : null;
  if (tuned) await saveCliTuneCache(rt, cache, tuned, log);
  let parity: ParityResult | null = null;
  if (parityDir !== undefined) {
    try {
      parity = await checkParity(rt, parityDir, log);
    } catch (e) {
      if (!(e instanceof ParityFixtureError)) throw e;
      rt.destroy();
      return usageError(`--parity ${parityDir}: ${e.message.replace(/\.$/, '')}; make the fixture again with: python3 tools/make_resnet_fixture.py ${parityDir}`);
    }
  }
  const report = {
    ...(values['tune-only'] ? { adapter: rt.adapter.name, adapter_description: rt.adapter.description, tuned } : { ...(await runBench(rt, options, log)), ...(tuned ? { tuned } : {}) }),
    ...(parity ? { parity } : {}),
  };
  if (typeof values.json === 'string') {
    await writeFile(values.json, JSON.stringify(report, null, 2) + '\n');
    log(`wrote ${values.json}`);
  }
  rt.destroy();
  return parity && !parity.pass ? 1 : 0;
}

/** bench --parity DIR: ResNet-34 against the PyTorch fixture in DIR on this adapter, a line per comparison. */
async function checkParity(rt: Parameters<typeof resnetParity>[0], dir: string, log: (s: string) => void): Promise<ParityResult> {
  const [fixture, pth] = await Promise.all(['fixture.safetensors', 'model.pth'].map(async (f) => new Uint8Array(await readFile(join(dir, f)))));
  const result = await resnetParity(rt, fixture, pth, dir);
  log(`parity with PyTorch (resnet34, batch ${result.batch}, ${result.size} px, ${dir}), relative L2 errors:`);
  for (const r of result.rows) log(`  ${r.what.padEnd(47)} ${r.error.toExponential(2)} ${r.pass ? '≤' : '>'} ${r.tolerance}${r.pass ? '' : '  FAIL'}`);
  log(result.pass ? 'parity: every comparison within its tolerance' : `parity: FAILED (${result.rows.filter((r) => !r.pass).length} over their tolerance): this adapter's numbers are wrong, and the benchmarks time wrong work`);
  return result;
}

// Dawn's native start-up warnings are filtered by running under a supervisor (gpu/supervise.node.ts).
if (!superviseSelf()) {
  main().then(
    (c) => process.exit(c),
    (e) => {
      console.error(`error: ${(e as Error).stack ?? e}`);
      process.exit(1);
    },
  );
}
