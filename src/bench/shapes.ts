/** The shapes the benchmarks measure: every distinct ResNet-34 convolution, and the matmuls around it. */

export interface ConvShape {
  name: string;
  c: number;
  o: number;
  h: number;
  k: number;
  stride: number;
  pad: number;
}

/** Each distinct conv of ResNet-34 at 224×224 (input channels, output channels, input size, kernel, stride, padding). */
export const RESNET34_CONVS: ConvShape[] = [
  { name: 'conv1 7x7/2', c: 3, o: 64, h: 224, k: 7, stride: 2, pad: 3 },
  { name: 'layer1 3x3', c: 64, o: 64, h: 56, k: 3, stride: 1, pad: 1 },
  { name: 'layer2.0 3x3/2', c: 64, o: 128, h: 56, k: 3, stride: 2, pad: 1 },
  { name: 'layer2 3x3', c: 128, o: 128, h: 28, k: 3, stride: 1, pad: 1 },
  { name: 'layer2 down 1x1/2', c: 64, o: 128, h: 56, k: 1, stride: 2, pad: 0 },
  { name: 'layer3.0 3x3/2', c: 128, o: 256, h: 28, k: 3, stride: 2, pad: 1 },
  { name: 'layer3 3x3', c: 256, o: 256, h: 14, k: 3, stride: 1, pad: 1 },
  { name: 'layer3 down 1x1/2', c: 128, o: 256, h: 28, k: 1, stride: 2, pad: 0 },
  { name: 'layer4.0 3x3/2', c: 256, o: 512, h: 14, k: 3, stride: 2, pad: 1 },
  { name: 'layer4 3x3', c: 512, o: 512, h: 7, k: 3, stride: 1, pad: 1 },
  { name: 'layer4 down 1x1/2', c: 256, o: 512, h: 14, k: 1, stride: 2, pad: 0 },
];

export function convOut(s: ConvShape): number {
  return Math.floor((s.h + 2 * s.pad - s.k) / s.stride) + 1;
}

/** Multiply-adds ×2 of one conv pass (forward, dX and dW all cost the same). */
export function convFlops(s: ConvShape, batch: number): number {
  const oh = convOut(s);
  return 2 * batch * s.o * oh * oh * s.c * s.k * s.k;
}

export interface MatmulShape {
  name: string;
  m: number;
  n: number;
  k: number;
}

/**
 * The matmul rows. The two GEMM rows are the column-matrix products of the layer1 and layer4 convolutions
 * for the batch's images, or for as many as fit one binding of `maxBindingBytes` (layer1's column matrix at
 * batch 32 is 231 MB, above lavapipe's 128 MiB).
 */
export function matmulShapes(batch: number, maxBindingBytes = Infinity): MatmulShape[] {
  const images = (k: number, hw: number) => Math.max(1, Math.min(batch, Math.floor(maxBindingBytes / (4 * k * hw))));
  return [
    { name: 'square 1024', m: 1024, n: 1024, k: 1024 },
    { name: 'square 512', m: 512, n: 512, k: 512 },
    { name: 'fc 512→1000', m: batch, n: 1000, k: 512 },
    { name: 'fc 512→37', m: batch, n: 37, k: 512 },
    { name: 'layer1 GEMM', m: 64, n: images(576, 56 * 56) * 56 * 56, k: 576 },
    { name: 'layer4 GEMM', m: 512, n: images(4608, 7 * 7) * 7 * 7, k: 4608 },
  ];
}
