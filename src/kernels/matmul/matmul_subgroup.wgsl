// Matrix multiply for adapters whose subgroups have a fixed width of 4 to 128 lanes (llvmpipe: 8, or 4 to 128
// with LP_NATIVE_VECTOR_WIDTH): C[M,N] = X·Y (+ bias) (+ C),
// for one matrix per batch index z, or for sums over runs of zPer consecutive batch indices (C_g =
// Σ X_z·Y_z for z in [g·zPer, (g+1)·zPer), matrix g of C; zPer = batch: the sum of the whole batch), where
//   X[k, m] = x[offX4 + z·strideX4 + k·ldx4 + m/4][m%4]   (X is stored k-major, as rows of vec4)
//   C[m, n] = c[offC + z·strideC + m·ldc + n]              (floats, any alignment; c is bound as vec4)
// and Y is read as MODE says:
//   0: Y[k, n] = y[offY + z·strideY + k·ldy4 + n/4][n%4]  (row-major, rows of vec4; offY, strideY in vec4)
//   1: convolution taps gathered on the fly from planes of inH × inW floats (implicit im2col):
//        Y[k, n] = yImg[offY + z·strideY + (c·inH + ih)·inW + iw], 0 outside the plane (offsets in floats),
//        k = (c·KH + ki)·KW + kj, n = row·gridW + col,
//        ih = row·rowMul + rowAdd + kSign·ki, iw = col·rowMul + rowAdd + kSign·kj.
//      A forward convolution reads x with rowMul = stride, rowAdd = -pad, kSign = 1 (X = the weights, as
//      [(c, ki, kj), o]); its data gradient at stride 1 reads dy with rowMul = 1, rowAdd = pad, kSign = -1
//      (X = the weights as [(o, ki, kj), c]). The images are folded into the columns, so that small images
//      fill whole tiles: n = z·colsPerImage + row·gridW + col, and C[m, n] is at offC + z·strideC + m·ldc
//      + row·gridW + col (the dispatch has one batch index).
//   2: the same gather transposed, for the weight gradient: k = row·gridW + col (an output pixel),
//      n = (c·KH + ki)·KW + kj, ih = row·rowMul + rowAdd + ki, iw = col·rowMul + rowAdd + kj (X = dyᵀ).
// The launchers (subgroup.ts, pack.ts; ../conv/implicit.ts for MODE 1 and 2) pack operands that are not vec4 rows
// (matmul_pack.wgsl), so any op(A)·op(B) and any convolution run here.
//
// Parallelisation: a workgroup is one subgroup of SG lanes (SG = the adapter's fixed subgroup size, 4 to 128;
// the launcher sets it) and owns a 32 × 4·SG tile of C. On llvmpipe every load whose address is not a
// compile-time constant becomes SG per-lane loads with a bounds check each, so the kernel loads as little as it
// can and shares values through the subgroup instead. Per k, the 32 X values of the tile's rows are 8 vec4s:
// lane l holds vec4 l (rows m0 + 4l … 4l+3; with SG ≥ 16 lanes l and l + 8·j hold the same one), or with
// SG = 4 two of them (vec4s l and 4 + l). Each lane also loads one vec4 of Y (columns n0 + 4l … 4l+3; 4
// gathered floats in MODE 1, 2); subgroupBroadcast hands every lane the 32 X values of the step (a register
// shuffle each), and each lane does 32 vec4 multiply-adds into its 32 rows × 4 columns: 2 vector loads per
// 1024 multiply-adds (SG = 4: 3), with 128 accumulators per lane. Two k per loop iteration (MODE 0, see
// mac4x2): longer loop bodies run slower (the code outgrows the instruction cache), and so does a larger tile
// (more spilled accumulators). A workgroup that is not one subgroup of SG lanes, or whose lanes are numbered
// otherwise than the broadcasts need, stores NaN rather than a wrong product.
// Rows and columns past the edge load clamped indices and are never stored, so any M, N ≥ 1 and K ≥ 0 work.
// Tiles are numbered n-fastest over a 2D grid (x, y folded by grid1d); z is the batch index.

enable subgroups;

