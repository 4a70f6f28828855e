/**
 * The float16-storage twin of a float32 shader, made by rewriting its text (WGSL has no generics over a
 * binding's element type): the named storage bindings hold f16 (or vec4<f16>), every read of them is widened
 * to f32 where it is indexed, and every write narrows its value with `narrow_h` / `narrow_h4` (IEEE's ±inf
 * from |v| ≥ 65520 and NaN kept: kernels/prelude/f16.wgsl). All arithmetic stays in f32.
 *
 * The rewrite is textual, so it accepts only the forms it can rewrite safely and throws, naming the binding,
 * on anything else: a compound assignment (`+=`, `++`, …) or a component write (`out4[i].x = …`) to a named
 * binding, an index holding brackets, a pointer to an element, a use of the name that is not `name[…]`
 * (another declaration of the same name, a parameter, `&name`), a declaration that is not `array<f32>` /
 * `array<vec4<f32>>`. A later edit of the float32 shader then fails loudly here instead of giving a wrong
 * float16 kernel. Comments are left as they are (and never rewritten).
 */
import { withPrelude } from '../prelude';

/** The helpers every variant needs (narrow_h, narrow_h4): the prelude's f16 part, appended. */
const HELPERS = withPrelude('', 'f16');

interface Insert {
  pos: number;
  text: string;
  /** At equal positions: lower first. Openings: outer (write) before inner (read); closings: inner before outer. */
  order: number;
}

/** The source with every comment blanked to spaces (newlines kept), so positions match the original. */
function maskComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, (c) => c.replace(/[^\n]/g, ' '));
}

function fail(name: string, msg: string, code: string, pos: number): never {
  const line = code.slice(0, pos).split('\n').length;
  const text = code.split('\n')[line - 1].trim();
  throw new Error(`halfVariant: binding '${name}': ${msg} (line ${line}: ${text}); rewrite the float32 shader into a supported form or extend kernels/cast/variant.ts`);
}

/** The position of the `]` closing the `[` at `open` (no brackets may nest inside). */
function closeBracket(code: string, open: number, name: string): number {
  for (let i = open + 1; i < code.length; i++) {
    if (code[i] === ']') return i;
    if (code[i] === '[') fail(name, 'an index holding brackets is not supported', code, open);
  }
  fail(name, 'unclosed [', code, open);
}

/** The end (exclusive, trimmed) of the expression starting at `from` and ending at the `;` at depth 0. */
function expressionEnd(code: string, from: number, name: string): number {
  let depth = 0;
  for (let i = from; i < code.length; i++) {
    const ch = code[i];
    if (ch === '(' || ch === '[') depth++;
    else if (ch === ')' || ch === ']') {
      depth--;
      if (depth < 0) fail(name, 'the assigned expression is not closed by a ;', code, from);
    } else if ((ch === ';' || ch === '{' || ch === '}') && depth === 0) {
      if (ch !== ';') fail(name, 'the assigned expression is not closed by a ;', code, from);
      let end = i;
      while (end > from && /\s/.test(code[end - 1])) end--;
      return end;
    }
  }
  fail(name, 'the assigned expression is not closed by a ;', code, from);
}

const ASSIGN_OPS = /^(\+\+|--|<<=|>>=|[+\-*/%&|^]=)/;

/**
 * The float16-storage twin of `shader` (see the file's comment): `scalar` bindings are `array<f32>` → `array<f16>`,
 * `vec4` bindings `array<vec4<f32>>` → `array<vec4<f16>>`.
 */
