// The tiled matmul kernel (src/kernels/matmul/tiled.ts, matmul_tiled.wgsl): every configuration the adapter
// admits vs the float64 references over the cases of src/reference/matmul_tiled_cases.ts (the page's group
// src/web/gradcheck/matmul_tiled.ts runs the same case functions), its fused epilogues against the unfused
// path, the convolutions it serves, and the kernel choice on software and hardware adapters.
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { TOL, expectClose, randomArray } from './helpers/numeric';
import type { GpuRuntime } from '../src/gpu/runtime';
import { type KernelChoice, setKernelChooser } from '../src/kernels/config';
import { TILED_CONFIGS, hasSubgroupMatmul, matmul, matmulVariant, packedKernel, tiledFor, tiledNames } from '../src/kernels/matmul';
import { sharedBytesOf, threadsOf } from '../src/kernels/matmul/tiled';
import { convPlan, conv2dGeometry } from '../src/kernels/conv';
import { matmulRef } from '../src/reference/matmul';
import { TILED_CONV_CASES, TILED_EPILOGUE_CASES, TILED_SHAPES } from '../src/reference/matmul_tiled_cases';
import { GradCheckSuite } from '../src/web/gradcheck-cases';
import { type Comparison, matmulTiledGroup, tiledBatchCase, tiledConvCase, tiledEpilogueCase, tiledOpCase, tiledProductCase } from '../src/web/gradcheck/matmul_tiled';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

// A cold shader cache compiles each configuration's pipelines (three MODEs) on first use: tens of seconds on
// llvmpipe with the cores shared.
const SLOW = 600_000;

function expectAll(rs: Comparison[]): void {
  for (const r of rs) expectClose(r.got, r.want, r.tol, r.what);
}

const NAMES = tiledNames(await testRuntime());
let seed = 100;

describe('tiled configurations', () => {
  it('every configuration is a whole number of threads and vec4, and lavapipe admits them all', () => {
    for (const c of TILED_CONFIGS) {
      expect([c.bm, c.bn, c.tm, c.tn].every((v) => v % 4 === 0), c.name).toBe(true);
      expect(c.bm % c.tm === 0 && c.bn % c.tn === 0, c.name).toBe(true);
      expect(threadsOf(c)).toBeLessThanOrEqual(256);
      expect(sharedBytesOf(c)).toBeLessThanOrEqual(16384); // WebGPU's default limit
    }
    expect(NAMES).toEqual(TILED_CONFIGS.map((c) => c.name));
  });
});

for (const name of NAMES) describe(`tiled kernel ${name} vs float64 reference`, () => {
  it.each(TILED_SHAPES)('M=%i N=%i K=%i in every transpose form, bias per column, per row, none', async (M, N, K) => {
    for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      for (const biasPer of ['col', 'row', null] as const) expectAll(await tiledProductCase(rt, name, [M, N, K], tA, tB, biasPer, (seed += 3)));
    }
  }, SLOW);

  it('a batch with a shared A at element offsets; its sum accumulated onto C', async () => {
    expectAll(await tiledBatchCase(rt, name, (seed += 3)));
  });

  it.each(TILED_EPILOGUE_CASES.map((k) => [k.name, k] as const))('epilogue: %s (vs reference, and vs the unfused path where one exists)', async (_, k) => {
    const rs = await tiledEpilogueCase(rt, name, k, (seed += 6));
    expectAll(rs);
    if (k.perRow && !k.accumulate) expect(rs.some((r) => r.what.includes('unfused'))).toBe(true);
  });

  it('the matmul op forward and backward with the configuration chosen at the matmul site', async () => {
    expectAll(await tiledOpCase(rt, name, [7, 13, 33], (seed += 3)));
  }, SLOW);

  it.each(TILED_CONV_CASES)('conv2d %s: forward, dx, dw through the tiled kernel', async (_, s, alg) => {
    expectAll(await tiledConvCase(rt, name, s, alg, (seed += 4)));
  }, SLOW);
});

