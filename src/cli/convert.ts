/** `node dist/convert.js IN.pth OUT.safetensors`: convert torch.save'd weights to safetensors (F32, I64 counters). */
import { readFile, writeFile, rename } from 'node:fs/promises';
import { readWeights } from '../nn/weights/index';
import { writeSafetensors } from '../nn/weights/safetensors';
import { WeightsFormatError, type NamedTensor } from '../nn/weights/types';

const USAGE = 'usage: node dist/convert.js IN.pth|IN.safetensors OUT.safetensors';

async function main(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(`${USAGE}\n\nReads a PyTorch state_dict (torch.save zip format) or safetensors file and writes safetensors with the same keys.`);
    return 0;
  }
  if (args.length !== 2 || args.some((a) => a.startsWith('--'))) {
    console.error(`error: expected an input and an output file\n${USAGE}`);
    return 2;
  }
  const [input, output] = args;
  const bytes = new Uint8Array(await readFile(input).catch((e) => {
    throw new WeightsFormatError(input, `cannot be read: ${(e as Error).message}`);
  }));
  const tensors = readWeights(bytes, input);
  const out = new Map<string, NamedTensor>();
  let params = 0;
  for (const [k, t] of tensors) {
    out.set(k, t);
    if (t.dtype !== 'I64') params += t.data.length;
  }
  const tmp = `${output}.tmp-${process.pid}`;
  await writeFile(tmp, writeSafetensors(out, { source: input.split('/').pop() ?? input }));
  await rename(tmp, output);
  console.log(`${input}: ${tensors.size} tensors, ${params.toLocaleString('en')} values → ${output}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(`error: ${e instanceof WeightsFormatError ? e.message : (e as Error).stack ?? e}`);
    process.exit(1);
  },
);
