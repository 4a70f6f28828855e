/**
 * A float16 convolution by im2col with every product on the subgroup-matrix kernel (kernels/matmul/smatrix.ts):
 * the forward, data-gradient and weight-gradient passes of ResNet-34 layer shapes, each timed (a pass and a sync,
 * medians after warm-up), with its dispatches and the pass's peak of live GPU memory above what was live before.
 * Build it in two checkouts and run both on the adapter that offers the kernel, alternating, to compare them
 * (docs/benchmarks.md; in the sid root of scripts/setup.sh --test-tools with WEBGPU_DAWN_FEATURES=allow_unsafe_apis):
 *   npx esbuild tools/smatrix_conv_ab.ts --bundle --platform=node --format=esm --loader:.wgsl=text \
 *     --external:webgpu --external:sharp --outfile=dist/smatrix_conv_ab.mjs && node dist/smatrix_conv_ab.mjs [rounds] [batch] [size]
 * Prints one JSON line per shape and pass.
 */
import { initGpu } from '../src/gpu/init';
import { hasSmatrix } from '../src/kernels/matmul';
import { setKernelChooser } from '../src/kernels/config';
import { conv2dGeometry } from '../src/kernels/conv/geometry';
import { dataIm2col, forwardIm2col, weightIm2col } from '../src/kernels/conv/im2col';

const [rounds = 5, batch = 4, size = 56] = process.argv.slice(2).map(Number);
const rt = await initGpu();
if (!hasSmatrix(rt)) throw new Error(`${rt.adapter.name}: no subgroup-matrix configuration with float16 inputs (WEBGPU_DAWN_FEATURES=allow_unsafe_apis?)`);
setKernelChooser(rt, (_rt, c) => (c.site === 'matmul' && (c.candidates as readonly unknown[]).includes('smatrix') ? ('smatrix' as typeof c.heuristic) : undefined));
// layer1's 3×3, layer2's first (stride 2) 3×3 and its 1×1 downsample, layer3's and layer4's 3×3, for `size` px
// inputs to layer1.
const shapes: [string, number, number, number, number, number, number][] = [
  ['layer1 3x3', 64, size, 64, 3, 1, 1],
  ['layer2 3x3 s2', 64, size, 128, 3, 2, 1],
  ['layer2 1x1 s2', 64, size, 128, 1, 2, 0],
  ['layer3 3x3', 256, size / 4, 256, 3, 1, 1],
  ['layer4 3x3', 512, size / 8, 512, 3, 1, 1],
];
// Small integers: float16 values.
const fill = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => (((i * k) % 7) - 3) / 4);
const med = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
for (const [name, C, H, O, k, stride, pad] of shapes) {
  const g = conv2dGeometry([batch, C, H, H], [O, C, k, k], stride, pad);
  const x = rt.upload(fill(batch * C * H * H, 5));
  const w = rt.upload(fill(O * C * k * k, 3));
  const dy = rt.upload(fill(batch * O * g.OH * g.OW, 2));
  const y = rt.alloc(batch * O * g.OH * g.OW * 4);
  const dx = rt.alloc(batch * C * H * H * 4);
  const dw = rt.alloc(O * C * k * k * 4);
  const opts = { halfOperands: true };
  const passes: [string, () => void][] = [
    ['forward', () => forwardIm2col(rt, x, w, null, y, g, opts)],
    ['dx', () => dataIm2col(rt, dy, w, dx, g, opts)],
    ['dw', () => weightIm2col(rt, x, dy, dw, g, opts)],
  ];
  for (const [pass, fn] of passes) {
    let dispatches = 0;
    rt.dispatchLog = () => dispatches++;
    fn();
    await rt.sync();
    rt.dispatchLog = null;
    const live = rt.poolStats().liveBytes;
    rt.pool.resetPeak();
    const ms: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t = performance.now();
      fn();
      await rt.sync();
      ms.push(performance.now() - t);
    }
    const peakMiB = (rt.poolStats().peakLiveBytes - live) / 2 ** 20;
    console.log(JSON.stringify({ shape: name, batch, size: H, pass, ms: +med(ms).toFixed(2), dispatches, scratch_peak_mib: +peakMiB.toFixed(2) }));
  }
  for (const b of [x, w, dy, y, dx, dw]) rt.release(b);
}
console.log(JSON.stringify({ adapter: rt.adapter.name }));
process.exit(0);
