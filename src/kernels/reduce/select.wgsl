// Selection along the middle axis of an [outer, n, inner] view: the first k terms of each row in the order of
// before() (largest or smallest first, NaN first or last, equal values by lower index), for max, min, argmax,
// argmin (k = 1) and topk. select_top runs one workgroup per row (each step a tree over (value, index) pairs), or
// with SERIAL = 1 (short rows) one thread per row. select_backward sends each pick's gradient back to its position.

struct Params {
  outer: u32,
  n: u32,
  inner: u32,
  k: u32,
  largest: u32,   // 1: largest first (max, argmax, topk largest); 0: smallest first
  nan_first: u32, // 1: NaN before every number (max and min propagate NaN; topk largest); 0: after (topk smallest)
}

override WG: u32 = 256u;
override SERIAL: u32 = 0u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> picked: array<i32>;
@group(0) @binding(4) var<storage, read_write> values: array<f32>;
@group(0) @binding(5) var<storage, read_write> indices: array<i32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

var<workgroup> wv: array<f32, WG>;
var<workgroup> wi: array<u32, WG>;

const NONE: u32 = 0xffffffffu;

fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// Whether (a, ia) comes before (b, ib) in the selection order.
fn before(a: f32, ia: u32, b: f32, ib: u32) -> bool {
  let na = is_nan(a);
  let nb = is_nan(b);
  if (na != nb) { return na == (params.nan_first == 1u); }
  if (na || a == b) { return ia < ib; }
  return select((a < b), (a > b), params.largest == 1u);
}

// Whether candidate (a, ia) beats (b, ib); NONE is no candidate.
fn beats(a: f32, ia: u32, b: f32, ib: u32) -> bool {
  return ib == NONE || (ia != NONE && before(a, ia, b, ib));
}

// values/indices[oi, t, ii] = the t-th term of row (oi, ii) in the order, t < k.
@compute @workgroup_size(WG)
fn select_top(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  var row = wid.y * nwg.x + wid.x;
  var first = lid.x;
  var step = WG;
  if (SERIAL == 1u) {
    row = index(wid, lid, nwg);
    first = 0u;
    step = 1u;
  }
  let valid = row < params.outer * params.inner;
  let oi = row / params.inner;
  let ii = row % params.inner;
  let base = oi * params.n * params.inner + ii;
  var pv = 0.0;   // the previous pick: this step picks the best term after it
  var pi = NONE;
  for (var t = 0u; t < params.k; t++) {
    var bv = 0.0;
    var bi = NONE;
    if (valid) {
      for (var i = first; i < params.n; i += step) {
        let v = x[base + i * params.inner];
        if ((pi == NONE || before(pv, pi, v, i)) && beats(v, i, bv, bi)) {
          bv = v;
          bi = i;
        }
      }
    }
    if (SERIAL == 0u) {
      wv[lid.x] = bv;
      wi[lid.x] = bi;
      workgroupBarrier();
      for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid.x < s && beats(wv[lid.x + s], wi[lid.x + s], wv[lid.x], wi[lid.x])) {
          wv[lid.x] = wv[lid.x + s];
          wi[lid.x] = wi[lid.x + s];
        }
        workgroupBarrier();
      }
      bv = wv[0];
      bi = wi[0];
      workgroupBarrier();
    }
    if (valid && first == 0u) {
      let at = (oi * params.k + t) * params.inner + ii;
      values[at] = bv;
      indices[at] = i32(bi);
    }
    pv = bv;
    pi = bi;
  }
}

// dx[oi, d, ii] = dy[oi, t, ii] where picked[oi, t, ii] = d, else 0 (the picks of a row are distinct).
@compute @workgroup_size(WG)
fn select_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = index(wid, lid, nwg);
  if (j >= params.outer * params.n * params.inner) { return; }
  let ii = j % params.inner;
  let d = i32((j / params.inner) % params.n);
  let oi = j / (params.n * params.inner);
  var g = 0.0;
  for (var t = 0u; t < params.k; t++) {
    let at = (oi * params.k + t) * params.inner + ii;
    if (picked[at] == d) { g = dy[at]; }
  }
  dx[j] = g;
}
