/**
 * The shape ops' page checks (permute, transpose, contiguous, reshape, narrow, slice, cat, stack, gather,
 * indexSelect, squeeze, unsqueeze, unflatten): the float64 references' backwards vs finite differences, and every
 * case of SHAPE_CASES run on the GPU (forward and backward) against the reference. runShapeCase is also what
 * test/shape.test.ts runs.
 */
import { Tensor } from '../../autograd/tensor';
import { tidy } from '../../autograd/scope';
import * as F from '../../autograd/functional';
import type { GpuRuntime } from '../../gpu/runtime';
import { TOL } from '../../reference/math';
import { SHAPE_CASES, SHAPE_FD_CASES, SHAPE_OPS, shapeCaseData, shapeCaseFdCheck, shapeCaseName, type ShapeCase, type ShapeCaseData } from '../../reference/shape_cases';
import type { PageCheckGroup } from './api';

/** Call a case's op through the functional API. */
export function applyShapeCase(c: ShapeCase, xs: readonly Tensor[], index: Tensor | null): Tensor {
  const x = xs[0];
  switch (c.op) {
    case 'permute':
      return F.permute(x, c.dims);
    case 'transpose':
      return F.transpose(x, c.dim0, c.dim1);
    case 'contiguous':
      return F.contiguous(x);
    case 'reshape':
      return F.reshape(x, c.to);
    case 'narrow':
      return F.narrow(x, c.dim, c.start, c.length);
    case 'slice':
      return F.slice(x, c.dim, c.start, c.end, c.step);
    case 'cat':
      return F.cat(xs, c.dim);
    case 'stack':
      return F.stack(xs, c.dim);
    case 'gather':
      return F.gather(x, c.dim, index!);
    case 'indexSelect':
      return F.indexSelect(x, c.dim, index!);
    case 'squeeze':
      return F.squeeze(x, c.dim);
    case 'unsqueeze':
      return F.unsqueeze(x, c.dim);
    case 'unflatten':
      return F.unflatten(x, c.dim, c.sizes);
  }
}

/** What the GPU gave for a case. */
export interface ShapeCaseResult {
  y: Float32Array;
  shape: number[];
  /** The gradient of each float input (null when none arrived). */
  dx: (Float32Array | null)[];
}

/** Run a case on the GPU: its op forward, then backward from the case's upstream gradient. Frees every tensor it made. */
export async function runShapeCase(rt: GpuRuntime, c: ShapeCase, d: ShapeCaseData): Promise<ShapeCaseResult> {
  const made: Tensor[] = [];
  const keep = <T extends Tensor>(t: T): T => (made.push(t), t);
  try {
    const xs = d.inputs.map((i) => keep(Tensor.fromArray(Float32Array.from(i.data), i.shape, 'f32', rt).requireGrad()));
    const index = d.index ? keep(Tensor.fromArray(d.index.data, d.index.shape, 'i32', rt)) : null;
    const g = keep(Tensor.fromArray(Float32Array.from(d.g), d.outShape, 'f32', rt));
    const y = keep(
      tidy(() => {
        const y = applyShapeCase(c, xs, index);
        y.backward(g);
        return y;
      }),
    );
    return { y: await y.toArray(), shape: [...y.shape], dx: await Promise.all(xs.map((x) => (x.grad ? x.grad.toArray() : null))) };
  } finally {
    for (const t of made) t.dispose();
  }
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((n, i) => n === b[i]);

/** The page's group of shape checks (appended to PAGE_GROUPS in groups.ts). */
export const shapeGroup: PageCheckGroup = {
  kernels: SHAPE_OPS,
  async run(c) {
    for (const [i, sc] of SHAPE_FD_CASES.entries()) {
      await c.run('reference', `${sc.op} reference backward vs finite differences ${shapeCaseName(sc)}`, async () => {
        for (const r of shapeCaseFdCheck(sc, 500 + i)) c.record('reference', `${shapeCaseName(sc)} input ${r.input}`, r.got, r.want, TOL.fd);
      });
    }
    for (const [i, sc] of SHAPE_CASES.entries()) {
      const name = shapeCaseName(sc);
      await c.run(sc.op, name, async () => {
        const d = shapeCaseData(sc, 100 + i);
        const r = await runShapeCase(c.rt, sc, d);
        if (!sameShape(r.shape, d.outShape)) throw new Error(`${sc.op}: output shape [${r.shape.join(', ')}], reference [${d.outShape.join(', ')}]`);
        c.record(sc.op, `${name} forward`, r.y, d.y, TOL.elementwise);
        r.dx.forEach((dx, k) => c.record(sc.op, `${name} backward (input ${k})`, dx ?? [], d.dx[k], TOL.elementwise));
      });
    }
  },
};
