// Reductions over any set of dims of a contiguous tensor, without a permute (layout.ts): output o's terms are
// x[base_of(o) + term(k)] for k in [0, n), where the kept and the reduced dims are each merged into at most four
// (size, stride) groups. Forward entries run one workgroup per output, its threads striding over k and combining in
// a workgroup tree (better float32 accuracy on long reductions than one serial sum); with SERIAL = 1 (short
// reductions) one thread per output combines its terms in order. Backward entries run one thread per input element.

struct Params {
  outputs: u32,
  n: u32,
  k0: u32, k1: u32, k2: u32, k3: u32,     // kept group sizes, outermost first
  ks0: u32, ks1: u32, ks2: u32, ks3: u32, // their strides in x
  r0: u32, r1: u32, r2: u32, r3: u32,     // reduced group sizes, outermost first
  rs0: u32, rs1: u32, rs2: u32, rs3: u32, // their strides in x
  scale: f32,  // sum: 1 or 1/n (mean); var: 1/max(0, n − correction); backwards: the matching factor
  root: u32,   // var_dims, var_backward: 1 for the standard deviation
}

override WG: u32 = 256u;
override SERIAL: u32 = 0u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;      // the forward's output (backwards, count_ties)
@group(0) @binding(3) var<storage, read> stat: array<f32>;   // var's mean, or the tie counts (backwards)
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> aux: array<f32>; // var_dims: the mean

var<workgroup> partial: array<f32, WG>;

fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn is_inf(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) == 0x7f800000u;
}

// max(a, b) that keeps a NaN from either side (WGSL's max() may drop it).
fn nan_max(a: f32, b: f32) -> f32 {
  return select(b, a, a > b || is_nan(a));
}

// Offset in x of output o's first term.
fn base_of(o: u32) -> u32 {
  var r = o;
  var b = (r % params.k3) * params.ks3;
  r /= params.k3;
  b += (r % params.k2) * params.ks2;
  r /= params.k2;
  b += (r % params.k1) * params.ks1;
  r /= params.k1;
  return b + r * params.ks0;
}

// Offset of term k from its output's base.
fn term(k: u32) -> u32 {
  var r = k;
  var b = (r % params.r3) * params.rs3;
  r /= params.r3;
  b += (r % params.r2) * params.rs2;
  r /= params.r2;
  b += (r % params.r1) * params.rs1;
  r /= params.r1;
  return b + r * params.rs0;
}

// The output that input element j contributes to.
fn out_of(j: u32) -> u32 {
  let d0 = (j / params.ks0) % params.k0;
  let d1 = (j / params.ks1) % params.k1;
  let d2 = (j / params.ks2) % params.k2;
  let d3 = (j / params.ks3) % params.k3;
  return ((d0 * params.k1 + d1) * params.k2 + d2) * params.k3 + d3;
}

// A forward thread's output, its first term and the stride between its terms.
struct Slot {
  o: u32,
  first: u32,
  step: u32,
  valid: bool,
}

fn slot(wid: vec3<u32>, lid: vec3<u32>, nwg: vec3<u32>) -> Slot {
  if (SERIAL == 1u) {
    let o = index(wid, lid, nwg);
    return Slot(o, 0u, 1u, o < params.outputs);
  }
  let o = wid.y * nwg.x + wid.x;
  return Slot(o, lid.x, WG, o < params.outputs);
}

// The workgroup's sum (or NaN-keeping max) of each thread's v; with SERIAL, v itself.
fn combine(v: f32, l: u32, is_max: bool) -> f32 {
  if (SERIAL == 1u) { return v; }
  partial[l] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (l < s) {
      let a = partial[l];
      let b = partial[l + s];
      partial[l] = select(a + b, nan_max(a, b), is_max);
    }
    workgroupBarrier();
  }
  let r = partial[0];
  workgroupBarrier(); // every thread has read the result before the next combine overwrites it
  return r;
}

// One thread's sum of its terms of output s.o, each minus `shift`, squared when `square`.
fn local_sum(s: Slot, shift: f32, square: bool) -> f32 {
  var acc = 0.0;
  if (s.valid) {
    let b = base_of(s.o);
    for (var k = s.first; k < params.n; k += s.step) {
      let d = x[b + term(k)] - shift;
      acc += select(d, d * d, square);
    }
  }
  return acc;
}