describe('tiled kernel edges', () => {
  const name = NAMES[NAMES.length - 1];

  it('K = 0 with an epilogue: bias, residual and ReLU alone', async () => {
    const [M, N] = [5, 6];
    const bias = randomArray(N, 7);
    const res = randomArray(M * N, 8);
    const [A, B, Bi, R, C] = [rt.alloc(16), rt.alloc(16), rt.upload(Float32Array.from(bias)), rt.upload(Float32Array.from(res)), rt.alloc(M * N * 4)];
    matmul(rt, A, B, C, M, N, 0, { bias: Bi, variant: name, epilogue: { residual: R, relu: true } });
    const got = new Float32Array(await rt.read(C, M * N * 4));
    expectClose(got, res.map((v, i) => Math.max(0, v + bias[i % N])), TOL.elementwise, 'K = 0');
    for (const b of [A, B, Bi, R, C]) rt.release(b);
  });

  it('an epilogue with a kernel that has none forced (vec4), a residual in C, or an unknown configuration is an error', () => {
    const [A, B, C] = [rt.alloc(64), rt.alloc(64), rt.alloc(64)];
    try {
      expect(() => matmul(rt, A, B, C, 2, 2, 2, { variant: 'vec4', epilogue: { relu: true } })).toThrow(/fused epilogue .* needs a tiled or the subgroup kernel, not 'vec4'/);
      expect(() => matmul(rt, A, B, C, 2, 2, 2, { variant: name, epilogue: { residual: C } })).toThrow(/residual must not be C's buffer/);
      expect(() => matmul(rt, A, B, C, 2, 2, 2, { variant: 'tiled-1x1x1-1x1' })).toThrow(/unknown tiled configuration 'tiled-1x1x1-1x1'/);
    } finally {
      for (const b of [A, B, C]) rt.release(b);
    }
  });

  it('without a variant, an epilogue runs on the shape\'s tiled configuration (same result as forcing it)', async () => {
    const [M, N, K] = [9, 10, 11];
    const a = randomArray(M * K, 1);
    const b = randomArray(K * N, 2);
    const [A, B, C] = [rt.upload(Float32Array.from(a)), rt.upload(Float32Array.from(b)), rt.alloc(M * N * 4)];
    matmul(rt, A, B, C, M, N, K, { epilogue: { relu: true } });
    expectClose(new Float32Array(await rt.read(C, M * N * 4)), matmulRef(a, b, M, K, N).map((v) => Math.max(v, 0)), TOL.reduction, 'relu');
    for (const x of [A, B, C]) rt.release(x);
  });
});

/** A runtime stand-in for the choices: a hardware (or software) adapter with lavapipe's limits and no subgroups. */
const fakeRuntime = (isSoftware: boolean) => ({ isSoftware, adapter: { name: isSoftware ? 'swiftshader-like' : 'gpu', description: '' }, features: new Set<string>(), device: {}, limits: rt.limits }) as unknown as GpuRuntime;

describe('the kernel choice', () => {
  it('software adapters keep today\'s picks; the tiled configurations are candidates of the matmul site', () => {
    const seen: KernelChoice<unknown>[] = [];
    const restore = setKernelChooser(rt, (_rt, c) => {
      seen.push(c);
      return undefined;
    });
    try {
      const sg = hasSubgroupMatmul(rt);
      expect(matmulVariant(rt, 1024, 1024, 1024)).toBe(sg ? 'subgroup' : 'vec4');
      expect(matmulVariant(rt, 4, 1000, 512)).toBe(sg ? 'portable' : 'vec4');
      expect(packedKernel(rt, '8x8x8 x16', 8, 8, 16, false)).toBe(sg ? 'subgroup' : 'vec4');
      expect(matmulVariant(fakeRuntime(true), 1024, 1024, 1024)).toBe('vec4');
    } finally {
      restore();
    }
    expect(seen[0]).toMatchObject({ site: 'matmul', shape: '1024x1024x1024' });
    for (const n of NAMES) expect(seen[0].candidates).toContain(n);
    expect(seen[2].candidates).not.toContain('portable');
  });

  it('hardware adapters take the tiled kernel by shape: big tiles where they fill the GPU, small ones for small products', () => {
    const gpu = fakeRuntime(false);
    expect(matmulVariant(gpu, 4096, 4096, 4096)).toBe('tiled-128x128x8-8x8');
    expect(matmulVariant(gpu, 1024, 1024, 1024)).toBe('tiled-64x64x16-4x4');
    expect(matmulVariant(gpu, 8, 1000, 512)).toBe('tiled-32x32x16-4x4');
    expect(tiledFor(gpu, 256, 256, 36)).toBe('tiled-128x64x8-8x4'); // a Winograd batch: 36 · 8 tiles of 128 × 64
    // The convolutions' gathers (no vec4 candidate) and batched products.
    expect(packedKernel(gpu, '64x3136x576 implicit.forward', 64, 3136, 1, true)).toMatch(/^tiled-/);
    expect(packedKernel(fakeRuntime(true), '64x3136x576 implicit.forward', 64, 3136, 1, true)).toMatch(/^tiled-/);
  });

  it('hardware adapters run the implicit algorithm where Winograd does not apply; SwiftShader-like ones keep im2col', () => {
    const g = conv2dGeometry([8, 64, 56, 56], [128, 64, 3, 3], 2, 1);
    expect(convPlan(fakeRuntime(false), g, 'forward').algorithm).toBe('implicit');
    expect(convPlan(fakeRuntime(false), g, 'weight').algorithm).toBe('implicit');
    expect(convPlan(fakeRuntime(true), g, 'forward').algorithm).toBe('im2col');
  });
});

describe("the page's tiled-matmul group (src/web/gradcheck/matmul_tiled.ts)", () => {
  it('passes on this adapter, covers every configuration it names, and frees every buffer', async () => {
    const suite = new GradCheckSuite(rt);
    const live = rt.poolStats().liveBuffers;
    await matmulTiledGroup.run(suite);
    expect(suite.results.filter((r) => !r.ok)).toEqual([]);
    for (const k of matmulTiledGroup.kernels) expect(suite.results.some((r) => r.kernel === k), k).toBe(true);
    expect(suite.results.filter((r) => r.name.includes('dispatched')).length).toBeGreaterThan(0);
    expect(rt.poolStats().liveBuffers).toBe(live);
  }, SLOW);
});
