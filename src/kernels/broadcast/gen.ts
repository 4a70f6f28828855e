/**
 * The broadcast entries of each binary op of kernels/elementwise/binary_ops.ts, generated from its expressions
 * (joined after strided.wgsl, whose bindings and offsets() they use):
 * - `<op>_<dir>` for dir forward, da, db: one thread per output element; a and b are read at their strided
 *   offsets, y and dy (output-shaped) at the element itself. A gradient entry writes the output-shaped term, which
 *   sumToShape then reduces to its input's shape.
 * - `<op>_<dir>_sa`, `<op>_<dir>_sb` and their vec4 twins `_v4`: a is (or b is) the number params.scalar, and the
 *   other operand is contiguous with the output (forward, and the gradient of the tensor operand).
 * As in elementwise/spec_gen.ts, `T(` becomes the element type's constructor and `U` the matching unsigned type.
 */
import type { BinarySpec } from '../elementwise/binary_ops';
import { binaryExpr, type BinaryDir } from '../elementwise/binary_gen';

/** Which operand is the number: none (both strided tensors), a, or b. */
export type ScalarSide = 'none' | 'a' | 'b';

const VARS = ['a', 'b', 'y', 'dy'] as const;

/** The directions generated for each side: the scalar forms differentiate only their tensor operand. */
export const SIDE_DIRS: Record<ScalarSide, readonly BinaryDir[]> = { none: ['forward', 'da', 'db'], a: ['forward', 'db'], b: ['forward', 'da'] };

/** The entry point of a direction and side (`_v4` appended for the vec4 twin of a scalar side). */
export function entryName(op: string, dir: BinaryDir, side: ScalarSide): string {
  return side === 'none' ? `${op}_${dir}` : `${op}_${dir}_s${side}`;
}

/** The expression's variables, in VARS order. */
export function exprVars(expr: string): (typeof VARS)[number][] {
  return VARS.filter((v) => new RegExp(`\\b${v}\\b`).test(expr));
}

const typed = (expr: string, vec4: boolean) => expr.replace(/\bT\(/g, vec4 ? 'vec4<f32>(' : 'f32(').replace(/\bU\b/g, vec4 ? 'vec4<u32>' : 'u32');

const HEAD = '@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>';

function strided(name: string, expr: string): string {
  const at: Record<string, string> = { a: 'in_a[o.x]', b: 'in_b[o.y]', y: 'in_y[i]', dy: 'in_dy[i]' };
  const vars = exprVars(expr);
  return `
@compute @workgroup_size(WG)
fn ${name}(${HEAD}) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  ${vars.some((v) => v === 'a' || v === 'b') ? 'let o = offsets(i);' : ''}
  ${vars.map((v) => `let ${v} = ${at[v]};`).join(' ')}
  out[i] = ${typed(expr, false)};
}
`;
}

function withScalar(name: string, expr: string, side: 'a' | 'b'): string {
  const lets = (v4: string) =>
    exprVars(expr)
      .map((v) => `let ${v} = ${v === side ? (v4 ? 'vec4<f32>(params.scalar)' : 'params.scalar') : `in_${v}${v4}[i]`};`)
      .join(' ');
  return `
@compute @workgroup_size(WG)
fn ${name}(${HEAD}) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  ${lets('')}
  out[i] = ${typed(expr, false)};
}

@compute @workgroup_size(WG)
fn ${name}_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < params.n; i += nwg.x * WG) {
    ${lets('4')}
    out4[i] = ${typed(expr, true)};
  }
}
`;
}

/** The generated entries of one op (to join after strided.wgsl) and their names. */
export function binaryEntries(s: BinarySpec): { wgsl: string; entries: string[] } {
  const parts: string[] = [`// ${s.name}: generated from kernels/elementwise/binary_ops.ts by kernels/broadcast/gen.ts. ${s.doc}`];
  const entries: string[] = [];
  for (const side of ['none', 'a', 'b'] as const) {
    for (const dir of SIDE_DIRS[side]) {
      const name = entryName(s.name, dir, side);
      const expr = binaryExpr(s, dir);
      parts.push(side === 'none' ? strided(name, expr) : withScalar(name, expr, side));
      entries.push(...(side === 'none' ? [name] : [name, `${name}_v4`]));
    }
  }
  return { wgsl: parts.join(''), entries };
}