export function halfVariant(shader: string, names: { scalar: string[]; vec4: string[] }): string {
  const code = maskComments(shader);
  if (/\benable\s+f16\s*;/.test(code)) throw new Error('halfVariant: the shader already enables f16 (it is not a float32 shader)');
  if (/\bfn\s+(narrow_h4?|f16_of_bits_h)\b/.test(code)) throw new Error('halfVariant: the shader already defines narrow_h / narrow_h4 / f16_of_bits_h');
  const inserts: Insert[] = [];
  const replaces: { pos: number; len: number; text: string }[] = [];
  const all = [...names.scalar.map((n) => [n, false] as const), ...names.vec4.map((n) => [n, true] as const)];
  const seen = new Set<string>();
  for (const [name, vec4] of all) {
    if (!/^[A-Za-z_]\w*$/.test(name)) throw new Error(`halfVariant: '${name}' is not a WGSL identifier`);
    if (seen.has(name)) throw new Error(`halfVariant: binding '${name}' is named twice`);
    seen.add(name);
    const elem = vec4 ? 'vec4<f32>' : 'f32';
    const read = vec4 ? 'vec4<f32>(' : 'f32(';
    const narrow = vec4 ? 'narrow_h4(' : 'narrow_h(';
    // The declaration.
    const decl = new RegExp(`@binding\\(\\s*\\d+\\s*\\)\\s*var\\s*<\\s*storage[^>]*>\\s*${name}\\s*:\\s*(array\\s*<\\s*(?:vec4\\s*<\\s*f32\\s*>|f32)\\s*>|[^;]*)\\s*;`, 'g');
    const decls = [...code.matchAll(decl)];
    if (decls.length !== 1) throw new Error(`halfVariant: binding '${name}': ${decls.length} storage declarations of it in the shader, expected 1`);
    const d = decls[0];
    const type = d[1].replace(/\s+/g, '');
    if (type !== `array<${elem}>`) throw new Error(`halfVariant: binding '${name}' is declared as ${type}, expected array<${elem}> (listed as ${vec4 ? 'vec4' : 'scalar'})`);
    const typePos = d.index! + d[0].lastIndexOf(d[1]);
    const declEnd = d.index! + d[0].length;
    replaces.push({ pos: typePos, len: d[1].length, text: vec4 ? 'array<vec4<f16>>' : 'array<f16>' });
    // Every other use.
    for (const m of code.matchAll(new RegExp(`\\b${name}\\b`, 'g'))) {
      const at = m.index!;
      if (at >= d.index! && at < declEnd) continue;
      let before = at - 1;
      while (before >= 0 && /\s/.test(code[before])) before--;
      if (code[before] === '.') continue; // a member or swizzle (v.x), not the binding
      let open = at + name.length;
      while (open < code.length && /\s/.test(code[open])) open++;
      if (code[open] !== '[') {
        if (/arrayLength\s*\(\s*&\s*$/.test(code.slice(Math.max(0, at - 40), at))) continue; // the element count is the same
        fail(name, 'a use that is not an indexed read or write (another declaration of the name, a parameter, a pointer)', code, at);
      }
      if (code[before] === '&') fail(name, 'a pointer to an element', code, at);
      const close = closeBracket(code, open, name);
      const rest = code.slice(close + 1);
      const after = rest.replace(/^\s*/, '');
      if (ASSIGN_OPS.test(after)) fail(name, `compound assignment ${ASSIGN_OPS.exec(after)![1]} (a read and a write in one)`, code, at);
      if (/^(\s*(\.\s*\w+|\[[^\]]*\]))+\s*(=(?!=)|\+\+|--|<<=|>>=|[+\-*/%&|^]=)/.test(rest)) fail(name, 'a write to a component of an element', code, at);
      if (/^=(?!=)/.test(after)) {
        // A write: it must be a statement of its own.
        if (before >= 0 && !/[;{}]/.test(code[before])) fail(name, 'an assignment that is not a statement of its own', code, at);
        let from = close + 1 + (rest.length - after.length) + 1;
        while (from < code.length && /\s/.test(code[from])) from++;
        const end = expressionEnd(code, from, name);
        inserts.push({ pos: from, text: narrow, order: 0 }, { pos: end, text: ')', order: 3 });
      } else {
        inserts.push({ pos: at, text: read, order: 1 }, { pos: close + 1, text: ')', order: 2 });
      }
    }
  }
  // Apply from the end: replacements never overlap an insertion (they are inside declarations).
  const edits = [
    ...inserts.map((i) => ({ pos: i.pos, len: 0, text: i.text, order: i.order })),
    ...replaces.map((r) => ({ ...r, order: 0 })),
  ].sort((a, b) => a.pos - b.pos || a.order - b.order);
  let out = shader;
  for (let i = edits.length - 1; i >= 0; i--) {
    const e = edits[i];
    out = out.slice(0, e.pos) + e.text + out.slice(e.pos + e.len);
  }
  return `enable f16;\n${out}\n${HELPERS}`;
}
