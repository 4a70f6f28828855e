// Batch normalisation of NCHW float32 tensors, per channel c over its count = N·H·W values, with an
// optional fused ReLU (override RELU). The per-channel statistics live in one buffer `stats` = [mean (C) |
// invstd (C)]. Entry points use different subsets of the bindings below; the launcher (index.ts
// beside it) passes null for the slots an entry does not use. A missing weight or bias is signalled by
// `flags` (another read-only buffer is bound in its slot and never read).
//
// Every data-sized entry comes twice: a scalar one, and a `…_v4` one that moves vec4s (4× fewer memory
// instructions, which is what a CPU driver is bound by) and is used when H·W is a multiple of 4, so that a
// vec4 never straddles two channels. Positions are tracked in "units" (one element, or one vec4).
//
// Reductions (stats_train*, backward_reduce*) run one workgroup per channel: each thread walks the channel's
// units k = lid, lid + WG, ... and the WG partial results are combined by a tree in workgroup memory.
// Elementwise entries (apply*, backward_apply*) run a grid-stride loop: thread t handles units t, t + T,
// t + 2T, ... (T = params.stride threads in all), tracking its unit's channel without a division per unit.

struct Params {
  n: u32,         // batch size
  c: u32,         // channels
  hw: u32,        // H·W
  flags: u32,     // bit 0: weight bound, bit 1: bias bound, bit 2: training-mode backward
  momentum: f32,
  eps: f32,
  stride: u32,    // elementwise entries: threads dispatched
}

override WG: u32 = 256u;     // a power of two
override RELU: bool = false;
override RESIDUAL: bool = false;   // apply*: add res (the residual connection) before the ReLU

const HAS_WEIGHT: u32 = 1u;
const HAS_BIAS: u32 = 2u;
const TRAINING: u32 = 4u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;          // [mean | invstd]
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;      // y (forward) or dx (backward)
@group(0) @binding(7) var<storage, read_write> stats_out: array<f32>;
@group(0) @binding(8) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(9) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(10) var<storage, read_write> dbias_out: array<f32>;   // Σ g
@group(0) @binding(11) var<storage, read_write> dweight_out: array<f32>; // Σ g·x̂
@group(0) @binding(12) var<storage, read> dbias_in: array<f32>;
@group(0) @binding(13) var<storage, read> dweight_in: array<f32>;
@group(0) @binding(14) var<storage, read> x4: array<vec4<f32>>;      // x, dy, out as vec4s
@group(0) @binding(15) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(16) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(17) var<storage, read> res: array<f32>;           // apply* with RESIDUAL: the residual connection; relu_mask*: y
@group(0) @binding(18) var<storage, read> res4: array<vec4<f32>>;
@group(0) @binding(19) var<storage, read_write> grad_out: array<f32>;   // backward_reduce_mask*: g, the masked dy
@group(0) @binding(20) var<storage, read_write> grad_out4: array<vec4<f32>>;

var<workgroup> wg_a: array<f32, WG>;
var<workgroup> wg_b: array<f32, WG>;
var<workgroup> wg_c: array<f32, WG>;

// ------------------------------------------------------------------ positions

// index(wid, lid, nwg): kernels/prelude/grid.wgsl, joined on by the launcher (withPrelude).

// Inside one channel: unit k of the channel is (b, s) = (k / hwu, k % hwu), at offset (b·C + c)·hwu + s.
// A thread starts at k = lid and steps by WG units without dividing.
fn chan_start(k: u32, hwu: u32) -> vec2<u32> {
  return vec2<u32>(k / hwu, k % hwu);
}

fn chan_next(pos: vec2<u32>, hwu: u32) -> vec2<u32> {
  var b = pos.x + WG / hwu;
  var s = pos.y + WG % hwu;
  if (s >= hwu) {
    s -= hwu;
    b += 1u;
  }
  return vec2<u32>(b, s);
}

fn chan_offset(c: u32, pos: vec2<u32>, hwu: u32) -> u32 {
  return (pos.x * params.c + c) * hwu + pos.y;
}

// Over the whole tensor: unit v, its offset s inside its plane and its channel c.
struct Cursor {
  v: u32,
  s: u32,
  c: u32,
}

fn cursor_start(v: u32, hwu: u32) -> Cursor {
  return Cursor(v, v % hwu, (v / hwu) % params.c);
}

