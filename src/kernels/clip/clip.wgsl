// Gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_, without a CPU readback:
//   norm_partial: each workgroup reduces a strided share of one gradient (|g|^p summed, or max |g| for the inf
//                 norm) into partials[offset + workgroup];
//   norm_total:   one workgroup reduces n partials into total[0] = (Σ)^(1/p) (sqrt for p = 2), or their max;
//   clip_scale:   g *= min(1, max_norm / (total[0] + 1e-6)), read from the GPU (a NaN norm makes g NaN, as torch);
//   clip_value:   g = clamp(g, −clip_value, clip_value), NaN kept.
// The *_v4 twins of the elementwise entries bind grad4 (n a multiple of 4; params.n counts vec4s; a grid-stride loop).

struct Params {
  n: u32,           // elements (norm_partial, clip_*) or partial results (norm_total)
  kind: u32,        // 0: p = 2, 1: p = 1, 2: another finite p, 3: the inf norm (max |g|)
  p: f32,
  offset: u32,      // norm_partial: the first of this gradient's slots in partials
  max_norm: f32,
  clip_value: f32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<storage, read_write> total: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad4: array<vec4<f32>>;

var<workgroup> acc: array<f32, WG>;

// NaN by its bits: a compiler may assume that x != x is false.
fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// Combine two partial results: a sum, or for the inf norm a max that keeps NaN (as torch's).
fn combine(a: f32, b: f32) -> f32 {
  if (params.kind == 3u) { return select(max(a, b), a + b, is_nan(a) || is_nan(b)); }
  return a + b;
}

// One element's term: g², |g|, |g|^p, or |g| for the max.
fn term(g: f32) -> f32 {
  if (params.kind == 0u) { return g * g; }
  if (params.kind == 2u) { return pow(abs(g), params.p); }
  return abs(g);
}

// Tree reduction of acc[0..WG) into acc[0].
fn reduce_workgroup(lid: u32) {
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { acc[lid] = combine(acc[lid], acc[lid + s]); }
    workgroupBarrier();
  }
}

@compute @workgroup_size(WG)
fn norm_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  var a = 0.0;
  for (var i = wid.x * WG + lid.x; i < params.n; i += nwg.x * WG) { a = combine(a, term(grad[i])); }
  acc[lid.x] = a;
  reduce_workgroup(lid.x);
  if (lid.x == 0u) { partials[params.offset + wid.x] = acc[0]; }
}

@compute @workgroup_size(WG)
fn norm_total(@builtin(local_invocation_id) lid: vec3<u32>) {
  var a = 0.0;
  for (var i = lid.x; i < params.n; i += WG) { a = combine(a, partials[i]); }
  acc[lid.x] = a;
  reduce_workgroup(lid.x);
  if (lid.x == 0u) {
    let s = acc[0];
    var norm = s;
    if (params.kind == 0u) { norm = sqrt(s); } else if (params.kind == 2u) { norm = pow(s, 1.0 / params.p); }
    total[0] = norm;
  }
}

// min(1, max_norm / (norm + 1e-6)), NaN kept (torch.clamp(coef, max=1)).
fn clip_coef() -> f32 {
  let c = params.max_norm / (total[0] + 1e-6);
  return select(min(c, 1.0), c, is_nan(c));
}

@compute @workgroup_size(WG)
fn clip_scale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  grad[i] = grad[i] * clip_coef();
}

@compute @workgroup_size(WG)
fn clip_scale_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = clip_coef();
  for (var i = gid.x; i < params.n; i += nwg.x * WG) { grad4[i] = grad4[i] * c; }
}

fn clamped(g: f32) -> f32 {
  return select(clamp(g, -params.clip_value, params.clip_value), g, is_nan(g));
}

@compute @workgroup_size(WG)
fn clip_value(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  grad[i] = clamped(grad[i]);
}

@compute @workgroup_size(WG)
fn clip_value_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < params.n; i += nwg.x * WG) {
    let g = grad4[i];
    grad4[i] = vec4<f32>(clamped(g.x), clamped(g.y), clamped(g.z), clamped(g.w));
  }
}
