// Tiled matrix multiply for GPUs: C[M,N] = X·Y (+ epilogue), with the operands of the packed kernels
// (matmul_subgroup.wgsl's MODE 0, 1 and 2: X k-major and Y row-major as rows of vec4, or Y gathered from
// images by a convolution's taps) and the same Params, followed by epilogue fields. tiled.ts prepends the
// configuration: `const BM, BN, BK, TM, TN` (block tile BM × BN, slabs of BK along k, a TM × TN register
// tile per thread; all multiples of 4, BM/TM · BN/TN threads).
//
// Parallelisation: a workgroup owns a BM × BN tile of C. Per slab of BK steps along k it loads X[k0…k0+BK,
// m0…m0+BM] and Y[k0…k0+BK, n0…n0+BN] into workgroup memory as vec4 (one coalesced vec4 load per slot:
// consecutive threads read consecutive vec4 of a row), then every thread multiplies its TM rows by its TN
// columns from there. The tiles are double-buffered: while a slab is multiplied, the next one is already
// loaded into registers and stored into the other buffer afterwards, so one barrier per slab suffices and
// the global loads overlap the arithmetic. A thread's rows are the vec4 row groups ty + i·WGY (i < TM/4) and
// its columns the vec4 column groups tx + j·WGX (j < TN/4): neighbouring threads read neighbouring vec4 of
// workgroup memory and store neighbouring vec4 of C. No subgroup operation is used, so any subgroup size
// (4 … 128) runs it. Batches: C_g = Σ X_z·Y_z over z in [g·zPer, (g+1)·zPer) (zPer = 1: C_z = X_z·Y_z); the
// slabs of all z run as one sequence, so the double buffering crosses z. Loads past K, M or N read zeros,
// and outputs past M or N are not stored: any M, N ≥ 1 and K ≥ 0 work.
//
// Epilogue, per output: v = acc · scale (+ bias) (+ residual) (+ C when accumulating), then max(v, 0) when
// relu. scale and bias are per row or per column of C (scaleMode, biasMode); the residual has C's layout.
// With scale = γ/σ and bias = β − μ·γ/σ per output channel it applies an inference batch norm.

override MODE: u32 = 0u;

const WGX = BN / TN;      // threads along n
const WGY = BM / TM;      // threads along m
const THREADS = WGX * WGY;
const BM4 = BM / 4u;
const BN4 = BN / 4u;
const TM4 = TM / 4u;
const TN4 = TN / 4u;
const XS = BK * BM4;      // vec4 per slab of X
const YS = BK * BN4;      // vec4 per slab of Y
const LOADS_X = (XS + THREADS - 1u) / THREADS;
const LOADS_Y = (YS + THREADS - 1u) / THREADS;
// A gather column past N gets this row coordinate, so that every tap of it lies outside the image (reads 0).
const OUTSIDE = -1073741824;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  batch: u32,
  ldx4: u32,
  ldy4: u32,
  strideX4: u32,
  strideY: u32,    // vec4 in MODE 0, floats in MODE 1, 2
  offX4: u32,
  offY: u32,       // vec4 in MODE 0, floats in MODE 1, 2
  ldc: u32,
  strideC: u32,
  offC: u32,
  offBias: u32,
  tilesN: u32,     // ceil(N / BN)
  tiles: u32,      // tilesN · ceil(M / BM)
  zPer: u32,
  accumulate: u32, // 1: C += result
  biasMode: u32,   // 0: none, 1: bias[n] per column, 2: bias[m] per row
  inH: u32,        // MODE 1, 2: see matmul_subgroup.wgsl
  inW: u32,
  KH: u32,
  KW: u32,
  gridW: u32,
  rowMul: i32,
  rowAdd: i32,
  kSign: i32,
  colsPerImage: u32,
  offScale: u32,
  offRes: u32,
  scaleMode: u32,  // 0: none, 1: scale[n] per column, 2: scale[m] per row
  residual: u32,   // 1: + res (C's layout, at offRes)
  relu: u32,       // 1: max(v, 0) last
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> y: array<vec4f>;      // MODE 0 (yImg's buffer again in MODE 1, 2)
@group(0) @binding(3) var<storage, read> bias: array<f32>;     // bound to x's buffer when unused (likewise scale, res)
@group(0) @binding(4) var<storage, read_write> c: array<vec4f>; // C's floats, as vec4 (see storeRow)
@group(0) @binding(5) var<storage, read> yImg: array<f32>;     // MODE 1, 2 (y's buffer again in MODE 0)
@group(0) @binding(6) var<storage, read> scale: array<f32>;
@group(0) @binding(7) var<storage, read> res: array<f32>;

