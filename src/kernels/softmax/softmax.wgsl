// softmax and log-softmax along the middle axis of an [outer, n, inner] view (the op's dim has length n and
// stride inner), forward and backward. A row is one (outer, inner) pair: its n elements sit at
// base + k·inner, base = o·n·inner + i.
//   forward:  m = max_k x, s = Σ_k exp(x − m);  y = exp(x − m) / s,  or (log_out) y = (x − m) − log s.
//             A row whose elements are all −∞ has s = 0: its outputs are NaN, as PyTorch's.
//   backward: softmax:     dx = y · (dy − Σ_k dy·y)
//             log-softmax: dx = dy − exp(y) · Σ_k dy       (y is the forward's output, saved)
// forward / backward: one workgroup per row; its threads stride over the row and combine in a tree in
//                     workgroup memory (long rows).
// forward_serial / backward_serial: one thread per row, in order (short rows; index() from the grid prelude).
// Bindings: forward entries use (1 x, 2 y); backward entries (2 y, 3 dy, 4 dx).

struct Params {
  rows: u32,       // outer · inner
  n: u32,          // the length of the axis
  inner: u32,      // the axis' stride
  log_out: u32,    // 1: log-softmax
  nan_bits: u32,   // 0x7fc00000: a NaN, from the uniform so that no compiler folds it away
}

override WG: u32 = 256u;   // a power of two

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

// index(wid, lid, nwg), wg_sum and wg_max: kernels/prelude (grid.wgsl, wgreduce.wgsl), joined on by the launcher.

fn row_base(row: u32) -> u32 {
  return (row / params.inner) * params.n * params.inner + row % params.inner;
}

// The per-thread parts of a row, over k = first, first + step, …: shared by the tree and serial entries.
fn part_max(base: u32, first: u32, step: u32) -> f32 {
  var m = -3.4028234663852886e38;
  for (var k = first; k < params.n; k += step) { m = max(m, x[base + k * params.inner]); }
  return m;
}

fn part_sum_exp(base: u32, m: f32, first: u32, step: u32) -> f32 {
  var s = 0.0;
  for (var k = first; k < params.n; k += step) { s += exp(x[base + k * params.inner] - m); }
  return s;
}

fn write_out(base: u32, m: f32, s: f32, first: u32, step: u32) {
  let nan = bitcast<f32>(params.nan_bits);
  let log_s = log(s);
  for (var k = first; k < params.n; k += step) {
    let j = base + k * params.inner;
    let d = x[j] - m;
    var v = exp(d) / s;
    if (params.log_out != 0u) { v = d - log_s; }
    y[j] = select(v, nan, s == 0.0);
  }
}

// Σ dy·y (softmax) or Σ dy (log-softmax).
fn part_dot(base: u32, first: u32, step: u32) -> f32 {
  var acc = 0.0;
  for (var k = first; k < params.n; k += step) {
    let j = base + k * params.inner;
    if (params.log_out != 0u) { acc += dy[j]; } else { acc += dy[j] * y[j]; }
  }
  return acc;
}

fn write_grad(base: u32, dot: f32, first: u32, step: u32) {
  for (var k = first; k < params.n; k += step) {
    let j = base + k * params.inner;
    if (params.log_out != 0u) { dx[j] = dy[j] - exp(y[j]) * dot; } else { dx[j] = y[j] * (dy[j] - dot); }
  }
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= params.rows) { return; }   // uniform: the whole workgroup leaves
  let base = row_base(row);
  let m = wg_max(lid.x, part_max(base, lid.x, WG));
  let s = wg_sum(lid.x, part_sum_exp(base, m, lid.x, WG));
  write_out(base, m, s, lid.x, WG);
}

@compute @workgroup_size(WG)
fn forward_serial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = index(wid, lid, nwg);
  if (row >= params.rows) { return; }
  let base = row_base(row);
  let m = part_max(base, 0u, 1u);
  write_out(base, m, part_sum_exp(base, m, 0u, 1u), 0u, 1u);
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= params.rows) { return; }
  let base = row_base(row);
  write_grad(base, wg_sum(lid.x, part_dot(base, lid.x, WG)), lid.x, WG);
}

@compute @workgroup_size(WG)
fn backward_serial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = index(wid, lid, nwg);
  if (row >= params.rows) { return; }
  let base = row_base(row);
  write_grad(base, part_dot(base, 0u, 1u), 0u, 1u);
}
