// Winograd convolutions for 3×3, stride-1, padding-1 convolutions (most of ResNet's), after Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks" (2016): the part shared by both tile sizes. The launcher
// (winograd.ts) appends the transforms of one tile size, winograd2.wgsl (F(2×2, 3×3)) or
// winograd4.wgsl (F(4×4, 3×3)), which define M (the output tile) and the five *Transform functions.
// Each M × M output tile of each image is
//   y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A,
// with d the (M+2)² input patch at (M·th − 1, M·tw − 1) (zeros outside the image) and g a 3×3 filter, so the
// XI = (M+2)² positions ξ of the transformed tile are independent matmuls over the channels:
//   P[ξ][o][t] = Σ_c U[ξ][c][o] · V[ξ][c][t]     (U = G g Gᵀ, V = Bᵀ d B, t = a tile of an image)
// which the launcher runs as one batched matmul, with 9·M²/XI fewer multiplies than the direct convolution's
// (16/36 for M = 2). The data gradient is the same computation on dy with the filters rotated by 180° and
// their channel axes swapped; the weight gradient follows from y being linear in U:
//   dL/dU[ξ] = Σ_t (A dy_t Aᵀ) ⊙ V_t,     dL/dg = Gᵀ (dL/dU) G.
// Layouts: transformed tensors are [XI][rows][ld] with ld a multiple of 4 (rows of vec4 for the matmul
// kernels); padding columns past the real ones are never read back. A tile is stored at dst[ξ·stride + at]
// (stride = rows·ld) and read back likewise.
//
// Parallelisation: one thread per (channel, tile) or (output channel, input channel) pair, in workgroups laid
// out so that their stores form runs in memory (see each entry). Everything per thread is written out (no
// loops over arrays), which SwiftShader needs.

