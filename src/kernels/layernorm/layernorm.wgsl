// Layer normalisation over the last d elements of each of `rows` rows (torch.nn.functional.layer_norm):
//   mean = Σ x / d,  var = Σ (x − mean)² / d (biased),  rstd = 1 / sqrt(var + eps)
//   xhat = (x − mean) · rstd,  y = xhat · weight + bias      (weight, bias: [d], each optional)
// forward:          writes y and the row statistics (mean, rstd) that the backward needs.
// backward_dx:      g = dy · weight;  dx = rstd · (g − Σ g / d − xhat · Σ (g·xhat) / d)
// backward_params:  dweight[c] = Σ_rows dy·xhat,  dbias[c] = Σ_rows dy  (one output column c each)
// Unsuffixed entries: one workgroup per row (per column for backward_params), its threads striding over it and
// combining in a tree in workgroup memory. *_serial: one thread per row (column), in order, for short ones.
// Bindings: forward (1 x, 2 weight, 3 bias, 4 y, 5 stats); backward_dx (1, 2, 5, 6 dy, 7 dx);
// backward_params (1, 5, 6, 8 dweight, 9 dbias). An absent weight or bias is bound to x and not read.

struct Params {
  rows: u32,
  d: u32,            // elements normalised together
  eps: f32,
  has_weight: u32,   // 0 or 1
  has_bias: u32,     // 0 or 1
}

override WG: u32 = 256u;   // a power of two

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;   // [rows, 2]: mean, rstd
@group(0) @binding(6) var<storage, read> dy: array<f32>;
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;
@group(0) @binding(8) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(9) var<storage, read_write> dbias: array<f32>;

// index(wid, lid, nwg) and wg_sum: kernels/prelude (grid.wgsl, wgreduce.wgsl), joined on by the launcher.

// wg_sum of both parts.
fn wg_sum2(lid: u32, v: vec2<f32>) -> vec2<f32> {
  return vec2<f32>(wg_sum(lid, v.x), wg_sum(lid, v.y));
}

fn w_at(c: u32) -> f32 {
  if (params.has_weight != 0u) { return weight[c]; }
  return 1.0;
}

// The per-thread parts of a row, over c = first, first + step, …: shared by the tree and serial entries.
fn part_sum(base: u32, first: u32, step: u32) -> f32 {
  var s = 0.0;
  for (var c = first; c < params.d; c += step) { s += x[base + c]; }
  return s;
}

fn part_sq(base: u32, mean: f32, first: u32, step: u32) -> f32 {
  var s = 0.0;
  for (var c = first; c < params.d; c += step) {
    let v = x[base + c] - mean;
    s += v * v;
  }
  return s;
}

fn write_y(row: u32, mean: f32, sq: f32, first: u32, step: u32) {
  let rstd = inverseSqrt(sq / f32(params.d) + params.eps);
  let base = row * params.d;
  for (var c = first; c < params.d; c += step) {
    var v = (x[base + c] - mean) * rstd * w_at(c);
    if (params.has_bias != 0u) { v += bias[c]; }
    y[base + c] = v;
  }
  if (first == 0u) {
    stats[2u * row] = mean;
    stats[2u * row + 1u] = rstd;
  }
}

// (Σ g, Σ g·xhat) with g = dy · weight.
fn part_dx(row: u32, first: u32, step: u32) -> vec2<f32> {
  let base = row * params.d;
  let mean = stats[2u * row];
  let rstd = stats[2u * row + 1u];
  var acc = vec2<f32>(0.0, 0.0);
  for (var c = first; c < params.d; c += step) {
    let g = dy[base + c] * w_at(c);
    acc += vec2<f32>(g, g * (x[base + c] - mean) * rstd);
  }
  return acc;
}

fn write_dx(row: u32, sums: vec2<f32>, first: u32, step: u32) {
  let base = row * params.d;
  let mean = stats[2u * row];
  let rstd = stats[2u * row + 1u];
  let k = sums / f32(params.d);
  for (var c = first; c < params.d; c += step) {
    let g = dy[base + c] * w_at(c);
    let xhat = (x[base + c] - mean) * rstd;
    dx[base + c] = rstd * (g - k.x - xhat * k.y);
  }
}

// (Σ dy·xhat, Σ dy) over rows r = first, first + step, … of column c.
fn part_params(c: u32, first: u32, step: u32) -> vec2<f32> {
  var acc = vec2<f32>(0.0, 0.0);
  for (var r = first; r < params.rows; r += step) {
    let j = r * params.d + c;
    let g = dy[j];
    acc += vec2<f32>(g * (x[j] - stats[2u * r]) * stats[2u * r + 1u], g);
  }
  return acc;
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= params.rows) { return; }   // uniform: the whole workgroup leaves
  let base = row * params.d;
  let mean = wg_sum(lid.x, part_sum(base, lid.x, WG)) / f32(params.d);
  let sq = wg_sum(lid.x, part_sq(base, mean, lid.x, WG));
  write_y(row, mean, sq, lid.x, WG);
}

@compute @workgroup_size(WG)
fn forward_serial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = index(wid, lid, nwg);
  if (row >= params.rows) { return; }
  let base = row * params.d;
  let mean = part_sum(base, 0u, 1u) / f32(params.d);
  write_y(row, mean, part_sq(base, mean, 0u, 1u), 0u, 1u);
}

@compute @workgroup_size(WG)
fn backward_dx(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= params.rows) { return; }
  write_dx(row, wg_sum2(lid.x, part_dx(row, lid.x, WG)), lid.x, WG);
}

@compute @workgroup_size(WG)
fn backward_dx_serial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = index(wid, lid, nwg);
  if (row >= params.rows) { return; }
  write_dx(row, part_dx(row, 0u, 1u), 0u, 1u);
}

@compute @workgroup_size(WG)
fn backward_params(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = wid.y * nwg.x + wid.x;
  if (c >= params.d) { return; }
  let s = wg_sum2(lid.x, part_params(c, lid.x, WG));
  if (lid.x == 0u) {
    dweight[c] = s.x;
    dbias[c] = s.y;
  }
}

@compute @workgroup_size(WG)
fn backward_params_serial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = index(wid, lid, nwg);
  if (c >= params.d) { return; }
  let s = part_params(c, 0u, 1u);
  dweight[c] = s.x;
  dbias[c] = s.y;
}
