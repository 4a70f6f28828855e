/**
 * Every ```ts block of README.md and docs/*.md, as a user would run it: the package is packed and installed
 * from its tarball into a fresh project, each block becomes a module file there, all of them are type-checked
 * in one tsc run (NodeNext, strict, skipLibCheck off; tsc also emits the JS), and each is run with node on the
 * local adapter. The web-app example is also built with the esbuild command the docs give (platform browser).
 *
 * Conventions the docs follow (see docs/library.md, "About the examples"):
 * - a block is a complete module; one whose first line is `// file: NAME.ts` is saved under that name in the
 *   project root (other blocks go to snippets/); blocks run with the project root as working folder;
 * - fixtures this test writes there: `resnet18.pth` (torchvision's ResNet-18 layout and key names, as
 *   torch.save writes a state_dict, with this library's seeded initial weights in place of the trained ones) and
 *   `images/cat/{0..3}.png`, `images/dog/{0..3}.png` (small coloured PNGs).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { testRuntime } from '../helpers/gpu';
import { pthOfTensors } from '../helpers/pth-writer';
import { resnet18 } from '../../src/nn/resnet';
import { exportStateDict } from '../../src/nn/state';

const root = resolve('.');
const require = createRequire(import.meta.url);

interface Block {
  /** Where it is: "docs/library.md:120" (the line of its opening fence). */
  where: string;
  doc: string;
  line: number;
  lang: string;
  code: string;
}

/** The fenced code blocks of a markdown file, with the line of each opening fence. */
function codeBlocks(doc: string, text: string): Block[] {
  const lines = text.split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    out.push({ where: `${doc}:${start + 1}`, doc, line: start + 1, lang: open[1], code: body.join('\n') + '\n' });
  }
  return out;
}

const DOCS = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const blocks = DOCS.flatMap((d) => codeBlocks(d, readFileSync(d, 'utf8')));

interface Snippet extends Block {
  /** Its path in the temporary project (relative), and the emitted JS tsc writes for it. */
  file: string;
  js: string;
}

const snippets: Snippet[] = blocks
  .filter((b) => b.lang === 'ts')
  .map((b) => {
    const named = /^\/\/ file: ([\w.-]+\.ts)\s*$/.exec(b.code.split('\n')[0]);
    const base = `${b.doc.replace(/^docs\//, '').replace(/\.md$/, '').toLowerCase()}-L${b.line}`;
    const file = named ? named[1] : `snippets/${base}.ts`;
    return { ...b, file, js: `out/${file.replace(/\.ts$/, '.js')}` };
  });

const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
let dir = '';
let tscOutput = '';

/** tsc's "snippets/x.ts(12,5): error …" with the markdown line it comes from. */
function withDocLines(output: string): string {
  return output.replace(/^(\S+\.ts)\((\d+),(\d+)\)/gm, (m, file: string, line: string) => {
    const s = snippets.find((x) => x.file === file);
    return s ? `${s.doc}:${s.line + Number(line)} (${m})` : m;
  });
}

async function writeFixtures(): Promise<void> {
  // resnet18.pth: a state_dict in torchvision's layout, written as torch.save writes one.
  const rt = await testRuntime();
  rt.poison = false;
  const model = resnet18();
  const tensors = await exportStateDict(model);
  model.dispose();
  writeFileSync(join(dir, 'resnet18.pth'), pthOfTensors(Object.fromEntries([...tensors].map(([k, t]) => [k, { shape: [...t.shape], data: t.data as Float32Array | BigInt64Array }]))));
  // images/CLASS/i.png: cats reddish, dogs bluish, with a gradient so that crops differ.
  const sharp = (await import('sharp')).default;
  for (const [c, cls] of ['cat', 'dog'].entries()) {
    mkdirSync(join(dir, 'images', cls), { recursive: true });
    for (let i = 0; i < 4; i++) {
      const [w, h] = [48 + 8 * i, 40];
      const px = Buffer.alloc(w * h * 3);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const o = (y * w + x) * 3;
          px[o + (c === 0 ? 0 : 2)] = 150 + ((x * 2 + i * 9) % 100);
          px[o + 1] = (y * 5) % 120;
          px[o + (c === 0 ? 2 : 0)] = 40;
        }
      }
      await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(join(dir, 'images', cls, `${i}.png`));
    }
  }
}

