/**
 * A model summary as torchinfo prints it: each module in the tree with its output shape and its own
 * parameter count, then the totals. The output shapes come from one forward pass of a zero input of the
 * given shape, under noGrad and tidy (nothing is kept on the GPU).
 */
import { Tensor, shapeStr, type Shape } from '../autograd/tensor';
import { noGrad, tidy } from '../autograd/scope';
import { Module } from './module';

export interface SummaryRow {
  name: string;
  type: string;
  depth: number;
  outputShape: number[] | null;
  params: number;
}

export interface ModelSummary {
  rows: SummaryRow[];
  totalParams: number;
  trainableParams: number;
  text: string;
}

export function summary(model: Module, inputShape?: Shape): ModelSummary {
  const mods = [...model.namedModules()];
  const rows: SummaryRow[] = mods.map(([name, m]) => ({
    name: name || '(root)',
    type: m.constructor.name,
    depth: name ? name.split('.').length : 0,
    outputShape: null,
    params: m.namedParameters().filter(([k]) => !k.includes('.')).reduce((n, [, t]) => n + t.size, 0),
  }));
  if (inputShape) {
    const originals = mods.map(([, m]) => Object.getOwnPropertyDescriptor(m, 'forward'));
    mods.forEach(([, m], i) => {
      const proto = Object.getPrototypeOf(m).forward as (x: Tensor) => Tensor;
      m.forward = (x: Tensor) => {
        const y = proto.call(m, x);
        rows[i].outputShape = [...y.shape];
        return y;
      };
    });
    const wasTraining = model.training;
    try {
      model.eval();
      noGrad(() => tidy(() => model.forward(Tensor.zeros(inputShape))));
    } finally {
      model.train(wasTraining);
      mods.forEach(([, m], i) => {
        const d = originals[i];
        if (d) Object.defineProperty(m, 'forward', d);
        else delete (m as { forward?: unknown }).forward;
      });
    }
  }
  const all = model.parameters();
  const totalParams = all.reduce((n, t) => n + t.size, 0);
  const trainableParams = all.filter((t) => t.requiresGrad).reduce((n, t) => n + t.size, 0);
  const label = (r: SummaryRow) => `${'  '.repeat(r.depth)}${r.name === '(root)' ? r.type : `${r.name.split('.').pop()} (${r.type})`}`;
  const w = Math.max(20, ...rows.map((r) => label(r).length));
  const lines = [`${'layer'.padEnd(w)}  ${'output shape'.padEnd(18)}  ${'params'.padStart(12)}`, '-'.repeat(w + 34)];
  for (const r of rows) lines.push(`${label(r).padEnd(w)}  ${(r.outputShape ? shapeStr(r.outputShape) : '').padEnd(18)}  ${(r.params ? r.params.toLocaleString('en-US') : '').padStart(12)}`);
  lines.push('-'.repeat(w + 34), `total parameters: ${totalParams.toLocaleString('en-US')} (trainable ${trainableParams.toLocaleString('en-US')})`);
  return { rows, totalParams, trainableParams, text: lines.join('\n') };
}
