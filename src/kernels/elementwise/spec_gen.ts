/**
 * The template behind the unary and binary op specs (unary_gen.ts, binary_gen.ts): for each op of a spec table,
 * one WGSL module with an entry per direction (`<op>_<dir>`) and its vec4 twin (`_v4`, used when n is a multiple
 * of 4; params.n then counts vec4s), declared with a kernel contract like the hand-written kernels
 * (test/kernel_contracts.test.ts), and a dispatch that binds only the inputs a direction's expression reads.
 *
 * Expressions are WGSL in the family's variables; `T(` is the element type's constructor (f32 or vec4<f32>) and
 * `U` the matching unsigned type (u32 or vec4<u32>), so one expression serves both twins.
 *
 * A spec may also declare (both optional; a spec without them generates exactly what it did before):
 * - `params`: named f32 parameters with their defaults. Each is a uniform field after `n`, in declaration order;
 *   expressions read it as `p.<name>` (written `params.<name>` in the WGSL).
 * - `wgsl`: helper functions the expressions call, in the same placeholders: `T` (the element type, also as a
 *   type: `x: T`), `U`, and a name ending in `_T` (`erf_T`), which becomes `_f32` or `_v4` so that each helper
 *   is emitted once per twin. A helper listed by several specs, or twice, is emitted once per module.
 */
import type { GpuRuntime } from '../../gpu/runtime';
import { withPrelude } from '../prelude';
import { defineKernel, launch, vec4Named, type KernelContract } from '../contract';

export interface OpSpecBase {
  name: string;
  doc: string;
  /** Named f32 parameters and their defaults (uniforms; `p.<name>` in the expressions). */
  params?: Readonly<Record<string, number>>;
  /** WGSL helper functions the expressions call (see the header for the placeholders). */
  wgsl?: readonly string[];
}

export interface SpecFamily<S extends OpSpecBase, Dir extends string, V extends string> {
  /** The spec table's file under kernels/elementwise/ and its generator, for comments and contract names. */
  table: string;
  generator: string;
  specs: readonly S[];
  /** The element names expressions may read; each comes from buffer `in_<name>`, bound in this order. */
  vars: readonly V[];
  dirs: readonly Dir[];
  expr(s: S, dir: Dir): string;
}

