// Fused softmax cross-entropy over logits [N, C] with integer labels [N] and label smoothing ε:
//   loss_n = (1−ε)·(−log p[n, y_n]) + ε·mean_c(−log p[n, c]),   p = softmax(logits[n, :]).
// Numerically stable: with m = max_c x and s = Σ_c exp(x − m),
//   −log p[n, c] = log s − (x_c − m),  mean_c(−log p) = log s − mean_c(x − m),
// so no exp overflows and no large number is subtracted from another (logits of ±1e4 are fine).
// A label outside [0, C) gives a NaN loss (and NaN gradients) for its row: the launcher cannot check labels
// without a CPU sync, and NaN is what the trainer's NaN check catches.
//
// forward:  one workgroup per row; its threads stride over the C classes and combine the max, then
//           Σ exp(x − m) and Σ (x − m), with tree reductions in workgroup memory. Writes the per-row loss
//           and the row statistics (m, log s) that the backward needs.
// backward: one thread per logit: dx = g_n · gscale · (p[n, c] − t[n, c]), with the target distribution
//           t = (1−ε)·onehot(y_n) + ε/C, and g_n the upstream gradient (one scalar, or one per row).
// Bindings: forward uses (1 logits, 2 labels, 3 stats, 4 row_loss); backward (1, 2, 3, 5 upstream, 6 dlogits).

struct Params {
  n: u32,           // rows
  c: u32,           // classes
  smoothing: f32,   // ε
  nan_bits: u32,    // 0x7fc00000: a NaN, from the uniform so that no compiler folds it away
  gscale: f32,      // backward: 1/N for a mean, 1 for a sum or per-row losses
  gstride: u32,     // backward: 0 when the upstream gradient is one scalar, 1 when it has one value per row
}

override WG: u32 = 256u;   // a power of two

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;     // [N, 2]: m, log s
@group(0) @binding(4) var<storage, read_write> row_loss: array<f32>;  // [N]
@group(0) @binding(5) var<storage, read> upstream: array<f32>;        // [1] or [N]
@group(0) @binding(6) var<storage, read_write> dlogits: array<f32>;   // [N, C]

var<workgroup> red_a: array<f32, WG>;
var<workgroup> red_b: array<f32, WG>;

fn label_ok(label: i32) -> bool {
  return label >= 0 && label < i32(params.c);
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  let valid = row < params.n;   // the folded grid may have a few extra workgroups: they idle through the barriers
  let c = params.c;
  let base = row * c;

  // Row max.
  var m = -3.4028234663852886e38;
  if (valid) {
    for (var k = lid.x; k < c; k += WG) { m = max(m, logits[base + k]); }
  }
  red_a[lid.x] = m;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid.x < s) { red_a[lid.x] = max(red_a[lid.x], red_a[lid.x + s]); }
    workgroupBarrier();
  }
  m = red_a[0];
  workgroupBarrier();   // everyone has read red_a[0] before it is reused

  // Σ exp(x − m) and Σ (x − m).
  var se = 0.0;
  var sd = 0.0;
  if (valid) {
    for (var k = lid.x; k < c; k += WG) {
      let d = logits[base + k] - m;
      se += exp(d);
      sd += d;
    }
  }
  red_a[lid.x] = se;
  red_b[lid.x] = sd;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid.x < s) {
      red_a[lid.x] += red_a[lid.x + s];
      red_b[lid.x] += red_b[lid.x + s];
    }
    workgroupBarrier();
  }

  if (valid && lid.x == 0u) {
    let log_s = log(red_a[0]);
    let eps = params.smoothing;
    let label = labels[row];
    var loss = bitcast<f32>(params.nan_bits);
    if (label_ok(label)) {
      let nll = log_s - (logits[base + u32(label)] - m);
      loss = nll;
      // The smoothing term only when ε > 0: with a −∞ logit it is +∞, and 0·∞ would make the loss NaN
      // where PyTorch's is the (finite) nll.
      if (eps != 0.0) {
        let uniform_nll = log_s - red_b[0] / f32(c);
        loss = (1.0 - eps) * nll + eps * uniform_nll;
      }
    }
    stats[2u * row] = m;
    stats[2u * row + 1u] = log_s;
    row_loss[row] = loss;
  }
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = (wid.y * nwg.x + wid.x) * WG + lid.x;
  let c = params.c;
  if (j >= params.n * c) { return; }
  let row = j / c;
  let k = j % c;
  let label = labels[row];
  let p = exp((logits[j] - stats[2u * row]) - stats[2u * row + 1u]);
  var t = params.smoothing / f32(c);
  if (i32(k) == label) { t += 1.0 - params.smoothing; }
  let g = upstream[row * params.gstride] * params.gscale;
  dlogits[j] = select(bitcast<f32>(params.nan_bits), (p - t) * g, label_ok(label));
}
