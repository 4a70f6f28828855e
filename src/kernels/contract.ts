/**
 * Kernel contracts: each kernel module (one WGSL source) is declared once, with its entry points, its uniform
 * struct's fields (named, typed, in order) and its storage bindings (named, with their access, numbered from
 * @binding(1) in order). `launch` packs uniforms and bindings by name and produces exactly the bytes and the
 * binding list that a positional `Params` chain would. test/kernel_contracts.test.ts checks every declaration
 * in `kernelContracts` (src/kernels/contracts.ts) against its WGSL, without a GPU.
 */
import type { Binding, GpuRuntime } from '../gpu/runtime';
import { Params, f32Range, grid1d, gridStride } from './util';

export type UniformType = 'u32' | 'i32' | 'f32';
export type Access = 'read' | 'read_write';

export interface KernelContract<U extends string = string, B extends string = string> {
  /** A name for error messages and the contract test (the family and file: `sgd/sgd.wgsl`). */
  name: string;
  /** The WGSL source. */
  shader: string;
  /** The `@compute` entry points of the module that launches may use. */
  entries: readonly string[];
  /** The fields of the struct bound as `var<uniform>` at @binding(0), in declaration order. Empty: no uniform. */
  uniforms: readonly (readonly [U, UniformType])[];
  /**
   * Every storage binding the module declares, in binding order: the first is @binding(1). WGSL declares all
   * bindings at module scope, so the list covers all entries; a launch passes null for those its entry does not use.
   * A third element lists the other WGSL names declared at the same binding number (aliases with another element
   * type, each used by different entries); the launch binds the one buffer under the first name.
   */
  bindings: readonly BindingDecl<B>[];
}

export type BindingDecl<B extends string> = readonly [B, Access] | readonly [B, Access, readonly string[]];

export function defineKernel<const U extends string, const B extends string>(k: {
  name: string;
  shader: string;
  entries: readonly string[];
  uniforms: readonly (readonly [U, UniformType])[];
  bindings: readonly BindingDecl<B>[];
}): KernelContract<U, B> {
  return k;
}

export type BindingValue = Binding | GPUBuffer | null;

export interface LaunchSpec<U extends string, B extends string> {
  op: string;
  entry: string;
  /** Every uniform field by name (booleans pack as 0/1). */
  uniforms: { [K in U]: number | boolean };
  /** Every binding by name; null leaves the binding number unused (an entry that does not use it). */
  bindings: { [K in B]: BindingValue };
  workgroups: readonly [number, number?, number?];
  constants?: Record<string, number>;
}

/** Each contract's uniform and binding names, made once (every launch checks against them). */
const names = new WeakMap<KernelContract, { uniforms: readonly string[]; bindings: readonly string[] }>();
function namesOf(k: KernelContract): { uniforms: readonly string[]; bindings: readonly string[] } {
  let n = names.get(k);
  if (!n) names.set(k, (n = { uniforms: k.uniforms.map(([u]) => u), bindings: k.bindings.map(([b]) => b) }));
  return n;
}

function checkNames(k: KernelContract, op: string, what: string, declared: readonly string[], given: object): void {
  // Fast path (every launch): exactly the declared names.
  let count = 0;
  for (const _ in given) count++;
  if (count === declared.length && declared.every((n) => n in given)) return;
  const names = new Set(declared);
  const missing = declared.filter((n) => !(n in given));
  const extra = Object.keys(given).filter((n) => !names.has(n));
  if (missing.length || extra.length) {
    const parts = [missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `not declared: ${extra.join(', ')}` : ''].filter(Boolean);
    throw new Error(`${op}: ${what} of kernel ${k.name} do not match its contract (${parts.join('; ')}); declared: ${declared.join(', ') || '(none)'}`);
  }
}

/** The uniform bytes of a launch, packed in the contract's field order (as `Params` does). */
export function packUniforms<U extends string>(k: KernelContract<U, string>, op: string, values: { [K in U]: number | boolean }): Uint8Array {
  checkNames(k, op, 'uniforms', namesOf(k).uniforms, values);
  // Sized to the fields (4 bytes each, in 16-byte rows), not Params' default 256 bytes: one is made per dispatch.
  const p = new Params(Math.max(16, Math.ceil(k.uniforms.length / 4) * 16));
  for (const [name, type] of k.uniforms) {
    const v = values[name];
    const x = typeof v === 'boolean' ? (v ? 1 : 0) : v;
    if (typeof x !== 'number') throw new Error(`${op}: uniform ${name} of kernel ${k.name} must be a number, got ${typeof v}`);
    p[type](x);
  }
  return p.bytes();
}

/** The positional binding list (@binding(1), (2), …) of a launch. */
export function orderBindings<B extends string>(k: KernelContract<string, B>, op: string, values: { [K in B]: BindingValue }): BindingValue[] {
  checkNames(k, op, 'bindings', namesOf(k).bindings, values);
  return k.bindings.map(([name]) => values[name] ?? null);
}

/** Dispatch one entry of a declared kernel, with uniforms and bindings given by name. */
export function launch<U extends string, B extends string>(rt: GpuRuntime, k: KernelContract<U, B>, spec: LaunchSpec<U, B>): void {
  if (!k.entries.includes(spec.entry)) {
    throw new Error(`${spec.op}: entry ${spec.entry} is not declared by kernel ${k.name} (declared: ${k.entries.join(', ')})`);
  }
  rt.dispatch({
    op: spec.op,
    shader: k.shader,
    kernel: k.name,
    entry: spec.entry,
    constants: spec.constants,
    uniforms: k.uniforms.length ? packUniforms(k, spec.op, spec.uniforms) : (checkNames(k, spec.op, 'uniforms', [], spec.uniforms), undefined),
    bindings: orderBindings(k, spec.op, spec.bindings),
    workgroups: spec.workgroups,
  });
}

/**
 * Launch shape of a kernel with a scalar entry and a vec4 twin, by name: the scalar entry binds each `name`, its vec4 twin (`<entry>_v4`, when n is a multiple of 4)
 * binds `name4` instead (the shaders' naming of vec4 twin bindings); the other set is left unused (null).
 */
export function vec4Named<const S extends string>(rt: GpuRuntime, n: number, slots: { [K in S]: GPUBuffer | null }) {
  const vec4 = n > 0 && n % 4 === 0;
  const bindings = {} as Record<S | `${S}4`, BindingValue>;
  for (const name of Object.keys(slots) as S[]) {
    const b = slots[name];
    const range = b ? f32Range(b, n) : null;
    bindings[name] = vec4 ? null : range;
    bindings[`${name}4`] = vec4 ? range : null;
  }
  return {
    suffix: vec4 ? '_v4' : '',
    /** The count the shader loops over: elements, or vec4s. */
    count: vec4 ? n / 4 : n,
    bindings,
    workgroups: vec4 ? gridStride(rt, n / 4) : grid1d(rt, n),
  };
}
