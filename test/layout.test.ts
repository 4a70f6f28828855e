/**
 * The repository's layout rules, checked on the files themselves (no GPU, no build):
 * - nothing under src/ imports from test/ (what ships must not depend on test code; the float64 references and
 *   the numerics cases that the browser's gradient-check page runs live in src/reference/);
 * - no file points at a document outside the repository (the design notes it was written from are not shipped);
 * - Node-only code is marked: static Node imports only in *.node.ts files, src/cli/ and src/node.ts;
 * - the tests that run the build (dist/) are in test/dist/;
 * - every folder that tsconfig.json includes exists.
 */
import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const root = resolve(__dirname, '..');

function walk(dir: string, keep: (f: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name.startsWith('.') ? [] : walk(p, keep);
    return keep(p) ? [p] : [];
  });
}

/** Every module specifier of a TS file: static imports and exports, dynamic import() and import type. */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\b(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) out.push(m[1]);
  return out;
}

/** The specifiers of `file` that resolve into test/ (relative ones, or ones naming the folder). */
function importsFromTest(file: string, text: string): string[] {
  const testDir = join(root, 'test') + sep;
  return specifiers(text).filter((s) => (s.startsWith('.') ? resolve(dirname(file), s).startsWith(testDir) || resolve(dirname(file), s) === testDir.slice(0, -1) : /^test\//.test(s)));
}

describe('layout', () => {
  it('no file under src/ imports from test/', () => {
    const files = walk(join(root, 'src'), (f) => /\.(ts|mts|js|mjs)$/.test(f));
    expect(files.length).toBeGreaterThan(50);
    const bad = files.flatMap((f) => importsFromTest(f, readFileSync(f, 'utf8')).map((s) => `${relative(root, f)} imports '${s}'`));
    expect(bad, 'src/ must not import test code: move what it needs under src/ (e.g. src/reference/)').toEqual([]);
  });

  it('the import check sees static, type-only and dynamic imports from test/ (and not src/reference/)', () => {
    const f = join(root, 'src/web/x.ts');
    expect(importsFromTest(f, "import { a } from '../../test/reference/conv';")).toEqual(['../../test/reference/conv']);
    expect(importsFromTest(f, "import type { T } from '../../test/helpers/math'")).toEqual(['../../test/helpers/math']);
    expect(importsFromTest(f, "const m = await import('../../test/helpers/gpu');")).toEqual(['../../test/helpers/gpu']);
    expect(importsFromTest(f, "export * from '../../test';")).toEqual(['../../test']);
    expect(importsFromTest(f, "import { a } from '../reference/conv';\nimport { b } from '../../tests-not/x';")).toEqual([]);
  });

  it('no file points at a document outside the repository', () => {
    const pending: string[] = [];
    const files = ['src', 'test', 'tools', 'scripts']
      .flatMap((d) => walk(join(root, d), (f) => /\.(ts|mts|js|mjs|wgsl|py|sh|html|css)$/.test(f)))
      .concat(['build.mjs', 'vitest.config.ts', 'package.json', 'tsconfig.json'].map((f) => join(root, f)))
      .filter((f) => !pending.some((p) => relative(root, f).startsWith(p)) && f !== __filename);
    const outside = /\.\.\/shared\b|\bDESIGN\.md\b|\bADAPTERS\.md\b|\bDEVICE\.md\b/;
    const bad = files.flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .flatMap((line, i) => (outside.test(line) ? [`${relative(root, f)}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(bad).toEqual([]);
  });

  it('Node-only code is marked: static Node imports only in *.node.ts, src/cli/ and src/node.ts, and nothing else imports those statically', () => {
    const nodeSide = (rel: string) => /\.node\.ts$/.test(rel) || rel.startsWith('src/cli/') || rel === 'src/node.ts';
    const files = walk(join(root, 'src'), (f) => f.endsWith('.ts'));
    const bad: string[] = [];
    for (const f of files) {
      const rel = relative(root, f).split(sep).join('/');
      if (nodeSide(rel)) continue;
      // Static imports only (a dynamic import() of Node-only code is how shared code reaches it, never run in a browser).
      for (const m of readFileSync(f, 'utf8').matchAll(/^\s*(?:import|export)\s[^;]*?\bfrom\s+['"]([^'"]+)['"]/gm)) {
        const s = m[1];
        const target = s.startsWith('.') ? relative(root, resolve(dirname(f), s)).split(sep).join('/') : '';
        if (/^node:|^(sharp|webgpu|worker_threads|fs|path|os)$/.test(s) || (target && nodeSide(`${target}.ts`) && !/^src\/cli\//.test(target))) bad.push(`${rel} imports '${s}'`);
      }
    }
    expect(bad, 'Node-only code goes in a *.node.ts file (or src/cli/); shared code reaches it by a dynamic import()').toEqual([]);
    const marked = files.map((f) => relative(root, f).split(sep).join('/')).filter((r) => /\.(node|browser)\.ts$/.test(r));
    expect(marked.length).toBeGreaterThanOrEqual(8);
  });

  it('the tests that run the build (dist/) are in test/dist/', () => {
    // Files that still mix in-process tests with a few that run dist/ (to split; none left: keep it that way).
    const mixed: string[] = [];
    const files = walk(join(root, 'test'), (f) => f.endsWith('.test.ts')).map((f) => relative(root, f).split(sep).join('/'));
    const bad = files.filter((f) => !f.startsWith('test/dist/') && !mixed.includes(f) && /['"`](\.\/)?dist\/|join\(\s*['"]dist['"]/.test(readFileSync(join(root, f), 'utf8')));
    expect(bad, 'a test that runs dist/ goes in test/dist/').toEqual([]);
    expect(files.filter((f) => f.startsWith('test/dist/')).length).toBeGreaterThanOrEqual(10);
  });

  it('every folder or file tsconfig.json includes exists', () => {
    const config = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')) as { include: string[] };
    const missing = config.include.filter((p) => !existsSync(join(root, p)) || (!p.includes('.') && !statSync(join(root, p)).isDirectory()));
    expect(missing).toEqual([]);
  });
});
