// Kernel contracts against their WGSL, CPU only (no GPU): every kernel declared in src/kernels/contracts.ts must
// agree with its shader on the uniform struct (field names, order, types), the storage bindings (numbers, names,
// access) and the entry points. Also: the by-name packing gives the bytes of a positional Params chain.
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { kernelContracts } from '../src/kernels/contracts';
import { defineKernel, orderBindings, packUniforms, type KernelContract } from '../src/kernels/contract';
import { Params } from '../src/kernels/util';

interface ParsedShader {
  /** The fields of the struct bound as var<uniform> at @binding(0), or null when there is none. */
  uniforms: [string, string][] | null;
  /** binding number → [name, access] of each declaration at that number (more than one: aliases) */
  bindings: Map<number, [string, string][]>;
  entries: string[];
}

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
}

/** Parse the parts of a WGSL module that a kernel contract declares. Throws on what a contract cannot express. */
export function parseWgsl(source: string): ParsedShader {
  const src = stripComments(source);
  const bindings = new Map<number, [string, string][]>();
  let uniformStruct: string | null = null;
  const decl = /@group\(\s*(\d+)\s*\)\s*@binding\(\s*(\d+)\s*\)\s*var\s*<\s*([\w\s,]+?)\s*>\s*(\w+)\s*:\s*([^;]+);/g;
  for (const m of src.matchAll(decl)) {
    const [, group, num, space, name, type] = m;
    if (group !== '0') throw new Error(`binding ${name} is in @group(${group}); kernels use @group(0) only`);
    const n = Number(num);
    const parts = space.split(',').map((s) => s.trim());
    if (parts[0] === 'uniform') {
      if (n !== 0) throw new Error(`uniform ${name} is at @binding(${n}); the uniform struct goes at @binding(0)`);
      uniformStruct = type.trim();
      continue;
    }
    if (parts[0] !== 'storage') throw new Error(`binding ${name}: address space ${space} is not supported`);
    if (n === 0) throw new Error(`storage binding ${name} is at @binding(0), which is the uniform's`);
    bindings.set(n, [...(bindings.get(n) ?? []), [name, parts[1] ?? 'read']]);
  }
  let uniforms: [string, string][] | null = null;
  if (uniformStruct) {
    const sm = new RegExp(`struct\\s+${uniformStruct}\\s*\\{([^}]*)\\}`).exec(src);
    if (!sm) throw new Error(`struct ${uniformStruct} (the uniform at @binding(0)) is not declared`);
    uniforms = sm[1]
      .split(',')
      .map((f) => f.trim())
      .filter(Boolean)
      .map((f) => {
        const fm = /^(?:@\w+(?:\([^)]*\))?\s*)*(\w+)\s*:\s*(.+)$/.exec(f);
        if (!fm) throw new Error(`cannot parse field "${f}" of struct ${uniformStruct}`);
        return [fm[1], fm[2].replace(/\s+/g, '')] as [string, string];
      });
  }
  const entries = [...src.matchAll(/@compute[^{]*?\bfn\s+(\w+)\s*\(/g)].map((m) => m[1]);
  return { uniforms, bindings, entries };
}

/** The disagreements between a contract and its shader, one line each (empty when they agree). */
export function checkContract(k: KernelContract): string[] {
  const errs: string[] = [];
  let p: ParsedShader;
  try {
    p = parseWgsl(k.shader);
  } catch (e) {
    return [`${k.name}: ${(e as Error).message}`];
  }
  const want = k.uniforms.map(([n, t]) => `${n}: ${t}`);
  const have = (p.uniforms ?? []).map(([n, t]) => `${n}: ${t}`);
  if (k.uniforms.length && !p.uniforms) errs.push(`${k.name}: the contract declares uniforms but the shader binds none at @binding(0)`);
  for (let i = 0; i < Math.max(want.length, have.length); i++) {
    if (want[i] !== have[i]) {
      errs.push(`${k.name}: uniform field ${i}: contract has ${want[i] ?? '(nothing)'}, shader struct has ${have[i] ?? '(nothing)'}`);
    }
  }
  const maxBinding = Math.max(0, ...p.bindings.keys());
  for (let n = 1; n <= Math.max(maxBinding, k.bindings.length); n++) {
    const c = k.bindings[n - 1];
    const s = p.bindings.get(n);
    const cs = c ? [c[0], ...(c[2] ?? [])].map((name) => `${name} (${c[1]})`).join(', ') : '(nothing)';
    const ss = s ? s.map(([name, access]) => `${name} (${access})`).join(', ') : '(nothing)';
    if (cs !== ss) errs.push(`${k.name}: @binding(${n}): contract has ${cs}, shader has ${ss}`);
  }
  for (const e of k.entries) if (!p.entries.includes(e)) errs.push(`${k.name}: entry ${e} is not an @compute fn of the shader`);
  for (const e of p.entries) if (!k.entries.includes(e)) errs.push(`${k.name}: the shader's @compute fn ${e} is not declared in the contract`);
  return errs;
}

describe('kernel contracts agree with their WGSL', () => {
  it('the registry is not empty and names are unique', () => {
    expect(kernelContracts.length).toBeGreaterThan(0);
    const names = kernelContracts.map((k) => k.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it.each(kernelContracts.map((k) => [k.name, k] as const))('%s', (_, k) => {
    expect(checkContract(k)).toEqual([]);
  });

  it('every WGSL file under src/kernels is part of a declared kernel, and no shader copies a prelude function', () => {
    const root = join(__dirname, '..', 'src', 'kernels');
    const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.wgsl'));
    expect(files.length).toBeGreaterThan(15);
    const undeclared = files.filter((f) => !kernelContracts.some((k) => k.shader.includes(readFileSync(join(root, f), 'utf8'))));
    expect(undeclared).toEqual([]);
    // The prelude's functions are defined once, in prelude/*.wgsl (joined onto shaders by withPrelude).
    const copies = files.filter((f) => !f.startsWith('prelude') && /\bfn\s+(index|pcg|rand01)\s*\(/.test(readFileSync(join(root, f), 'utf8')));
    expect(copies).toEqual([]);
  });

  it('a family with a contract packs no uniform by position (no `new Params(` left in its folder)', () => {
    const root = join(__dirname, '..', 'src', 'kernels');
    const families = new Set(kernelContracts.map((k) => k.name.split('/')[0]));
    const offenders: string[] = [];
    for (const f of families) {
      const dir = join(root, f);
      expect(statSync(dir).isDirectory(), `contract name ${f}/… must start with its family folder`).toBe(true);
      for (const file of readdirSync(dir)) {
        if (file.endsWith('.ts') && /new Params\(/.test(readFileSync(join(dir, file), 'utf8'))) offenders.push(`${f}/${file}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('launches build their uniforms and bindings without object spreads (µs per field in Node 20, at every dispatch)', () => {
    // docs/benchmarks.md, "Fewer pipelines for the first evaluation, and a cheaper host": spreading the packed
    // kernels' 33 uniforms cost about 30 µs a dispatch; Object.assign does the same in under 1 µs.
    const root = join(__dirname, '..', 'src', 'kernels');
    const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const offenders: string[] = [];
    for (const f of files) {
      readFileSync(join(root, f), 'utf8').split('\n').forEach((line, i) => {
        if (/\b(uniforms|bindings)\s*:\s*(slots\()?\{[^}]*\.\.\./.test(line)) offenders.push(`${f}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });
});

describe('the contract checker catches each kind of mismatch (self-test)', () => {
  const shader = `
    struct Params { n: u32, scale: f32, // comment, with: commas
      off: i32, }
    @group(0) @binding(0) var<uniform> params: Params;
    @group(0) @binding(1) var<storage, read> x: array<f32>;
    @group(0) @binding(2) var<storage, read_write> y: array<f32>;
    @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { y[g.x] = x[g.x] * params.scale; }`;
  const good = {
    name: 'self/test.wgsl',
    shader,
    entries: ['main'],
    uniforms: [['n', 'u32'], ['scale', 'f32'], ['off', 'i32']],
    bindings: [['x', 'read'], ['y', 'read_write']],
  } as const;

  it('agrees with a matching contract', () => {
    expect(checkContract(defineKernel(good))).toEqual([]);
  });
  it('reports reordered, retyped or missing uniform fields', () => {
    expect(checkContract(defineKernel({ ...good, uniforms: [['scale', 'f32'], ['n', 'u32'], ['off', 'i32']] }))).toEqual([
      'self/test.wgsl: uniform field 0: contract has scale: f32, shader struct has n: u32',
      'self/test.wgsl: uniform field 1: contract has n: u32, shader struct has scale: f32',
    ]);
    expect(checkContract(defineKernel({ ...good, uniforms: [['n', 'u32'], ['scale', 'u32'], ['off', 'i32']] }))).toHaveLength(1);
    expect(checkContract(defineKernel({ ...good, uniforms: [['n', 'u32'], ['scale', 'f32']] }))).toEqual([
      'self/test.wgsl: uniform field 2: contract has (nothing), shader struct has off: i32',
    ]);
  });
  it('reports binding names, access, numbers and entries', () => {
    expect(checkContract(defineKernel({ ...good, bindings: [['x', 'read_write'], ['y', 'read_write']] }))).toEqual([
      'self/test.wgsl: @binding(1): contract has x (read_write), shader has x (read)',
    ]);
    expect(checkContract(defineKernel({ ...good, bindings: [['y', 'read_write'], ['x', 'read']] }))).toHaveLength(2);
    expect(checkContract(defineKernel({ ...good, bindings: [['x', 'read'], ['y', 'read_write'], ['z', 'read']] }))).toEqual([
      'self/test.wgsl: @binding(3): contract has z (read), shader has (nothing)',
    ]);
    expect(checkContract(defineKernel({ ...good, entries: ['main', 'other'] }))).toEqual(['self/test.wgsl: entry other is not an @compute fn of the shader']);
  });
  it('checks aliases declared at one binding number', () => {
    const aliased = `${shader}\n@group(0) @binding(1) var<storage, read> xv: array<vec4f>;`;
    expect(checkContract(defineKernel({ ...good, shader: aliased, bindings: [['x', 'read', ['xv']], ['y', 'read_write']] }))).toEqual([]);
    expect(checkContract(defineKernel({ ...good, shader: aliased }))).toEqual([
      'self/test.wgsl: @binding(1): contract has x (read), shader has x (read), xv (read)',
    ]);
  });
});

describe('by-name packing is byte-identical to the positional Params chain', () => {
  const k = defineKernel({
    name: 'self/pack.wgsl',
    shader: '',
    entries: ['main'],
    uniforms: [['n', 'u32'], ['scale', 'f32'], ['off', 'i32'], ['flag', 'u32'], ['big', 'u32']],
    bindings: [['x', 'read'], ['y', 'read_write'], ['z', 'read']],
  });
  it('uniforms: same bytes in the declared order, whatever the order of the object given', () => {
    const named = packUniforms(k, 'op', { flag: true, off: -3, big: 0xfffffff0, scale: 0.1, n: 7 });
    const positional = new Params().u32(7).f32(0.1).i32(-3).u32(1).u32(0xfffffff0).bytes();
    expect([...named]).toEqual([...positional]);
    expect(named.byteLength).toBe(32);
  });
  it('bindings: declared order, null for unused ones', () => {
    const a = {} as GPUBuffer;
    const b = { offset: 0 } as unknown as GPUBuffer;
    expect(orderBindings(k, 'op', { z: a, x: b, y: null })).toEqual([b, null, a]);
  });
  it('a missing or an undeclared name throws, naming the op, the kernel and the names', () => {
    expect(() => packUniforms(k, 'myop[3]', { n: 1, scale: 1, off: 0, flag: 0 } as never)).toThrow(
      'myop[3]: uniforms of kernel self/pack.wgsl do not match its contract (missing big); declared: n, scale, off, flag, big',
    );
    expect(() => orderBindings(k, 'myop[3]', { x: null, y: null, z: null, w: null } as never)).toThrow(/not declared: w/);
  });
});
