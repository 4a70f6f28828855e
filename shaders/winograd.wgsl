// Winograd F(2×2, 3×3) transforms for 3×3, stride-1, padding-1 convolutions (most of ResNet's), after Lavin &
// Gray, "Fast Algorithms for Convolutional Neural Networks" (2016). Each 2×2 output tile of each image is
//   y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A,
// with d the 4×4 input patch at (2·th − 1, 2·tw − 1) (zeros outside the image) and g a 3×3 filter, so the
// 16 positions ξ = 4a + b of the transformed tile are 16 independent matmuls over the channels:
//   M[ξ][o][t] = Σ_c U[ξ][c][o] · V[ξ][c][t]     (U = G g Gᵀ, V = Bᵀ d B, t = a tile of an image)
// which the launcher (src/kernels/winograd.ts) runs as one batched matmul, with 16/36 of the direct
// convolution's multiplies. The data gradient is the same computation on dy with the filters rotated by 180°
// and their channel axes swapped; the weight gradient follows from y being linear in U:
//   dL/dU[ξ] = Σ_t (A dy_t Aᵀ) ⊙ V_t,     dL/dg = Gᵀ (dL/dU) G.
// Layouts: transformed tensors are [16][rows][ld] with ld a multiple of 4 (rows of vec4 for the matmul
// kernels); padding columns past the real ones are never read back.
//
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],  Aᵀ = [1 1 1 0; 0 1 −1 −1]
//
// Parallelisation: one thread per (channel, tile) or (output channel, input channel) pair, in workgroups laid
// out so that their stores form runs in memory (see each entry). Everything per thread is written out (no
// loops over arrays), which SwiftShader needs.