export function specFamily<S extends OpSpecBase, Dir extends string, V extends string>(f: SpecFamily<S, Dir, V>) {
  const inputs = f.vars.map((v) => [v, `in_${v}`] as const);
  const bindings = [...inputs.map(([, b]) => b), 'out', ...inputs.map(([, b]) => `${b}4`), 'out4'].map(
    (b) => [b, b.startsWith('out') ? 'read_write' : 'read'] as [string, 'read' | 'read_write'],
  );
  const uses = (expr: string) => inputs.filter(([v]) => new RegExp(`\\b${v}\\b`).test(expr));
  /** WGSL for one twin: placeholders replaced (`_T` suffixes, then `T` and `U`), `p.<name>` read from params. */
  const typed = (expr: string, t: string, u: string, suffix: string) =>
    expr
      .replace(/\b(\w+)_T\b/g, `$1_${suffix}`)
      .replace(/\bT\b/g, t)
      .replace(/\bU\b/g, u)
      .replace(/\bp\.(\w+)/g, 'params.$1');
  const paramNames = (s: S) => Object.keys(s.params ?? {});
  /** Checks that every `p.<name>` of a spec's expressions and helpers is declared (at module load: a table error). */
  const checkParams = (s: S) => {
    const text = [...f.dirs.map((d) => f.expr(s, d)), ...(s.wgsl ?? [])].join('\n');
    for (const m of text.matchAll(/\bp\.(\w+)/g)) {
      if (!paramNames(s).includes(m[1])) throw new Error(`${f.table}: ${s.name} reads p.${m[1]}, which it does not declare in params`);
    }
  };

  const entries = (name: string, dir: Dir, expr: string) => {
    const lets = (suffix: string) => uses(expr).map(([v, buf]) => `let ${v} = ${buf}${suffix}[i];`).join(' ');
    return `
@compute @workgroup_size(WG)
fn ${name}_${dir}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  ${lets('')}
  out[i] = ${typed(expr, 'f32', 'u32', 'f32')};
}

@compute @workgroup_size(WG)
fn ${name}_${dir}_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < params.n; i += nwg.x * WG) {
    ${lets('4')}
    out4[i] = ${typed(expr, 'vec4<f32>', 'vec4<u32>', 'v4')};
  }
}
`;
  };

  /** The WGSL module of one op. */
  const shader = (s: S) => {
    const decls = bindings
      .map(([b, access], k) => `@group(0) @binding(${k + 1}) var<storage, ${access}> ${b}: ${b.endsWith('4') ? 'array<vec4<f32>>' : 'array<f32>'};`)
      .join('\n');
    return `// ${s.name}: generated from kernels/elementwise/${f.table} by ${f.generator}. ${s.doc}
${f.dirs.map((d) => `// ${d} = ${f.expr(s, d)}`).join('\n')}

struct Params {
  n: u32,
${paramNames(s).map((k) => `  ${k}: f32,\n`).join('')}}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
${decls}
${[...new Set(s.wgsl ?? [])].map((h) => `${typed(h, 'f32', 'u32', 'f32')}\n${typed(h, 'vec4<f32>', 'vec4<u32>', 'v4')}\n`).join('')}${f.dirs.map((d) => entries(s.name, d, f.expr(s, d))).join('')}`;
  };

  const contractOf = (s: S) => {
    checkParams(s);
    return defineKernel({
      name: `elementwise/${f.table}:${s.name}`,
      shader: withPrelude(shader(s), 'grid'),
      entries: f.dirs.flatMap((d) => [`${s.name}_${d}`, `${s.name}_${d}_v4`]),
      uniforms: [['n', 'u32'] as const, ...paramNames(s).map((k) => [k, 'f32'] as const)],
      bindings,
    });
  };
  const kernels = new Map(f.specs.map((s) => [s.name, { spec: s, kernel: contractOf(s) }]));
  const contracts: readonly KernelContract[] = [...kernels.values()].map((k) => k.kernel);

  /**
   * Direction `dir` of op `name` over n floats. Only the inputs its expression reads are bound (and must be
   * given). The op is labelled `<name>[n]` for the first direction (the forward), `<name>_<dir>[n]` otherwise.
   * `params` overrides the spec's parameter defaults by name (an undeclared name throws).
   */
  const dispatch = (rt: GpuRuntime, name: string, dir: Dir, given: Partial<Record<V, GPUBuffer>>, out: GPUBuffer, n: number, params: Readonly<Record<string, number>> = {}) => {
    const k = kernels.get(name);
    if (!k) throw new Error(`${f.table}: no op named '${name}'`);
    const values: Record<string, number> = Object.assign({}, k.spec.params);
    for (const [key, v] of Object.entries(params)) {
      if (!(key in values)) throw new Error(`${name}: no parameter named '${key}' (declared: ${paramNames(k.spec).join(', ') || 'none'})`);
      values[key] = v;
    }
    const slots: Record<string, GPUBuffer | null> = { out };
    for (const [, buf] of inputs) slots[buf] = null;
    for (const [v, buf] of uses(f.expr(k.spec, dir))) {
      const b = given[v];
      if (!b) throw new Error(`${name}_${dir}: the expression reads ${v}, which was not given`);
      slots[buf] = b;
    }
    const l = vec4Named(rt, n, slots);
    launch(rt, k.kernel, {
      op: `${dir === f.dirs[0] ? name : `${name}_${dir}`}[${n}]`,
      entry: `${name}_${dir}${l.suffix}`,
      uniforms: Object.assign(values, { n: l.count }),
      bindings: l.bindings,
      workgroups: l.workgroups,
    });
  };

  return { shader, contracts, dispatch };
}
