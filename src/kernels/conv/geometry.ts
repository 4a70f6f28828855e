/** The geometry of a 2D convolution (NCHW, groups = 1): shapes, checks, and its short name for op labels. */

export interface Conv2dGeometry {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  KH: number;
  KW: number;
  stride: number;
  pad: number;
  OH: number;
  OW: number;
}

/** The geometry of conv2d(x[N,C,H,W], w[O,C,KH,KW], stride, pad), with checks. */
export function conv2dGeometry(x: readonly number[], w: readonly number[], stride: number, pad: number): Conv2dGeometry {
  const str = `conv2d(x [${x.join(', ')}], w [${w.join(', ')}], stride ${stride}, padding ${pad})`;
  if (x.length !== 4 || w.length !== 4) throw new Error(`${str}: x must be [N,C,H,W] and w [O,C,kh,kw]`);
  const [N, C, H, W] = x;
  const [O, Cw, KH, KW] = w;
  if (Cw !== C) throw new Error(`${str}: the weight has ${Cw} input channels, the input ${C} (groups are not supported)`);
  if (!Number.isInteger(stride) || stride < 1 || !Number.isInteger(pad) || pad < 0) throw new Error(`${str}: stride must be ≥ 1 and padding ≥ 0 (integers)`);
  const OH = Math.floor((H + 2 * pad - KH) / stride) + 1;
  const OW = Math.floor((W + 2 * pad - KW) / stride) + 1;
  if (OH < 1 || OW < 1 || KH < 1 || KW < 1) throw new Error(`${str}: the output would be empty (${OH}x${OW})`);
  return { N, C, H, W, O, KH, KW, stride, pad, OH, OW };
}

export function geometryStr(g: Conv2dGeometry): string {
  return `${g.N}x${g.C}x${g.H}x${g.W}->${g.O} k${g.KH}x${g.KW} s${g.stride} p${g.pad}`;
}

/** A 1×1, stride 1, unpadded convolution: the column matrix of an image is the image itself. */
export function isPointwise(g: Conv2dGeometry): boolean {
  return g.KH === 1 && g.KW === 1 && g.stride === 1 && g.pad === 0;
}

/**
 * Elementwise work fused into the write of a convolution's output:
 * out = max(scale[o]·conv + bias[o] + residual + old out, 0), each part only where asked for.
 */
export interface ConvEpilogue {
  /** Per output channel, multiplies the convolution before the bias (a batch norm folded in; forward only). */
  scale?: GPUBuffer | null;
  /** A tensor of the output's shape, added after the bias (forward only). */
  residual?: GPUBuffer | null;
  /** max(·, 0) last (forward only). */
  relu?: boolean;
  /** Add into the output's old contents (a gradient accumulated into). */
  accumulate?: boolean;
}