// Advance by `step` = (T, T % hwu, (T / hwu) % C) units.
fn cursor_next(cur: Cursor, step: vec3<u32>, hwu: u32) -> Cursor {
  var s = cur.s + step.y;
  var c = cur.c + step.z;
  if (s >= hwu) {
    s -= hwu;
    c += 1u;
  }
  if (c >= params.c) { c -= params.c; }
  return Cursor(cur.v + step.x, s, c);
}

fn cursor_step(hwu: u32) -> vec3<u32> {
  let t = params.stride;
  return vec3<u32>(t, t % hwu, (t / hwu) % params.c);
}

// ------------------------------------------------------------------ the per-element maths

// Channel c's (mean, invstd, weight, bias), loaded once per unit.
fn coef(c: u32) -> vec4<f32> {
  var w = 1.0;
  var b = 0.0;
  if ((params.flags & HAS_WEIGHT) != 0u) { w = weight[c]; }
  if ((params.flags & HAS_BIAS) != 0u) { b = bias[c]; }
  return vec4<f32>(stats[c], stats[params.c + c], w, b);
}

// x̂ = (v − mean) · invstd
fn xhat(v: f32, k: vec4<f32>) -> f32 {
  return (v - k.x) * k.y;
}

// The affine part x̂·w + b, before the optional ReLU.
fn affine(xh: f32, k: vec4<f32>) -> f32 {
  return xh * k.z + k.w;
}

// r: the residual added before the ReLU (0 without one).
fn forward_value(v: f32, k: vec4<f32>, r: f32) -> f32 {
  let y = affine(xhat(v, k), k) + r;
  // Not max(y, 0.0): WGSL's max may return 0 for a NaN. NaN stays NaN and −0 stays −0, as PyTorch's ReLU.
  if (RELU) { return select(y, 0.0, y < 0.0); }
  return y;
}

// The upstream gradient masked by the fused ReLU (its output y > 0 is recomputed from x).
fn upstream(g: f32, xh: f32, k: vec4<f32>) -> f32 {
  if (RELU && affine(xh, k) <= 0.0) { return 0.0; }
  return g;
}

// dx for one element. Training (batch statistics): w·invstd·(g − Σg/n − x̂·Σg·x̂/n); eval: w·invstd·g.
// `sums` = (Σg/n, Σg·x̂/n) in training mode.
fn backward_value(gy: f32, v: f32, k: vec4<f32>, sums: vec2<f32>) -> f32 {
  let xh = xhat(v, k);
  var g = upstream(gy, xh, k);
  if ((params.flags & TRAINING) != 0u) { g = g - sums.x - xh * sums.y; }
  return g * (k.y * k.z);
}

fn backward_sums(c: u32) -> vec2<f32> {
  if ((params.flags & TRAINING) == 0u) { return vec2<f32>(0.0); }
  let inv_n = 1.0 / f32(params.n * params.hw);
  return vec2<f32>(dbias_in[c] * inv_n, dweight_in[c] * inv_n);
}

// ------------------------------------------------------------------ statistics (training)

// Each thread keeps Welford's (count, mean, M2) of its values shifted by the channel's first element K
// (so a large common offset cancels exactly); the tree merges the triples with Chan's formula.
// No E[x²] − E[x]² anywhere.
fn welford_tree(lid: u32, cnt: f32, m: f32, m2: f32) {
  wg_a[lid] = cnt;
  wg_b[lid] = m;
  wg_c[lid] = m2;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      let nb = wg_a[lid + s];
      if (nb > 0.0) {
        let na = wg_a[lid];
        let nt = na + nb;
        let delta = wg_b[lid + s] - wg_b[lid];
        wg_b[lid] = wg_b[lid] + delta * (nb / nt);
        wg_c[lid] = wg_c[lid] + wg_c[lid + s] + delta * delta * (na * nb / nt);
        wg_a[lid] = nt;
      }
    }
    workgroupBarrier();
  }
}

// Channel c's mean, biased variance (m2 / n) → stats_out; running estimates updated in place (unbiased
// variance). The mean is shift + m, or `plain` (Σx / n, computed only then) where that is ±∞ or NaN: an ∞ in
// x makes Welford's updates ∞ − ∞ = NaN, where PyTorch's mean is ±∞. With var = 0 and eps = 0, invstd is 0
// (as PyTorch's InvStd), so a constant channel gives y = bias instead of 0·∞ = NaN.
fn write_stats(c: u32, mean: f32, m2: f32) {
  let n = f32(params.n * params.hw);
  stats_out[c] = mean;
  var invstd = 0.0;
  if (m2 != 0.0 || params.eps != 0.0) { invstd = 1.0 / sqrt(m2 / n + params.eps); }
  stats_out[params.c + c] = invstd;
  let mom = params.momentum;
  running_mean[c] = (1.0 - mom) * running_mean[c] + mom * mean;
  running_var[c] = (1.0 - mom) * running_var[c] + mom * (m2 / (n - 1.0));
}

