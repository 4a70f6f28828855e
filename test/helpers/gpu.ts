/** One GPU runtime per test file (vitest runs files one at a time, see vitest.config.ts). */
import { initGpu } from '../../src/gpu/init';
import type { GpuRuntime } from '../../src/gpu/runtime';

let rt: Promise<GpuRuntime> | null = null;

export function testRuntime(): Promise<GpuRuntime> {
  if (!rt) {
    rt = initGpu().then((r) => {
      r.poison = true; // unwritten outputs read back as NaN
      // eslint-disable-next-line no-console
      console.log(`[gpu] adapter: ${r.adapter.name}`);
      return r;
    });
  }
  return rt;
}

/** The entry point of every dispatch that `fn` asks `rt` for (`main` where a dispatch names none). */
export function dispatchEntries(rt: GpuRuntime, fn: () => void): string[] {
  const entries: string[] = [];
  const outer = rt.dispatchLog;
  rt.dispatchLog = (spec) => {
    entries.push(spec.entry ?? 'main');
    outer?.(spec);
  };
  try {
    fn();
  } finally {
    rt.dispatchLog = outer;
  }
  return entries;
}
