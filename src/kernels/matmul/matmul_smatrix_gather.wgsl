// The right operand of matmul_smatrix.wgsl for a convolution's forward product, gathered straight from the
// input: Y[k][n] = f16(x[b, c, oh·stride − pad + kh, ow·stride − pad + kw]) for tap k = (c·KH + kh)·KW + kw and
// column n = b·OH·OW + oh·OW + ow (image b of the tile, output pixel (oh, ow)); 0 in the padding, past `taps`
// taps and past `cols` pixels (up to the padded rowsP rows and ld columns). The same matrix as im2col.wgsl's columns packed by
// matmul_smatrix_pack.wgsl, in one pass and without the float32 column matrix. x holds float16 values (the
// float16 path's activations, widened), so the narrowing is exact. One thread per element; a workgroup is 64
// consecutive columns of one row (grid x and y: the column block, wid.y · nwg.x + wid.x; z: the row).
// With `transposed`, the matrix is stored transposed: Y[n][k] (rows: the tile's pixels; columns: the taps), the
// right operand of the weight gradient's product dW = dY'·colsᵀ.

enable f16;

struct Params {
  C: u32,
  H: u32,
  W: u32,
  KH: u32,
  KW: u32,
  stride: u32,
  pad: u32,
  OH: u32,
  OW: u32,
  taps: u32,   // C·KH·KW
  cols: u32,   // images · OH·OW
  rowsP: u32,  // taps rounded up to the configuration's K
  ld: u32,     // cols rounded up to the workgroup's columns
  offS: u32,   // x's first float in its binding
  transposed: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f16>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let col = (wid.y * nwg.x + wid.x) * 64u + lidx;
  let row = wid.z;
  if (col >= p.ld || row >= p.rowsP) { return; }
  // (r, n): the tap and the pixel of this element.
  var r = row;
  var n = col;
  if (p.transposed != 0u) {
    r = col;
    n = row;
  }
  var v = 0.0h;
  if (r < p.taps && n < p.cols) {
    let hw = p.OH * p.OW;
    let b = n / hw;
    let s = n % hw;
    let kk = p.KH * p.KW;
    let c = r / kk;
    let t = r % kk;
    let ih = i32((s / p.OW) * p.stride + t / p.KW) - i32(p.pad);
    let iw = i32((s % p.OW) * p.stride + t % p.KW) - i32(p.pad);
    if (ih >= 0 && ih < i32(p.H) && iw >= 0 && iw < i32(p.W)) {
      v = f16(src[p.offS + ((b * p.C + c) * p.H + u32(ih)) * p.W + u32(iw)]);
    }
  }
  dst[row * p.ld + col] = v;
}