fn non_finite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

// Channel c's mean by a plain sum (only called when Welford's is not finite).
fn plain_mean(c: u32, shift: f32, m: f32) -> f32 {
  if (!non_finite(shift + m)) { return shift + m; }
  var s = 0.0;
  for (var b = 0u; b < params.n; b++) {
    let base = (b * params.c + c) * params.hw;
    for (var k = 0u; k < params.hw; k++) { s += x[base + k]; }
  }
  return s / f32(params.n * params.hw);
}

fn plain_mean4(c: u32, shift: f32, m: f32) -> f32 {
  if (!non_finite(shift + m)) { return shift + m; }
  let hwu = params.hw / 4u;
  var s = vec4<f32>(0.0);
  for (var b = 0u; b < params.n; b++) {
    let base = (b * params.c + c) * hwu;
    for (var k = 0u; k < hwu; k++) { s += x4[base + k]; }
  }
  return ((s.x + s.y) + (s.z + s.w)) / f32(params.n * params.hw);
}

// Welford's running (count, mean, M2) after one more value d, or a batch of 4 (its own mean and M2, merged
// with Chan's formula).
fn welford1(w: ptr<function, vec3<f32>>, d: f32) {
  let cnt = (*w).x + 1.0;
  let delta = d - (*w).y;
  let m = (*w).y + delta / cnt;
  *w = vec3<f32>(cnt, m, (*w).z + delta * (d - m));
}

fn welford4(w: ptr<function, vec3<f32>>, d: vec4<f32>) {
  let mb = (d.x + d.y + d.z + d.w) * 0.25;
  let e = d - vec4<f32>(mb);
  let delta = mb - (*w).y;
  let cnt = (*w).x + 4.0;
  *w = vec3<f32>(cnt, (*w).y + delta * (4.0 / cnt), (*w).z + dot(e, e) + delta * delta * ((*w).x * 4.0 / cnt));
}

// Training-mode statistics of channel c = workgroup_id.x (scalar loads).
@compute @workgroup_size(WG)
fn stats_train(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wid.x;
  let hwu = params.hw;
  let count = params.n * hwu;
  let shift = x[c * hwu];
  var w = vec3<f32>(0.0);   // Welford's (count, mean, M2)
  var pos = chan_start(lid.x, hwu);
  for (var k = lid.x; k < count; k += WG) {
    welford1(&w, x[chan_offset(c, pos, hwu)] - shift);
    pos = chan_next(pos, hwu);
  }
  welford_tree(lid.x, w.x, w.y, w.z);
  if (lid.x == 0u) { write_stats(c, plain_mean(c, shift, wg_b[0]), wg_c[0]); }
}

// The same with vec4 loads: each vec4 is folded in as a batch of 4 (its own mean and M2, then Chan's merge).
@compute @workgroup_size(WG)
fn stats_train_v4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wid.x;
  let hwu = params.hw / 4u;
  let count = params.n * hwu;
  let shift = x4[c * hwu].x;
  var w = vec3<f32>(0.0);   // Welford's (count, mean, M2)
  var pos = chan_start(lid.x, hwu);
  for (var k = lid.x; k < count; k += WG) {
    welford4(&w, x4[chan_offset(c, pos, hwu)] - vec4<f32>(shift));
    pos = chan_next(pos, hwu);
  }
  welford_tree(lid.x, w.x, w.y, w.z);
  if (lid.x == 0u) { write_stats(c, plain_mean4(c, shift, wg_b[0]), wg_c[0]); }
}

// Eval-mode statistics: a snapshot of the running estimates, stats_out = [running_mean | 1/sqrt(running_var + eps)].
// One thread per channel.
@compute @workgroup_size(WG)
fn stats_eval(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= params.c) { return; }
  stats_out[c] = running_mean[c];
  stats_out[params.c + c] = 1.0 / sqrt(running_var[c] + params.eps);
}

// ------------------------------------------------------------------ forward apply

