// Packs a matrix, or a batch of them, into the layout matmul_subgroup.wgsl reads: rows of 4·ld4
// floats (a whole number of vec4), zero-padded past `cols`, optionally transposing on the way.
//   dst[z·strideD4 + r·ld4 + c/4][c%4] = c < cols ? src(z, r, c) : 0          for r < rows, c < 4·ld4
//   src(z, r, c) = src[offS + z·strideS + (transpose ? c·ldS + r : r·ldS + c)]
// Parallelisation: one thread per destination vec4; a workgroup is 8 vec4 columns × 8 rows (grid x: vec4
// blocks, y: row blocks from rowBase, z: batch index), so both the plain and the transposed reads of a
// workgroup touch runs of neighbouring floats, and no index needs an integer division. The 4 loads are
// written out (SwiftShader keeps a vector indexed by a loop counter in memory).

struct Params {
  rows: u32,
  cols: u32,
  ld4: u32,
  ldS: u32,
  strideS: u32,
  offS: u32,
  strideD4: u32,
  rowBase: u32,    // first row of this dispatch (row blocks are split across dispatches past 65535)
  transpose: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4f>;
// The same binding as src, read as vec4 by the entry point main_v4 only.
@group(0) @binding(1) var<storage, read> srcV: array<vec4f>;

// src(z, r, c), 0 past the last column.
fn at(base: u32, r: u32, c: u32) -> f32 {
  if (c >= p.cols) { return 0.0; }
  return src[base + select(r * p.ldS + c, c * p.ldS + r, p.transpose == 1u)];
}

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c4 = wid.x * 8u + lid.x;
  let r = p.rowBase + wid.y * 8u + lid.y;
  if (c4 >= p.ld4 || r >= p.rows) { return; }
  let base = p.offS + wid.z * p.strideS;
  let c = 4u * c4;
  dst[wid.z * p.strideD4 + r * p.ld4 + c4] = vec4f(at(base, r, c), at(base, r, c + 1u), at(base, r, c + 2u), at(base, r, c + 3u));
}

// main_v4, the vec4 twin of main for transposes of aligned sources (rows, ldS, offS and strideS multiples of 4, so
// that src is read as vec4), a 4 × 4 block per thread. A thread reads 4 vec4 (source rows c … c+3,
// columns r … r+3) and writes their transpose as 4 vec4 (rows r … r+3 of dst): 8 vector accesses per 16
// floats, where main makes 16 scalar reads, each a per-lane gather on llvmpipe. Workgroup: 8 vec4 columns ×
// 8 row quads (grid y: blocks of 32 rows).

// Source row c's 4 floats at columns r … r+3 (base, r in floats, multiples of 4); 0 past the last row c.
fn quad(base: u32, c: u32, r: u32) -> vec4f {
  if (c >= p.cols) { return vec4f(0.0); }
  return srcV[(base + c * p.ldS + r) / 4u];
}

@compute @workgroup_size(8, 8)
fn main_v4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c4 = wid.x * 8u + lid.x;
  let r = p.rowBase + 4u * (wid.y * 8u + lid.y);
  if (c4 >= p.ld4 || r >= p.rows) { return; }
  let base = p.offS + wid.z * p.strideS;
  let c = 4u * c4;
  let a = quad(base, c, r);
  let b = quad(base, c + 1u, r);
  let e = quad(base, c + 2u, r);
  let f = quad(base, c + 3u, r);
  let d = wid.z * p.strideD4 + r * p.ld4 + c4;
  dst[d] = vec4f(a.x, b.x, e.x, f.x);
  dst[d + p.ld4] = vec4f(a.y, b.y, e.y, f.y);
  dst[d + 2u * p.ld4] = vec4f(a.z, b.z, e.z, f.z);
  dst[d + 3u * p.ld4] = vec4f(a.w, b.w, e.w, f.w);
}