struct Params {
  N: u32,        // images
  C: u32,        // channels of the tensor read (input_tiles, grad_tiles) or filters' input channels
  H: u32,        // spatial size of the images read or written
  W: u32,
  TH: u32,       // tiles per column / row: ceil(H / 2), ceil(W / 2)
  TW: u32,
  ld: u32,       // row length of the transformed tensor (a multiple of 4)
  rows: u32,     // rows per ξ plane of the transformed tensor
  O: u32,        // filters' output channels (weight_tiles, filter_grad), channels written (output_tiles)
  flags: u32,    // see each entry
  offSrc: u32,   // element offsets inside the bindings
  offDst: u32,
  offBias: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;   // output_tiles with flags bit 0 only

// Bᵀ v for one row or column of 4 values.
fn bt(v: vec4f) -> vec4f {
  return vec4f(v.x - v.z, v.y + v.z, v.z - v.y, v.y - v.w);
}

// G v for 3 values.
fn gm(v: vec3f) -> vec4f {
  return vec4f(v.x, 0.5 * (v.x + v.y + v.z), 0.5 * (v.x - v.y + v.z), v.z);
}

// Aᵀ v for 4 values.
fn at(v: vec4f) -> vec2f {
  return vec2f(v.x + v.y + v.z, v.y - v.z - v.w);
}

// A v for 2 values (A = (Aᵀ)ᵀ, 4 × 2).
fn am(v: vec2f) -> vec4f {
  return vec4f(v.x, v.x + v.y, v.x - v.y, -v.y);
}

// Gᵀ v for 4 values.
fn gt(v: vec4f) -> vec3f {
  return vec3f(v.x + 0.5 * (v.y + v.z), 0.5 * (v.y - v.z), 0.5 * (v.y + v.z) + v.w);
}

// Pixel (h, w) of plane `base` of src (H × W), 0 outside.
fn pixel(base: u32, h: i32, w: i32) -> f32 {
  if (h < 0 || w < 0 || h >= i32(p.H) || w >= i32(p.W)) { return 0.0; }
  return src[base + u32(h) * p.W + u32(w)];
}

fn patchRow(base: u32, h: i32, w0: i32) -> vec4f {
  return vec4f(pixel(base, h, w0), pixel(base, h, w0 + 1), pixel(base, h, w0 + 2), pixel(base, h, w0 + 3));
}

// Write a 4×4 transformed tile (rows r0..r3, r_i[j] at ξ = 4i + j) at dst[ξ·stride + at].
fn storeTile(at: u32, stride: u32, r0: vec4f, r1: vec4f, r2: vec4f, r3: vec4f) {
  let o = p.offDst + at;
  dst[o] = r0.x; dst[o + stride] = r0.y; dst[o + 2u * stride] = r0.z; dst[o + 3u * stride] = r0.w;
  dst[o + 4u * stride] = r1.x; dst[o + 5u * stride] = r1.y; dst[o + 6u * stride] = r1.z; dst[o + 7u * stride] = r1.w;
  dst[o + 8u * stride] = r2.x; dst[o + 9u * stride] = r2.y; dst[o + 10u * stride] = r2.z; dst[o + 11u * stride] = r2.w;
  dst[o + 12u * stride] = r3.x; dst[o + 13u * stride] = r3.y; dst[o + 14u * stride] = r3.z; dst[o + 15u * stride] = r3.w;
}

// Row i of a 4×4 tile read from src at ξ = 4i + j, j = 0..3: src[offSrc + ξ·stride + at].
fn loadRow(at: u32, stride: u32, i: u32) -> vec4f {
  let o = p.offSrc + at + 4u * i * stride;
  return vec4f(src[o], src[o + stride], src[o + 2u * stride], src[o + 3u * stride]);
}

// Tile t of the images: (image, tile row, tile column).
fn tileOf(t: u32) -> vec3u {
  let perImage = p.TH * p.TW;
  let n = t / perImage;
  let r = t - n * perImage;
  let th = r / p.TW;
  return vec3u(n, th, r - th * p.TW);
}

// V = Bᵀ d B for channel c and tile t of src [N, C, H, W], stored at V[ξ][c][t] (layout 0: rows = C, ld ≥ T)
// or V[ξ][t][c] (layout 1: rows = T, ld ≥ C; the weight gradient's layout).
fn inputTile(c: u32, t: u32, tMajor: bool) {
  let tile = tileOf(t);
  let base = p.offSrc + (tile.x * p.C + c) * p.H * p.W;
  let h0 = 2 * i32(tile.y) - 1;
  let w0 = 2 * i32(tile.z) - 1;
  let d0 = patchRow(base, h0, w0);
  let d1 = patchRow(base, h0 + 1, w0);
  let d2 = patchRow(base, h0 + 2, w0);
  let d3 = patchRow(base, h0 + 3, w0);
  // Bᵀ d (rows), then each row times B (= Bᵀ applied to the row).
  let r0 = bt(d0 - d2);
  let r1 = bt(d1 + d2);
  let r2 = bt(d2 - d1);
  let r3 = bt(d1 - d3);
  storeTile(select(c * p.ld + t, t * p.ld + c, tMajor), p.rows * p.ld, r0, r1, r2, r3);
}

// Layout 0: a workgroup is 64 consecutive tiles of channel wid.y (its stores are runs along t).
@compute @workgroup_size(64)
fn input_tiles(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let t = wid.x * 64u + lid.x;
  if (t >= p.N * p.TH * p.TW) { return; }
  inputTile(wid.y, t, false);
}

// Layout 1: a workgroup is 8 channels × 8 tiles (its stores are runs of 8 along c).
@compute @workgroup_size(8, 8)
fn input_tiles_t(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let c = wid.y * 8u + lid.x;
  let t = wid.x * 8u + lid.y;
  if (c >= p.C || t >= p.N * p.TH * p.TW) { return; }
  inputTile(c, t, true);
}

// U = G g Gᵀ for filter (o, c) of w [O, C, 3, 3], stored U[ξ][c][o] (rows = C, ld ≥ O); flags 1: for the data
// gradient, the filter rotated by 180° and stored U[ξ][o][c] (rows = O, ld ≥ C). Threads run along the
// stored rows: x is o (flags 0) or c (flags 1), wid.y the other index.
@compute @workgroup_size(64)
fn weight_tiles(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = wid.x * 64u + lid.x;
  let forData = p.flags == 1u;
  let o = select(i, wid.y, forData);
  let c = select(wid.y, i, forData);
  if (o >= p.O || c >= p.C) { return; }
  let b = p.offSrc + (o * p.C + c) * 9u;
  var g0 = vec3f(src[b], src[b + 1u], src[b + 2u]);
  var g1 = vec3f(src[b + 3u], src[b + 4u], src[b + 5u]);
  var g2 = vec3f(src[b + 6u], src[b + 7u], src[b + 8u]);
  if (forData) {
    let f0 = g2.zyx;
    g2 = g0.zyx;
    g0 = f0;
    g1 = g1.zyx;
  }
  // G g: 4 rows of 3, then each row times Gᵀ (= G applied to the row).
  let r0 = gm(g0);
  let r1 = gm(0.5 * (g0 + g1 + g2));
  let r2 = gm(0.5 * (g0 - g1 + g2));
  let r3 = gm(g2);
  storeTile(select(c * p.ld + o, o * p.ld + c, forData), p.rows * p.ld, r0, r1, r2, r3);
}

// y = Aᵀ M A for channel o = wid.y and tile t, from M[ξ][o][t] (rows = O, ld ≥ T), into dst [N, O, H, W]
// (the output's size); flags bit 0: add bias[o].
@compute @workgroup_size(64)
fn output_tiles(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let t = wid.x * 64u + lid.x;
  let T = p.N * p.TH * p.TW;
  if (t >= T) { return; }
  let o = wid.y;
  let stride = p.rows * p.ld;
  let at0 = o * p.ld + t;
  let m0 = loadRow(at0, stride, 0u);
  let m1 = loadRow(at0, stride, 1u);
  let m2 = loadRow(at0, stride, 2u);
  let m3 = loadRow(at0, stride, 3u);
  // Aᵀ M: 2 rows of 4, then each row times A.
  var y0 = at(m0 + m1 + m2);
  var y1 = at(m1 - m2 - m3);
  if ((p.flags & 1u) != 0u) {
    let b = bias[p.offBias + o];
    y0 += vec2f(b);
    y1 += vec2f(b);
  }
  let tile = tileOf(t);
  let h = 2u * tile.y;
  let w = 2u * tile.z;
  let base = p.offDst + (tile.x * p.O + o) * p.H * p.W + h * p.W + w;
  dst[base] = y0.x;
  if (w + 1u < p.W) { dst[base + 1u] = y0.y; }
  if (h + 1u < p.H) {
    dst[base + p.W] = y1.x;
    if (w + 1u < p.W) { dst[base + p.W + 1u] = y1.y; }
  }
}

// Z = A e Aᵀ for the 2×2 tile e of dy [N, C, H, W] (0 past the edge), stored Z[ξ][t][c] (rows = T, ld ≥ C):
// the weight gradient's left operand. A workgroup is 8 channels × 8 tiles, as in input_tiles_t.
@compute @workgroup_size(8, 8)
fn grad_tiles(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let c = wid.y * 8u + lid.x;
  let t = wid.x * 8u + lid.y;
  if (c >= p.C || t >= p.N * p.TH * p.TW) { return; }
  let tile = tileOf(t);
  let base = p.offSrc + (tile.x * p.C + c) * p.H * p.W;
  let h = 2 * i32(tile.y);
  let w = 2 * i32(tile.z);
  let e0 = vec2f(pixel(base, h, w), pixel(base, h, w + 1));
  let e1 = vec2f(pixel(base, h + 1, w), pixel(base, h + 1, w + 1));
  // A e: 4 rows of 2, then each row times Aᵀ (= A applied to the row).
  let r0 = am(e0);
  let r1 = am(e0 + e1);
  let r2 = am(e0 - e1);
  let r3 = am(-e1);
  storeTile(t * p.ld + c, p.rows * p.ld, r0, r1, r2, r3);
}

// dw[o][c] = Gᵀ dU[·][o][c] G for o = wid.y, from dU[ξ][o][c] (rows = O, ld ≥ C), into dw [O, C, 3, 3].
@compute @workgroup_size(64)
fn filter_grad(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let c = wid.x * 64u + lid.x;
  if (c >= p.C) { return; }
  let o = wid.y;
  let stride = p.rows * p.ld;
  let at0 = o * p.ld + c;
  let u0 = loadRow(at0, stride, 0u);
  let u1 = loadRow(at0, stride, 1u);
  let u2 = loadRow(at0, stride, 2u);
  let u3 = loadRow(at0, stride, 3u);
  // Gᵀ dU: 3 rows of 4, then each row times G.
  let g0 = gt(u0 + 0.5 * (u1 + u2));
  let g1 = gt(0.5 * (u1 - u2));
  let g2 = gt(0.5 * (u1 + u2) + u3);
  let b = p.offDst + (o * p.C + c) * 9u;
  dst[b] = g0.x; dst[b + 1u] = g0.y; dst[b + 2u] = g0.z;
  dst[b + 3u] = g1.x; dst[b + 4u] = g1.y; dst[b + 5u] = g1.z;
  dst[b + 6u] = g2.x; dst[b + 7u] = g2.y; dst[b + 8u] = g2.z;
}
