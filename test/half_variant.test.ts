// halfVariant (src/kernels/cast/variant.ts), the WGSL transform that makes the float16-storage twin of a float32
// shader: its text on small snippets (and its refusals, which name the binding), one transformed shader run on the
// GPU (reads widened, writes narrowed with IEEE's overflow and NaN), then the native float16 batch norm built on it:
// no cast kernel runs, and every variant agrees with the float64 reference on float16-rounded inputs, for both
// reductions and both the scalar and the vec4 entries; the residual's gradient is dy masked, exactly.
import { describe, it, expect, beforeAll } from 'vitest';
import { testRuntime } from './helpers/gpu';
import type { DispatchSpec, GpuRuntime } from '../src/gpu/runtime';
import { halfVariant } from '../src/kernels/cast/variant';
import { castKernel, f16Range, hasF16 } from '../src/kernels/cast';
import { batchnormKernel, batchnormKernelF16 } from '../src/kernels/batchnorm';
import { withPrelude } from '../src/kernels/prelude';
import { f32Range } from '../src/kernels/util';
import { Tensor } from '../src/autograd/tensor';
import { tidy } from '../src/autograd/scope';
import { batchNorm, batchNormAddRelu, batchNormRelu } from '../src/autograd/ops/batchnorm';
import { maxPool2d } from '../src/autograd/ops/pool';
import { maxPoolKernel, maxPoolKernelF16 } from '../src/kernels/pool';
import { setKernelConfig } from '../src/kernels/config';
import { decodeF16, encodeF16 } from '../src/kernels/cast/half';
import { f16Round, f16RoundAll, f16Tol } from '../src/reference/half';
import { batchNormBackwardRef, batchNormRef, type Nchw } from '../src/reference/batchnorm';
import { randomArray } from '../src/reference/math';

const HEAD = `@group(0) @binding(0) var<uniform> params: Params;`;
const names = { scalar: ['x', 'out'], vec4: ['x4', 'out4'] };
const decls = `
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;   // out[i] = x[i] in a comment stays
@group(0) @binding(3) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> w: array<f32>;
`;
/** The variant of decls + body, and the body's part of it (after the declarations, before the helpers). */
function variantBody(body: string): string {
  const v = halfVariant(HEAD + decls + body, names);
  return v.slice(v.indexOf(decls.trim().split('\n').pop()!) + decls.trim().split('\n').pop()!.length, v.indexOf('// ---- float16 storage')).trim();
}

