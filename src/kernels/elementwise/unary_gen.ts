/**
 * The WGSL kernel of each unary op of unary_ops.ts, generated from one template: one shader module per op, with
 * `<op>_forward`, `<op>_backward` and their vec4 twins (`_v4`, used when n is a multiple of 4; params.n then
 * counts vec4s), declared with a kernel contract like the hand-written ones (test/kernel_contracts.test.ts).
 */
import type { GpuRuntime } from '../../gpu/runtime';
import { withPrelude } from '../prelude';
import { defineKernel, launch, vec4Named, type KernelContract } from '../contract';
import { UNARY_OPS, unarySpec, type UnaryName, type UnarySpec } from './unary_ops';

/** The element names an expression may read, and the buffers they come from. */
const INPUTS = [['x', 'in_x'], ['y', 'in_y'], ['dy', 'in_dy']] as const;
type Slot = (typeof INPUTS)[number][1] | 'out';

const BINDINGS = [
  ['in_x', 'read'], ['in_y', 'read'], ['in_dy', 'read'], ['out', 'read_write'],
  ['in_x4', 'read'], ['in_y4', 'read'], ['in_dy4', 'read'], ['out4', 'read_write'],
] as const;

/** The input names an expression reads (x, y, dy), in binding order. */
function uses(expr: string): (typeof INPUTS)[number][] {
  return INPUTS.filter(([v]) => new RegExp(`\\b${v}\\b`).test(expr));
}

/** `T(` → the element type's constructor. */
function typed(expr: string, t: string): string {
  return expr.replace(/\bT\(/g, `${t}(`);
}

function entries(name: string, dir: 'forward' | 'backward', expr: string): string {
  const reads = uses(expr);
  const lets = (suffix: string) => reads.map(([v, buf]) => `let ${v} = ${buf}${suffix}[i];`).join(' ');
  return `
@compute @workgroup_size(WG)
fn ${name}_${dir}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  ${lets('')}
  out[i] = ${typed(expr, 'f32')};
}

@compute @workgroup_size(WG)
fn ${name}_${dir}_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < params.n; i += nwg.x * WG) {
    ${lets('4')}
    out4[i] = ${typed(expr, 'vec4<f32>')};
  }
}
`;
}

/** The WGSL module of one unary op. */
export function unaryShader(s: UnarySpec): string {
  const decls = BINDINGS.map(([b, access], k) => {
    const t = b.endsWith('4') ? 'array<vec4<f32>>' : 'array<f32>';
    return `@group(0) @binding(${k + 1}) var<storage, ${access}> ${b}: ${t};`;
  }).join('\n');
  return `// ${s.name}: generated from kernels/elementwise/unary_ops.ts by unary_gen.ts. ${s.doc}
// y = ${s.forward}
// dx = ${s.backward}

struct Params {
  n: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
${decls}
${entries(s.name, 'forward', s.forward)}${entries(s.name, 'backward', s.backward)}`;
}

function contractOf(s: UnarySpec) {
  return defineKernel({
    name: `elementwise/unary_ops.ts:${s.name}`,
    shader: withPrelude(unaryShader(s), 'grid'),
    entries: ['forward', 'backward'].flatMap((d) => [`${s.name}_${d}`, `${s.name}_${d}_v4`]),
    uniforms: [['n', 'u32']],
    bindings: BINDINGS,
  });
}

type UnaryKernel = ReturnType<typeof contractOf>;

/** Each op's kernel contract, by name. */
export const unaryKernels = Object.fromEntries(UNARY_OPS.map((s) => [s.name, contractOf(s)])) as Record<UnaryName, UnaryKernel>;

export const unaryKernelContracts: readonly KernelContract[] = Object.values(unaryKernels);

function dispatch(rt: GpuRuntime, name: UnaryName, dir: 'forward' | 'backward', inputs: Partial<Record<'x' | 'y' | 'dy', GPUBuffer>>, out: GPUBuffer, n: number): void {
  const s = unarySpec(name);
  const slots: Record<Slot, GPUBuffer | null> = { in_x: null, in_y: null, in_dy: null, out };
  for (const [v, buf] of uses(dir === 'forward' ? s.forward : s.backward)) {
    const b = inputs[v];
    if (!b) throw new Error(`${name}_${dir}: the expression reads ${v}, which was not given`);
    slots[buf] = b;
  }
  const l = vec4Named(rt, n, slots);
  launch(rt, unaryKernels[name], {
    op: `${dir === 'forward' ? name : `${name}_backward`}[${n}]`,
    entry: `${name}_${dir}${l.suffix}`,
    uniforms: { n: l.count },
    bindings: l.bindings,
    workgroups: l.workgroups,
  });
}

/** y = f(x) over n floats. */
export function unaryForward(rt: GpuRuntime, name: UnaryName, x: GPUBuffer, y: GPUBuffer, n: number): void {
  dispatch(rt, name, 'forward', { x }, y, n);
}

/**
 * dx = f'(x)·dy over n floats, from the forward's input x and output y: only those the backward expression reads
 * are bound (and must be given; relu's reads y and dy only).
 */
export function unaryBackward(rt: GpuRuntime, name: UnaryName, inputs: { x?: GPUBuffer; y?: GPUBuffer; dy: GPUBuffer }, dx: GPUBuffer, n: number): void {
  dispatch(rt, name, 'backward', inputs, dx, n);
}

