/**
 * tuneModel: tune the kernel choices of a model's training step before training (see kernels/tune). One
 * forward and backward pass on random input records every kernel choice the step makes; each is then timed
 * on scratch buffers. The model comes back as it was: batch norm's running statistics are restored and the
 * gradients it held are put back.
 */
import type { GpuRuntime } from '../gpu/runtime';
import { Tensor } from '../autograd/tensor';
import { autocast, tidy } from '../autograd/scope';
import { toDtype } from '../autograd/ops/half';
import { hasF16 } from '../kernels/cast';
import type { Precision } from './config';
import { ScalarState, type Module } from '../nn/module';
import { type TuneOptions, type TuneTarget, recordChoices, tuneTargets } from '../kernels/tune/tuner';
import { type TunedChoice, TuneTable, useTuneTable } from '../kernels/tune/cache';

/**
 * The kernel choices of one training step of `model` on input of `inputShape` ([N, C, H, W]): a forward
 * pass in training mode and a backward pass from the sum of the outputs. The model is left as it was.
 * `serve`: the step runs with that table's picks (see recordChoices). `precision` 'f16': the step of a float16
 * run (the forward under autocast), where the adapter has shader-f16.
 */
export async function recordModelChoices(rt: GpuRuntime, model: Module, inputShape: readonly number[], serve?: TuneTable, precision: Precision = 'f32'): Promise<TuneTarget[]> {
  const wasTraining = model.training;
  const state = [...model.stateDict().entries()];
  const params = new Set(model.parameters());
  // Buffers the step changes (running statistics): copied on the GPU, put back afterwards.
  const saved = state.filter(([, v]) => v instanceof Tensor && !params.has(v)).map(([, v]) => {
    const t = v as Tensor;
    const copy = rt.alloc(t.buffer.size);
    rt.copy(t.buffer, 0, copy, 0, t.buffer.size, 'tune-save');
    return { t, copy };
  });
  const scalars = state.filter(([, v]) => v instanceof ScalarState).map(([, v]) => ({ s: v as ScalarState, value: (v as ScalarState).value }));
  // Gradients the model holds are set aside, so that the pass does not add to them.
  const grads = model.parameters().map((p) => {
    const g = p.grad;
    p.grad = null;
    return { p, g };
  });
  const x = Tensor.randn([...inputShape], 1, 0, 1, rt);
  try {
    model.train();
    // In float16 (where the adapter has shader-f16) the forward runs under autocast, as trainStep's does: its
    // convolutions and products make the float16 path's choices (keyed ' f16'), which a float32 step never makes.
    const f16 = precision === 'f16' && hasF16(rt);
    return await recordChoices(
      rt,
      () =>
        tidy(() => {
          const y = autocast(() => model.forward(x), { enabled: f16 });
          (y.dtype === 'f16' ? toDtype(y, 'f32') : y).sum().backward();
        }),
      serve,
    );
  } finally {
    x.dispose();
    for (const { t, copy } of saved) {
      rt.copy(copy, 0, t.buffer, 0, t.buffer.size, 'tune-restore');
      rt.release(copy);
    }
    for (const { s, value } of scalars) s.value = value;
    for (const { p, g } of grads) {
      p.zeroGrad();
      p.grad = g;
    }
    model.train(wasTraining);
  }
}

/** TuneOptions, and the precision of the training step to tune (default 'f32'; see recordModelChoices). */
export interface ModelTuneOptions extends TuneOptions {
  precision?: Precision;
}

/**
 * Tune the kernel choices of `model`'s training step at `inputShape` ([N, C, H, W]) on this adapter, and route
 * the runtime's choices through the result (opts.table, with the new choices added, or a new table). Returns
 * the choices tuned now. It waits on the GPU many times: call it before training, not between steps.
 */
export async function tuneModel(rt: GpuRuntime, model: Module, inputShape: readonly number[], opts: ModelTuneOptions = {}): Promise<TunedChoice[]> {
  const table = opts.table ?? new TuneTable();
  const choices = await tuneModelChoices(rt, model, inputShape, { ...opts, table });
  useTuneTable(rt, table);
  return choices;
}

/**
 * Tune the choices of `model`'s training step into opts.table (required): the choices of a step with the
 * heuristic's picks (or `first`: those and others, already recorded), then those of a step with the tuned
 * picks that the first did not make (the products inside a convolution whose algorithm the tuning changed:
 * Winograd F(2×2)'s instead of F(4×4)'s, an implicit GEMM's gathers). Returns the choices tuned now.
 */
export async function tuneModelChoices(rt: GpuRuntime, model: Module, inputShape: readonly number[], opts: ModelTuneOptions & { table: TuneTable }, first?: readonly TuneTarget[]): Promise<TunedChoice[]> {
  const choices = await tuneTargets(rt, first ?? (await recordModelChoices(rt, model, inputShape, undefined, opts.precision)), opts);
  const tuned = new Set(choices.map((c) => `${c.site} ${c.shape}`));
  const more = (await recordModelChoices(rt, model, inputShape, opts.table, opts.precision)).filter((t) => !tuned.has(`${t.site} ${t.shape}`) && opts.table.get(t.site, t.shape) === undefined);
  return [...choices, ...(await tuneTargets(rt, more, opts))];
}