struct Params {
  N: u32,        // images
  C: u32,        // channels of the tensor read (input_tiles, grad_tiles) or filters' input channels
  H: u32,        // spatial size of the images read or written
  W: u32,
  TH: u32,       // tiles per column / row: ceil(H / M), ceil(W / M)
  TW: u32,
  ld: u32,       // row length of the transformed tensor (a multiple of 4)
  rows: u32,     // rows per ξ plane of the transformed tensor
  O: u32,        // filters' output channels (weight_tiles, filter_grad), channels written (output_tiles)
  flags: u32,    // see each entry
  offSrc: u32,   // element offsets inside the bindings
  offDst: u32,
  offBias: u32,
  offRes: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;   // output_tiles (flags bit 0), weight_tiles (flags bit 1)
@group(0) @binding(4) var<storage, read> res: array<f32>;    // output_tiles with EPI bit 2 only

// output_tiles' epilogue, a pipeline constant (so that the plain store compiles to a store alone): bit 1 adds
// dst's old value (a gradient accumulated into), bit 2 adds the residual (res, dst's layout), bit 3 applies ReLU
// last.
override EPI: u32 = 0u;

// Store output value v (the transform's, bias added) at dst[i], through the epilogue.
fn put(i: u32, v: f32) {
  var r = v;
  if ((EPI & 2u) != 0u) { r += dst[i]; }
  if ((EPI & 4u) != 0u) { r += res[p.offRes + i - p.offDst]; }
  if ((EPI & 8u) != 0u) { r = max(r, 0.0); }
  dst[i] = r;
}

// Pixel (h, w) of plane `base` of src (H × W), 0 outside: branch-free (a load from the plane's first pixel,
// discarded, outside), which llvmpipe runs faster than a branch around the load.
fn pixel(base: u32, h: i32, w: i32) -> f32 {
  let inside = u32(h) < p.H && u32(w) < p.W;
  return select(0.0, src[select(base, base + u32(h) * p.W + u32(w), inside)], inside);
}

// Tile t of the images: (image, tile row, tile column).
fn tileOf(t: u32) -> vec3u {
  let perImage = p.TH * p.TW;
  let n = t / perImage;
  let r = t - n * perImage;
  let th = r / p.TW;
  return vec3u(n, th, r - th * p.TW);
}

// V = Bᵀ d B for channel c and tile t of src [N, C, H, W], stored at V[ξ][c][t] (rows = C, ld ≥ T) or, tMajor,
// V[ξ][t][c] (rows = T, ld ≥ C; the weight gradient's layout).
fn inputTile(c: u32, t: u32, tMajor: bool) {
  let tile = tileOf(t);
  let base = p.offSrc + (tile.x * p.C + c) * p.H * p.W;
  inputTransform(base, i32(M * tile.y) - 1, i32(M * tile.z) - 1, select(c * p.ld + t, t * p.ld + c, tMajor), p.rows * p.ld);
}

// The (channel, tile) of invocation i of workgroup wid in input_tiles and input_tiles_v4. flags bit 0 clear:
// V[ξ][c][t], a workgroup is 64 consecutive tiles of channel wid.y (its stores are runs along t). Set: V[ξ][t][c]
// (the weight gradient's layout), a workgroup is 8 channels × 8 tiles, channel fastest (its stores are runs of 8
// along c). One entry point for both layouts: one pipeline to compile, not two.
fn inputTileAt(wid: vec3u, i: u32) -> vec2u {
  if ((p.flags & 1u) != 0u) { return vec2u(wid.y * 8u + (i & 7u), wid.x * 8u + (i >> 3u)); }
  return vec2u(wid.y, wid.x * 64u + i);
}

@compute @workgroup_size(64)
fn input_tiles(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let ct = inputTileAt(wid, lid.x);
  if (ct.x >= p.C || ct.y >= p.N * p.TH * p.TW) { return; }
  inputTile(ct.x, ct.y, (p.flags & 1u) != 0u);
}

// U = G g Gᵀ for filter (o, c) of w [O, C, 3, 3], stored U[ξ][c][o] (rows = C, ld ≥ O); flags bit 0: for the
// data gradient, the filter rotated by 180° and stored U[ξ][o][c] (rows = O, ld ≥ C); flags bit 1: the filter
// scaled by bias[offBias + o] (a batch norm folded in). Threads run along the stored rows: x is o (bit 0
// clear) or c (bit 0 set), wid.y the other index.
@compute @workgroup_size(64)
fn weight_tiles(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = wid.x * 64u + lid.x;
  let forData = (p.flags & 1u) != 0u;
  let o = select(i, wid.y, forData);
  let c = select(wid.y, i, forData);
  if (o >= p.O || c >= p.C) { return; }
  let b = p.offSrc + (o * p.C + c) * 9u;
  var s = 1.0;
  if ((p.flags & 2u) != 0u) { s = bias[p.offBias + o]; }
  var g0 = s * vec3f(src[b], src[b + 1u], src[b + 2u]);
  var g1 = s * vec3f(src[b + 3u], src[b + 4u], src[b + 5u]);
  var g2 = s * vec3f(src[b + 6u], src[b + 7u], src[b + 8u]);
  if (forData) {
    let f0 = g2.zyx;
    g2 = g0.zyx;
    g0 = f0;
    g1 = g1.zyx;
  }
  filterTransform(g0, g1, g2, select(c * p.ld + o, o * p.ld + c, forData), p.rows * p.ld);
}

// y = Aᵀ P A for channel o = wid.y and tile t, from P[ξ][o][t] (rows = O, ld ≥ T), into dst [N, O, H, W]
// (the output's size, only the pixels inside it); flags bit 0: add bias[o]; then put()'s epilogue (EPI).
@compute @workgroup_size(64)
fn output_tiles(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let t = wid.x * 64u + lid.x;
  if (t >= p.N * p.TH * p.TW) { return; }
  let o = wid.y;
  var b = 0.0;
  if ((p.flags & 1u) != 0u) { b = bias[p.offBias + o]; }
  let tile = tileOf(t);
  let h = M * tile.y;
  let w = M * tile.z;
  outputTransform(o * p.ld + t, p.rows * p.ld, p.offDst + (tile.x * p.O + o) * p.H * p.W + h * p.W + w, h, w, b);
}

// Z = A e Aᵀ for the M × M tile e of dy [N, C, H, W] (0 past the edge), stored Z[ξ][t][c] (rows = T, ld ≥ C):
// the weight gradient's left operand. A workgroup is 8 channels × 8 tiles, as in input_tiles with flags bit 0.
@compute @workgroup_size(8, 8)
fn grad_tiles(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let c = wid.y * 8u + lid.x;
  let t = wid.x * 8u + lid.y;
  if (c >= p.C || t >= p.N * p.TH * p.TW) { return; }
  let tile = tileOf(t);
  let base = p.offSrc + (tile.x * p.C + c) * p.H * p.W;
  gradTransform(base, i32(M * tile.y), i32(M * tile.z), t * p.ld + c, p.rows * p.ld);
}

// dw[o][c] = Gᵀ dU[·][o][c] G for o = wid.y, from dU[ξ][o][c] (rows = O, ld ≥ C), into dw [O, C, 3, 3].
@compute @workgroup_size(64)
fn filter_grad(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let c = wid.x * 64u + lid.x;
  if (c >= p.C) { return; }
  let o = wid.y;
  filterGradTransform(o * p.ld + c, p.rows * p.ld, p.offDst + (o * p.C + c) * 9u);
}