// out[o] = scale · Σ_k x[base_of(o) + term(k)]
@compute @workgroup_size(WG)
fn sum_dims(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let s = slot(wid, lid, nwg);
  let total = combine(local_sum(s, 0.0, false), lid.x, false);
  if (s.valid && s.first == 0u) { out[s.o] = total * params.scale; }
}

// out[o] = log Σ_k exp(x_k − m) + m with m the terms' max, as torch: an infinite m is replaced by 0 (so all −inf
// gives −inf and a +inf term gives +inf); a NaN term gives NaN.
@compute @workgroup_size(WG)
fn lse_dims(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let s = slot(wid, lid, nwg);
  var neg_bits = 0xff800000u; // a var: a const −inf does not compile
  let neg_inf = bitcast<f32>(neg_bits);
  var m = neg_inf;
  if (s.valid) {
    let b = base_of(s.o);
    for (var k = s.first; k < params.n; k += s.step) { m = nan_max(m, x[b + term(k)]); }
  }
  m = combine(m, lid.x, true);
  let shift = select(m, 0.0, is_inf(m));
  var acc = 0.0;
  if (s.valid) {
    let b = base_of(s.o);
    for (var k = s.first; k < params.n; k += s.step) { acc += exp(x[b + term(k)] - shift); }
  }
  acc = combine(acc, lid.x, false);
  if (s.valid && s.first == 0u) { out[s.o] = select(log(acc) + shift, neg_inf, acc == 0.0); }
}

// Two passes: the mean, then Σ (x − mean)²; out = that · scale (its square root when root), aux = the mean.
@compute @workgroup_size(WG)
fn var_dims(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let s = slot(wid, lid, nwg);
  let mean = combine(local_sum(s, 0.0, false), lid.x, false) / f32(params.n);
  let v = combine(local_sum(s, mean, true), lid.x, false) * params.scale;
  if (s.valid && s.first == 0u) {
    out[s.o] = select(v, sqrt(v), params.root == 1u);
    aux[s.o] = mean;
  }
}

fn ties(a: f32, v: f32) -> bool {
  return a == v || (is_nan(a) && is_nan(v));
}

// out[o] = how many of output o's terms equal y[o] (NaN counts as equal to NaN).
@compute @workgroup_size(WG)
fn count_ties(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let s = slot(wid, lid, nwg);
  var acc = 0.0;
  if (s.valid) {
    let b = base_of(s.o);
    let v = y[s.o];
    for (var k = s.first; k < params.n; k += s.step) { acc += select(0.0, 1.0, ties(x[b + term(k)], v)); }
  }
  let total = combine(acc, lid.x, false);
  if (s.valid && s.first == 0u) { out[s.o] = total; }
}

// The backward of sum_dims: out[j] = scale · dy[out_of(j)].
@compute @workgroup_size(WG)
fn expand_dims(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = index(wid, lid, nwg);
  if (j >= params.outputs * params.n) { return; }
  out[j] = dy[out_of(j)] * params.scale;
}

// The backward of lse_dims: out[j] = dy[o] · exp(x[j] − y[o]) (softmax · dy).
@compute @workgroup_size(WG)
fn lse_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = index(wid, lid, nwg);
  if (j >= params.outputs * params.n) { return; }
  let o = out_of(j);
  out[j] = dy[o] * exp(x[j] - y[o]);
}

// The backward of var_dims: out[j] = dy[o] · scale · (x[j] − mean[o]) with scale = 2/(n − correction); for the
// standard deviation also / (2 y[o]), and 0 where y[o] = 0 (as torch).
@compute @workgroup_size(WG)
fn var_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = index(wid, lid, nwg);
  if (j >= params.outputs * params.n) { return; }
  let o = out_of(j);
  let g = dy[o] * params.scale * (x[j] - stat[o]);
  if (params.root == 1u) {
    out[j] = select(g / (2.0 * y[o]), 0.0, y[o] == 0.0);
  } else {
    out[j] = g;
  }
}

// The backward of a max or min without dim, as torch's: dy[o] split evenly among the terms equal to y[o]
// (stat[o] of them, from count_ties).
@compute @workgroup_size(WG)
fn ties_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = index(wid, lid, nwg);
  if (j >= params.outputs * params.n) { return; }
  let o = out_of(j);
  out[j] = select(0.0, dy[o] / stat[o], ties(x[j], y[o]));
}