// y = affine(x̂) (+ the residual r when RESIDUAL), then max(0, ·) when RELU.
@compute @workgroup_size(WG)
fn apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let hwu = params.hw;
  let total = params.n * params.c * hwu;
  let step = cursor_step(hwu);
  for (var cur = cursor_start(index(wid, lid, nwg), hwu); cur.v < total; cur = cursor_next(cur, step, hwu)) {
    var r = 0.0;
    if (RESIDUAL) { r = res[cur.v]; }
    out[cur.v] = forward_value(x[cur.v], coef(cur.c), r);
  }
}

// The vec4 elementwise entries walk chunks of CHUNK vec4s inside one plane (one channel of one image): a
// thread loads its channel's coefficients once per chunk instead of once per vec4 (on a CPU adapter every
// load costs about as much as the data's). Chunk t is plane t / per, vec4s [j·CHUNK, (j+1)·CHUNK) ∩ the plane,
// j = t % per, per = ⌈hwu / CHUNK⌉; threads take chunks t, t + stride, ….
const CHUNK = 8u;

@compute @workgroup_size(WG)
fn apply_v4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let hwu = params.hw / 4u;
  let per = (hwu + CHUNK - 1u) / CHUNK;
  let chunks = params.n * params.c * per;
  for (var t = index(wid, lid, nwg); t < chunks; t += params.stride) {
    let plane = t / per;
    let u0 = plane * hwu + (t - plane * per) * CHUNK;
    let k = coef(plane % params.c);
    for (var u = u0; u < min(u0 + CHUNK, (plane + 1u) * hwu); u++) {
      let v = x4[u];
      var r = vec4<f32>(0.0);
      if (RESIDUAL) { r = res4[u]; }
      out4[u] = vec4<f32>(forward_value(v.x, k, r.x), forward_value(v.y, k, r.y), forward_value(v.z, k, r.z), forward_value(v.w, k, r.w));
    }
  }
}

// ------------------------------------------------------------------ backward

// Tree-sum of two per-thread values into wg_a[0], wg_b[0].
fn sum2_tree(lid: u32, a: f32, b: f32) {
  wg_a[lid] = a;
  wg_b[lid] = b;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      wg_a[lid] = wg_a[lid] + wg_a[lid + s];
      wg_b[lid] = wg_b[lid] + wg_b[lid + s];
    }
    workgroupBarrier();
  }
}

// Per-channel sums for the backward: dbias = Σ g, dweight = Σ g·x̂ (g = dy, ReLU-masked).
@compute @workgroup_size(WG)
fn backward_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wid.x;
  let hwu = params.hw;
  let count = params.n * hwu;
  let k = coef(c);
  var sg = 0.0;
  var sgx = 0.0;
  var pos = chan_start(lid.x, hwu);
  for (var j = lid.x; j < count; j += WG) {
    let i = chan_offset(c, pos, hwu);
    let xh = xhat(x[i], k);
    let g = upstream(dy[i], xh, k);
    sg += g;
    sgx += g * xh;
    pos = chan_next(pos, hwu);
  }
  sum2_tree(lid.x, sg, sgx);
  if (lid.x == 0u) {
    dbias_out[c] = wg_a[0];
    dweight_out[c] = wg_b[0];
  }
}

@compute @workgroup_size(WG)
fn backward_reduce_v4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wid.x;
  let hwu = params.hw / 4u;
  let count = params.n * hwu;
  let k = coef(c);
  var sg = vec4<f32>(0.0);
  var sgx = vec4<f32>(0.0);
  var pos = chan_start(lid.x, hwu);
  for (var j = lid.x; j < count; j += WG) {
    let i = chan_offset(c, pos, hwu);
    let v = x4[i];
    let gy = dy4[i];
    let xh = vec4<f32>(xhat(v.x, k), xhat(v.y, k), xhat(v.z, k), xhat(v.w, k));
    let g = vec4<f32>(upstream(gy.x, xh.x, k), upstream(gy.y, xh.y, k), upstream(gy.z, xh.z, k), upstream(gy.w, xh.w, k));
    sg += g;
    sgx += g * xh;
    pos = chan_next(pos, hwu);
  }
  sum2_tree(lid.x, (sg.x + sg.y) + (sg.z + sg.w), (sgx.x + sgx.y) + (sgx.z + sgx.w));
  if (lid.x == 0u) {
    dbias_out[c] = wg_a[0];
    dweight_out[c] = wg_b[0];
  }
}

