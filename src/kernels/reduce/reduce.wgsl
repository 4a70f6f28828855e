// Sum over the middle axis of a [outer, n, inner] view: out[o, i] = Σ_k x[o, k, i].
// sum_axis: one workgroup per output element (sum_axis_serial below for short axes); its threads stride over k and combine in workgroup memory,
// so a long reduction is split 256 ways before the tree (better float32 accuracy than one serial sum).

struct Params {
  outer: u32,
  n: u32,
  inner: u32,
  scale: f32,   // multiplies the result (1 for sum, 1/n for mean)
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn sum_axis(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = wid.y * nwg.x + wid.x;   // output index = outer_index * inner + inner_index
  let total = params.outer * params.inner;
  let valid = o < total;
  var acc = 0.0;
  if (valid) {
    let oi = o / params.inner;
    let ii = o % params.inner;
    let base = oi * params.n * params.inner + ii;
    for (var k = lid.x; k < params.n; k += WG) {
      acc += x[base + k * params.inner];
    }
  }
  partial[lid.x] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid.x < s) { partial[lid.x] += partial[lid.x + s]; }
    workgroupBarrier();
  }
  if (valid && lid.x == 0u) { out[o] = partial[0] * params.scale; }
}

// sum_axis for short axes (n ≤ SERIAL_MAX_TERMS in index.ts beside it), one thread per output element
// summing its n terms in order: one workgroup per output would leave most of its threads idle and, on CPU
// adapters, cost a dispatch of a workgroup per float.
@compute @workgroup_size(WG)
fn sum_axis_serial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = (wid.y * nwg.x + wid.x) * WG + lid.x;
  if (o >= params.outer * params.inner) { return; }
  let oi = o / params.inner;
  let ii = o % params.inner;
  var at = oi * params.n * params.inner + ii;
  var acc = 0.0;
  for (var k = 0u; k < params.n; k++) {
    acc += x[at];
    at += params.inner;
  }
  out[o] = acc * params.scale;
}
