/**
 * tools/make_resnet_fixture.py's fixture, made on demand (torchFixture) and loaded into our resnet34 by
 * src/bench/parity.ts; shared by the PyTorch parity tests.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { torchFixture } from './torch';
import { expectClose, relError } from './numeric';
import type { GpuRuntime } from '../../src/gpu/runtime';
import { openResnetFixture as open, fixtureStats, type ResnetFixture } from '../../src/bench/parity';

export { fixtureTrainStep, type ResnetFixture } from '../../src/bench/parity';

/** The fixture for a batch of `n` images of `size` px (made on first use), with the model loaded from its .pth. */
export function openResnetFixture(rt: GpuRuntime, n: number, size: number): ResnetFixture {
  const dir = torchFixture('resnet34', 'tools/make_resnet_fixture.py', ['--batch', String(n), '--size', String(size)]);
  const f = open(rt, new Uint8Array(readFileSync(join(dir, 'fixture.safetensors'))), new Uint8Array(readFileSync(join(dir, 'model.pth'))), dir);
  expect(f.loaded).toBe(f.inPth);
  return f;
}

/** expectClose that first prints the measured relative error, after `label` (the issue notes quote these numbers). */
export function printedClose(label: string): (actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string) => void {
  return (actual, expected, tol, what) => {
    console.log(`${label} ${what}: relative L2 error ${relError(actual, expected).toExponential(2)} (tolerance ${tol})`);
    expectClose(actual, expected, tol, what);
  };
}

/** The model's BatchNorm running statistics and batch counts after a train step, against PyTorch's (`after.*`). */
export async function expectStatsMatch(f: ResnetFixture, tol: number, close: ReturnType<typeof printedClose>): Promise<void> {
  for (const s of await fixtureStats(f)) {
    if (typeof s.got === 'number') expect(s.got, s.key).toBe(Number((s.want.data as BigInt64Array)[0]));
    else close(s.got, s.want.data as Float32Array, tol, s.key);
  }
}
