#!/usr/bin/env node
/**
 * `webgpu-resnet <command> [options]` (the package's bin): one command whose subcommands are the CLIs
 * dist/train.js, predict.js, convert.js, bench.js and serve.js. Each subcommand runs as if started directly.
 */
import { fileURLToPath } from 'node:url';

const COMMANDS: Record<string, string> = {
  train: 'fine-tune a ResNet on an ImageFolder dataset (or the built-in demo)',
  predict: 'classify images with trained weights',
  convert: 'convert a PyTorch .pth state dict to safetensors',
  bench: 'kernel and model benchmarks on this adapter',
  serve: 'serve the browser page on localhost',
};

const USAGE = `usage: webgpu-resnet <command> [options]

commands:
${Object.entries(COMMANDS)
  .map(([c, what]) => `  ${c.padEnd(8)} ${what}`)
  .join('\n')}

Run 'webgpu-resnet <command> --help' for a command's options.`;

const sub = process.argv[2];
if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
  console.log(USAGE);
  process.exit(sub === undefined ? 1 : 0);
} else if (!Object.hasOwn(COMMANDS, sub)) {
  console.error(`error: unknown command '${sub}'\n\n${USAGE}`);
  process.exit(1);
} else {
  // The subcommand sees the argv it would see when started as `node dist/<command>.js …`.
  const script = fileURLToPath(new URL(`./${sub}.js`, import.meta.url));
  process.argv.splice(1, 2, script);
  await import(`./${sub}.js`);
}
