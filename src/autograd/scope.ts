/**
 * Memory scopes and the grad mode. GPU buffers are not garbage collected, so every tensor created inside
 * `tidy(fn)` is disposed when fn returns, except the tensors it returns and those marked with `keep()`.
 * Tensors created outside any scope belong to the caller, who disposes them.
 */
import type { Tensor } from './tensor';

const scopes: Set<Tensor>[] = [];
let gradEnabled = true;

/** Called by the Tensor constructor. */
export function trackTensor(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Remove a tensor from every open scope: its owner now disposes it (parameters, optimizer state, grads). */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

function collect(value: unknown, into: Set<Tensor>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 4) return;
  if ((value as { __isTensor?: boolean }).__isTensor) {
    into.add(value as Tensor);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, into, depth + 1);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collect(v, into, depth + 1);
}

/**
 * Run fn; dispose every tensor it created except those it returns (a tensor, or an array or plain object
 * of them), which move to the enclosing scope. fn must be synchronous: GPU work is only encoded, not awaited.
 */
export function tidy<T>(fn: () => T): T {
  return scoped(fn, false);
}

function scoped<T>(fn: () => T, allowPromise: boolean): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise && !allowPromise) {
    for (const t of scope) t.dispose();
    throw new Error('tidy(fn): fn must be synchronous (it returned a Promise)');
  }
  const returned = new Set<Tensor>();
  collect(result, returned);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (returned.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * Run fn without recording the graph (evaluation, optimizer updates). Like tidy(), it is a memory scope:
 * every tensor fn creates is disposed when fn returns, except those it returns. fn may return a Promise
 * (e.g. of `t.toArray()`): the reads are already encoded, and the tensors behind them are then freed.
 */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return scoped(fn, true);
  } finally {
    gradEnabled = prev;
  }
}

/** The dtype conv2d, linear and matmul compute in under autocast(), or null outside it. */
let autocastDtype: 'f16' | null = null;

export function getAutocastDtype(): 'f16' | null {
  return autocastDtype;
}

/**
 * torch.autocast for float16: inside fn, conv2d, linear and matmul take float16 inputs (a float32 input is
 * cast; weights and biases are rounded to float16) and give float16 outputs, with float32 accumulation. Ops
 * that receive float16 tensors keep them in float16 storage (batch norm, pooling, dropout and the elementwise
 * ops compute in float32 and store float16); cross-entropy and the other losses compute and return float32.
 * `enabled: false` runs fn as it is (so one code path serves both precisions). Needs shader-f16 (hasF16).
 */
export function autocast<T>(fn: () => T, opts: { enabled?: boolean } = {}): T {
  if (opts.enabled === false) return fn();
  const prev = autocastDtype;
  autocastDtype = 'f16';
  try {
    return fn();
  } finally {
    autocastDtype = prev;
  }
}
