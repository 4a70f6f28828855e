// Packs an operand of matmul_smatrix.wgsl: a float32 matrix (or a batch of them) whose values are float16 numbers
// (the float16 path's operands, widened) into [rowsP][ld] float16, zero-padded past `rows` and `cols`:
//   dst[z·rowsP·ld + r·ld + c] = r < rows && c < cols ? f16(src[offS + z·strideS + at(r, sr, hwR, imgR) + at(c, sc, hwC, imgC)]) : 0
// where at(i, st, hw, img) = i·st, or with hw > 0, (i / hw)·img + (i % hw)·st: sr and sc (the source's strides
// along r and c) give the plain and the transposed layouts; hwR or hwC makes r or c run over images of hw pixels
// side by side (a convolution's NCHW tensor as [pixels of the tile's images, channels] or its transpose). One thread per
// destination element; a workgroup is 64 consecutive columns of one row (grid x: column blocks, y: rows, z:
// the batch).

enable f16;

struct Params {
  rows: u32,
  cols: u32,
  rowsP: u32,
  ld: u32,
  sr: u32,
  sc: u32,
  strideS: u32,
  offS: u32,
  hwR: u32,
  imgR: u32,
  hwC: u32,
  imgC: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f16>;

fn at(i: u32, st: u32, hw: u32, img: u32) -> u32 {
  if (hw == 0u) { return i * st; }
  return (i / hw) * img + (i % hw) * st;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let col = wid.x * 64u + lidx;
  let r = wid.y;
  if (col >= p.ld || r >= p.rowsP) { return; }
  var v = 0.0h;
  if (r < p.rows && col < p.cols) { v = f16(src[p.offS + wid.z * p.strideS + at(r, p.sr, p.hwR, p.imgR) + at(col, p.sc, p.hwC, p.imgC)]); }
  dst[(wid.z * p.rowsP + r) * p.ld + col] = v;
}
