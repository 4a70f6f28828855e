/**
 * The WGSL kernel of each binary op of binary_ops.ts, generated from one template: one shader module per op, with
 * `<op>_forward`, `<op>_da`, `<op>_db` and their vec4 twins (`_v4`, used when n is a multiple of 4; params.n then
 * counts vec4s), declared with a kernel contract like the hand-written ones (test/kernel_contracts.test.ts).
 */
import type { GpuRuntime } from '../../gpu/runtime';
import { withPrelude } from '../prelude';
import { defineKernel, launch, vec4Named, type KernelContract } from '../contract';
import { BINARY_OPS, binarySpec, type BinaryName, type BinarySpec } from './binary_ops';

/** The element names an expression may read, and the buffers they come from. */
const INPUTS = [['a', 'in_a'], ['b', 'in_b'], ['y', 'in_y'], ['dy', 'in_dy']] as const;
type Var = (typeof INPUTS)[number][0];
type Slot = (typeof INPUTS)[number][1] | 'out';
export type BinaryDir = 'forward' | 'da' | 'db';
const DIRS: readonly BinaryDir[] = ['forward', 'da', 'db'];

const BINDINGS = [
  ['in_a', 'read'], ['in_b', 'read'], ['in_y', 'read'], ['in_dy', 'read'], ['out', 'read_write'],
  ['in_a4', 'read'], ['in_b4', 'read'], ['in_y4', 'read'], ['in_dy4', 'read'], ['out4', 'read_write'],
] as const;

/** The input names an expression reads, in binding order. */
function uses(expr: string): (typeof INPUTS)[number][] {
  return INPUTS.filter(([v]) => new RegExp(`\\b${v}\\b`).test(expr));
}

/** `T(` → the element type's constructor, `U` → the matching unsigned type. */
function typed(expr: string, t: string, u: string): string {
  return expr.replace(/\bT\(/g, `${t}(`).replace(/\bU\b/g, u);
}

/** The expression of one direction. */
export function binaryExpr(s: BinarySpec, dir: BinaryDir): string {
  return dir === 'forward' ? s.forward : s[dir];
}

/** A gradient that is the upstream gradient itself: nothing to launch. */
export function isPassThrough(s: BinarySpec, dir: 'da' | 'db'): boolean {
  return s[dir].trim() === 'dy';
}

function entries(name: string, dir: BinaryDir, expr: string): string {
  const reads = uses(expr);
  const lets = (suffix: string) => reads.map(([v, buf]) => `let ${v} = ${buf}${suffix}[i];`).join(' ');
  return `
@compute @workgroup_size(WG)
fn ${name}_${dir}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  ${lets('')}
  out[i] = ${typed(expr, 'f32', 'u32')};
}

@compute @workgroup_size(WG)
fn ${name}_${dir}_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < params.n; i += nwg.x * WG) {
    ${lets('4')}
    out4[i] = ${typed(expr, 'vec4<f32>', 'vec4<u32>')};
  }
}
`;
}

/** The WGSL module of one binary op. */
export function binaryShader(s: BinarySpec): string {
  const decls = BINDINGS.map(([b, access], k) => {
    const t = b.endsWith('4') ? 'array<vec4<f32>>' : 'array<f32>';
    return `@group(0) @binding(${k + 1}) var<storage, ${access}> ${b}: ${t};`;
  }).join('\n');
  return `// ${s.name}: generated from kernels/elementwise/binary_ops.ts by binary_gen.ts. ${s.doc}
// y = ${s.forward}
// da = ${s.da}
// db = ${s.db}

struct Params {
  n: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
${decls}
${DIRS.map((d) => entries(s.name, d, binaryExpr(s, d))).join('')}`;
}

function contractOf(s: BinarySpec) {
  return defineKernel({
    name: `elementwise/binary_ops.ts:${s.name}`,
    shader: withPrelude(binaryShader(s), 'grid'),
    entries: DIRS.flatMap((d) => [`${s.name}_${d}`, `${s.name}_${d}_v4`]),
    uniforms: [['n', 'u32']],
    bindings: BINDINGS,
  });
}

type BinaryKernel = ReturnType<typeof contractOf>;

/** Each op's kernel contract, by name. */
export const binaryKernels = Object.fromEntries(BINARY_OPS.map((s) => [s.name, contractOf(s)])) as Record<BinaryName, BinaryKernel>;

export const binaryKernelContracts: readonly KernelContract[] = Object.values(binaryKernels);

/**
 * One direction of op `name` over n floats: the forward (y from a, b) or a gradient (from a, b, y, dy). Only the
 * inputs its expression reads are bound (and must be given).
 */
export function binaryDispatch(rt: GpuRuntime, name: BinaryName, dir: BinaryDir, inputs: Partial<Record<Var, GPUBuffer>>, out: GPUBuffer, n: number): void {
  const s = binarySpec(name);
  const slots: Record<Slot, GPUBuffer | null> = { in_a: null, in_b: null, in_y: null, in_dy: null, out };
  for (const [v, buf] of uses(binaryExpr(s, dir))) {
    const b = inputs[v];
    if (!b) throw new Error(`${name}_${dir}: the expression reads ${v}, which was not given`);
    slots[buf] = b;
  }
  const l = vec4Named(rt, n, slots);
  launch(rt, binaryKernels[name], {
    op: `${dir === 'forward' ? name : `${name}_${dir}`}[${n}]`,
    entry: `${name}_${dir}${l.suffix}`,
    uniforms: { n: l.count },
    bindings: l.bindings,
    workgroups: l.workgroups,
  });
}