describe('halfVariant: the text', () => {
  it('enables f16, retypes only the named bindings, and appends the narrowing helpers', () => {
    const v = halfVariant(HEAD + decls, names);
    expect(v.startsWith('enable f16;\n')).toBe(true);
    expect(v).toContain('var<storage, read> x: array<f16>;');
    expect(v).toContain('var<storage, read_write> out: array<f16>;   // out[i] = x[i] in a comment stays');
    expect(v).toContain('var<storage, read> x4: array<vec4<f16>>;');
    expect(v).toContain('var<storage, read_write> out4: array<vec4<f16>>;');
    expect(v).toContain('var<storage, read> w: array<f32>;');
    expect(v).toMatch(/fn narrow_h\(v: f32\) -> f16/);
    expect(v).toMatch(/fn narrow_h4\(v: vec4<f32>\) -> vec4<f16>/);
  });

  it('widens reads (with parentheses in the index, swizzles after them), leaves other arrays and members alone', () => {
    expect(variantBody('fn f(i: u32) -> f32 { let a = x[(i + 1u) * 2u] + w[i]; return a + x4[min(i, 3u)].x; }')).toBe(
      'fn f(i: u32) -> f32 { let a = f32(x[(i + 1u) * 2u]) + w[i]; return a + vec4<f32>(x4[min(i, 3u)]).x; }',
    );
    expect(variantBody('fn f(v: vec4<f32>) -> f32 { return v.x + v.w; }')).toBe('fn f(v: vec4<f32>) -> f32 { return v.x + v.w; }');
    // a comparison is a read, not a write
    expect(variantBody('fn f(i: u32) -> bool { return x[i] == 0.0 || x[i] <= 1.0; }')).toBe('fn f(i: u32) -> bool { return f32(x[i]) == 0.0 || f32(x[i]) <= 1.0; }');
  });

  it('narrows writes, across lines, with reads of the named bindings inside (nested in the right order)', () => {
    expect(variantBody('fn f(i: u32) { out[i] = x[i]; }')).toBe('fn f(i: u32) { out[i] = narrow_h(f32(x[i])); }');
    expect(variantBody('fn f(i: u32) {\n  out4[i] = vec4<f32>(\n    x4[i].x,\n    f(x[i]), 1.0, 2.0,\n  );\n}')).toBe(
      'fn f(i: u32) {\n  out4[i] = narrow_h4(vec4<f32>(\n    vec4<f32>(x4[i]).x,\n    f(f32(x[i])), 1.0, 2.0,\n  ));\n}',
    );
    expect(variantBody('fn f(i: u32) { if (i > 0u) { out[i] = f32(out[i]) * 2.0; } }')).toBe('fn f(i: u32) { if (i > 0u) { out[i] = narrow_h(f32(f32(out[i])) * 2.0); } }');
  });

  const refuses: [string, string, RegExp][] = [
    ['a compound assignment', 'fn f(i: u32) { out[i] += 1.0; }', /binding 'out': compound assignment \+=/],
    ['an increment', 'fn f(i: u32) { out[i]++; }', /binding 'out': compound assignment \+\+/],
    ['a component write', 'fn f(i: u32) { out4[i].x = 1.0; }', /binding 'out4': a write to a component/],
    ['brackets in an index', 'fn f(i: u32) -> f32 { return x[u32(w[i])]; }', /binding 'x': an index holding brackets/],
    ['a pointer to an element', 'fn f(i: u32) { let p = &x[i]; }', /binding 'x': a pointer to an element/],
    ['a parameter of the same name', 'fn f(x: f32) -> f32 { return x; }', /binding 'x': a use that is not an indexed read or write/],
    ['a local of the same name', 'fn f() -> f32 { let out = 1.0; return out; }', /binding 'out': a use that is not/],
    ['an assignment inside an expression', 'fn f(i: u32) { let a = 1.0 + out[i] = 2.0; }', /binding 'out': an assignment that is not a statement/],
    ['an assignment in a for header', 'fn f(i: u32) { for (var k = 0u; k < 2u; out[k] = 1.0) {} }', /binding 'out': the assigned expression is not closed by a ;/],
  ];
  it.each(refuses)('refuses %s, naming the binding and the line', (_, body, msg) => {
    expect(() => halfVariant(HEAD + decls + body, names)).toThrowError(msg);
    expect(() => halfVariant(HEAD + decls + body, names)).toThrowError(/\(line \d+: /);
  });

  it('refuses a binding declared with another type, not declared, listed twice, or a shader that already enables f16', () => {
    expect(() => halfVariant(HEAD + decls, { scalar: ['x4'], vec4: [] })).toThrowError(/binding 'x4' is declared as array<vec4<f32>>, expected array<f32>/);
    expect(() => halfVariant(HEAD + decls, { scalar: [], vec4: ['x'] })).toThrowError(/binding 'x' is declared as array<f32>, expected array<vec4<f32>>/);
    expect(() => halfVariant(HEAD + decls, { scalar: ['y'], vec4: [] })).toThrowError(/binding 'y': 0 storage declarations/);
    expect(() => halfVariant(HEAD + decls, { scalar: ['x', 'x'], vec4: [] })).toThrowError(/binding 'x' is named twice/);
    expect(() => halfVariant('enable f16;\n' + HEAD + decls, names)).toThrowError(/already enables f16/);
  });

  it('makes the batch norm shader (every read and write of its data bindings rewritten)', () => {
    const s = batchnormKernelF16.shader;
    // no untouched read or write of a data binding is left: each is inside f32( / vec4<f32>( or narrowed
    const code = s.replace(/\/\/[^\n]*/g, '');
    for (const m of code.matchAll(/(?<![.\w])(x|dy|out|res|grad_out|x4|dy4|out4|res4|grad_out4)\s*\[/g)) {
      const before = code.slice(Math.max(0, m.index! - 10), m.index!);
      const after = code.slice(m.index!).replace(/^\w+\s*\[[^\]]*\]\s*/, '');
      const ok = /(f32\(|vec4<f32>\()$/.test(before) || /^=(?!=)/.test(after);
      expect(ok, `${code.slice(m.index!, m.index! + 40)}`).toBe(true);
    }
    expect(s.match(/= narrow_h4?\(/g)!.length).toBe(10); // apply, backward_apply, relu_mask, backward_reduce_mask (tree, serial): scalar and vec4 (vec4 backward_apply spans lines)
  });
});

let rt: GpuRuntime;
beforeAll(async () => {
  rt = await testRuntime();
});

describe('halfVariant on the GPU', () => {
  it('a transformed kernel reads f16, computes in f32 and narrows as IEEE (±inf from 65520, NaN kept)', async () => {
    expect(hasF16(rt)).toBe(true);
    const shader = withPrelude(
      `${HEAD.replace('Params', 'P')}
struct P { n: u32 }
override WG: u32 = 64u;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> s: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  out[i] = x[i] * s[i];
}
// out = s: float32 values narrowed with no arithmetic before (NaN payloads and signs as given)
@compute @workgroup_size(WG)
fn copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  out[i] = s[i];
}`,
      'grid',
    );
    const v = halfVariant(shader, { scalar: ['x', 'out'], vec4: [] });
    // x (f16) · s (f32, the scale: exact in f32), narrowed once
    const xs = [1, 1.5, 0.333251953125, 65504, 65504, 65504, -65504, 2 ** -24, 3, NaN, -Infinity, 2049, 1000, 0.1];
    const ss = [3, 1 / 3, 3, 1.00006103515625, 1.0001, 1.5, 1.0002, 0.5, 2 ** -30, 1, 2, 1, 1e-3, -1];
    const n = xs.length;
    const want = xs.map((x, i) => f16Round(f16Round(x) * Math.fround(ss[i])));
    const bx = rt.alloc(256), bs = rt.alloc(256), bo = rt.alloc(256);
    rt.write(bx, encodeF16(xs));
    rt.write(bs, Float32Array.from(ss));
    const u = new Uint32Array([n, 0, 0, 0]);
    rt.dispatch({ op: 'variant-test', shader: v, entry: 'main', constants: { WG: 64 }, uniforms: u, bindings: [f16Range(bx, n), f32Range(bs, n), f16Range(bo, n)], workgroups: [1] } as DispatchSpec);
    const got = decodeF16(new Uint16Array(await rt.read(bo, Math.ceil(n / 2) * 4)), n);
    expect(Array.from(got)).toEqual(want);
    // the edges themselves: 65504·(1+2^-14) = 65508 stays 65504; 65504·1.0001 ≈ 65510.6 → 65504; ·1.5 → inf; −65504·1.0002 ≈ −65517 → −65504
    expect(Array.from(got.slice(3, 7))).toEqual([65504, 65504, Infinity, -65504]);
    expect(got[9]).toBeNaN();
    // NaN (quiet, signalling, payload only in the low bits, both signs) → the quiet f16 NaN of its sign; ±inf; the overflow edge
    const bits = [0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fa00000, 0x7f800000, 0xff800000, 0x477fefff, 0x477ff000, 0xc77ff000];
    const wantBits = [0x7e00, 0xfe00, 0x7e00, 0xfe00, 0x7e00, 0x7c00, 0xfc00, 0x7bff, 0x7c00, 0xfc00];
    rt.write(bs, new Uint32Array(bits));
    const u2 = new Uint32Array([bits.length, 0, 0, 0]);
    rt.dispatch({ op: 'variant-test', shader: v, entry: 'copy', constants: { WG: 64 }, uniforms: u2, bindings: [null, f32Range(bs, bits.length), f16Range(bo, bits.length)], workgroups: [1] });
    const gotBits = Array.from(new Uint16Array(await rt.read(bo, bits.length * 2)));
    expect(gotBits.map((b) => b.toString(16))).toEqual(wantBits.map((b) => b.toString(16)));
    for (const b of [bx, bs, bo]) rt.release(b);
  });
});

// ---- The native float16 batch norm.

/** Runs fn, recording the kernels it dispatches (shader identity and entry). */
function dispatched(fn: () => void): { shader: string; entry: string }[] {
  const seen: { shader: string; entry: string }[] = [];
  const orig = rt.dispatch.bind(rt);
  rt.dispatch = (spec: DispatchSpec) => {
    seen.push({ shader: spec.shader, entry: spec.entry ?? '' });
    orig(spec);
  };
  try {
    fn();
  } finally {
    rt.dispatch = orig;
  }
  return seen;
}

type Variant = 'bn' | 'bnRelu' | 'bnAddRelu';
const SHAPES: [string, Nchw][] = [
  ['scalar entries [2,3,3,5]', [2, 3, 3, 5]],
  ['vec4 entries [3,2,4,5]', [3, 2, 4, 5]],
  ['batch 1, vec4 [1,3,2,2]', [1, 3, 2, 2]],
];

/** Forward + backward of a variant on float16 data; reads everything back. */
async function runBn(variant: Variant, shape: Nchw, training: boolean, seed: number) {
  const C = shape[1];
  const n = shape.reduce((a, b) => a * b, 1);
  const xv = randomArray(n, seed);
  const rv0 = randomArray(n, seed + 1);
  const dyv = randomArray(n, seed + 2);
  const wv = randomArray(C, seed + 3, 0.5, 1.5);
  const bv = randomArray(C, seed + 4, -0.5, 0.5);
  const rmv = randomArray(C, seed + 5, -0.5, 0.5);
  const rvv = randomArray(C, seed + 6, 0.5, 2);
  const x = Tensor.fromArray(xv, shape, 'f16', rt).requireGrad();
  const r = variant === 'bnAddRelu' ? Tensor.fromArray(rv0, shape, 'f16', rt).requireGrad() : null;
  const w = Tensor.fromArray(wv, [C], 'f32', rt).requireGrad();
  const b = Tensor.fromArray(bv, [C], 'f32', rt).requireGrad();
  const rm = Tensor.fromArray(rmv, [C], 'f32', rt);
  const rvar = Tensor.fromArray(rvv, [C], 'f32', rt);
  const dy = Tensor.fromArray(dyv, shape, 'f16', rt);
  let y!: Tensor;
  const kernels = dispatched(() => {
    y = tidy(() => {
      const out =
        variant === 'bnAddRelu' ? batchNormAddRelu(x, r!, rm, rvar, w, b, training) : (variant === 'bnRelu' ? batchNormRelu : batchNorm)(x, rm, rvar, w, b, training);
      out.backward(dy);
      return out;
    });
  });
  const res = {
    kernels,
    dtypes: [y.dtype, x.grad!.dtype, r?.grad?.dtype, w.grad!.dtype, b.grad!.dtype],
    y: await y.toArray(),
    dx: await x.grad!.toArray(),
    dr: r ? await r.grad!.toArray() : null,
    dw: await w.grad!.toArray(),
    db: await b.grad!.toArray(),
    dy16: await dy.toArray(),
    inputs: { x: f16RoundAll(xv), r: r ? f16RoundAll(rv0) : undefined, dy: f16RoundAll(dyv), w: wv, b: bv, rm: rmv, rv: rvv },
  };
  for (const t of [x, r, w, b, rm, rvar, dy, y]) t?.dispose();
  return res;
}

describe('batch norm on float16 data runs natively', () => {
  for (const reduction of ['serial', 'tree'] as const) {
    describe(`${reduction} reductions`, () => {
      let restore: () => void;
      beforeAll(() => {
        restore = setKernelConfig(rt, { channelReduction: reduction });
        return () => restore();
      });
      const cases = (['bn', 'bnRelu', 'bnAddRelu'] as const).flatMap((v) => SHAPES.map(([name, shape]) => [v, name, shape] as const));
      it.each(cases)('%s %s: no cast kernel, the f16 kernel only; y, dx, dresidual f16; dweight, dbias f32; against float64', async (variant, _name, shape) => {
        for (const training of [true, false]) {
          const got = await runBn(variant, shape, training, 300 + shape[3]);
          expect(got.kernels.filter((k) => k.shader === castKernel.shader).map((k) => k.entry), 'cast kernels').toEqual([]);
          expect(got.kernels.filter((k) => k.shader === batchnormKernel.shader).map((k) => k.entry), 'the float32 batch norm kernel: only the eval statistics (no data binding)').toEqual(training ? [] : ['stats_eval']);
          expect(got.kernels.filter((k) => k.shader === batchnormKernelF16.shader).length).toBeGreaterThanOrEqual(training ? 4 : 3);
          expect(got.dtypes).toEqual(['f16', 'f16', variant === 'bnAddRelu' ? 'f16' : undefined, 'f32', 'f32']);
          const v = got.inputs;
          const o = { training, relu: variant !== 'bn', residual: v.r };
          const fwd = batchNormRef(v.x, shape, v.rm, v.rv, v.w, v.b, o);
          const ref = batchNormBackwardRef(v.dy, v.x, shape, fwd, v.w, o);
          const M = shape[0] * shape[2] * shape[3];
          const kx = training ? M : 1;
          const close = (what: string, a: Float32Array, want: ArrayLike<number>, tol: { rtol: number; atol: number } | number) => {
            const t = typeof tol === 'number' ? { rtol: tol, atol: tol } : tol;
            for (let i = 0; i < a.length; i++) {
              const err = Math.abs(a[i] - want[i]);
              expect(err, `${variant} ${what}[${i}] training=${training}: ${a[i]} vs ${want[i]}`).toBeLessThanOrEqual(t.atol + t.rtol * Math.abs(want[i]));
            }
          };
          close('y', got.y, fwd.y, f16Tol(kx, 1));
          close('dx', got.dx, ref.dx, f16Tol(kx, 1));
          close('dweight', got.dw, ref.dweight, f16Tol(M, 0));
          close('dbias', got.db, ref.dbias, f16Tol(M, 0));
          if (got.dr) {
            // the residual's gradient is dy masked by y > 0: exactly, no arithmetic
            expect(Array.from(got.dr)).toEqual(Array.from(got.dy16, (d, i) => (got.y[i] > 0 ? d : 0)));
            expect(got.dr.some((d) => d === 0) && got.dr.some((d) => d !== 0)).toBe(true);
          }
        }
      });
    });
  }

  it('an f16 x with an f32 residual, and f16 affine parameters, still go through float32 copies (the mixed cases)', () => {
    const shape: Nchw = [2, 3, 2, 2];
    const x = Tensor.fromArray(randomArray(24, 1), shape, 'f16', rt).requireGrad();
    const r = Tensor.fromArray(randomArray(24, 2), shape, 'f32', rt);
    const rm = Tensor.fromArray([0, 0, 0], [3], 'f32', rt);
    const rv = Tensor.fromArray([1, 1, 1], [3], 'f32', rt);
    const w16 = Tensor.fromArray([1, 2, 3], [3], 'f16', rt);
    let y1!: Tensor, y2!: Tensor;
    const k1 = dispatched(() => (y1 = batchNormAddRelu(x, r, rm, rv, null, null, true)));
    const k2 = dispatched(() => (y2 = batchNorm(x, rm, rv, w16, null, true)));
    expect([y1.dtype, y2.dtype]).toEqual(['f32', 'f16']);
    expect(k1.some((k) => k.shader === castKernel.shader)).toBe(true);
    expect(k2.some((k) => k.shader === castKernel.shader)).toBe(true);
    for (const t of [x, r, rm, rv, w16, y1, y2]) t.dispose();
  });
});

// ---- The native float16 max pool.

describe('maxPool2d on float16 data', () => {
  it('runs maxpool.wgsl (f16) forward and backward with no float32 copies, y and dx float16', async () => {
    const shape: Nchw = [2, 3, 7, 7];
    const x = Tensor.fromArray(randomArray(2 * 3 * 7 * 7, 31), shape, 'f16', rt).requireGrad();
    let y!: Tensor;
    const kernels = dispatched(() => {
      y = tidy(() => {
        const out = maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 });
        out.backward(Tensor.fromArray(randomArray(2 * 3 * 4 * 4, 32), [2, 3, 4, 4], 'f16', rt));
        return out;
      });
    });
    expect(kernels.some((k) => k.shader === castKernel.shader)).toBe(false);
    expect(kernels.filter((k) => k.shader === maxPoolKernelF16.shader).map((k) => k.entry)).toEqual(['forward', 'scatter', 'scatter', 'scatter', 'scatter']);
    expect(kernels.some((k) => k.shader === maxPoolKernel.shader)).toBe(false);
    expect([y.dtype, x.grad!.dtype]).toEqual(['f16', 'f16']);
    y.dispose();
    x.dispose();
  });
});
