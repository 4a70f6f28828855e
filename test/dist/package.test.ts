/**
 * The package as a user gets it: `npm pack`, installed from the tarball into a fresh project; its types
 * checked under NodeNext, Node16 and Bundler resolution (strict, skipLibCheck off); a script importing it
 * runs; every subcommand of the bin answers --help; publint and arethetypeswrong find no problem.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const root = resolve('.');
const require = createRequire(import.meta.url);
const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
let dir = '';
let tarball = '';

describe('the npm package', () => {
  beforeAll(() => {
    if (!existsSync('dist/types/index.d.ts') || !existsSync('dist/cli.js')) execFileSync(process.execPath, ['build.mjs'], { stdio: 'inherit' });
    dir = mkdtempSync(join(tmpdir(), 'wgr-pkg-'));
    npm(['pack', '--silent', '--pack-destination', dir], root);
    tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    // Dependencies come from the npm cache filled by `npm ci` (no second download of Dawn).
    npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball, `typescript@${require('typescript/package.json').version}`, `@types/node@${require('@types/node/package.json').version}`], dir);
  }, 300_000);

  it('ships dist, the types, the page, LICENSE and README, and nothing else', () => {
    const list = JSON.parse(npm(['pack', '--dry-run', '--json'], root))[0].files.map((f: { path: string }) => f.path) as string[];
    for (const f of ['dist/index.js', 'dist/cli.js', 'dist/train.js', 'dist/predict.js', 'dist/decode-worker.js', 'dist/types/index.d.ts', 'dist/web/index.html', 'dist/web/worker.js', 'LICENSE', 'README.md', 'package.json']) {
      expect(list).toContain(f);
    }
    expect(list.filter((f) => /^(src|test|tools|scripts|shaders|docs)\//.test(f))).toEqual([]);
    expect(list.filter((f) => f.startsWith('dist/web/') && f.endsWith('.map'))).toEqual([]);
  });

  it.each(['NodeNext', 'Node16', 'Bundler'])('its types check under %s resolution, strict, without skipLibCheck', (mode) => {
    writeFileSync(
      join(dir, 'main.ts'),
      `import { initGpu, Tensor, tidy, resnet18, SGD, DataLoader, loadImageFolder, type GpuRuntime, type TrainConfig, type RGBImage } from 'webgpu-resnet';
       import { nodeFileLister, WorkerDecoderPool } from 'webgpu-resnet/node';
       void DataLoader; void loadImageFolder; void nodeFileLister; void WorkerDecoderPool; void (null as unknown as RGBImage);
       export async function f(): Promise<number[]> {
         const rt: GpuRuntime = await initGpu();
         const m = resnet18({ numClasses: 3 });
         const opt = new SGD(m.parameters(), { lr: 0.1 });
         void opt; void (null as unknown as TrainConfig);
         const y = tidy(() => Tensor.full([2], 1, rt).add(Tensor.full([2], 2, rt)));
         return Array.from(await y.toArray());
       }\n`,
    );
    const module = mode === 'Bundler' ? 'ESNext' : mode;
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module, moduleResolution: mode, strict: true, skipLibCheck: false, noEmit: true, types: ['node'] }, files: ['main.ts'] }));
    const r = spawnSync(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('runs from the installed package', () => {
    writeFileSync(
      join(dir, 'run.mjs'),
      `import { initGpu, Tensor, tidy } from 'webgpu-resnet';
       const rt = await initGpu();
       const y = tidy(() => Tensor.full([3], 1.5, rt).add(Tensor.full([3], 1, rt)));
       console.log(JSON.stringify(Array.from(await y.toArray())));
       process.exit(0);\n`,
    );
    const r = spawnSync(process.execPath, ['run.mjs'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n').pop()).toBe('[2.5,2.5,2.5]');
  });

  it("the data pipeline: 'webgpu-resnet/node' lists and decodes an ImageFolder, the root's DataLoader batches it", async () => {
    const sharp = (await import('sharp')).default;
    for (const cls of ['cat', 'dog']) {
      for (let i = 0; i < 3; i++) {
        mkdirSync(join(dir, 'imgs', cls), { recursive: true });
        const px = Buffer.alloc(20 * 16 * 3, cls === 'cat' ? 40 + i : 200 - i);
        await sharp(px, { raw: { width: 20, height: 16, channels: 3 } }).png().toFile(join(dir, 'imgs', cls, `${i}.png`));
      }
    }
    writeFileSync(
      join(dir, 'data.mjs'),
      `import { loadImageFolder, DataLoader, InProcessDecoderPool } from 'webgpu-resnet';
       import { nodeFileLister, decodeImageFile } from 'webgpu-resnet/node';
       const ds = await loadImageFolder(nodeFileLister, 'imgs', { fractions: { train: 1, val: 0, test: 0 } });
       const loader = new DataLoader({ samples: ds.train, pool: new InProcessDecoderPool(decodeImageFile), batchSize: 4, mode: 'eval', imageSize: 8 });
       const sizes = [];
       for await (const b of loader.epoch(0)) sizes.push([b.labels.length, b.images.length]);
       console.log(JSON.stringify({ classes: ds.classes, n: ds.train.length, sizes }));\n`,
    );
    const r = spawnSync(process.execPath, ['data.mjs'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout.trim())).toEqual({ classes: ['cat', 'dog'], n: 6, sizes: [[4, 4 * 3 * 64], [2, 2 * 3 * 64]] });
  });

  it.each(['train', 'predict', 'convert', 'bench', 'serve'])('npx webgpu-resnet %s --help', (cmd) => {
    const r = spawnSync('npx', ['--no-install', 'webgpu-resnet', cmd, '--help'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/usage:/);
  });

  it('the bin lists its commands, and refuses an unknown one', () => {
    const ok = spawnSync('npx', ['--no-install', 'webgpu-resnet', '--help'], { cwd: dir, encoding: 'utf8' });
    expect(ok.status).toBe(0);
    for (const c of ['train', 'predict', 'convert', 'bench', 'serve']) expect(ok.stdout).toContain(`  ${c} `);
    const bad = spawnSync('npx', ['--no-install', 'webgpu-resnet', 'trian'], { cwd: dir, encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("unknown command 'trian'");
  });

  it('publint and arethetypeswrong find no problem (ESM only, by design)', () => {
    const p = spawnSync('npx', ['--no-install', 'publint', '--strict'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(p.stdout + p.stderr).toMatch(/All good/);
    expect(p.status).toBe(0);
    const a = spawnSync('npx', ['--no-install', 'attw', '--profile', 'esm-only', tarball], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(a.status, a.stdout + a.stderr).toBe(0);
  });
});
