import { defineConfig } from 'vitest/config';
import { readFileSync } from 'node:fs';

// Import *.wgsl (each kernel family's shaders, beside its launcher) as text, exactly as esbuild's text loader does in build.mjs.
const wgslAsText = {
  name: 'wgsl-as-text',
  enforce: 'pre' as const,
  load(id: string) {
    if (id.endsWith('.wgsl')) return `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`;
    return null;
  },
};

export default defineConfig({
  plugins: [wgslAsText],
  test: {
    // test/dist/ runs what ships (dist/: the CLIs, the page, the package): `npm test` builds it first (pretest).
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One GPU device per worker; software adapters use every core, so run files one at a time.
    fileParallelism: false,
    pool: 'forks',
  },
});
