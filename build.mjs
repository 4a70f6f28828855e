// Builds every entry from the same sources with esbuild; WGSL files are bundled as text.
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

rmSync('dist', { recursive: true, force: true });
import { execFileSync } from 'node:child_process';

const common = { bundle: true, format: 'esm', sourcemap: true, loader: { '.wgsl': 'text' }, logLevel: 'warning', target: 'es2022' };
const nodeExternal = ['webgpu', 'sharp', 'fflate', 'playwright-core'];

const cliDir = 'src/cli';
// Every src/cli/*.ts becomes dist/<name>.js, beside the decoding worker the loader starts.
const CLI = ['train', 'convert', 'bench', 'serve', 'predict', 'gradcheck'];
const cliEntries = Object.fromEntries(CLI.filter((n) => existsSync(`${cliDir}/${n}.ts`)).map((n) => [n, `${cliDir}/${n}.ts`]));
cliEntries['decode-worker'] = 'src/train/data/decode-worker.node.ts';

await Promise.all([
  // Node CLIs: dist/train.js, dist/bench.js, …
  build({ ...common, platform: 'node', entryPoints: cliEntries, outdir: 'dist', external: nodeExternal, banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" } }),
  // The package's bin: one command whose subcommands load the CLIs above (not bundled into it).
  build({ ...common, bundle: false, platform: 'node', entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js' }),
  // The Node-only data pipeline ('webgpu-resnet/node'), beside decode-worker.js which its pool starts.
  build({ ...common, platform: 'node', entryPoints: ['src/node.ts'], outfile: 'dist/node.js', external: nodeExternal }),
  // The library entry.
  build({ ...common, platform: 'neutral', entryPoints: ['src/index.ts'], outfile: 'dist/index.js', external: [...nodeExternal, 'node:*'], mainFields: ['module', 'main'] }),
  // The browser bundles: the page, its training worker and the in-browser gradient checks; the same modules,
  // Node-only imports are dynamic and never run there. fflate (reading .pth weights) is bundled: a page has no node_modules.
  build({ ...common, platform: 'browser', minify: true, entryPoints: ['src/web/main.ts', 'src/web/worker.ts', 'src/web/gradcheck.ts'].filter((f) => existsSync(f)), outdir: 'dist/web', external: [...nodeExternal.filter((m) => m !== 'fflate'), 'node:*'] }),
]);
mkdirSync('dist/web', { recursive: true });
for (const f of readdirSync('src/web', { withFileTypes: true })) if (f.isFile() && !f.name.endsWith('.ts')) cpSync(`src/web/${f.name}`, `dist/web/${f.name}`);

if (!process.argv.includes('--no-types')) {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  fixDeclarations('dist/types');
}
console.log('built dist/');

/**
 * Make the emitted declarations valid under every module resolution a consumer may use (NodeNext, Node16,
 * Bundler): relative specifiers get their file extension ('./tensor' → './tensor.js', './weights' →
 * './weights/index.js'), and the entry references @webgpu/types, whose GPU* names the API uses.
 */
function fixDeclarations(root) {
  const files = (function walk(d) {
    return readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('.d.ts') ? [join(d, e.name)] : []));
  })(root);
  for (const f of files) {
    const withExt = (spec) => {
      if (!spec.startsWith('.') || /\.(js|mjs|cjs|json)$/.test(spec)) return spec;
      const base = join(dirname(f), spec);
      if (existsSync(`${base}.d.ts`)) return `${spec}.js`;
      if (existsSync(join(base, 'index.d.ts'))) return `${spec}/index.js`;
      throw new Error(`build: ${f} imports '${spec}', which has no declaration file`);
    };
    let text = readFileSync(f, 'utf8')
      .replace(/(\bfrom\s+['"])([^'"]+)(['"])/g, (_, a, spec, b) => a + withExt(spec) + b)
      .replace(/(\bimport\(\s*['"])([^'"]+)(['"]\s*\))/g, (_, a, spec, b) => a + withExt(spec) + b);
    if (f === join(root, 'index.d.ts')) text = `/// <reference types="@webgpu/types" />\n${text}`;
    writeFileSync(f, text);
  }
}
