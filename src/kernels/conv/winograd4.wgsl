// F(4×4, 3×3) for winograd.wgsl (read its top): 4×4 output tiles, 6×6 input patches, 36 transformed
// positions ξ = 6a + b, so the matmuls do 36/144 of the direct convolution's multiplies (16/36 with 2×2 tiles).
// The interpolation points are 0, 1, −1, 1/2, −2 and ∞, which round less than the common 0, ±1, ±2, ∞ (after
// Barabasz et al., "Error analysis and improving the accuracy of Winograd convolution for deep neural networks").
// The matrices (`tools/winograd_matrices.py 4 0 1 -1 1/2 -2` derives them exactly; here every row of Bᵀ but the
// fourth is doubled, to integers, and the same rows of G halved: powers of two, so no rounding changes):
//
//   Bᵀ = [2 −3 −4  3 2 0;      G = [  1/2     0      0;     Aᵀ = [1  1  1   1    1 0;
//         0 −2  1  5 2 0;             1/6    1/6    1/6;          0  1 −1 1/2   −2 0;
//         0  2 −5  1 2 0;            −1/6    1/6   −1/6;          0  1  1 1/4    4 0;
//         0 −2 −1  2 1 0;           −16/15 −8/15  −4/15;          0  1 −1 1/8   −8 1]
//         0  1 −2 −1 2 0;             1/30  −1/15   2/15;
//         0  2 −3 −4 3 2]               0      0     1/2]
//
// Every 2D transform is a 1D transform of each row, then of each column of the result; tiles are held in array
// values indexed by constants only (registers, also on SwiftShader).

const M = 4u;

alias A6 = array<f32, 6>;
alias A4 = array<f32, 4>;
alias A3 = array<f32, 3>;

// Bᵀ v
fn bt6(v: A6) -> A6 {
  return A6(
    2.0 * (v[0] - 2.0 * v[2] + v[4]) + 3.0 * (v[3] - v[1]),
    v[2] - 2.0 * v[1] + 5.0 * v[3] + 2.0 * v[4],
    2.0 * (v[1] + v[4]) - 5.0 * v[2] + v[3],
    2.0 * (v[3] - v[1]) - v[2] + v[4],
    v[1] - v[3] + 2.0 * (v[4] - v[2]),
    2.0 * (v[1] + v[5]) - 3.0 * v[2] - 4.0 * v[3] + 3.0 * v[4],
  );
}

// G v
fn g6(v: A3) -> A6 {
  return A6(
    0.5 * v[0],
    (v[0] + v[1] + v[2]) / 6.0,
    (v[1] - v[0] - v[2]) / 6.0,
    -(16.0 * v[0] + 8.0 * v[1] + 4.0 * v[2]) / 15.0,
    (v[0] - 2.0 * v[1] + 4.0 * v[2]) / 30.0,
    0.5 * v[2],
  );
}

// Aᵀ v
fn at6(v: A6) -> A4 {
  return A4(
    v[0] + v[1] + v[2] + v[3] + v[4],
    v[1] - v[2] + 0.5 * v[3] - 2.0 * v[4],
    v[1] + v[2] + 0.25 * v[3] + 4.0 * v[4],
    v[1] - v[2] + 0.125 * v[3] - 8.0 * v[4] + v[5],
  );
}

// A v (A = (Aᵀ)ᵀ, 6 × 4)
fn a4(v: A4) -> A6 {
  return A6(
    v[0],
    v[0] + v[1] + v[2] + v[3],
    v[0] - v[1] + v[2] - v[3],
    v[0] + 0.5 * v[1] + 0.25 * v[2] + 0.125 * v[3],
    v[0] - 2.0 * v[1] + 4.0 * v[2] - 8.0 * v[3],
    v[3],
  );
}

// Gᵀ v
fn gt6(v: A6) -> A3 {
  return A3(
    0.5 * v[0] + (v[1] - v[2]) / 6.0 - 16.0 * v[3] / 15.0 + v[4] / 30.0,
    (v[1] + v[2]) / 6.0 - 8.0 * v[3] / 15.0 - v[4] / 15.0,
    (v[1] - v[2]) / 6.0 - 4.0 * v[3] / 15.0 + 2.0 * v[4] / 15.0 + 0.5 * v[5],
  );
}

