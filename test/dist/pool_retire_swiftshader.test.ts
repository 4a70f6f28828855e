/**
 * A buffer that the pool gives up while commands that name it are encoded but not yet submitted must be destroyed
 * only after the submit (the in-process tests are in test/pool_retire.test.ts). Here: the same on the SwiftShader
 * Vulkan driver where it is installed, in a child process that imports the build.
 */
import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import { spawnSync, execFileSync } from 'node:child_process';

describe('buffers given up by the pool while work that uses them is pending', () => {
  const icd = '/usr/lib/chromium/vk_swiftshader_icd.json';
  it.skipIf(!existsSync(icd))('the same on the SwiftShader driver (a child process)', () => {
    if (!existsSync('dist/index.js')) execFileSync(process.execPath, ['build.mjs', '--no-types'], { stdio: 'inherit' });
    const script = `
      import { initGpu } from './dist/index.js';
      const rt = await initGpu({ poolMaxFreeBytes: 0 });
      const n = 1000;
      const a = rt.upload(Float32Array.from({ length: n }, (_, i) => i));
      const b = rt.alloc(n * 4);
      // b = 2a through a dispatch-free copy and the release of a before the submit
      rt.copy(a, 0, b, 0, n * 4);
      rt.release(a);
      rt.trimPool();
      const out = new Float32Array(await rt.read(b, n * 4));
      console.log(JSON.stringify({ adapter: rt.adapter.name, v: [out[0], out[1], out[999]] }));
      rt.destroy();
      process.exit(0);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, VK_ICD_FILENAMES: icd, WEBGPU_ADAPTER: '' },
    });
    expect(r.stderr).not.toMatch(/destroyed|validation/i);
    expect(r.status).toBe(0);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(res.adapter.toLowerCase()).toContain('swiftshader');
    expect(res.v).toEqual([0, 1, 999]);
  });
});