override MODE: u32 = 0u;
// MODE 0 only: tiles of 32 × 8·SG (each lane also owns columns n0 + 4·SG + 4l … 4l+3, in a second set of
// accumulators), chosen by the launcher where C's width fills them.
override WIDE: bool = false;
// Lanes per subgroup, which is also the workgroup's size: a power of two from 4 to 128.
override SG: u32 = 8u;
// llvmpipe beyond 16 lanes (set by the launcher): lanes 16 … 31 of a workgroup have subgroup_invocation_id
// 0 … 15 again, as measured, and broadcast among themselves: a lane is then numbered by its id plus its block of
// 16 in the workgroup.
override SPLIT16: bool = false;
// Tests only: lane l takes the work of lane l ^ LANE_XOR (a permuted numbering, which the guard must catch).
override LANE_XOR: u32 = 0u;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  batch: u32,      // matrices (terms of the sums when zPer > 1)
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
  tilesN: u32,     // ceil(N / (4·SG)), or ceil(N / (8·SG)) when WIDE
  tiles: u32,      // tilesN · ceil(M / 32)
  zPer: u32,       // terms per sum: C_g = Σ_{z in [g·zPer, (g+1)·zPer)} X_z·Y_z (1: C_z = X_z·Y_z)
  accumulate: u32, // 1: C += result
  biasMode: u32,   // 0: none, 1: bias[n] per column, 2: bias[m] per row
  inH: u32,        // MODE 1, 2: see above
  inW: u32,
  KH: u32,
  KW: u32,
  gridW: u32,
  rowMul: i32,
  rowAdd: i32,
  kSign: i32,
  colsPerImage: u32, // MODE 1: columns (pixels) per image, see above; 0 otherwise
  offScale: u32,   // the epilogue (see storeRow): scale's offset,
  offRes: u32,     // the residual's (element (z, m, n) of C at offRes + z·strideC + m·ldc + column offset);
  scaleMode: u32,  // 0: none, 1: scale[n] per column, 2: scale[m] per row
  residual: u32,   // 1: add the residual (res)
  relu: u32,       // 1: max(·, 0) last
}

// With EPI, the epilogue (scale, residual, ReLU) as the uniforms say; without, none (compiled out: the
// epilogue's loads make a pipeline slower to compile on llvmpipe). The launcher sets it for every MODE 1
// product (convolutions, forward and data gradient), so that one pipeline serves a model's training
// convolutions and its fused inference ones.
override EPI: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> y: array<vec4f>;      // MODE 0 (and yImg's buffer again in MODE 1, 2)
@group(0) @binding(3) var<storage, read> bias: array<f32>;   // bound to x's buffer when biasMode == 0
@group(0) @binding(4) var<storage, read_write> c: array<vec4f>;   // C's floats, as vec4 (see storeRow)
@group(0) @binding(5) var<storage, read> yImg: array<f32>;   // MODE 1, 2 (and y's buffer again in MODE 0)
@group(0) @binding(6) var<storage, read> scale: array<f32>;  // scaleMode > 0 (else x's buffer)
@group(0) @binding(7) var<storage, read> res: array<f32>;    // residual == 1 (else x's buffer)

// acc[4i + j] += X[row 4i + j] · yv, for the 4 rows of lane i (s = lane i's vec4 of X).
fn mac4(acc: ptr<function, array<vec4f, 32>>, i: u32, s: vec4f, yv: vec4f) {
  (*acc)[4u * i] = fma(vec4f(s.x), yv, (*acc)[4u * i]);
  (*acc)[4u * i + 1u] = fma(vec4f(s.y), yv, (*acc)[4u * i + 1u]);
  (*acc)[4u * i + 2u] = fma(vec4f(s.z), yv, (*acc)[4u * i + 2u]);
  (*acc)[4u * i + 3u] = fma(vec4f(s.w), yv, (*acc)[4u * i + 3u]);
}

