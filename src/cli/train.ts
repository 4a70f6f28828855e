/** `node dist/train.js`: fine-tune a ResNet on an ImageFolder dataset (or the built-in demo). */
import { readFile } from 'node:fs/promises';
import { superviseSelf } from '../gpu/supervise.node';
import sharp from 'sharp';
import { initGpu } from '../gpu/init';
import { GpuError } from '../gpu/errors';
import { resnet } from '../nn/resnet';
import { loadPretrained } from '../nn/pretrained';
import { readWeights } from '../nn/weights/index';
import { WeightsFormatError } from '../nn/weights/types';
import { StateDictError } from '../nn/state';
import { loadImageFolder } from '../train/data/folder';
import { fsPath, nodeFileLister } from '../train/data/fs.node';
import { ensureDemoDataset } from '../train/data/demo.node';
import { DEMO_VERSION } from '../train/data/demo-images';
import { WorkerDecoderPool } from '../train/data/worker-pool.node';
import { DataLoader } from '../train/data/loader';
import { DataError } from '../train/data/errors';
import { augmentationOf } from '../train/config';
import { ResumeMismatchError, Trainer, TrainingDivergedError, type Progress } from '../train/trainer';
import { FolderStore } from '../train/store.node';
import { OutputError } from '../train/io';
import { asciiPlot } from '../train/report';
import { setKernelConfig } from '../kernels/config';
import { tuneModel } from '../train/tune';
import { loadCliTuneCache, saveCliTuneCache } from './tune';
import { parseCli, UsageError, USAGE, DEMO_OVERRIDES, describeOptimization } from './args';
import { CompileStatus, ProgressBar } from './progress';
import { useWording } from '../wording';