var<workgroup> xs: array<vec4f, 2u * XS>;
var<workgroup> ys: array<vec4f, 2u * YS>;

var<private> acc: array<vec4f, TM * TN4>;   // row 4(ty + i·WGY) + r, columns of group j: acc[(4i + r)·TN4 + j]
var<private> xr: array<vec4f, LOADS_X>;     // the next slab, between its load and its store
var<private> yr: array<vec4f, LOADS_Y>;
// MODE 1, 2: the k-independent part of each Y slot's gather (its 4 columns are fixed for the whole loop).
var<private> gH: array<vec4i, LOADS_Y>;
var<private> gW: array<vec4i, LOADS_Y>;
var<private> gOff: array<vec4i, LOADS_Y>;

// Slot s of this thread's share of a slab: vec4 e = tid + s·THREADS, row e / width, vec4 column e % width.
fn slotOk(e: u32, size: u32) -> bool {
  return size % THREADS == 0u || e < size;
}

// MODE 1, 2: set up slot s's gather for columns n…n+3 (see matmul_subgroup.wgsl's convLoop).
fn gatherSetup(s: u32, n: u32) {
  let cols = vec4u(n) + vec4u(0u, 1u, 2u, 3u);
  let live = cols < vec4u(p.N);
  let cl = min(cols, vec4u(p.N - 1u));
  if (MODE == 1u) {
    let img = cl / p.colsPerImage;
    let pix = cl - img * p.colsPerImage;
    let row = pix / p.gridW;
    gH[s] = select(vec4i(OUTSIDE), vec4i(row) * p.rowMul + p.rowAdd, live);
    gW[s] = vec4i(pix - row * p.gridW) * p.rowMul + p.rowAdd;
    gOff[s] = vec4i(img * p.strideY);
  } else {
    let taps = p.KH * p.KW;
    let ch = cl / taps;
    let t = cl - ch * taps;
    let ki = vec4i(t / p.KW);
    let kj = vec4i(t % p.KW);
    gH[s] = select(vec4i(OUTSIDE), ki, live);
    gW[s] = kj;
    gOff[s] = vec4i(ch) * i32(p.inH * p.inW) + ki * i32(p.inW) + kj;
  }
}

// MODE 1, 2: slot s's 4 values of Y at row k of batch index z.
fn gatherY(s: u32, z: u32, k: u32) -> vec4f {
  if (k >= p.K) { return vec4f(0.0); }
  let inW = i32(p.inW);
  var ih: vec4i;
  var iw: vec4i;
  var at: vec4i;
  if (MODE == 1u) {
    let taps = p.KH * p.KW;
    let ch = k / taps;
    let t = k - ch * taps;
    let ki = i32(t / p.KW);
    let kj = i32(t % p.KW);
    ih = gH[s] + p.kSign * ki;
    iw = gW[s] + p.kSign * kj;
    at = gOff[s] + i32(ch * p.inH * p.inW) + ih * inW + iw;
  } else {
    let row = k / p.gridW;
    let h0 = i32(row) * p.rowMul + p.rowAdd;
    let w0 = i32(k - row * p.gridW) * p.rowMul + p.rowAdd;
    ih = gH[s] + h0;
    iw = gW[s] + w0;
    at = gOff[s] + h0 * inW + w0;
  }
  let inside = (vec4u(ih) < vec4u(p.inH)) & (vec4u(iw) < vec4u(p.inW));
  let a = vec4u(select(vec4i(0), at, inside)) + (p.offY + z * p.strideY);
  return select(vec4f(0.0), vec4f(yImg[a.x], yImg[a.y], yImg[a.z], yImg[a.w]), inside);
}