// dx (see backward_value).
@compute @workgroup_size(WG)
fn backward_apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let hwu = params.hw;
  let total = params.n * params.c * hwu;
  let step = cursor_step(hwu);
  for (var cur = cursor_start(index(wid, lid, nwg), hwu); cur.v < total; cur = cursor_next(cur, step, hwu)) {
    out[cur.v] = backward_value(dy[cur.v], x[cur.v], coef(cur.c), backward_sums(cur.c));
  }
}

@compute @workgroup_size(WG)
fn backward_apply_v4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let hwu = params.hw / 4u;
  let per = (hwu + CHUNK - 1u) / CHUNK;
  let chunks = params.n * params.c * per;
  for (var t = index(wid, lid, nwg); t < chunks; t += params.stride) {
    let plane = t / per;
    let u0 = plane * hwu + (t - plane * per) * CHUNK;
    let c = plane % params.c;
    let k = coef(c);
    let sums = backward_sums(c);
    for (var u = u0; u < min(u0 + CHUNK, (plane + 1u) * hwu); u++) {
      let v = x4[u];
      let g = dy4[u];
      out4[u] = vec4<f32>(
        backward_value(g.x, v.x, k, sums),
        backward_value(g.y, v.y, k, sums),
        backward_value(g.z, v.z, k, sums),
        backward_value(g.w, v.w, k, sums),
      );
    }
  }
}

// The ReLU mask of batchNormAddRelu's backward, g = dy where its output y > 0 (else 0; a NaN y passes dy, as
// relu's threshold_backward): the residual's gradient, and the batch norm's upstream. y is bound at `res`.
// A grid-stride loop over units (elements, or vec4s when H·W is a multiple of 4).
fn mask1(g: f32, y: f32) -> f32 {
  return select(g, 0.0, y <= 0.0);
}

@compute @workgroup_size(WG)
fn relu_mask(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let total = params.n * params.c * params.hw;
  for (var u = index(wid, lid, nwg); u < total; u += params.stride) {
    out[u] = mask1(dy[u], res[u]);
  }
}

@compute @workgroup_size(WG)
fn relu_mask_v4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let total = params.n * params.c * params.hw / 4u;
  for (var u = index(wid, lid, nwg); u < total; u += params.stride) {
    let g = dy4[u];
    let y = res4[u];
    out4[u] = vec4<f32>(mask1(g.x, y.x), mask1(g.y, y.y), mask1(g.z, y.z), mask1(g.w, y.w));
  }
}

// ------------------------------------------------------------------ per-channel reductions, one thread each

// The launcher's choice on CPU adapters (index.ts beside it): thread c streams through channel c's N
// planes, so there is no workgroup tree and no barrier (a CPU driver runs a workgroup's barriers by switching
// between its threads' saved states, which costs more than the sums). For accuracy the values are taken in
// blocks of SERIAL_BLOCK units, each summed (or run through Welford) on its own; SERIAL_BLOCK blocks are merged
// into a group, and the groups into the channel's total, so that no running value takes more than a few dozen
// updates (the tree's threads and levels bound them likewise).

const SERIAL_BLOCK = 16u;

// Chan's merge of Welford triples (count, mean, M2): *w ← *w ∪ b.
fn welford_merge(w: ptr<function, vec3<f32>>, b: vec3<f32>) {
  if (b.x == 0.0) { return; }
  let nt = (*w).x + b.x;
  let delta = b.y - (*w).y;
  *w = vec3<f32>(nt, (*w).y + delta * (b.x / nt), (*w).z + b.z + delta * delta * ((*w).x * b.x / nt));
}

// A channel's running result: the total, the current group, and the blocks in that group. `.xyz` is a Welford
// triple for the statistics, `.xy` the sums (Σ g, Σ g·x̂) for the backward (z unused).
struct Serial {
  total: vec3<f32>,
  group: vec3<f32>,
  blocks: u32,
}

fn add_block(a: ptr<function, Serial>, blk: vec3<f32>, welford: bool) {
  if (welford) { welford_merge(&(*a).group, blk); } else { (*a).group += blk; }
  (*a).blocks += 1u;
  if ((*a).blocks == SERIAL_BLOCK) {
    if (welford) { welford_merge(&(*a).total, (*a).group); } else { (*a).total += (*a).group; }
    (*a).group = vec3<f32>(0.0);
    (*a).blocks = 0u;
  }
}