fn patchRow(base: u32, h: i32, w: i32) -> A6 {
  return A6(pixel(base, h, w), pixel(base, h, w + 1), pixel(base, h, w + 2), pixel(base, h, w + 3), pixel(base, h, w + 4), pixel(base, h, w + 5));
}

// Column b of a transformed tile (values for a = 0..5) at ξ = 6a + b: dst[offDst + ξ·stride + at].
fn storeCol(at: u32, stride: u32, b: u32, v: A6) {
  let o = p.offDst + at + b * stride;
  let s6 = 6u * stride;
  dst[o] = v[0]; dst[o + s6] = v[1]; dst[o + 2u * s6] = v[2]; dst[o + 3u * s6] = v[3]; dst[o + 4u * s6] = v[4]; dst[o + 5u * s6] = v[5];
}

// Row a of a transformed tile (b = 0..5) from src[offSrc + (6a + b)·stride + at].
fn loadRow(at: u32, stride: u32, a: u32) -> A6 {
  let o = p.offSrc + at + 6u * a * stride;
  return A6(src[o], src[o + stride], src[o + 2u * stride], src[o + 3u * stride], src[o + 4u * stride], src[o + 5u * stride]);
}

fn inputTransform(base: u32, h0: i32, w0: i32, at: u32, stride: u32) {
  patchTransform(patchRow(base, h0, w0), patchRow(base, h0 + 1, w0), patchRow(base, h0 + 2, w0), patchRow(base, h0 + 3, w0), patchRow(base, h0 + 4, w0), patchRow(base, h0 + 5, w0), at, stride);
}

// Bᵀ d B of the patch with rows d0 … d5, stored as in storeCol.
fn patchTransform(d0: A6, d1: A6, d2: A6, d3: A6, d4: A6, d5: A6, at: u32, stride: u32) {
  // d B: each row times B (= Bᵀ applied to the row); then Bᵀ (d B): each column.
  let r0 = bt6(d0);
  let r1 = bt6(d1);
  let r2 = bt6(d2);
  let r3 = bt6(d3);
  let r4 = bt6(d4);
  let r5 = bt6(d5);
  storeCol(at, stride, 0u, bt6(A6(r0[0], r1[0], r2[0], r3[0], r4[0], r5[0])));
  storeCol(at, stride, 1u, bt6(A6(r0[1], r1[1], r2[1], r3[1], r4[1], r5[1])));
  storeCol(at, stride, 2u, bt6(A6(r0[2], r1[2], r2[2], r3[2], r4[2], r5[2])));
  storeCol(at, stride, 3u, bt6(A6(r0[3], r1[3], r2[3], r3[3], r4[3], r5[3])));
  storeCol(at, stride, 4u, bt6(A6(r0[4], r1[4], r2[4], r3[4], r4[4], r5[4])));
  storeCol(at, stride, 5u, bt6(A6(r0[5], r1[5], r2[5], r3[5], r4[5], r5[5])));
}

fn filterTransform(g0: vec3f, g1: vec3f, g2: vec3f, at: u32, stride: u32) {
  // g Gᵀ: each row times Gᵀ (= G applied to the row); then G (g Gᵀ): each column.
  let r0 = g6(A3(g0.x, g0.y, g0.z));
  let r1 = g6(A3(g1.x, g1.y, g1.z));
  let r2 = g6(A3(g2.x, g2.y, g2.z));
  storeCol(at, stride, 0u, g6(A3(r0[0], r1[0], r2[0])));
  storeCol(at, stride, 1u, g6(A3(r0[1], r1[1], r2[1])));
  storeCol(at, stride, 2u, g6(A3(r0[2], r1[2], r2[2])));
  storeCol(at, stride, 3u, g6(A3(r0[3], r1[3], r2[3])));
  storeCol(at, stride, 4u, g6(A3(r0[4], r1[4], r2[4])));
  storeCol(at, stride, 5u, g6(A3(r0[5], r1[5], r2[5])));
}

