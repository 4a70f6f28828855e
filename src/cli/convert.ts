/** `node dist/convert.js IN.pth OUT.safetensors`: convert torch.save'd weights to safetensors (F32, I64 counters). */
import { unlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { readWeights } from '../nn/weights/index';
import { writeSafetensors } from '../nn/weights/safetensors';
import { WeightsFormatError, type NamedTensor } from '../nn/weights/types';
import { assertFiniteWeights } from '../nn/finite';
import { OutputError } from '../train/io';
import { describeFsError, errorCode, nodeFs, removeDeadTemporaries, writeAtomic } from '../train/store.node';
import { useWording } from '../wording';

const USAGE = 'usage: node dist/convert.js IN.pth|IN.safetensors OUT.safetensors';

/** The output must be a file name in an existing folder; checked before the input is read. */
async function checkOutput(output: string): Promise<void> {
  const st = await nodeFs.stat(output).catch((e) => {
    if (errorCode(e) === 'ENOENT') return null;
    throw new OutputError(describeFsError(`cannot write ${output}`, e));
  });
  if (st?.isDirectory()) throw new OutputError(`${output} is a folder: give the output file's name, e.g. ${output.replace(/\/+$/, '')}/model.safetensors`);
  const dir = dirname(resolve(output));
  const parent = await nodeFs.stat(dir).catch((e) => {
    throw new OutputError(describeFsError(`cannot write ${output}`, e, 'create its folder first, or choose another path'));
  });
  if (!parent.isDirectory()) throw new OutputError(`cannot write ${output}: ${dir} is a file, not a folder`);
}

let inflight: Set<string> | null = null;

async function main(args: string[]): Promise<number> {
  useWording('flags'); // the library's messages name this command's flags
  if (args.includes('--help') || args.includes('-h')) {
    console.log(`${USAGE}\n\nReads a PyTorch state_dict (torch.save zip format) or safetensors file and writes safetensors with the same keys.`);
    return 0;
  }
  if (args.length !== 2 || args.some((a) => a.startsWith('--'))) {
    console.error(`error: expected an input and an output file\n${USAGE}`);
    return 2;
  }
  const [input, output] = args;
  await checkOutput(output);
  // Partial files of an earlier convert.js that was killed or ran out of space.
  const base = resolve(output).slice(dirname(resolve(output)).length + 1);
  const removed = await removeDeadTemporaries(nodeFs, dirname(resolve(output)), (name) => !name.startsWith(`${base}.tmp-`));
  if (removed.length) console.log(`removed partial files left by an interrupted conversion: ${removed.join(', ')}`);

  const bytes = new Uint8Array(await readFile(input).catch((e) => {
    throw new WeightsFormatError(input, `cannot be read: ${(e as Error).message}`);
  }));
  const tensors = readWeights(bytes, input);
  assertFiniteWeights(input, tensors);
  const out = new Map<string, NamedTensor>();
  let params = 0;
  for (const [k, t] of tensors) {
    out.set(k, t);
    if (t.dtype !== 'I64') params += t.data.length;
  }
  inflight = new Set();
  await writeAtomic(nodeFs, output, writeSafetensors(out, { source: input.split('/').pop() ?? input }), inflight);
  console.log(`${input}: ${tensors.size} tensors, ${params.toLocaleString('en')} values → ${output}`);
  return 0;
}

// Ctrl-C or a kill mid-write: the temporary file goes with the process.
process.on('exit', () => {
  for (const tmp of inflight ?? []) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    const known = e instanceof WeightsFormatError || e instanceof OutputError;
    console.error(`error: ${known ? e.message : (e as Error).stack ?? e}`);
    process.exit(1);
  },
);
