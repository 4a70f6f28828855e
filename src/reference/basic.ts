/** Float64 references for the basic tensor ops. */

/** Sum over the middle axis of an [outer, n, inner] array. */
export function sumAxisRef(x: ArrayLike<number>, outer: number, n: number, inner: number, scale = 1): Float64Array {
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++)
    for (let k = 0; k < n; k++) for (let i = 0; i < inner; i++) out[o * inner + i] += x[(o * n + k) * inner + i];
  for (let j = 0; j < out.length; j++) out[j] *= scale;
  return out;
}

export function zipRef(a: ArrayLike<number>, b: ArrayLike<number>, f: (x: number, y: number) => number): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = f(a[i], b[i]);
  return out;
}
