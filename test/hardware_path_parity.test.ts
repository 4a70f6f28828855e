/**
 * The GPU path against PyTorch, on the software adapter. A hardware adapter makes other kernel choices than
 * lavapipe: every product on a tiled GEMM configuration (tiledFor), implicit-GEMM convolutions through the
 * tiled kernels' gathers where Winograd does not apply, Winograd's batched products on them, the tiled
 * kernels' fused epilogues in inference (conv + batch norm + residual + ReLU), and batch norm's tree
 * reductions. Each kernel has its own gradient checks; this file checks them composed into ResNet-34, with the
 * runtime told to choose as on a GPU (GpuRuntime.setAdapterKind), against the same PyTorch fixture and
 * tolerances as test/resnet_parity.test.ts, and that the path really ran (no subgroup kernel, tiled ones).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import { torchAvailable, FIXTURE_TIMEOUT_MS } from './helpers/torch';
import { openResnetFixture, fixtureTrainStep, printedClose, expectStatsMatch, type ResnetFixture } from './helpers/resnet_fixture';
import { PARITY_TOLERANCES, fixtureEvalLogits } from '../src/bench/parity';
import type { GpuRuntime, DispatchSpec } from '../src/gpu/runtime';
import { setKernelChooser, type KernelChoice } from '../src/kernels/config';

const hasTorch = torchAvailable();
// The whole-model tolerances (relative L2): logits and loss 1e-4, running statistics 1e-5, gradients 1e-3.
const { model: MODEL_TOL, stats: STATS_TOL, grad: GRAD_TOL } = PARITY_TOLERANCES;
const expectClose = printedClose('GPU path parity');

describe.runIf(hasTorch)('PyTorch parity of the GPU kernel path: resnet34 with the recipe head', () => {
  let rt: GpuRuntime;
  let f: ResnetFixture;
  const [N, S] = [2, 224];
  /** The choices made and the kernels dispatched (by contract name), over the whole file. */
  const choices: KernelChoice<unknown>[] = [];
  const kernels = new Map<string, number>();

  beforeAll(async () => {
    rt = await testRuntime();
    rt.setAdapterKind('hardware');
    rt.poison = false; // big model: skip NaN-filling every buffer (the op tests do that)
    setKernelChooser(rt, (_rt, c) => {
      choices.push(c);
      return undefined; // the heuristic's pick, as on a GPU without a tune cache
    });
    rt.dispatchLog = (s: DispatchSpec) => kernels.set(s.kernel ?? s.op, (kernels.get(s.kernel ?? s.op) ?? 0) + 1);
    f = openResnetFixture(rt, N, S);
  }, FIXTURE_TIMEOUT_MS);

  afterAll(() => {
    f?.dispose();
    if (rt) {
      rt.dispatchLog = null;
      setKernelChooser(rt, null);
      rt.setAdapterKind(null);
    }
  });

  it('eval-mode logits match PyTorch, with the convolutions and batch norms fused', async () => {
    kernels.clear();
    expectClose(await fixtureEvalLogits(f), f.fx.get('eval_logits')!.data as Float32Array, MODEL_TOL, 'eval logits');
    // Inference folds every batch norm into its convolution: no batch norm kernel ran.
    expect([...kernels.keys()].filter((k) => k.startsWith('batchnorm/batchnorm.wgsl'))).toEqual([]);
    expect(kernels.get('batchnorm/fold.wgsl')).toBeGreaterThan(0);
  });

  it('train-mode logits, loss, gradients and BatchNorm statistics match PyTorch', async () => {
    const { logits, loss, grads } = await fixtureTrainStep(f, rt);
    expectClose(logits, f.fx.get('train_logits')!.data as Float32Array, MODEL_TOL, 'train logits');
    expectClose(loss, f.fx.get('train_loss')!.data as Float32Array, MODEL_TOL, 'loss');
    for (const [k, v] of f.fx) {
      if (!k.startsWith('grad.')) continue;
      const got = grads.get(k.slice(5));
      expect(got, k).toBeDefined();
      expectClose(got!, v.data as Float32Array, GRAD_TOL, `${k} vs float64`);
    }
    await expectStatsMatch(f, STATS_TOL, expectClose);
  });

  it('the GPU path ran: tiled GEMMs and implicit GEMM, no subgroup or vec4 kernel, tree reductions', () => {
    const picks = (site: string) => choices.filter((c) => c.site === site).map((c) => `${c.heuristic}`);
    const matmuls = picks('matmul');
    expect(matmuls.length).toBeGreaterThan(0);
    expect(matmuls.filter((p) => !p.startsWith('tiled-'))).toEqual([]);
    const convs = choices.filter((c) => c.site.startsWith('conv2d.')).map((c) => `${c.heuristic}`);
    expect(new Set(convs)).toEqual(new Set(['winograd4', 'implicit', 'im2col']));
    const reductions = picks('batchnorm.reduce');
    expect(reductions.length).toBeGreaterThan(0);
    expect(new Set(reductions)).toEqual(new Set(['tree']));
    const names = [...kernels.keys()];
    expect(names.filter((k) => /matmul_(subgroup|vec4)\.wgsl/.test(k))).toEqual([]);
    expect(names.some((k) => k.startsWith('matmul/matmul_tiled.wgsl'))).toBe(true);
    console.log(`GPU path kernels: ${names.sort().join(', ')}`);
  });
});