// X values of rows 4i … 4i+3 of a k-step (i a constant < 8): lane i's vec4 xv, or with 4-lane subgroups lane
// (i − 4)'s second vec4 xv2 for i ≥ 4 (the select is decided at pipeline creation: SG is an override).
// One k-step: every lane gets the 32 X values of the step from their owners and multiplies them with its
// vec4 of Y (acc[4i + j] += X[row 4i + j] · yv).
fn macStep(acc: ptr<function, array<vec4f, 32>>, xv: vec4f, xv2: vec4f, yv: vec4f) {
  mac4(acc, 0u, subgroupBroadcast(xv, 0u), yv);
  mac4(acc, 1u, subgroupBroadcast(xv, 1u), yv);
  mac4(acc, 2u, subgroupBroadcast(xv, 2u), yv);
  mac4(acc, 3u, subgroupBroadcast(xv, 3u), yv);
  mac4(acc, 4u, select(subgroupBroadcast(xv, 4u), subgroupBroadcast(xv2, 0u), SG < 8u), yv);
  mac4(acc, 5u, select(subgroupBroadcast(xv, 5u), subgroupBroadcast(xv2, 1u), SG < 8u), yv);
  mac4(acc, 6u, select(subgroupBroadcast(xv, 6u), subgroupBroadcast(xv2, 2u), SG < 8u), yv);
  mac4(acc, 7u, select(subgroupBroadcast(xv, 7u), subgroupBroadcast(xv2, 3u), SG < 8u), yv);
}

// Two k-steps at once, each accumulator updated twice in a row: on llvmpipe the 128 accumulators live in
// memory (spilled), so this halves their loads and stores per multiply-add (four k-steps at once run slower).
fn mac4x2(acc: ptr<function, array<vec4f, 32>>, i: u32, s: vec4f, yv: vec4f, t: vec4f, zv: vec4f) {
  (*acc)[4u * i] = fma(vec4f(t.x), zv, fma(vec4f(s.x), yv, (*acc)[4u * i]));
  (*acc)[4u * i + 1u] = fma(vec4f(t.y), zv, fma(vec4f(s.y), yv, (*acc)[4u * i + 1u]));
  (*acc)[4u * i + 2u] = fma(vec4f(t.z), zv, fma(vec4f(s.z), yv, (*acc)[4u * i + 2u]));
  (*acc)[4u * i + 3u] = fma(vec4f(t.w), zv, fma(vec4f(s.w), yv, (*acc)[4u * i + 3u]));
}

// macStep for k (X values xv, xv2; Y values yv), then for k + 1 (xw, xw2; yw).
fn macStep2(acc: ptr<function, array<vec4f, 32>>, xv: vec4f, xv2: vec4f, yv: vec4f, xw: vec4f, xw2: vec4f, yw: vec4f) {
  mac4x2(acc, 0u, subgroupBroadcast(xv, 0u), yv, subgroupBroadcast(xw, 0u), yw);
  mac4x2(acc, 1u, subgroupBroadcast(xv, 1u), yv, subgroupBroadcast(xw, 1u), yw);
  mac4x2(acc, 2u, subgroupBroadcast(xv, 2u), yv, subgroupBroadcast(xw, 2u), yw);
  mac4x2(acc, 3u, subgroupBroadcast(xv, 3u), yv, subgroupBroadcast(xw, 3u), yw);
  mac4x2(acc, 4u, select(subgroupBroadcast(xv, 4u), subgroupBroadcast(xv2, 0u), SG < 8u), yv, select(subgroupBroadcast(xw, 4u), subgroupBroadcast(xw2, 0u), SG < 8u), yw);
  mac4x2(acc, 5u, select(subgroupBroadcast(xv, 5u), subgroupBroadcast(xv2, 1u), SG < 8u), yv, select(subgroupBroadcast(xw, 5u), subgroupBroadcast(xw2, 1u), SG < 8u), yw);
  mac4x2(acc, 6u, select(subgroupBroadcast(xv, 6u), subgroupBroadcast(xv2, 2u), SG < 8u), yv, select(subgroupBroadcast(xw, 6u), subgroupBroadcast(xw2, 2u), SG < 8u), yw);
  mac4x2(acc, 7u, select(subgroupBroadcast(xv, 7u), subgroupBroadcast(xv2, 3u), SG < 8u), yv, select(subgroupBroadcast(xw, 7u), subgroupBroadcast(xw2, 3u), SG < 8u), yw);
}