// Column j of an output tile (rows i = 0..3) at (h + i, w + j), those inside the image.
fn storeOutCol(base: u32, h: u32, w: u32, j: u32, v: A4, b: f32) {
  if (w + j >= p.W) { return; }
  let o = base + j;
  put(o, v[0] + b);
  if (h + 1u < p.H) { put(o + p.W, v[1] + b); }
  if (h + 2u < p.H) { put(o + 2u * p.W, v[2] + b); }
  if (h + 3u < p.H) { put(o + 3u * p.W, v[3] + b); }
}

fn outputTransform(at: u32, stride: u32, base: u32, h: u32, w: u32, b: f32) {
  // P A: each row times A (= Aᵀ applied to the row), 6 rows of 4; then Aᵀ (P A): each of the 4 columns.
  let s0 = at6(loadRow(at, stride, 0u));
  let s1 = at6(loadRow(at, stride, 1u));
  let s2 = at6(loadRow(at, stride, 2u));
  let s3 = at6(loadRow(at, stride, 3u));
  let s4 = at6(loadRow(at, stride, 4u));
  let s5 = at6(loadRow(at, stride, 5u));
  storeOutCol(base, h, w, 0u, at6(A6(s0[0], s1[0], s2[0], s3[0], s4[0], s5[0])), b);
  storeOutCol(base, h, w, 1u, at6(A6(s0[1], s1[1], s2[1], s3[1], s4[1], s5[1])), b);
  storeOutCol(base, h, w, 2u, at6(A6(s0[2], s1[2], s2[2], s3[2], s4[2], s5[2])), b);
  storeOutCol(base, h, w, 3u, at6(A6(s0[3], s1[3], s2[3], s3[3], s4[3], s5[3])), b);
}

fn gradRow(base: u32, h: i32, w: i32) -> A6 {
  return a4(A4(pixel(base, h, w), pixel(base, h, w + 1), pixel(base, h, w + 2), pixel(base, h, w + 3)));
}

fn gradTransform(base: u32, h: i32, w: i32, at: u32, stride: u32) {
  gradPatchTransform(gradRow(base, h, w), gradRow(base, h + 1, w), gradRow(base, h + 2, w), gradRow(base, h + 3, w), at, stride);
}

// A e Aᵀ of the tile e whose rows, each already times Aᵀ (gradRow), are r0 … r3; stored as in storeCol.
fn gradPatchTransform(r0: A6, r1: A6, r2: A6, r3: A6, at: u32, stride: u32) {
  // e Aᵀ: each row times Aᵀ (= A applied to the row), 4 rows of 6; then A (e Aᵀ): each column.
  storeCol(at, stride, 0u, a4(A4(r0[0], r1[0], r2[0], r3[0])));
  storeCol(at, stride, 1u, a4(A4(r0[1], r1[1], r2[1], r3[1])));
  storeCol(at, stride, 2u, a4(A4(r0[2], r1[2], r2[2], r3[2])));
  storeCol(at, stride, 3u, a4(A4(r0[3], r1[3], r2[3], r3[3])));
  storeCol(at, stride, 4u, a4(A4(r0[4], r1[4], r2[4], r3[4])));
  storeCol(at, stride, 5u, a4(A4(r0[5], r1[5], r2[5], r3[5])));
}

fn filterGradTransform(at: u32, stride: u32, out: u32) {
  // dU G: each row times G (= Gᵀ applied to the row), 6 rows of 3; then Gᵀ (dU G): each column.
  let s0 = gt6(loadRow(at, stride, 0u));
  let s1 = gt6(loadRow(at, stride, 1u));
  let s2 = gt6(loadRow(at, stride, 2u));
  let s3 = gt6(loadRow(at, stride, 3u));
  let s4 = gt6(loadRow(at, stride, 4u));
  let s5 = gt6(loadRow(at, stride, 5u));
  let w0 = gt6(A6(s0[0], s1[0], s2[0], s3[0], s4[0], s5[0]));
  let w1 = gt6(A6(s0[1], s1[1], s2[1], s3[1], s4[1], s5[1]));
  let w2 = gt6(A6(s0[2], s1[2], s2[2], s3[2], s4[2], s5[2]));
  dst[out] = w0[0]; dst[out + 1u] = w1[0]; dst[out + 2u] = w2[0];
  dst[out + 3u] = w0[1]; dst[out + 4u] = w1[1]; dst[out + 5u] = w2[1];
  dst[out + 6u] = w0[2]; dst[out + 7u] = w1[2]; dst[out + 8u] = w2[2];
}

