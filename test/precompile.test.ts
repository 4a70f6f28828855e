/**
 * Pipeline compilation ahead of the work (GpuRuntime.precompile, src/gpu/compile.ts): every new pipeline of a
 * step is created once, all at once, before any of the step runs; a later step creates none; a kernel that
 * does not compile is named in the error; the work deferred meanwhile gives the same numbers as work run
 * directly. Also the trainer's and the CLI's compile progress.
 */
import { describe, it, expect, beforeAll, vi } from 'vitest';
import { initGpu } from '../src/gpu/init';
import { GpuRuntime } from '../src/gpu/runtime';
import { setRuntime } from '../src/gpu/current';
import { GpuOpError } from '../src/gpu/errors';
import { WarmUpDevice } from '../src/gpu/compile';
import { Tensor } from '../src/autograd/tensor';
import { noGrad } from '../src/autograd/scope';
import { resnet } from '../src/nn/resnet';
import { SGD } from '../src/train/sgd';
import { trainStep, type CompileProgress } from '../src/train/trainer';
import { MemoryStore } from '../src/train/io';
import { CompileStatus, compileLine } from '../src/cli/progress';
import { TINY_CONFIG, defaultSplits, tinyTrainer } from './helpers/tiny-trainer';

let rt: GpuRuntime;
beforeAll(async () => {
  // Two compile devices: on lavapipe a precompile warms pipelines on this device and on one helper.
  rt = await initGpu({ compileDevices: 2 });
});

/** A kernel that writes `value + i` into out[i]; `token` makes its WGSL (and so its pipeline) new. */
function fillKernel(token: string, scale = 1): string {
  return `// ${token}
override SCALE: f32 = 1.0;
struct P { n: u32, value: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < p.n) { out[g.x] = SCALE * (p.value + f32(g.x)) * ${scale.toFixed(1)}; }
}`;
}

function fill(shader: string, out: Tensor, value: number, constants?: Record<string, number>): void {
  const u = new ArrayBuffer(8);
  new Uint32Array(u, 0, 1)[0] = out.size;
  new Float32Array(u, 4, 1)[0] = value;
  rt.dispatch({ op: `fill-test[${out.size}]`, shader, constants, uniforms: new Uint8Array(u), bindings: [out.buffer], workgroups: [Math.ceil(out.size / 64)] });
}

/** Records createComputePipelineAsync calls on the runtime's device: when each started and when it resolved. */
function spyCreations(): { log: string[]; count: () => number; restore: () => void } {
  const device = rt.device;
  const log: string[] = [];
  let n = 0;
  const real = device.createComputePipelineAsync.bind(device);
  const spy = vi.spyOn(device, 'createComputePipelineAsync').mockImplementation((d) => {
    const i = n++;
    log.push(`start ${i}`);
    return real(d).then((p) => {
      log.push(`end ${i}`);
      return p;
    });
  });
  return { log, count: () => n, restore: () => spy.mockRestore() };
}

