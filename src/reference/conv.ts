/** Float64 CPU reference for conv2d (NCHW, groups = 1) and its backward (pure TS). */

export interface ConvShape {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  KH: number;
  KW: number;
  stride: number;
  pad: number;
}

export function convOutSize(s: ConvShape): [number, number] {
  return [Math.floor((s.H + 2 * s.pad - s.KH) / s.stride) + 1, Math.floor((s.W + 2 * s.pad - s.KW) / s.stride) + 1];
}

/**
 * Visit every (output element, weight tap, input element) triple of the direct convolution:
 * y[n,o,oh,ow] += w[o,c,ki,kj] · x[n,c,ih,iw]. Forward and backward are written with the same loop.
 */
function forEachTap(s: ConvShape, fn: (yi: number, wi: number, xi: number) => void): void {
  const [OH, OW] = convOutSize(s);
  for (let n = 0; n < s.N; n++)
    for (let o = 0; o < s.O; o++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          const yi = ((n * s.O + o) * OH + oh) * OW + ow;
          for (let c = 0; c < s.C; c++)
            for (let ki = 0; ki < s.KH; ki++) {
              const ih = oh * s.stride - s.pad + ki;
              if (ih < 0 || ih >= s.H) continue;
              for (let kj = 0; kj < s.KW; kj++) {
                const iw = ow * s.stride - s.pad + kj;
                if (iw < 0 || iw >= s.W) continue;
                fn(yi, ((o * s.C + c) * s.KH + ki) * s.KW + kj, ((n * s.C + c) * s.H + ih) * s.W + iw);
              }
            }
        }
}

/** y[N,O,OH,OW] = conv2d(x, w) + bias. */
export function conv2dRef(x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null, s: ConvShape): Float64Array {
  const [OH, OW] = convOutSize(s);
  const y = new Float64Array(s.N * s.O * OH * OW);
  forEachTap(s, (yi, wi, xi) => {
    y[yi] += w[wi] * x[xi];
  });
  if (bias) for (let i = 0; i < y.length; i++) y[i] += bias[Math.floor(i / (OH * OW)) % s.O];
  return y;
}

/** Gradients of L = Σ dy·conv2d(x, w, b): dx, dw and db. */
export function conv2dBackwardRef(x: ArrayLike<number>, w: ArrayLike<number>, dy: ArrayLike<number>, s: ConvShape): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const [OH, OW] = convOutSize(s);
  const dx = new Float64Array(s.N * s.C * s.H * s.W);
  const dw = new Float64Array(s.O * s.C * s.KH * s.KW);
  const db = new Float64Array(s.O);
  forEachTap(s, (yi, wi, xi) => {
    dx[xi] += w[wi] * dy[yi];
    dw[wi] += x[xi] * dy[yi];
  });
  for (let i = 0; i < dy.length; i++) db[Math.floor(i / (OH * OW)) % s.O] += dy[i];
  return { dx, dw, db };
}