async function main(argv: string[]): Promise<number> {
  useWording('flags'); // the library's messages name this command's flags
  let cli;
  try {
    cli = parseCli(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}\n\n${USAGE.split('\n')[0]}\n(run with --help for all options)`);
      return 2;
    }
    throw e;
  }
  if (cli.help) {
    console.log(USAGE);
    return 0;
  }
  const c = cli.config;

  // Data first: a bad folder is reported before any GPU work.
  let root = cli.data;
  if (!root) {
    const demo = await ensureDemoDataset(`.cache/${DEMO_VERSION}`);
    root = demo.dir;
    console.log(`data: built-in demo dataset in ${root}${demo.generated ? ' (generated now)' : ''}`);
    console.log(`demo settings: ${Object.entries(DEMO_OVERRIDES).map(([k, v]) => `${k}=${v}`).join(' ')} (flags override them)`);
  }
  const dataset = await loadImageFolder(nodeFileLister, root, { fractions: { train: c.split[0], val: c.split[1], test: c.split[2] }, seed: c.seed });
  console.log(dataset.description);

  // The output folder next, still before any GPU work: writable, locked for this run, no earlier run lost.
  const store = new FolderStore(cli.out);
  await store.prepare(bytesNeeded(c.arch));
  process.on('exit', () => store.releaseSync());
  const lockNote = await store.lock();
  if (lockNote) console.log(lockNote);
  const partial = await store.removeTemporaries();
  if (partial.length) console.log(`removed partial files left by an interrupted run: ${partial.join(', ')}`);
  const earlier = await store.runFiles();
  const listed = earlier.slice(0, 4).join(', ') + (earlier.length > 4 ? ', …' : '');
  if (cli.resume && earlier.length && !earlier.includes('checkpoint.safetensors')) {
    throw new OutputError(`${cli.out} holds an earlier run (${listed}) but no checkpoint.safetensors to resume from. Nothing was changed. To replace that run, use --overwrite instead of --resume; to keep it, choose another --out.`);
  }
  if (!cli.resume && earlier.length) {
    if (!cli.overwrite) {
      throw new OutputError(
        `${cli.out} already holds a training run (${listed}). Nothing was changed. ` +
          `To continue it, add --resume; to keep it and start a new run, choose another --out; to replace it, add --overwrite.`,
      );
    }
    console.log(`--overwrite: removed the earlier run's ${(await store.removeRunFiles()).join(', ')} from ${cli.out}`);
  }

  const warn = (m: string) => process.stderr.write(`${m}\n`);
  const rt = await initGpu();
  setKernelConfig(rt, { winogradTile: cli.winogradTile });
  console.log(`adapter: ${rt.adapter.name} (${rt.adapter.description})`);
  if (cli.winogradTile === 2) console.log('3x3 convolutions: Winograd F(2x2, 3x3) in the forward pass (--winograd-tile 2: rounds less, slower)');
  const tuneCache = await loadCliTuneCache(rt, cli.tuneCache, (l) => console.log(l), warn, cli.tune);

  const model = resnet(c.arch, { numClasses: dataset.classes.length, dropout: c.dropout, seed: c.seed });
  if (cli.weights) {
    const bytes = new Uint8Array(await readFile(cli.weights).catch((e) => {
      throw new WeightsFormatError(cli.weights!, `cannot be read: ${(e as Error).message}`);
    }));
    for (const line of loadPretrained(model, readWeights(bytes, cli.weights), cli.weights).messages) console.log(line);
  } else {
    console.warn(`warning: no --weights given: training ${c.arch} from random initialisation (seed ${c.seed}). For the recipe, convert torchvision's ImageNet weights (see README).`);
  }

  if (cli.tune) {
    console.log(`tuning the kernel choices of a training step (batch ${c.batchSize}, ${c.imgSize}px${c.precision === 'f16' ? ', float16' : ''}) on this adapter`);
    const choices = await tuneModel(rt, model, [c.batchSize, 3, c.imgSize, c.imgSize], { table: tuneCache.table, log: (l) => console.log(l), precision: c.precision });
    await saveCliTuneCache(rt, tuneCache, choices, (l) => console.log(l));
  }

  const pool = new WorkerDecoderPool();
  const loader = (samples: typeof dataset.train, mode: 'train' | 'eval') =>
    new DataLoader({ samples, pool, batchSize: c.batchSize, mode, imageSize: c.imgSize, seed: c.seed, augment: augmentationOf(c), onWarning: warn });
  const data = { classes: dataset.classes, train: loader(dataset.train, 'train'), val: loader(dataset.val, 'eval'), test: loader(dataset.test, 'eval') };

  let stopRequested = false;
  const onSignal = (sig: string) => {
    if (stopRequested) {
      console.error(`\n${sig} again: exiting without saving`);
      process.exit(130);
    }
    stopRequested = true;
    console.error(`\n${sig}: finishing the current step, then saving a checkpoint (press again to quit at once)`);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  let bar: ProgressBar | null = null;
  let compiling: CompileStatus | null = null;
  const trainer = new Trainer(rt, model, data, c, store, {
    log: (l) => console.log(l),
    compileProgress: (p) => (compiling ??= new CompileStatus()).update(p.done, p.total),
    compileEnd: (p) => {
      (compiling ?? new CompileStatus()).end(p.pipelines, p.seconds);
      compiling = null;
    },
    progress: (p: Progress) => {
      bar ??= new ProgressBar(`${p.phase === 'train' ? `epoch ${p.epoch}/${c.maxEpochs}` : p.phase.padEnd(5)}`);
      bar.update(p);
    },
    phaseEnd: () => {
      bar?.end();
      bar = null;
    },
    epochEnd: (r) =>
      console.log(
        `epoch ${r.epoch}: lr ${r.lr.toExponential(2)} train loss ${r.train_loss.toFixed(4)} acc ${(100 * r.train_acc).toFixed(1)}% | ` +
          `${r.val_loss === null || r.val_acc === null ? 'no validation split' : `val loss ${r.val_loss.toFixed(4)} acc ${(100 * r.val_acc).toFixed(1)}%`} | ${r.seconds.toFixed(1)} s`,
      ),
    shouldStop: () => stopRequested,
    renderPng: async (svg) => new Uint8Array(await sharp(Buffer.from(svg)).png().toBuffer()),
    thumbnail: async (path) => `data:image/jpeg;base64,${(await sharp(await readFile(fsPath(path))).resize(150, 150, { fit: 'cover' }).jpeg({ quality: 80 }).toBuffer()).toString('base64')}`,
  });
  if (cli.resume && !(await trainer.resume())) console.log(`--resume: no checkpoint in ${cli.out}; starting afresh`);
  console.log(`training ${c.arch} on ${dataset.train.length} images (${dataset.classes.length} classes), batch ${c.batchSize}, ${c.imgSize}px; output in ${cli.out}`);
  console.log(describeOptimization(c));
  try {
    const summary = await trainer.run();
    if (!summary) return 130;
    const tested = summary.test_accuracy === null || summary.test_loss === null ? 'no test split: no test accuracy' : `test accuracy: ${(100 * summary.test_accuracy).toFixed(2)}% (loss ${summary.test_loss.toFixed(4)})`;
    const kept = summary.best_val_loss === null ? `weights of the last epoch (no validation split), ${summary.best_epoch}` : `best epoch ${summary.best_epoch}`;
    console.log(`\n${tested}, ${kept} of ${summary.epochs_run}${summary.stopped_early ? ' (stopped early)' : ''}`);
    console.log(`training speed: ${summary.train_images_per_second.toFixed(1)} images/s on ${summary.adapter}`);
    if (summary.skipped_files) console.log(`skipped ${summary.skipped_files} unreadable files`);
    const plot = asciiPlot(trainer.history().map((r) => r.train_loss));
    if (plot.length) console.log(`\ntrain loss by epoch:\n${plot.join('\n')}`);
    console.log(`\nwrote ${store.describe('report.html')} (open it in a browser), metrics.csv, steps.csv, summary.json, curves.png, confusion.png, best.safetensors`);
    return 0;
  } finally {
    trainer.dispose();
    await pool.close();
    model.dispose();
    rt.destroy();
    await store.unlock();
  }
}

/** Parameters of each architecture (torchvision, 1000 classes): the disk space a run needs is estimated from them. */
const PARAMS: Record<string, number> = { resnet18: 11.7e6, resnet34: 21.8e6, resnet50: 25.6e6 };

/**
 * Free space a run needs in --out: the checkpoint (weights and momentum, 8 bytes a parameter), its
 * temporary copy while it is replaced (8 more) and best.safetensors (4), with room for the reports.
 */
function bytesNeeded(arch: string): number {
  return (PARAMS[arch] ?? 0) * 20 + 16 * 2 ** 20;
}

// Dawn's native start-up warnings are filtered by running under a supervisor (gpu/supervise.node.ts).
if (!superviseSelf()) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      const known = e instanceof OutputError || e instanceof GpuError || e instanceof DataError || e instanceof WeightsFormatError || e instanceof StateDictError || e instanceof TrainingDivergedError || e instanceof ResumeMismatchError;
      console.error(`error: ${known ? e.message : (e as Error).stack ?? e}`);
      process.exit(1);
    },
  );
}
