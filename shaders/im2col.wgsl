// im2col and its adjoint col2im, for a 2D convolution over NCHW images (groups = 1).
// The column matrix of image n holds, for every kernel tap r = (c·KH + ki)·KW + kj and output pixel
// q = oh·OW + ow, the input value it multiplies:
//   cols[n, r, q] = x[n, c, oh·S − P + ki, ow·S − P + kj]   (0 outside the image)
// so a convolution is Y_n[O, OH·OW] = W[O, C·KH·KW] · cols_n. The shader works on `images` images at a time
// (a batch tile); `src`/`dst` are bound at the tile's first image, `offSrc`/`offDst` finish the alignment.

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
  images: u32,
  total: u32,    // elements written: images·C·KH·KW·OH·OW (im2col) or images·C·H·W (col2im)
  offSrc: u32,
  offDst: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

fn flatIndex(wid: vec3<u32>, lid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid.x;
}

// cols[n, r, q] from x: one thread per column element (reads are scattered, writes contiguous).
@compute @workgroup_size(WG)
fn im2col(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(wid, lid, nwg);
  if (i >= p.total) { return; }
  let ow = i % p.OW;
  var t = i / p.OW;
  let oh = t % p.OH;
  t = t / p.OH;
  let kj = t % p.KW;
  t = t / p.KW;
  let ki = t % p.KH;
  t = t / p.KH;                  // t = n·C + c
  let ih = i32(oh * p.stride + ki) - i32(p.pad);
  let iw = i32(ow * p.stride + kj) - i32(p.pad);
  var v = 0.0;
  if (ih >= 0 && ih < i32(p.H) && iw >= 0 && iw < i32(p.W)) {
    v = src[p.offSrc + (t * p.H + u32(ih)) * p.W + u32(iw)];
  }
  dst[p.offDst + i] = v;
}

// dx[n, c, h, w] = Σ over the taps (ki, kj) whose output pixel (oh, ow) reads (h, w) of dcols[n, r, q]:
// the adjoint of im2col written as a gather, one thread per input pixel, so no two threads write one value.
@compute @workgroup_size(WG)
fn col2im(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(wid, lid, nwg);
  if (i >= p.total) { return; }
  let w = i % p.W;
  var t = i / p.W;
  let h = t % p.H;
  t = t / p.H;                   // t = n·C + c
  let hw = p.OH * p.OW;
  let taps = p.KH * p.KW;
  // Column rows of (n, c) start at (n·C + c)·KH·KW.
  let base = p.offSrc + t * taps * hw;
  var acc = 0.0;
  for (var ki = 0u; ki < p.KH; ki++) {
    let y = i32(h + p.pad) - i32(ki);           // = oh·S when tap ki of output row oh reads row h
    if (y < 0 || u32(y) % p.stride != 0u) { continue; }
    let oh = u32(y) / p.stride;
    if (oh >= p.OH) { continue; }
    for (var kj = 0u; kj < p.KW; kj++) {
      let xw = i32(w + p.pad) - i32(kj);
      if (xw < 0 || u32(xw) % p.stride != 0u) { continue; }
      let ow = u32(xw) / p.stride;
      if (ow >= p.OW) { continue; }
      acc += src[base + (ki * p.KW + kj) * hw + oh * p.OW + ow];
    }
  }
  dst[p.offDst + i] = acc;
}