// The k-dependent part of a convolution's gather (MODE 1 and 2), stepped along with k. MODE 1: (u, v) = the
// kernel tap (ki, kj), chanOff = the offset of channel c's plane. MODE 2: (u, v) = the output pixel (row, col).
// base*, tapOff and img are the lane's k-independent parts (see convLoop).
struct Gather {
  baseH: vec4i,
  baseW: vec4i,
  tapOff: vec4i,
  img: vec4u,
  chanOff: i32,
  u: i32,
  v: i32,
}

// This lane's 4 Y values at the gather's k; then steps it to k + 1.
fn gatherY(g: ptr<function, Gather>) -> vec4f {
  let inW = i32(p.inW);
  var ih: vec4i;
  var iw: vec4i;
  var at: vec4i;
  if (MODE == 1u) {
    ih = (*g).baseH + p.kSign * (*g).u;
    iw = (*g).baseW + p.kSign * (*g).v;
    at = (*g).chanOff + ih * inW + iw;
    (*g).v += 1;
    let nextRow = (*g).v == i32(p.KW);
    (*g).v = select((*g).v, 0, nextRow);
    (*g).u = select((*g).u, (*g).u + 1, nextRow);
    let nextChan = (*g).u == i32(p.KH);
    (*g).u = select((*g).u, 0, nextChan);
    (*g).chanOff = select((*g).chanOff, (*g).chanOff + i32(p.inH * p.inW), nextChan);
  } else {
    let h0 = (*g).u * p.rowMul + p.rowAdd;
    let w0 = (*g).v * p.rowMul + p.rowAdd;
    ih = (*g).baseH + h0;
    iw = (*g).baseW + w0;
    at = (*g).tapOff + h0 * inW + w0;
    (*g).v += 1;
    let nextRow = (*g).v == i32(p.gridW);
    (*g).v = select((*g).v, 0, nextRow);
    (*g).u = select((*g).u, (*g).u + 1, nextRow);
  }
  let inside = (vec4u(ih) < vec4u(p.inH)) & (vec4u(iw) < vec4u(p.inW));
  let a = vec4u(select(vec4i(0), at, inside)) + (*g).img;
  return select(vec4f(0.0), vec4f(yImg[a.x], yImg[a.y], yImg[a.z], yImg[a.w]), inside);
}

// macStep2 for both column halves of a wide tile (acc: Y values yv, yw; accB: vv, vw), sharing the broadcasts.
fn macStep2Wide(acc: ptr<function, array<vec4f, 32>>, accB: ptr<function, array<vec4f, 32>>, xv: vec4f, xv2: vec4f, xw: vec4f, xw2: vec4f, yv: vec4f, yw: vec4f, vv: vec4f, vw: vec4f) {
  { let s = subgroupBroadcast(xv, 0u); let t = subgroupBroadcast(xw, 0u); mac4x2(acc, 0u, s, yv, t, yw); mac4x2(accB, 0u, s, vv, t, vw); }
  { let s = subgroupBroadcast(xv, 1u); let t = subgroupBroadcast(xw, 1u); mac4x2(acc, 1u, s, yv, t, yw); mac4x2(accB, 1u, s, vv, t, vw); }
  { let s = subgroupBroadcast(xv, 2u); let t = subgroupBroadcast(xw, 2u); mac4x2(acc, 2u, s, yv, t, yw); mac4x2(accB, 2u, s, vv, t, vw); }
  { let s = subgroupBroadcast(xv, 3u); let t = subgroupBroadcast(xw, 3u); mac4x2(acc, 3u, s, yv, t, yw); mac4x2(accB, 3u, s, vv, t, vw); }
  { let s = select(subgroupBroadcast(xv, 4u), subgroupBroadcast(xv2, 0u), SG < 8u); let t = select(subgroupBroadcast(xw, 4u), subgroupBroadcast(xw2, 0u), SG < 8u); mac4x2(acc, 4u, s, yv, t, yw); mac4x2(accB, 4u, s, vv, t, vw); }
  { let s = select(subgroupBroadcast(xv, 5u), subgroupBroadcast(xv2, 1u), SG < 8u); let t = select(subgroupBroadcast(xw, 5u), subgroupBroadcast(xw2, 1u), SG < 8u); mac4x2(acc, 5u, s, yv, t, yw); mac4x2(accB, 5u, s, vv, t, vw); }
  { let s = select(subgroupBroadcast(xv, 6u), subgroupBroadcast(xv2, 2u), SG < 8u); let t = select(subgroupBroadcast(xw, 6u), subgroupBroadcast(xw2, 2u), SG < 8u); mac4x2(acc, 6u, s, yv, t, yw); mac4x2(accB, 6u, s, vv, t, vw); }
  { let s = select(subgroupBroadcast(xv, 7u), subgroupBroadcast(xv2, 3u), SG < 8u); let t = select(subgroupBroadcast(xw, 7u), subgroupBroadcast(xw2, 3u), SG < 8u); mac4x2(acc, 7u, s, yv, t, yw); mac4x2(accB, 7u, s, vv, t, vw); }
}

