/** Float64 references of the unary ops, from their declarations (kernels/elementwise/unary_ops.ts). Pure: no GPU. */
import { unarySpec, type UnaryName, type UnaryParams } from '../kernels/elementwise/unary_ops';

/** The op's parameters: its declared defaults, overridden by `params` (an undeclared name throws, as the GPU op). */
export function unaryParams(name: UnaryName, params: UnaryParams = {}): UnaryParams {
  const declared = unarySpec(name).params ?? {};
  for (const k of Object.keys(params)) {
    if (!(k in declared)) throw new Error(`${name}: no parameter named '${k}' (declared: ${Object.keys(declared).join(', ') || 'none'})`);
  }
  return { ...declared, ...params };
}

/** y = f(x), elementwise, in float64. */
export function unaryRef(name: UnaryName, x: ArrayLike<number>, params?: UnaryParams): Float64Array {
  const f = unarySpec(name).forward64;
  const p = unaryParams(name, params);
  return Float64Array.from(x, (v) => f(v, p));
}

/** dx = f'(x)·dy, elementwise, in float64 (from x, y = f(x) and dy, as the GPU backward). */
export function unaryBackwardRef(name: UnaryName, x: ArrayLike<number>, dy: ArrayLike<number>, params?: UnaryParams): Float64Array {
  const s = unarySpec(name);
  const p = unaryParams(name, params);
  return Float64Array.from(x, (v, i) => s.backward64(v, s.forward64(v, p), dy[i], p));
}