fn finish(a: ptr<function, Serial>, welford: bool) -> vec3<f32> {
  if (welford) { welford_merge(&(*a).total, (*a).group); } else { (*a).total += (*a).group; }
  return (*a).total;
}

@compute @workgroup_size(8)
fn stats_train_serial(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= params.c) { return; }
  let hwu = params.hw;
  let shift = x[c * hwu];
  var acc: Serial;
  for (var b = 0u; b < params.n; b++) {
    let base = (b * params.c + c) * hwu;
    for (var s0 = 0u; s0 < hwu; s0 += SERIAL_BLOCK) {
      var blk = vec3<f32>(0.0);
      for (var s = s0; s < min(s0 + SERIAL_BLOCK, hwu); s++) { welford1(&blk, x[base + s] - shift); }
      add_block(&acc, blk, true);
    }
  }
  let w = finish(&acc, true);
  write_stats(c, plain_mean(c, shift, w.y), w.z);
}

@compute @workgroup_size(8)
fn stats_train_serial_v4(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= params.c) { return; }
  let hwu = params.hw / 4u;
  let shift = x4[c * hwu].x;
  var acc: Serial;
  for (var b = 0u; b < params.n; b++) {
    let base = (b * params.c + c) * hwu;
    for (var s0 = 0u; s0 < hwu; s0 += SERIAL_BLOCK) {
      var blk = vec3<f32>(0.0);
      for (var s = s0; s < min(s0 + SERIAL_BLOCK, hwu); s++) { welford4(&blk, x4[base + s] - vec4<f32>(shift)); }
      add_block(&acc, blk, true);
    }
  }
  let w = finish(&acc, true);
  write_stats(c, plain_mean4(c, shift, w.y), w.z);
}

@compute @workgroup_size(8)
fn backward_reduce_serial(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= params.c) { return; }
  let hwu = params.hw;
  let k = coef(c);
  var acc: Serial;
  for (var b = 0u; b < params.n; b++) {
    let base = (b * params.c + c) * hwu;
    for (var s0 = 0u; s0 < hwu; s0 += SERIAL_BLOCK) {
      var blk = vec3<f32>(0.0);
      for (var s = s0; s < min(s0 + SERIAL_BLOCK, hwu); s++) {
        let xh = xhat(x[base + s], k);
        let g = upstream(dy[base + s], xh, k);
        blk += vec3<f32>(g, g * xh, 0.0);
      }
      add_block(&acc, blk, false);
    }
  }
  let sums = finish(&acc, false);
  dbias_out[c] = sums.x;
  dweight_out[c] = sums.y;
}

@compute @workgroup_size(8)
fn backward_reduce_serial_v4(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= params.c) { return; }
  let hwu = params.hw / 4u;
  let k = coef(c);
  var acc: Serial;
  for (var b = 0u; b < params.n; b++) {
    let base = (b * params.c + c) * hwu;
    for (var s0 = 0u; s0 < hwu; s0 += SERIAL_BLOCK) {
      var pg = vec4<f32>(0.0);
      var pgx = vec4<f32>(0.0);
      for (var s = s0; s < min(s0 + SERIAL_BLOCK, hwu); s++) {
        let v = x4[base + s];
        let gy = dy4[base + s];
        let xh = vec4<f32>(xhat(v.x, k), xhat(v.y, k), xhat(v.z, k), xhat(v.w, k));
        let g = vec4<f32>(upstream(gy.x, xh.x, k), upstream(gy.y, xh.y, k), upstream(gy.z, xh.z, k), upstream(gy.w, xh.w, k));
        pg += g;
        pgx += g * xh;
      }
      add_block(&acc, vec3<f32>((pg.x + pg.y) + (pg.z + pg.w), (pgx.x + pgx.y) + (pgx.z + pgx.w), 0.0), false);
    }
  }
  let sums = finish(&acc, false);
  dbias_out[c] = sums.x;
  dweight_out[c] = sums.y;
}

// ------------------------------------------------------------------ batchNormAddRelu's backward sums, mask fused

// backward_reduce*'s sums with the ReLU mask of batchNormAddRelu fused in (relu_mask's work): g = mask1(dy, y),
// y (the block's output) bound at `res`; g is also written to `grad_out` (the residual's gradient, and
// backward_apply's upstream). The sums and g are those of relu_mask followed by backward_reduce, bit for bit.
// Only the statistics are read (no affine part), so an entry binds 7 storage buffers.