// The main loop of MODE 1 and 2: Y is gathered from the images in yImg (see the top). `col0` is the first of
// this lane's 4 columns; xCol its vec4 of X, and xCol + dx2 the second one (SG = 4). Two k-steps per
// iteration, as in MODE 0.
fn convLoop(acc: ptr<function, array<vec4f, 32>>, zFirst: u32, zEnd: u32, xCol: u32, dx2: u32, col0: u32) {
  // MODE 1: the lane's columns are 4 pixels (row, col) of the grid; base* is the tap-independent part of
  // their input coordinates. MODE 2: its columns are 4 taps (c, ki, kj): their kernel coordinates and offsets.
  let cols = min(vec4u(col0) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u));
  var g: Gather;
  var imgOff = vec4u(0u);
  if (MODE == 1u) {
    let img = cols / p.colsPerImage;
    let pix = cols - img * p.colsPerImage;
    let row = pix / p.gridW;
    g.baseH = vec4i(row) * p.rowMul + p.rowAdd;
    g.baseW = vec4i(pix - row * p.gridW) * p.rowMul + p.rowAdd;
    imgOff = img * p.strideY;
  } else {
    let taps = p.KH * p.KW;
    let ch = cols / taps;
    let t = cols - ch * taps;
    g.baseH = vec4i(t / p.KW);
    g.baseW = vec4i(t % p.KW);
    g.tapOff = vec4i(ch) * i32(p.inH * p.inW) + g.baseH * i32(p.inW) + g.baseW;
  }
  for (var z = zFirst; z < zEnd; z++) {
    var ix = p.offX4 + z * p.strideX4 + xCol;
    g.img = p.offY + z * p.strideY + imgOff;
    g.chanOff = 0;
    g.u = 0;
    g.v = 0;
    var k = 0u;
    for (; k + 1u < p.K; k += 2u) {
      let xv = x[ix];
      let xw = x[ix + p.ldx4];
      var xv2 = xv;
      var xw2 = xw;
      if (SG < 8u) {
        xv2 = x[ix + dx2];
        xw2 = x[ix + p.ldx4 + dx2];
      }
      ix += 2u * p.ldx4;
      let yv = gatherY(&g);
      let yw = gatherY(&g);
      macStep2(acc, xv, xv2, yv, xw, xw2, yw);
    }
    if (k < p.K) {
      var xv2 = vec4f(0.0);
      if (SG < 8u) { xv2 = x[ix + dx2]; }
      macStep(acc, x[ix], xv2, gatherY(&g));
    }
  }
}

