/** What a library user meets first: no silent traps (second backward, unregistered modules, empty optimizers,
 *  leaking inference), readable tensors and a model summary. */
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { testRuntime } from './helpers/gpu';
import type { GpuRuntime } from '../src/gpu/runtime';
import { Tensor } from '../src/autograd/tensor';
import { noGrad } from '../src/autograd/scope';
import { releaseGraph } from '../src/autograd/graph';
import { mul } from '../src/autograd/ops/basic';
import { sum } from '../src/autograd/ops/reduce';
import { Module } from '../src/nn/module';
import { Linear, ReLU, Sequential } from '../src/nn/layers';
import { resnet18 } from '../src/nn/resnet';
import { summary } from '../src/nn/summary';
import { SGD } from '../src/train/sgd';

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

describe('backward twice', () => {
  it('a second backward() through a freed graph throws, as in PyTorch', async () => {
    const x = Tensor.fromArray([1, 2, 3], [3], 'f32', rt).requireGrad();
    const sq = mul(x, x);
    const loss = sum(sq);
    loss.backward();
    expect(() => loss.backward()).toThrowError(/already back-propagated.*retainGraph/);
    expect(Array.from(await x.grad!.toArray())).toEqual([2, 4, 6]); // unchanged by the refused call
    // A new graph through an intermediate whose graph was freed: also refused.
    const h = mul(x, x);
    const l1 = sum(h);
    l1.backward();
    const hx = mul(h, x);
    const l2 = sum(hx);
    expect(() => l2.backward()).toThrowError(/already back-propagated/);
    for (const t of [x, sq, loss, h, l1, hx, l2]) t.dispose();
  });

  it('retainGraph keeps the graph for another backward, and gradients accumulate', async () => {
    const x = Tensor.fromArray([1, -2], [2], 'f32', rt).requireGrad();
    const before = rt.poolStats().liveBuffers;
    const x2 = mul(x, x);
    const x3 = mul(x2, x);
    const loss = sum(x3); // d/dx x^3 = 3x^2
    loss.backward(undefined, { retainGraph: true });
    loss.backward();
    expect(Array.from(await x.grad!.toArray())).toEqual([6, 24]);
    expect(() => loss.backward()).toThrowError(/already back-propagated/);
    const y2 = mul(x, x);
    const l2 = sum(y2);
    l2.backward(undefined, { retainGraph: true });
    releaseGraph(l2);
    expect(() => l2.backward()).toThrowError(/already back-propagated/);
    for (const t of [x2, x3, loss, y2, l2]) t.dispose();
    x.grad!.dispose();
    x.grad = null;
    expect(rt.poolStats().liveBuffers).toBe(before); // saved tensors freed by the last backward and releaseGraph
    x.dispose();
  });
});

describe('modules and optimizers', () => {
  class Forgot extends Module {
    head: Linear;
    constructor() {
      super();
      this.head = new Linear(4, 2); // assigned, not registered
    }
    forward(x: Tensor): Tensor {
      return this.head.forward(x);
    }
  }
  class ForgotParam extends Module {
    w = Tensor.zeros([3]).requireGrad();
    forward(x: Tensor): Tensor {
      return mul(x, this.w);
    }
  }
  class InList extends Module {
    blocks = [this.registerModule('0', new Linear(2, 2)), new Linear(2, 2)];
    forward(x: Tensor): Tensor {
      return x;
    }
  }

  it('a child module or parameter assigned but not registered is an error naming it', () => {
    const m = new Forgot();
    expect(() => m.parameters()).toThrowError(/Forgot\.head is a module that was never registered.*registerModule\('head'/);
    expect(() => m.stateDict()).toThrowError(/Forgot\.head/);
    expect(() => new ForgotParam().parameters()).toThrowError(/ForgotParam\.w is a parameter \[3\].*registerParameter\('w'/);
    expect(() => new InList().parameters()).toThrowError(/InList\.blocks\[1\] is a module/);
    // Registered modules pass, including torchvision's whole ResNet.
    expect(new Sequential(new Linear(2, 2), new ReLU()).parameters()).toHaveLength(2);
    const r = resnet18({ numClasses: 3 });
    expect(r.parameters().length).toBe(62);
    r.dispose();
  });

  it('an optimizer with no parameters throws', () => {
    expect(() => new SGD([], { lr: 0.1 })).toThrowError(/parameter list is empty.*registerModule/);
  });
});

describe('inference memory', () => {
  it("noGrad() is a memory scope: the README's inference pattern frees all but its result", async () => {
    const model = resnet18({ numClasses: 5 }).eval();
    const batch = Tensor.randn([2, 3, 32, 32], 1, 0, 1, rt);
    const before = rt.poolStats();
    for (let i = 0; i < 3; i++) {
      const logits = noGrad(() => model.forward(batch));
      expect(logits.shape).toEqual([2, 5]);
      await logits.toArray();
      logits.dispose();
    }
    const after = rt.poolStats();
    expect(after.liveBuffers).toBe(before.liveBuffers);
    expect(after.liveBytes).toBe(before.liveBytes);
    // A promise result (reads already encoded): everything created inside is freed.
    const vals = await noGrad(() => model.forward(batch).toArray());
    expect(vals.length).toBe(10);
    expect(rt.poolStats().liveBuffers).toBe(before.liveBuffers);
    batch.dispose();
    model.dispose();
  });
});

describe('printing', () => {
  it('a tensor prints its name, shape, dtype and grad state; format() adds values', async () => {
    const t = Tensor.fromArray([1, 2.5, -3], [3], 'f32', rt);
    expect(String(t)).toBe('Tensor[3] f32');
    expect(`${t.requireGrad()}`).toBe('Tensor[3] f32 requires_grad');
    expect(await t.format()).toBe('Tensor[3] f32 requires_grad [1., 2.500, -3.]');
    const big = Tensor.fromArray(Array.from({ length: 100 }, (_, i) => i), [10, 10], 'f32', rt);
    expect(await big.format(4)).toBe('Tensor[10, 10] f32 [0., 1., …, 98., 99.]');
    const { inspect } = await import('node:util');
    expect(inspect(big)).toBe('Tensor[10, 10] f32');
    big.dispose();
    expect(String(big)).toContain('disposed');
    t.dispose();
  });

  it('summary(): layers, output shapes and parameter counts, totals as torchvision counts them', () => {
    const m = resnet18({ numClasses: 10 });
    const s = summary(m, [1, 3, 32, 32]);
    const row = (name: string) => s.rows.find((r) => r.name === name)!;
    expect(row('conv1').outputShape).toEqual([1, 64, 16, 16]);
    expect(row('layer4').outputShape).toEqual([1, 512, 1, 1]);
    expect(row('fc').outputShape).toEqual([1, 10]);
    expect(row('fc').params).toBe(512 * 10 + 10);
    expect(row('layer1').params).toBe(0); // its own; the blocks hold the weights
    expect(s.text).toMatch(/total parameters: [\d,]+ \(trainable [\d,]+\)/);
    expect(s.totalParams).toBe(s.rows.reduce((n, r) => n + r.params, 0));
    const py = '/usr/bin/python3';
    if (existsSync(py)) {
      let ref: string | null = null;
      try {
        ref = execFileSync(py, ['-c', 'import torchvision; m = torchvision.models.resnet18(num_classes=10); print(sum(p.numel() for p in m.parameters()))'], { encoding: 'utf8' }).trim();
      } catch {
        ref = null; // no torchvision here: CI installs it
      }
      if (ref) expect(s.totalParams).toBe(Number(ref));
    }
    m.dispose();
  });
});
