// gather and indexSelect along one dim, and their backwards. Shapes have up to 8 dims, right-aligned in the slots
// (unused leading slots: size 1); x and the output are contiguous. out[c] = x[c with c_dim = idx[Σ_d c_d · istride_d]]:
// gather's index has the output's shape (istride: its contiguous strides); indexSelect's is 1-D along dim
// (istride 1 at dim, 0 elsewhere). An index outside [0, x.size(dim)) reads 0 and receives no gradient: a kernel
// cannot throw, and checking the indices on the host would need a readback.

struct Params {
  n: u32,     // threads: output elements (gather_forward) or x elements (gather_backward)
  dim: u32,   // the slot of the indexed dim
  xsize0: u32,
  xsize1: u32,
  xsize2: u32,
  xsize3: u32,
  xsize4: u32,
  xsize5: u32,
  xsize6: u32,
  xsize7: u32,
  osize0: u32,
  osize1: u32,
  osize2: u32,
  osize3: u32,
  osize4: u32,
  osize5: u32,
  osize6: u32,
  osize7: u32,
  istride0: u32,
  istride1: u32,
  istride2: u32,
  istride3: u32,
  istride4: u32,
  istride5: u32,
  istride6: u32,
  istride7: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;

// index(wid, lid, nwg): kernels/prelude/grid.wgsl, joined on by the launcher (withPrelude).

// The slots as arrays (indexable by a runtime dim).
fn x_sizes() -> array<u32, 8> { return array<u32, 8>(params.xsize0, params.xsize1, params.xsize2, params.xsize3, params.xsize4, params.xsize5, params.xsize6, params.xsize7); }
fn out_sizes() -> array<u32, 8> { return array<u32, 8>(params.osize0, params.osize1, params.osize2, params.osize3, params.osize4, params.osize5, params.osize6, params.osize7); }
fn index_strides() -> array<u32, 8> { return array<u32, 8>(params.istride0, params.istride1, params.istride2, params.istride3, params.istride4, params.istride5, params.istride6, params.istride7); }

// dst = out, src = x (u32 words: f32 and i32 tensors alike).
@compute @workgroup_size(WG)
fn gather_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  var xs = x_sizes();
  var os = out_sizes();
  var ist = index_strides();
  var c: array<u32, 8>;
  var rest = i;
  var at = 0u;
  for (var d = 7; d >= 0; d--) {
    c[d] = rest % os[d];
    rest = rest / os[d];
    at += c[d] * ist[d];
  }
  let k = idx[at];
  if (k < 0 || u32(k) >= xs[params.dim]) {
    dst[i] = 0u;
    return;
  }
  c[params.dim] = u32(k);
  var xat = 0u;
  for (var d = 0; d < 8; d++) { xat = xat * xs[d] + c[d]; }
  dst[i] = src[xat];
}

// dst = dx, src = the output's gradient (f32). Each dx element sums, in order, the gradient entries whose index
// points at it: a loop over the out.size(dim) entries of its line, with no atomics, so the result is deterministic.
@compute @workgroup_size(WG)
fn gather_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  var xs = x_sizes();
  var os = out_sizes();
  var ist = index_strides();
  var c: array<u32, 8>;
  var rest = i;
  for (var d = 7; d >= 0; d--) {
    c[d] = rest % xs[d];
    rest = rest / xs[d];
  }
  let k = i32(c[params.dim]);
  c[params.dim] = 0u;
  var gat = 0u;
  var iat = 0u;
  var gstep = 1u;
  for (var d = 0; d < 8; d++) {
    if (c[d] >= os[d]) {
      // Outside the index's extent (gather's index may be smaller than x in the other dims): no gradient.
      dst[i] = 0u;
      return;
    }
    gat = gat * os[d] + c[d];
    iat += c[d] * ist[d];
    if (u32(d) > params.dim) { gstep *= os[d]; }
  }
  var acc = 0.0;
  for (var j = 0u; j < os[params.dim]; j++) {
    if (idx[iat + j * ist[params.dim]] == k) { acc += bitcast<f32>(src[gat + j * gstep]); }
  }
  dst[i] = bitcast<u32>(acc);
}