// Load slab `step` (batch index zFirst + step / kTiles, rows k0 … k0 + BK) into xr, yr.
fn fetch(tid: u32, step: u32, kTiles: u32, zFirst: u32, m0: u32, n0: u32) {
  let z = zFirst + step / kTiles;
  let k0 = (step % kTiles) * BK;
  let mEnd4 = (p.M + 3u) / 4u;
  let nEnd4 = (p.N + 3u) / 4u;
  let xBase = p.offX4 + z * p.strideX4;
  for (var s = 0u; s < LOADS_X; s++) {
    let e = tid + s * THREADS;
    if (slotOk(e, XS)) {
      let k = k0 + e / BM4;
      let m4 = m0 / 4u + e % BM4;
      var v = vec4f(0.0);
      if (k < p.K && m4 < mEnd4) { v = x[xBase + k * p.ldx4 + m4]; }
      xr[s] = v;
    }
  }
  let yBase = p.offY + z * p.strideY;
  for (var s = 0u; s < LOADS_Y; s++) {
    let e = tid + s * THREADS;
    if (slotOk(e, YS)) {
      let k = k0 + e / BN4;
      if (MODE == 0u) {
        let n4 = n0 / 4u + e % BN4;
        var v = vec4f(0.0);
        if (k < p.K && n4 < nEnd4) { v = y[yBase + k * p.ldy4 + n4]; }
        yr[s] = v;
      } else {
        yr[s] = gatherY(s, z, k);
      }
    }
  }
}

// Store xr, yr into buffer `buf` of the workgroup tiles.
fn stash(tid: u32, buf: u32) {
  for (var s = 0u; s < LOADS_X; s++) {
    let e = tid + s * THREADS;
    if (slotOk(e, XS)) { xs[buf * XS + e] = xr[s]; }
  }
  for (var s = 0u; s < LOADS_Y; s++) {
    let e = tid + s * THREADS;
    if (slotOk(e, YS)) { ys[buf * YS + e] = yr[s]; }
  }
}

// acc += this thread's rows of the X slab in buffer `buf` times its columns of the Y slab.
fn multiply(buf: u32, tx: u32, ty: u32) {
  for (var kk = 0u; kk < BK; kk++) {
    var a: array<vec4f, TM4>;
    var b: array<vec4f, TN4>;
    for (var i = 0u; i < TM4; i++) { a[i] = xs[buf * XS + kk * BM4 + ty + i * WGY]; }
    for (var j = 0u; j < TN4; j++) { b[j] = ys[buf * YS + kk * BN4 + tx + j * WGX]; }
    for (var i = 0u; i < TM4; i++) {
      for (var r = 0u; r < 4u; r++) {
        let av = vec4f(a[i][r]);
        for (var j = 0u; j < TN4; j++) {
          let q = (4u * i + r) * TN4 + j;
          acc[q] = fma(av, b[j], acc[q]);
        }
      }
    }
  }
}