// Store row m of this lane's 4 columns of C after the epilogue, v = product · scale (+ bias) (+ residual)
// (+ C's old values when accumulating), then max(v, 0) with relu: one vec4 store when
// the columns are consecutive and start on a vec4 (`vecStore`: every row then does), else one float at a time
// (a store to one component writes that float only). On llvmpipe the stores, not the multiply-adds, dominate
// short-K products: 1 vec4 store instead of 4 float stores. The rows are stored by a loop over a copy of the
// accumulators whose trip count is not a constant (so that it is not unrolled): 32 or 64 inlined copies of
// storeRow, each with 8 per-lane loads and stores per float on llvmpipe, took 20-60 s to compile per variant.
fn storeRow(acc: vec4f, m: u32, base0: u32, vecStore: bool, biasCol: vec4f, scaleCol: vec4f, nBase: u32, colOff: vec4u) {
  if (m >= p.M) { return; }
  var v = acc;
  if (EPI && p.scaleMode == 1u) { v *= scaleCol; }
  if (EPI && p.scaleMode == 2u) { v *= scale[p.offScale + m]; }
  v += biasCol;
  if (p.biasMode == 2u) { v += vec4f(bias[p.offBias + m]); }
  let rowBase = base0 + m * p.ldc;
  let resBase = p.offRes + rowBase - p.offC;   // the residual's element of C's rowBase
  if (vecStore) {
    let at = (rowBase + colOff.x) >> 2u;
    if (EPI && p.residual == 1u) {
      let r = resBase + colOff.x;
      v += vec4f(res[r], res[r + 1u], res[r + 2u], res[r + 3u]);
    }
    if (p.accumulate == 1u) { v += c[at]; }
    if (EPI && p.relu == 1u) { v = max(v, vec4f(0.0)); }
    c[at] = v;
  } else {
    for (var j = 0u; j < 4u; j++) {
      let n = nBase + j;
      if (n < p.N) {
        let at = rowBase + colOff[j];
        var o = v[j];
        if (EPI && p.residual == 1u) { o += res[resBase + colOff[j]]; }
        if (p.accumulate == 1u) { o += c[at >> 2u][at & 3u]; }
        if (EPI && p.relu == 1u) { o = max(o, 0.0); }
        c[at >> 2u][at & 3u] = o;
      }
    }
  }
}