describe('precompile', () => {
  it('creates each new pipeline once, all of them before any is ready, and runs the work in order afterwards', async () => {
    const was = rt.compilesOnFirstDispatch;
    rt.compilesOnFirstDispatch = false; // a driver that compiles at creation (a GPU): the creations are the compile
    const spy = spyCreations();
    try {
      const token = `parallel ${Math.random()}`;
      const shaders = [0, 1, 2].map((i) => fillKernel(`${token} ${i}`, i + 1));
      const a = Tensor.empty([37], 'f32', rt);
      const progress: [number, number][] = [];
      const compiled = rt.precompile((done, total) => progress.push([done, total]));
      // 3 shaders, one of them with two override sets: 4 pipelines; each dispatched twice.
      for (const s of shaders) fill(s, a, 1);
      fill(shaders[0], a, 2, { SCALE: 2 });
      for (const s of shaders) fill(s, a, 3);
      fill(shaders[0], a, 5, { SCALE: 2 }); // the last write wins: out[i] = 2 · (5 + i)
      expect(spy.count()).toBe(4);
      const out = await a.toArray();
      const r = await compiled;
      expect(r.pipelines).toBe(4);
      // All four creations started before the first one finished: in parallel, not one by one.
      expect(spy.log.slice(0, 4)).toEqual(['start 0', 'start 1', 'start 2', 'start 3']);
      expect(spy.log.filter((e) => e.startsWith('end'))).toHaveLength(4);
      expect(progress[0]).toEqual([0, 4]);
      expect(progress[progress.length - 1]).toEqual([4, 4]);
      expect(Array.from(out)).toEqual(Array.from({ length: 37 }, (_, i) => 2 * (5 + i)));
      // Again: nothing new to create, and the work runs at once.
      fill(shaders[1], a, 7);
      expect(spy.count()).toBe(4);
      expect((await a.toArray())[3]).toBe(2 * (7 + 3));
      a.dispose();
    } finally {
      spy.restore();
      rt.compilesOnFirstDispatch = was;
    }
  });

  it('a ResNet step: one session for its pipelines, a second step creates none, the same numbers as without it', async () => {
    const bs = 2;
    const size = 32;
    const xs = Float32Array.from({ length: bs * 3 * size * size }, (_, i) => Math.sin(i * 0.37));
    const ys = Int32Array.from({ length: bs }, (_, i) => i % 3);
    const run = async (precompile: boolean) => {
      const model = resnet('resnet18', { numClasses: 3, seed: 5 });
      const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
      await rt.sync(); // the initialisation's kernels (compiled outside the session)
      const losses: number[] = [];
      const created: number[] = [];
      let result = null;
      for (let s = 0; s < 2; s++) {
        const x = Tensor.fromArray(xs, [bs, 3, size, size], 'f32', rt);
        const y = Tensor.fromArray(ys, [bs], 'i32', rt);
        const before = rt.pipelineCount;
        const spy = spyCreations();
        const compiled = precompile && s === 0 ? rt.precompile() : null;
        const { loss, logits } = trainStep(model, opt, x, y);
        const l = loss.toArray();
        if (compiled) result = await compiled;
        losses.push((await l)[0]);
        spy.restore();
        created.push(rt.pipelineCount - before, spy.count());
        for (const t of [x, y, loss, logits]) t.dispose();
      }
      opt.dispose();
      model.dispose();
      return { losses, created, result };
    };
    const first = await run(true);
    expect(first.result!.pipelines).toBeGreaterThan(10);
    // Step 1 created every pipeline of the session on this device, each once; step 2 none.
    expect(first.created[0]).toBe(first.result!.pipelines);
    expect(first.created[1]).toBe(first.result!.pipelines);
    expect(first.created.slice(2)).toEqual([0, 0]);
    // The same steps without a session (the pipelines are cached now): identical losses.
    const second = await run(false);
    expect(second.created).toEqual([0, 0, 0, 0]);
    expect(second.losses).toEqual(first.losses);
    expect(first.losses.every(Number.isFinite)).toBe(true);
  });

  it('a fused evaluation after a training step compiles no new subgroup product: the convolutions share one pipeline', async () => {
    // A runtime of its own: nothing cached, so each phase's creations are its new pipelines.
    const own = await GpuRuntime.create(rt.gpu);
    setRuntime(own);
    const created: GPUComputePipelineDescriptor[] = [];
    const real = own.device.createComputePipelineAsync.bind(own.device);
    const spy = vi.spyOn(own.device, 'createComputePipelineAsync').mockImplementation((d) => {
      created.push(d);
      return real(d);
    });
    const subgroupProducts = (from: number) => created.slice(from).filter((d) => d.compute.constants && 'MODE' in d.compute.constants);
    try {
      const model = resnet('resnet18', { numClasses: 3, seed: 5 });
      const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
      const x = Tensor.fromArray(Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.37)), [2, 3, 32, 32], 'f32', own);
      const y = Tensor.fromArray(Int32Array.from([0, 2]), [2], 'i32', own);
      const { loss, logits } = trainStep(model, opt, x, y);
      expect(Number.isFinite((await loss.toArray())[0])).toBe(true);
      // The step's convolutions ran on the subgroup kernel (MODE 1: the implicit GEMM), with the epilogue compiled in.
      const trained = subgroupProducts(0);
      expect(trained.some((d) => d.compute.constants!.MODE === 1 && d.compute.constants!.EPI === 1)).toBe(true);
      const before = created.length;
      model.eval();
      const out = await own.derived.scope(async () => {
        const z = noGrad(() => model.forward(x));
        const v = await z.toArray();
        z.dispose();
        return v;
      });
      expect(out.every(Number.isFinite)).toBe(true);
      // The evaluation fused its batch norms (it compiled the fold) but no subgroup product: scale, residual and
      // ReLU are uniforms of the training step's pipelines.
      expect(created.slice(before).map((d) => d.compute.entryPoint)).toContain('fold');
      expect(subgroupProducts(before)).toEqual([]);
      for (const t of [x, y, loss, logits]) t.dispose();
      opt.dispose();
      model.dispose();
    } finally {
      spy.mockRestore();
      own.destroy();
      setRuntime(rt);
    }
  });

  it('on a driver that compiles at the first dispatch, warms the pipelines on this device and a helper device', async () => {
    const was = rt.compilesOnFirstDispatch;
    rt.compilesOnFirstDispatch = true;
    const requestAdapter = vi.spyOn(rt.gpu, 'requestAdapter');
    const warm = vi.spyOn(WarmUpDevice.prototype, 'warm');
    const destroy = vi.spyOn(WarmUpDevice.prototype, 'destroy');
    try {
      const token = `warm ${Math.random()}`;
      const a = Tensor.empty([70], 'f32', rt);
      const progress: [number, number][] = [];
      const compiled = rt.precompile((done, total) => progress.push([done, total]));
      for (let i = 0; i < 6; i++) fill(fillKernel(`${token} ${i}`), a, i);
      const out = await a.toArray();
      expect((await compiled).pipelines).toBe(6);
      expect(requestAdapter).toHaveBeenCalledTimes(1); // one helper device (compileDevices: 2)
      expect(warm).toHaveBeenCalledTimes(6); // each pipeline warmed once, on one of the two devices
      await new Promise((r) => setTimeout(r, 10));
      expect(destroy.mock.contexts.filter((d) => (d as WarmUpDevice).helper)).toHaveLength(1); // the helper existed, and is gone
      expect(progress[progress.length - 1]).toEqual([6, 6]);
      expect(out[69]).toBe(5 + 69);
      a.dispose();
    } finally {
      requestAdapter.mockRestore();
      warm.mockRestore();
      destroy.mockRestore();
      rt.compilesOnFirstDispatch = was;
    }
  });

  it('a kernel that does not compile: a GpuOpError naming it, its work dropped, and the runtime keeps working', async () => {
    const a = Tensor.full([5], 1, rt);
    const compiled = rt.precompile();
    compiled.catch(() => undefined);
    fill(fillKernel(`ok ${Math.random()}`), a, 10);
    rt.dispatch({ op: 'broken-kernel[5]', shader: '@compute @workgroup_size(1) fn main() { let x: f32 = undefined_symbol; }', bindings: [], workgroups: [1] });
    const read = a.toArray();
    await expect(read).rejects.toThrowError(GpuOpError);
    await expect(read).rejects.toThrowError(/broken-kernel\[5\] \(compiling main\).*undefined_symbol/s);
    await expect(compiled).rejects.toThrowError(/broken-kernel\[5\]/);
    // The runtime works on, and the dropped work did not run (a is still all 1).
    expect(Array.from(await a.toArray())).toEqual([1, 1, 1, 1, 1]);
    const b = Tensor.full([3], 2, rt);
    expect(Array.from(await b.toArray())).toEqual([2, 2, 2]);
    a.dispose();
    b.dispose();
  });

  it('the trainer reports the compile of its first step and first evaluation, and not again', async () => {
    const events: (CompileProgress | string)[] = [];
    // A runtime of its own: no pipeline is cached, so the first step compiles them all.
    const own = await GpuRuntime.create(rt.gpu);
    setRuntime(own);
    const run = tinyTrainer(own, new MemoryStore(), { ...TINY_CONFIG, maxEpochs: 2 }, defaultSplits(), {
      events: {
        compileProgress: (p) => events.push(p),
        compileEnd: (p) => events.push(`end ${p.phase} ${p.pipelines}`),
      },
    });
    try {
      await run.trainer.run();
    } finally {
      run.dispose();
      own.destroy();
      setRuntime(rt);
    }
    const ends = events.filter((e): e is string => typeof e === 'string');
    // One compile for the first training step (2 epochs: not again), at most one for the first evaluation.
    expect(ends.filter((e) => e.startsWith('end train'))).toHaveLength(1);
    expect(Number(ends[0].split(' ')[2])).toBeGreaterThan(5);
    expect(ends.filter((e) => !e.startsWith('end train')).length).toBeLessThanOrEqual(1);
    const train = events.filter((e): e is CompileProgress => typeof e !== 'string' && e.phase === 'train');
    expect(train[0].total).toBeGreaterThan(5);
    expect(train[train.length - 1].done).toBe(train[0].total);
    expect(events.indexOf(ends[0])).toBeGreaterThan(events.indexOf(train[train.length - 1]));
  });

  it('CLI: the compile line, on a terminal and in a log', () => {
    expect(compileLine(12, 52)).toBe('compiling kernels 12/52');
    const written: string[] = [];
    const stream = { isTTY: false, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
    const status = new CompileStatus(stream);
    status.update(0, 52);
    status.update(12, 52);
    status.end(52, 9.25);
    expect(written).toEqual(['compiling kernels 0/52\n', 'compiled 52 kernels in 9.3 s\n']);
    const tty: string[] = [];
    const term = new CompileStatus({ isTTY: true, write: (s: string) => tty.push(s) } as unknown as NodeJS.WriteStream);
    term.update(3, 4);
    term.end(1, 0.5);
    expect(tty.join('')).toContain('\rcompiling kernels 3/4');
    expect(tty[tty.length - 1]).toBe('compiled 1 kernel in 0.5 s\n');
  });
});