// Store row m of one column group (columns nBase … nBase + 3, at colOff within C's row) after the epilogue:
// one vec4 store when the 4 floats are consecutive, inside C and on a vec4 boundary, else float by float
// (a store to one component writes that float only).
fn storeRow(v0: vec4f, m: u32, rel0: u32, nBase: u32, colOff: vec4u, colScale: vec4f, colBias: vec4f) {
  var v = v0;
  if (p.scaleMode == 1u) { v *= colScale; }
  if (p.scaleMode == 2u) { v *= scale[p.offScale + m]; }
  v += colBias;
  if (p.biasMode == 2u) { v += vec4f(bias[p.offBias + m]); }
  let rel = rel0 + m * p.ldc;   // of C's row within its binding, less offC
  let at = p.offC + rel + colOff.x;
  if (colOff.w == colOff.x + 3u && nBase + 3u < p.N && (at & 3u) == 0u) {
    if (p.residual == 1u) {
      let r = p.offRes + rel + colOff.x;
      v += vec4f(res[r], res[r + 1u], res[r + 2u], res[r + 3u]);
    }
    if (p.accumulate == 1u) { v += c[at >> 2u]; }
    if (p.relu == 1u) { v = max(v, vec4f(0.0)); }
    c[at >> 2u] = v;
  } else {
    for (var j = 0u; j < 4u; j++) {
      if (nBase + j < p.N) {
        let o = p.offC + rel + colOff[j];
        var w = v[j];
        if (p.residual == 1u) { w += res[p.offRes + rel + colOff[j]]; }
        if (p.accumulate == 1u) { w += c[o >> 2u][o & 3u]; }
        if (p.relu == 1u) { w = max(w, 0.0); }
        c[o >> 2u][o & 3u] = w;
      }
    }
  }
}

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let tile = wid.y * nwg.x + wid.x;
  if (tile >= p.tiles) { return; }
  let m0 = (tile / p.tilesN) * BM;
  let n0 = (tile % p.tilesN) * BN;
  let tx = tid % WGX;
  let ty = tid / WGX;
  let kTiles = (p.K + BK - 1u) / BK;
  let zFirst = wid.z * p.zPer;
  let zEnd = min(zFirst + p.zPer, p.batch);
  let steps = (zEnd - zFirst) * kTiles;

  if (MODE != 0u) {
    for (var s = 0u; s < LOADS_Y; s++) {
      let e = tid + s * THREADS;
      gatherSetup(s, n0 + 4u * (e % BN4));
    }
  }
  if (steps > 0u) {
    fetch(tid, 0u, kTiles, zFirst, m0, n0);
    stash(tid, 0u);
  }
  workgroupBarrier();
  for (var step = 0u; step < steps; step++) {
    let cur = step & 1u;
    let more = step + 1u < steps;
    if (more) { fetch(tid, step + 1u, kTiles, zFirst, m0, n0); }
    multiply(cur, tx, ty);
    if (more) { stash(tid, 1u - cur); }
    workgroupBarrier();
  }

  // Epilogue: column group j holds columns nBase = n0 + 4(tx + j·WGX) … + 3 of rows 4(ty + i·WGY) + r.
  let rel0 = wid.z * p.strideC;
  for (var j = 0u; j < TN4; j++) {
    let nBase = n0 + 4u * (tx + j * WGX);
    if (nBase >= p.N) { continue; }
    var colOff = nBase + vec4u(0u, 1u, 2u, 3u);   // of column n in its row of C
    if (MODE == 1u) {
      let img = colOff / p.colsPerImage;
      colOff += img * (p.strideC - p.colsPerImage);
    }
    let last = vec4u(p.N - 1u);
    let cols = min(nBase + vec4u(0u, 1u, 2u, 3u), last);
    var colScale = vec4f(1.0);
    if (p.scaleMode == 1u) { colScale = vec4f(scale[p.offScale + cols.x], scale[p.offScale + cols.y], scale[p.offScale + cols.z], scale[p.offScale + cols.w]); }
    var colBias = vec4f(0.0);
    if (p.biasMode == 1u) { colBias = vec4f(bias[p.offBias + cols.x], bias[p.offBias + cols.y], bias[p.offBias + cols.z], bias[p.offBias + cols.w]); }
    for (var i = 0u; i < TM4; i++) {
      for (var r = 0u; r < 4u; r++) {
        let m = m0 + 4u * (ty + i * WGY) + r;
        if (m < p.M) { storeRow(acc[(4u * i + r) * TN4 + j], m, rel0, nBase, colOff, colScale, colBias); }
      }
    }
  }
}