describe('the code blocks of README.md and docs/', () => {
  beforeAll(async () => {
    if (!existsSync('dist/types/index.d.ts') || !existsSync('dist/index.js')) execFileSync(process.execPath, ['build.mjs'], { stdio: 'inherit' });
    const t0 = performance.now();
    dir = mkdtempSync(join(tmpdir(), 'wgr-docs-'));
    npm(['pack', '--silent', '--pack-destination', dir], root);
    const tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'docs-consumer', private: true, type: 'module' }));
    // Dependencies come from the npm cache filled by `npm ci` (no second download of Dawn).
    const v = (p: string) => require(`${p}/package.json`).version as string;
    npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball, `typescript@${v('typescript')}`, `@types/node@${v('@types/node')}`, `esbuild@${v('esbuild')}`], dir);
    const t1 = performance.now();
    await writeFixtures();
    const t2 = performance.now();
    for (const s of snippets) {
      mkdirSync(dirname(join(dir, s.file)), { recursive: true });
      writeFileSync(join(dir, s.file), s.code);
    }
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, types: ['node'], rootDir: '.', outDir: 'out' },
        files: snippets.map((s) => s.file),
      }),
    );
    const r = spawnSync(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
    tscOutput = withDocLines(r.stdout + r.stderr) + (r.status === 0 ? '' : `\n(tsc exit status ${r.status})`);
    const s = (a: number, b: number) => `${((b - a) / 1000).toFixed(1)} s`;
    console.log(`${snippets.length} ts blocks; pack + install ${s(t0, t1)}, fixtures ${s(t1, t2)}, tsc ${s(t2, performance.now())}`);
  }, 300_000);

  afterAll(() => {
    if (dir && !process.env.KEEP_DOC_SNIPPETS) rmSync(dir, { recursive: true, force: true });
  });

  it('README.md and docs/library.md hold ts blocks, each a module of its own', () => {
    expect(snippets.filter((s) => s.doc === 'README.md').length).toBeGreaterThanOrEqual(2);
    expect(snippets.filter((s) => s.doc === 'docs/library.md').length).toBeGreaterThanOrEqual(8);
    // A block is complete: it imports what it uses (every block here uses the package).
    for (const s of snippets) expect(s.code, s.where).toMatch(/from 'webgpu-resnet(\/node)?'/);
  });

  it('every ts block type-checks against the packed package: NodeNext, strict, skipLibCheck off', () => {
    expect(tscOutput).toBe('');
  });

  it.each(snippets.map((s) => [s.where, s] as const))('%s runs', (_where, s) => {
    const r = spawnSync(process.execPath, [s.js], { cwd: dir, encoding: 'utf8', timeout: 90_000 });
    const tail = (t: string) => t.split('\n').slice(-15).join('\n');
    expect(r.error, `${s.where}: ${r.error}`).toBeUndefined();
    expect(r.status, `${s.where} exited with ${r.status} ${r.signal ?? ''}\n--- stdout\n${tail(r.stdout)}\n--- stderr\n${tail(r.stderr)}`).toBe(0);
  }, 100_000);

  it("the web-app example builds with the docs' esbuild command for the browser, without Dawn or sharp, and the bundle runs", () => {
    const cmd = blocks.find((b) => b.lang === 'sh' && /^npx esbuild app\.ts /m.test(b.code));
    expect(cmd, 'a ```sh block with `npx esbuild app.ts …`').toBeDefined();
    const line = cmd!.code.split('\n').find((l) => l.startsWith('npx esbuild app.ts '))!;
    const out = /--outfile=(\S+)/.exec(line)![1];
    const b = spawnSync('sh', ['-c', line], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    expect(b.status, b.stdout + b.stderr).toBe(0);
    const bundle = readFileSync(join(dir, out), 'utf8');
    // The only imports left are the Node-only dynamic ones, never reached in a page (navigator.gpu is used).
    const imports = [...bundle.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)|\bfrom\s*["']([^"']+)["']/g)].map((m) => m[1] ?? m[2]);
    expect(imports.filter((m) => m !== 'webgpu' && !m.startsWith('node:'))).toEqual([]);
    expect(bundle).not.toMatch(/["']sharp["']/); // not even as a module name
    expect(bundle).not.toMatch(/\.node["']/); // no native addon bundled
    const r = spawnSync(process.execPath, [out], { cwd: dir, encoding: 'utf8', timeout: 90_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  }, 200_000);
});