// ---------------------------------------------------------------- images read and written as vec4
// Entries *_v4: input_tiles and grad_tiles for images whose rows are whole vec4 (W and the
// images' offset multiples of 4; the launcher checks), reading them through a vec4 view of the same binding.
// A 4×4 tile's row starts on a vec4, so an input patch row (6 pixels from 4·tw − 1) takes vec4 loads instead of
// single floats, which matters on llvmpipe, where each load is one per lane. Output tiles are stored one float
// at a time: their loads, not their stores, dominate.

@group(0) @binding(1) var<storage, read> srcV: array<vec4f>;

// Quad q (floats 4q … 4q+3) of srcV if `inside`, else 0 (branch-free: quad `safe`, discarded, outside).
fn quad(q: u32, inside: bool, safe: u32) -> vec4f {
  return select(vec4f(0.0), srcV[select(safe, q, inside)], inside);
}

// patchRow through srcV: pixels (h, 4·tw − 1 … 4·tw + 4) of plane `base` (a multiple of 4), 0 outside.
fn patchRowV(base: u32, h: i32, tw: u32) -> A6 {
  let rowIn = u32(h) < p.H;
  let q = (base + u32(h) * p.W) / 4u + tw;
  let safe = base / 4u;
  let l = quad(q - 1u, rowIn && tw > 0u, safe);
  let m = quad(q, rowIn, safe);
  let r = quad(q + 1u, rowIn && 4u * tw + 4u < p.W, safe);
  return A6(l.w, m.x, m.y, m.z, m.w, r.x);
}

fn inputTileV(c: u32, t: u32, tMajor: bool) {
  let tile = tileOf(t);
  let base = p.offSrc + (tile.x * p.C + c) * p.H * p.W;
  let h0 = i32(M * tile.y) - 1;
  let tw = tile.z;
  patchTransform(patchRowV(base, h0, tw), patchRowV(base, h0 + 1, tw), patchRowV(base, h0 + 2, tw), patchRowV(base, h0 + 3, tw), patchRowV(base, h0 + 4, tw), patchRowV(base, h0 + 5, tw), select(c * p.ld + t, t * p.ld + c, tMajor), p.rows * p.ld);
}

// input_tiles through srcV (flags bit 0: the layout, as there).
@compute @workgroup_size(64)
fn input_tiles_v4(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let ct = inputTileAt(wid, lid.x);
  if (ct.x >= p.C || ct.y >= p.N * p.TH * p.TW) { return; }
  inputTileV(ct.x, ct.y, (p.flags & 1u) != 0u);
}

// gradRow through srcV: A applied to pixels (h, 4·tw … 4·tw + 3), 0 below the image.
fn gradRowV(base: u32, h: i32, tw: u32) -> A6 {
  let m = quad((base + u32(h) * p.W) / 4u + tw, u32(h) < p.H, base / 4u);
  return a4(A4(m.x, m.y, m.z, m.w));
}

@compute @workgroup_size(8, 8)
fn grad_tiles_v4(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let c = wid.y * 8u + lid.x;
  let t = wid.x * 8u + lid.y;
  if (c >= p.C || t >= p.N * p.TH * p.TW) { return; }
  let tile = tileOf(t);
  let base = p.offSrc + (tile.x * p.C + c) * p.H * p.W;
  let h = i32(M * tile.y);
  gradPatchTransform(gradRowV(base, h, tile.z), gradRowV(base, h + 1, tile.z), gradRowV(base, h + 2, tile.z), gradRowV(base, h + 3, tile.z), t * p.ld + c, p.rows * p.ld);
}
