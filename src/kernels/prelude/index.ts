/**
 * Shared WGSL, joined onto a kernel's shader when its launcher is imported (WGSL has no includes):
 * `grid` (the folded 1D grid's `index()`), `rng` (the counter-based generator `pcg` / `rand01`) and `wgreduce`
 * (the workgroup tree reductions `wg_sum` / `wg_max`) and `f16` (`narrow_h` / `narrow_h4`: f32 → f16 with IEEE's
 * overflow and NaN, for shaders that `enable f16`).
 * The parts go after the shader's own code, so the line numbers in a compiler message about the shader's
 * own code are those of its file.
 */
import grid from './grid.wgsl';
import rng from './rng.wgsl';
import wgreduce from './wgreduce.wgsl';
import f16 from './f16.wgsl';

const PARTS = { grid, rng, wgreduce, f16 } as const;
export type PreludePart = keyof typeof PARTS;

export function withPrelude(shader: string, ...parts: PreludePart[]): string {
  return [shader, ...parts.map((p) => PARTS[p])].join('\n');
}