fn stat_coef(c: u32) -> vec4<f32> {
  return vec4<f32>(stats[c], stats[params.c + c], 1.0, 0.0);
}

@compute @workgroup_size(WG)
fn backward_reduce_mask(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wid.x;
  let hwu = params.hw;
  let count = params.n * hwu;
  let k = stat_coef(c);
  var sg = 0.0;
  var sgx = 0.0;
  var pos = chan_start(lid.x, hwu);
  for (var j = lid.x; j < count; j += WG) {
    let i = chan_offset(c, pos, hwu);
    let xh = xhat(x[i], k);
    let g = mask1(dy[i], res[i]);
    grad_out[i] = g;
    sg += g;
    sgx += g * xh;
    pos = chan_next(pos, hwu);
  }
  sum2_tree(lid.x, sg, sgx);
  if (lid.x == 0u) {
    dbias_out[c] = wg_a[0];
    dweight_out[c] = wg_b[0];
  }
}

fn mask4(gy: vec4<f32>, y: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(mask1(gy.x, y.x), mask1(gy.y, y.y), mask1(gy.z, y.z), mask1(gy.w, y.w));
}

@compute @workgroup_size(WG)
fn backward_reduce_mask_v4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wid.x;
  let hwu = params.hw / 4u;
  let count = params.n * hwu;
  let k = stat_coef(c);
  var sg = vec4<f32>(0.0);
  var sgx = vec4<f32>(0.0);
  var pos = chan_start(lid.x, hwu);
  for (var j = lid.x; j < count; j += WG) {
    let i = chan_offset(c, pos, hwu);
    let v = x4[i];
    let xh = vec4<f32>(xhat(v.x, k), xhat(v.y, k), xhat(v.z, k), xhat(v.w, k));
    let g = mask4(dy4[i], res4[i]);
    grad_out4[i] = g;
    sg += g;
    sgx += g * xh;
    pos = chan_next(pos, hwu);
  }
  sum2_tree(lid.x, (sg.x + sg.y) + (sg.z + sg.w), (sgx.x + sgx.y) + (sgx.z + sgx.w));
  if (lid.x == 0u) {
    dbias_out[c] = wg_a[0];
    dweight_out[c] = wg_b[0];
  }
}

@compute @workgroup_size(8)
fn backward_reduce_mask_serial(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= params.c) { return; }
  let hwu = params.hw;
  let k = stat_coef(c);
  var acc: Serial;
  for (var b = 0u; b < params.n; b++) {
    let base = (b * params.c + c) * hwu;
    for (var s0 = 0u; s0 < hwu; s0 += SERIAL_BLOCK) {
      var blk = vec3<f32>(0.0);
      for (var s = s0; s < min(s0 + SERIAL_BLOCK, hwu); s++) {
        let xh = xhat(x[base + s], k);
        let g = mask1(dy[base + s], res[base + s]);
        grad_out[base + s] = g;
        blk += vec3<f32>(g, g * xh, 0.0);
      }
      add_block(&acc, blk, false);
    }
  }
  let sums = finish(&acc, false);
  dbias_out[c] = sums.x;
  dweight_out[c] = sums.y;
}

@compute @workgroup_size(8)
fn backward_reduce_mask_serial_v4(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= params.c) { return; }
  let hwu = params.hw / 4u;
  let k = stat_coef(c);
  var acc: Serial;
  for (var b = 0u; b < params.n; b++) {
    let base = (b * params.c + c) * hwu;
    for (var s0 = 0u; s0 < hwu; s0 += SERIAL_BLOCK) {
      var pg = vec4<f32>(0.0);
      var pgx = vec4<f32>(0.0);
      for (var s = s0; s < min(s0 + SERIAL_BLOCK, hwu); s++) {
        let v = x4[base + s];
        let xh = vec4<f32>(xhat(v.x, k), xhat(v.y, k), xhat(v.z, k), xhat(v.w, k));
        let g = mask4(dy4[base + s], res4[base + s]);
        grad_out4[base + s] = g;
        pg += g;
        pgx += g * xh;
      }
      add_block(&acc, vec3<f32>((pg.x + pg.y) + (pg.z + pg.w), (pgx.x + pgx.y) + (pgx.z + pgx.w), 0.0), false);
    }
  }
  let sums = finish(&acc, false);
  dbias_out[c] = sums.x;
  dweight_out[c] = sums.y;
}
