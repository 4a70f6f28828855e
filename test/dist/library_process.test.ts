/** The built library (dist/index.js) in a fresh Node process: what initGpu changes in the process, and that destroy() undoes it. */
import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

describe("initGpu's changes to a Node process", () => {
  it('are undone when the runtime is destroyed', () => {
    if (!existsSync('dist/index.js')) execFileSync(process.execPath, ['build.mjs', '--no-types'], { stdio: 'inherit' });
    const script = `
      import { initGpu } from './dist/index.js';
      const before = { si: globalThis.setImmediate, ci: globalThis.clearImmediate, usage: typeof globalThis.GPUBufferUsage, xdg: process.env.XDG_RUNTIME_DIR };
      const rt = await initGpu();
      const during = { usage: typeof globalThis.GPUBufferUsage, siWrapped: globalThis.setImmediate !== before.si, xdg: process.env.XDG_RUNTIME_DIR };
      rt.destroy();
      const after = { usage: typeof globalThis.GPUBufferUsage, siSame: globalThis.setImmediate === before.si, ciSame: globalThis.clearImmediate === before.ci, xdg: process.env.XDG_RUNTIME_DIR };
      console.log(JSON.stringify({ before: { usage: before.usage, xdg: before.xdg ?? null }, during, after: { ...after, xdg: after.xdg ?? null } }));
      process.exit(0);`;
    const env = { ...process.env };
    delete env.XDG_RUNTIME_DIR;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    expect(r.before).toEqual({ usage: 'undefined', xdg: null });
    expect(r.during.usage).not.toBe('undefined');
    expect(r.during.siWrapped).toBe(true);
    expect(r.during.xdg).toMatch(/xdg-/);
    expect(r.after).toEqual({ usage: 'undefined', siSame: true, ciSame: true, xdg: null });
  });
});
