/** Float64 references of max pooling and adaptive average pooling over NCHW (PyTorch semantics). */

export type Nchw = readonly [number, number, number, number];

export interface MaxPoolRefWindow {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
}

export interface MaxPoolRef {
  y: Float64Array;
  /** Index h·W + w of the first maximum in each window (row-major), within its plane. */
  argmax: Int32Array;
  outShape: Nchw;
}

export function maxPool2dRef(x: ArrayLike<number>, s: Nchw, k: MaxPoolRefWindow): MaxPoolRef {
  const [n, c, h, w] = s;
  const oh = Math.floor((h + 2 * k.ph - k.kh) / k.sh) + 1;
  const ow = Math.floor((w + 2 * k.pw - k.kw) / k.sw) + 1;
  const y = new Float64Array(n * c * oh * ow);
  const argmax = new Int32Array(n * c * oh * ow);
  for (let p = 0; p < n * c; p++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) {
        let best = -Infinity;
        let bestIdx = -1;
        for (let dy = 0; dy < k.kh; dy++)
          for (let dx = 0; dx < k.kw; dx++) {
            const iy = oy * k.sh - k.ph + dy;
            const ix = ox * k.sw - k.pw + dx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue; // −∞ padding never wins
            const v = x[p * h * w + iy * w + ix];
            if (v > best || bestIdx < 0) {
              best = v;
              bestIdx = iy * w + ix;
            }
          }
        const o = (p * oh + oy) * ow + ox;
        y[o] = best;
        argmax[o] = bestIdx;
      }
  return { y, argmax, outShape: [n, c, oh, ow] };
}

/** dx: each output's dy scattered onto its argmax. */
export function maxPool2dBackwardRef(dy: ArrayLike<number>, fwd: MaxPoolRef, s: Nchw): Float64Array {
  const [n, c, h, w] = s;
  const [, , oh, ow] = fwd.outShape;
  const dx = new Float64Array(n * c * h * w);
  for (let p = 0; p < n * c; p++)
    for (let o = 0; o < oh * ow; o++) dx[p * h * w + fwd.argmax[p * oh * ow + o]] += dy[p * oh * ow + o];
  return dx;
}

/** PyTorch's adaptive bin [start, end) of output i when n inputs pool into m outputs. */
export function adaptiveBin(i: number, n: number, m: number): [number, number] {
  return [Math.floor((i * n) / m), Math.ceil(((i + 1) * n) / m)];
}

export function adaptiveAvgPool2dRef(x: ArrayLike<number>, s: Nchw, oh: number, ow: number): Float64Array {
  const [n, c, h, w] = s;
  const y = new Float64Array(n * c * oh * ow);
  for (let p = 0; p < n * c; p++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) {
        const [y0, y1] = adaptiveBin(oy, h, oh);
        const [x0, x1] = adaptiveBin(ox, w, ow);
        let sum = 0;
        for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) sum += x[p * h * w + iy * w + ix];
        y[(p * oh + oy) * ow + ox] = sum / ((y1 - y0) * (x1 - x0));
      }
  return y;
}

/** dx: each output's dy spread evenly over its bin (a scatter). */
export function adaptiveAvgPool2dBackwardRef(dy: ArrayLike<number>, s: Nchw, oh: number, ow: number): Float64Array {
  const [n, c, h, w] = s;
  const dx = new Float64Array(n * c * h * w);
  for (let p = 0; p < n * c; p++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) {
        const [y0, y1] = adaptiveBin(oy, h, oh);
        const [x0, x1] = adaptiveBin(ox, w, ow);
        const share = dy[(p * oh + oy) * ow + ox] / ((y1 - y0) * (x1 - x0));
        for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) dx[p * h * w + iy * w + ix] += share;
      }
  return dx;
}
