// Matrix multiply for adapters without fixed-width subgroups (SwiftShader, the browser's software adapter, and
// real GPUs): C[M,N] = X·Y (+ bias) (+ C), per batch index z or summed over runs of zPer batch indices (see matmul_subgroup.wgsl), with
//   X[k, m] = x[offX4 + z·strideX4 + k·ldx4 + m/4][m%4]   (X stored k-major, as rows of vec4)
//   Y[k, n] = y[offY + z·strideY + k·ldy4 + n/4][n%4]     (row-major, rows of vec4)
//   C[m, n] = c[offC + z·strideC + m·ldc + n]              (any alignment)
// This is MODE 0 of matmul_subgroup.wgsl, with the same Params and bindings, so the operands are
// packed alike (pack.ts) and both launchers (vec4.ts, subgroup.ts) fill the Params one way (common.ts).
//
// Parallelisation: every thread computes 8 rows × 8 columns of C in 16 named vec4 accumulators; per k it
// loads two vec4 of X and two of Y and does 16 vec4 multiply-adds. Everything is written out: no arrays and
// no loops over registers, because SwiftShader does not unroll loops, so an array indexed by a loop
// counter lives in memory there (as in the portable kernel, written with loops). A workgroup is WGX × WGY threads (1 to 8 each; the launcher narrows a side
// for a thin C, such as the 8 columns of a batch of 1×1 feature maps, instead of computing a 64-wide tile
// for them) and owns a 8·WGY × 8·WGX tile of C; tiles are numbered n-fastest over a 2D grid (x, y folded by
// grid1d), z is the batch index. Rows and columns past the edge
// load clamped indices and are never stored, so any M, N ≥ 1 and K ≥ 0 work.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  batch: u32,
  ldx4: u32,
  ldy4: u32,
  strideX4: u32,
  strideY: u32,
  offX4: u32,
  offY: u32,
  ldc: u32,
  strideC: u32,
  offC: u32,
  offBias: u32,
  tilesN: u32,     // ceil(N / (8·WGX))
  tiles: u32,      // tilesN · ceil(M / (8·WGY))
  zPer: u32,       // terms per sum: C_g = Σ_{z in [g·zPer, (g+1)·zPer)} X_z·Y_z (1: C_z = X_z·Y_z)
  accumulate: u32, // 1: C += result
  biasMode: u32,   // 0: none, 1: bias[n] per column, 2: bias[m] per row
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> y: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;   // bound to x's buffer when biasMode == 0
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// Store one row of the thread's tile: columns n0 … n0+7 of row m (those inside C).
fn storeRow(m: u32, n0: u32, zc: u32, lo: vec4f, hi: vec4f, biasLo: vec4f, biasHi: vec4f) {
  if (m >= p.M) { return; }
  var rowBias = 0.0;
  if (p.biasMode == 2u) { rowBias = bias[p.offBias + m]; }
  let base = p.offC + zc * p.strideC + m * p.ldc + n0;
  let v0 = lo + biasLo + vec4f(rowBias);
  let v1 = hi + biasHi + vec4f(rowBias);
  for (var j = 0u; j < 8u; j++) {
    if (n0 + j < p.N) {
      var o = select(v0[j & 3u], v1[j & 3u], j >= 4u);
      if (p.accumulate == 1u) { o += c[base + j]; }
      c[base + j] = o;
    }
  }
}

override WGX: u32 = 8u;
override WGY: u32 = 8u;

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let tile = wid.y * nwg.x + wid.x;
  if (tile >= p.tiles) { return; }
  let m0 = ((tile / p.tilesN) * WGY + lid.y) * 8u;
  let n0 = ((tile % p.tilesN) * WGX + lid.x) * 8u;
  let lastX = (p.M - 1u) / 4u;
  let lastY = (p.N - 1u) / 4u;
  let x0 = min(m0 / 4u, lastX);
  let x1 = min(m0 / 4u + 1u, lastX);
  let y0 = min(n0 / 4u, lastY);
  let y1 = min(n0 / 4u + 1u, lastY);

  var a0l = vec4f(0.0); var a0h = vec4f(0.0);
  var a1l = vec4f(0.0); var a1h = vec4f(0.0);
  var a2l = vec4f(0.0); var a2h = vec4f(0.0);
  var a3l = vec4f(0.0); var a3h = vec4f(0.0);
  var a4l = vec4f(0.0); var a4h = vec4f(0.0);
  var a5l = vec4f(0.0); var a5h = vec4f(0.0);
  var a6l = vec4f(0.0); var a6h = vec4f(0.0);
  var a7l = vec4f(0.0); var a7h = vec4f(0.0);

  let zFirst = wid.z * p.zPer;
  let zEnd = min(zFirst + p.zPer, p.batch);
  for (var z = zFirst; z < zEnd; z++) {
    var ix = p.offX4 + z * p.strideX4;
    var iy = p.offY + z * p.strideY;
    for (var k = 0u; k < p.K; k++) {
      let xa = x[ix + x0];
      let xb = x[ix + x1];
      let yl = y[iy + y0];
      let yh = y[iy + y1];
      ix += p.ldx4;
      iy += p.ldy4;
      a0l = fma(vec4f(xa.x), yl, a0l); a0h = fma(vec4f(xa.x), yh, a0h);
      a1l = fma(vec4f(xa.y), yl, a1l); a1h = fma(vec4f(xa.y), yh, a1h);
      a2l = fma(vec4f(xa.z), yl, a2l); a2h = fma(vec4f(xa.z), yh, a2h);
      a3l = fma(vec4f(xa.w), yl, a3l); a3h = fma(vec4f(xa.w), yh, a3h);
      a4l = fma(vec4f(xb.x), yl, a4l); a4h = fma(vec4f(xb.x), yh, a4h);
      a5l = fma(vec4f(xb.y), yl, a5l); a5h = fma(vec4f(xb.y), yh, a5h);
      a6l = fma(vec4f(xb.z), yl, a6l); a6h = fma(vec4f(xb.z), yh, a6h);
      a7l = fma(vec4f(xb.w), yl, a7l); a7h = fma(vec4f(xb.w), yh, a7h);
    }
  }

  // Epilogue: the bias per column (clamped loads, no branches), then row by row.
  var bl = vec4f(0.0);
  var bh = vec4f(0.0);
  if (p.biasMode == 1u) {
    let lastN = p.N - 1u;
    let o = p.offBias;
    bl = vec4f(bias[o + min(n0, lastN)], bias[o + min(n0 + 1u, lastN)], bias[o + min(n0 + 2u, lastN)], bias[o + min(n0 + 3u, lastN)]);
    bh = vec4f(bias[o + min(n0 + 4u, lastN)], bias[o + min(n0 + 5u, lastN)], bias[o + min(n0 + 6u, lastN)], bias[o + min(n0 + 7u, lastN)]);
  }
  let zc = wid.z;
  storeRow(m0, n0, zc, a0l, a0h, bl, bh);
  storeRow(m0 + 1u, n0, zc, a1l, a1h, bl, bh);
  storeRow(m0 + 2u, n0, zc, a2l, a2h, bl, bh);
  storeRow(m0 + 3u, n0, zc, a3l, a3h, bl, bh);
  storeRow(m0 + 4u, n0, zc, a4l, a4h, bl, bh);
  storeRow(m0 + 5u, n0, zc, a5l, a5h, bl, bh);
  storeRow(m0 + 6u, n0, zc, a6l, a6h, bl, bh);
  storeRow(m0 + 7u, n0, zc, a7l, a7h, bl, bh);
}
