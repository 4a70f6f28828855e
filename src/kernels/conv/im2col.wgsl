// im2col and its adjoint col2im, for a 2D convolution over NCHW images (groups = 1).
// The column matrix of a batch tile of nb images holds, for every kernel tap r = (c·KH + ki)·KW + kj and
// every output pixel q = oh·OW + ow of image n, the input value it multiplies, with the images side by side
// as columns (one wide matrix, so that small images still fill a matmul's tiles):
//   cols[r, n·OH·OW + q] = x[n, c, oh·S − P + ki, ow·S − P + kj]   (0 outside the image)
// so a convolution is Y'[O, nb·OH·OW] = W[O, C·KH·KW] · cols, Y' being Y with its first two axes swapped.
// col2im and scatter_1x1 also read one column matrix per image, cols[n][r, q] (ldCols = OH·OW, imgStride =
// C·KH·KW·OH·OW): the data gradient of large images makes them with a matmul per image straight from NCHW dy.
// `src`/`dst` are bound at the tile's first image and `offSrc`/`offDst` finish the alignment.
//
// Parallelisation: a workgroup is a BW × BH block of pixels of one channel of one image (grid x = pixel
// block, y = channel, z = image), and each thread loops over the KH·KW taps of its pixel. All divisions
// are by workgroup-uniform values or once per thread: a CPU driver has no vector integer division.

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
  blocksX: u32,  // pixel blocks per row: ceil(OW / BW) for im2col, ceil(W / BW) for col2im
  offSrc: u32,
  offDst: u32,
  ldCols: u32,   // the column matrix's row length: nb·OH·OW (images side by side), or OH·OW (one matrix per image)
  imgStride: u32, // from one image's first column to the next's: OH·OW, or C·KH·KW·OH·OW (one matrix per image)
}

override BW: u32 = 8u;
override BH: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// cols[n, r, q] from x: one thread per output pixel (oh, ow) and channel, looping over the taps.
@compute @workgroup_size(BW, BH)
fn im2col(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let ow = (wid.x % p.blocksX) * BW + lid.x;
  let oh = (wid.x / p.blocksX) * BH + lid.y;
  if (ow >= p.OW || oh >= p.OH) { return; }
  let c = wid.y;
  let nc = wid.z * p.C + c;                       // image-in-tile · C + channel
  let hw = p.OH * p.OW;
  let taps = p.KH * p.KW;
  let srcBase = p.offSrc + nc * p.H * p.W;
  // Tap (ki, kj) = (0, 0) of this pixel; the next tap is one row (ldCols) further.
  var out = p.offDst + c * taps * p.ldCols + wid.z * hw + oh * p.OW + ow;
  let ih0 = i32(oh * p.stride) - i32(p.pad);
  let iw0 = i32(ow * p.stride) - i32(p.pad);
  for (var ki = 0u; ki < p.KH; ki++) {
    let ih = ih0 + i32(ki);
    let rowOk = ih >= 0 && ih < i32(p.H);
    for (var kj = 0u; kj < p.KW; kj++) {
      let iw = iw0 + i32(kj);
      var v = 0.0;
      if (rowOk && iw >= 0 && iw < i32(p.W)) { v = src[srcBase + u32(ih) * p.W + u32(iw)]; }
      dst[out] = v;
      out += p.ldCols;
    }
  }
}

// dx[n, c, h, w] = Σ over the taps (ki, kj) whose output pixel (oh, ow) reads (h, w) of dcols[n, r, q]:
// the adjoint of im2col written as a gather, one thread per input pixel, so no two threads write one value.
// The taps that hit (h, w) are ki ≡ (h + P) mod S, stepping by S while oh = (h + P − ki) / S stays in range.
// Each thread handles ROWS pixels of its column, BH rows apart (a workgroup covers BW × BH·ROWS pixels):
// fewer, fuller workgroups, which a CPU driver runs much faster than many small ones.
override ROWS: u32 = 4u;

// 1: col2im, scatter_1x1 and swap01 add into dst's old values (a gradient accumulated into) instead of
// overwriting them.
override ACC: u32 = 0u;

fn put(i: u32, v: f32) {
  if (ACC == 1u) { dst[i] += v; } else { dst[i] = v; }
}

@compute @workgroup_size(BW, BH)
fn col2im(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let w = (wid.x % p.blocksX) * BW + lid.x;
  if (w >= p.W) { return; }
  let nc = wid.z * p.C + wid.y;
  let base = p.offSrc + wid.y * p.KH * p.KW * p.ldCols + wid.z * p.imgStride;   // column rows of channel c, image n
  let yw = w + p.pad;
  let kj0 = yw % p.stride;
  let ow0 = yw / p.stride;                       // output column of tap kj0
  let h0 = (wid.x / p.blocksX) * BH * ROWS + lid.y;
  for (var r = 0u; r < ROWS; r++) {
    let h = h0 + r * BH;
    if (h >= p.H) { return; }
    let yh = h + p.pad;
    let ki0 = yh % p.stride;
    var acc = 0.0;
    var oh = i32(yh / p.stride);                 // output row of tap ki0
    for (var ki = ki0; ki < p.KH; ki += p.stride) {
      if (oh >= 0 && oh < i32(p.OH)) {
        var ow = i32(ow0);
        for (var kj = kj0; kj < p.KW; kj += p.stride) {
          if (ow >= 0 && ow < i32(p.OW)) {
            acc += src[base + (ki * p.KW + kj) * p.ldCols + u32(oh) * p.OW + u32(ow)];
          }
          ow -= 1;
        }
      }
      oh -= 1;
    }
    put(p.offDst + (nc * p.H + h) * p.W + w, acc);
  }
}

// The data gradient of a 1×1, unpadded, strided convolution (ResNet's downsample): each input pixel is hit by
// at most one output pixel, so dx is a strided scatter of dcols into a zeroed dx (the launcher clears it; with
// ACC, into dx's old values, which the pixels no output reads keep):
// one thread per output pixel, a quarter of col2im's threads at stride 2, and no tap loop.
@compute @workgroup_size(BW, BH)
fn scatter_1x1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let ow = (wid.x % p.blocksX) * BW + lid.x;
  let oh = (wid.x / p.blocksX) * BH + lid.y;
  if (ow >= p.OW || oh >= p.OH) { return; }
  let nc = wid.z * p.C + wid.y;
  put(p.offDst + (nc * p.H + oh * p.stride) * p.W + ow * p.stride, src[p.offSrc + wid.y * p.ldCols + wid.z * p.imgStride + oh * p.OW + ow]);
}

// Swap the first two axes of a batch tile: dst[b, a, s] = src[a, b, s] for a < A (uniform `C`), b < B
// (`H`), s < S (`W`), both bound at the tile's start (plus offSrc / offDst). The im2col path uses it to
// turn the matmul's [O, nb·OH·OW] output into NCHW images and NCHW gradients into that layout.
// One thread per element: workgroups of BW·BH threads along s (x: s blocks, y: a, z: b).
@compute @workgroup_size(BW * BH)
fn swap01(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let s = wid.x * BW * BH + lid.x;
  if (s >= p.W) { return; }
  let a = wid.y;
  let b = wid.z;
  put(p.offDst + (b * p.C + a) * p.W + s, src[p.offSrc + (a * p.H + b) * p.W + s]);
}