// The per-column bias and scale of columns nBase … nBase + 3 (clamped into the row; 0 and 1 when unused).
fn colBias(nBase: u32) -> vec4f {
  var b = vec4f(0.0);
  if (p.biasMode == 1u) {
    for (var j = 0u; j < 4u; j++) { b[j] = bias[p.offBias + min(nBase + j, p.N - 1u)]; }
  }
  return b;
}
fn colScale(nBase: u32) -> vec4f {
  var s = vec4f(1.0);
  if (EPI && p.scaleMode == 1u) {
    for (var j = 0u; j < 4u; j++) { s[j] = scale[p.offScale + min(nBase + j, p.N - 1u)]; }
  }
  return s;
}

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32, @builtin(subgroup_invocation_id) sgid: u32, @builtin(subgroup_size) lanes: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let tile = wid.y * nwg.x + wid.x;
  if (tile >= p.tiles) { return; }
  let l = select(sgid, sgid | (lidx & ~15u), SPLIT16) ^ LANE_XOR;
  // Lane l holds X's vec4 l & 7 (and 4 + l with SG = 4), so a broadcast from subgroup lane i < 8 needs that
  // lane's l & 7 to be i; and the workgroup must be one subgroup of SG lanes, so that the lanes' columns cover the
  // tile. Both are checked here (see `whole` at the end).
  let ids = vec4u(subgroupBroadcast(l, 0u), subgroupBroadcast(l, 1u), subgroupBroadcast(l, 2u), subgroupBroadcast(l, 3u));
  let idsHi = vec4u(subgroupBroadcast(l, 4u), subgroupBroadcast(l, 5u), subgroupBroadcast(l, 6u), subgroupBroadcast(l, 7u));
  let whole = lanes == SG && all((ids & vec4u(7u)) == vec4u(0u, 1u, 2u, 3u)) && (SG < 8u || all((idsHi & vec4u(7u)) == vec4u(4u, 5u, 6u, 7u)));
  let tileN = select(4u * SG, 8u * SG, WIDE);
  let m0 = (tile / p.tilesN) * 32u;
  let n0 = (tile % p.tilesN) * tileN;
  // This lane's vec4s of X (xCol; xCol + dx2 with SG = 4) and of Y in each row (yColB: of the wide tile's second
  // half), clamped into the (padded) rows: out-of-range rows and columns compute values that are never stored.
  let lastX = (p.M - 1u) / 4u;
  let xCol = min(m0 / 4u + (l & 7u), lastX);
  let dx2 = min(m0 / 4u + 4u + l, lastX) - xCol;
  let yCol = min(n0 / 4u + l, (p.N - 1u) / 4u);
  let yColB = min(n0 / 4u + SG + l, (p.N - 1u) / 4u);

  var acc: array<vec4f, 32>;   // zero-initialised
  var accB: array<vec4f, 32>;  // WIDE only

  let K = p.K;
  let zFirst = wid.z * p.zPer;
  let zEnd = min(zFirst + p.zPer, p.batch);
  if (MODE == 0u) {
    let ldx4 = p.ldx4;
    let ldy4 = p.ldy4;
    for (var z = zFirst; z < zEnd; z++) {
      var ix = p.offX4 + z * p.strideX4 + xCol;
      var iy = p.offY + z * p.strideY;
      var k = 0u;
      for (; k + 1u < K; k += 2u) {
        let xv = x[ix];
        let xw = x[ix + ldx4];
        var xv2 = xv;
        var xw2 = xw;
        if (SG < 8u) {
          xv2 = x[ix + dx2];
          xw2 = x[ix + ldx4 + dx2];
        }
        let yv = y[iy + yCol];
        let yw = y[iy + ldy4 + yCol];
        if (WIDE) {
          macStep2Wide(&acc, &accB, xv, xv2, xw, xw2, yv, yw, y[iy + yColB], y[iy + ldy4 + yColB]);
        } else {
          macStep2(&acc, xv, xv2, yv, xw, xw2, yw);
        }
        ix += 2u * ldx4;
        iy += 2u * ldy4;
      }
      if (k < K) {
        var xv2 = vec4f(0.0);
        if (SG < 8u) { xv2 = x[ix + dx2]; }
        macStep(&acc, x[ix], xv2, y[iy + yCol]);
        if (WIDE) { macStep(&accB, x[ix], xv2, y[iy + yColB]); }
      }
    }
  } else {
    convLoop(&acc, zFirst, zEnd, xCol, dx2, n0 + 4u * l);
  }
  if (!whole) {
    // The broadcasts read other lanes than the ones meant: NaN, never a plausible wrong number.
    let nan = bitcast<f32>(0x7fc00000u | (l & 0u));   // built at run time: Tint refuses a NaN constant
    for (var r = 0u; r < 32u; r++) { acc[r] = vec4f(nan); accB[r] = vec4f(nan); }
  }

  // Epilogue: lane l stores columns n0 + 4l … 4l+3 of rows m0 … m0 + 31 (acc[r]: row m0 + r), and with WIDE
  // columns n0 + 4·SG + 4l … of them (accB[r]).
  let nBase = n0 + 4u * l;
  var colOff = nBase + vec4u(0u, 1u, 2u, 3u);   // of column n in its row of C
  if (MODE == 1u) {
    let img = colOff / p.colsPerImage;
    colOff += img * (p.strideC - p.colsPerImage);
  }
  let biasCol = colBias(nBase);
  let scaleCol = colScale(nBase);
  let base0 = p.offC + wid.z * p.strideC;
  let vecStore = colOff.w == colOff.x + 3u && nBase + 3u < p.N && ((base0 + colOff.x) & 3u) == 0u && (p.ldc & 3u) == 0u;
  let rowsHere = min(32u, p.M - m0);
  var rows = acc;
  for (var r = 0u; r < rowsHere; r++) { storeRow(rows[r], m0 + r, base0, vecStore, biasCol, scaleCol, nBase, colOff); }
  if (WIDE) {
    // The second half (MODE 0: no images folded into the columns).
    let nB = nBase + 4u * SG;
    let colB = nB + vec4u(0u, 1u, 2u, 3u);
    let biasB = colBias(nB);
    let scaleB = colScale(nB);
    let vecB = nB + 3u < p.N && ((base0 + nB) & 3u) == 0u && (p.ldc & 3u) == 0u;
    var rowsB = accB;
    for (var r = 0u; r < rowsHere; r++) { storeRow(rowsB[r], m0 + r, base0, vecB, biasB, scaleB, nB, colB); }
  }
}
