// Elementwise losses and the negative log-likelihood, per element, with their gradients (PyTorch's definitions).
// The reductions to a scalar ('mean', 'sum') run after these in kernels/reduce (sumAxis), on the GPU.
//   mse:  l = (a − b)²;  da = 2(a − b)·g,  db = −da
//   bce:  binary cross-entropy with logits x, targets t, weight w, pos_weight p, lw = 1 + (p − 1)·t:
//         l = w·((1 − t)·x + lw·sp(−x)),  sp(z) = log(1 + exp(z)) = log1p(exp(−|z|)) + max(z, 0),
//         written without cancellation: l = w·((x ≥ 0 ? (1 − t)·x : −p·t·x) + lw·log1p(exp(−|x|)));
//         dx = w·g·((1 − t) − lw·σ(−x)) = w·g·(lw·σ(x) − p·t)  (the form without cancellation for the sign of x),
//         dt = w·g·((p − 1)·sp(−x) − x)
//   nll:  log-probabilities logp [N, C, S] (S = d1·d2·…, 1 for [N, C]) and targets [N, S]:
//         l = −w[t]·logp[n, t, s]; a target equal to ignore_index gives l = 0 and weight 0; any other target
//         outside [0, C) gives NaN (the launcher cannot check GPU targets without a CPU sync).
//         'mean' divides Σ l by Σ w[t] (nll_mean), as PyTorch; dlogp[n, c, s] = −w[t]·g (/Σ w) where c = t.
// g is the upstream gradient: upstream[i·gstride] · gscale (one scalar, or one value per element).
// Bindings: mse/bce use (1 a, 2 b, 4 weight, 5 pos_weight, 6 upstream, 8 out; bce_backward_target not 2);
// nll_forward (1 a = logp, 3 targets, 4 weight, 8 out); nll_mean (7 sums, 8 out); nll_backward (3, 4, 6, 7, 8).
// An absent weight, pos_weight or sums is bound to another read-only input and not read.

struct Params {
  count: u32,          // elements of the loss (mse, bce), of the target (nll_forward: N·S) or of dlogp (nll_backward)
  classes: u32,        // nll: C
  inner: u32,          // nll: S
  wsize: u32,          // weight elements, 0 = none (bce: weight[i % wsize], a trailing part of x's shape; nll: C)
  psize: u32,          // bce: pos_weight elements (pos_weight[i % psize]), 0 = none
  ignore_index: i32,   // nll
  mode: u32,           // nll_forward: 1 also writes the weights, out[count + m]; nll_backward: 1 divides by sums[1] (mean)
  gstride: u32,        // 0: the upstream gradient is one scalar; 1: one value per loss element
  gscale: f32,         // multiplies the gradient (1/count for a mean; its sign picks the input, for mse)
  nan_bits: u32,       // 0x7fc00000: a NaN, from the uniform so that no compiler folds it away
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<i32>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read> pos_weight: array<f32>;
@group(0) @binding(6) var<storage, read> upstream: array<f32>;
@group(0) @binding(7) var<storage, read> sums: array<f32>;      // nll 'mean': [Σ l, Σ w]
@group(0) @binding(8) var<storage, read_write> out: array<f32>;

// index(wid, lid, nwg): kernels/prelude/grid.wgsl, joined on by the launcher (withPrelude).

fn grad_at(m: u32) -> f32 {
  return upstream[m * params.gstride] * params.gscale;
}

fn nan() -> f32 {
  return bitcast<f32>(params.nan_bits);
}

// log(1 + u) for u in [0, 1], accurate for tiny u (WGSL has no log1p).
fn log1p_small(u: f32) -> f32 {
  let w = 1.0 + u;
  if (w == 1.0) { return u; }
  return log(w) * (u / (w - 1.0));
}

// σ(z) without overflow.
fn sigmoid(z: f32) -> f32 {
  let e = exp(-abs(z));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), z >= 0.0);
}

fn bce_weight(i: u32) -> f32 {
  if (params.wsize != 0u) { return weight[i % params.wsize]; }
  return 1.0;
}

fn bce_pos_weight(i: u32) -> f32 {
  if (params.psize != 0u) { return pos_weight[i % params.psize]; }
  return 1.0;
}

@compute @workgroup_size(WG)
fn mse_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.count) { return; }
  let d = a[i] - b[i];
  out[i] = d * d;
}

@compute @workgroup_size(WG)
fn mse_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.count) { return; }
  out[i] = 2.0 * (a[i] - b[i]) * grad_at(i);
}

// One element of the binary cross-entropy: the logit, the target, pos_weight, lw = 1 + (p − 1)·t and the weight.
struct Bce {
  x: f32,
  t: f32,
  p: f32,
  lw: f32,
  w: f32,
}

fn bce_at(i: u32) -> Bce {
  let t = b[i];
  let p = bce_pos_weight(i);
  return Bce(a[i], t, p, 1.0 + (p - 1.0) * t, bce_weight(i));
}

@compute @workgroup_size(WG)
fn bce_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.count) { return; }
  let e = bce_at(i);
  let lin = select(-e.p * e.t * e.x, (1.0 - e.t) * e.x, e.x >= 0.0);
  out[i] = e.w * (lin + e.lw * log1p_small(exp(-abs(e.x))));
}

@compute @workgroup_size(WG)
fn bce_backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.count) { return; }
  let e = bce_at(i);
  let d = select(e.lw * sigmoid(e.x) - e.p * e.t, (1.0 - e.t) - e.lw * sigmoid(-e.x), e.x >= 0.0);
  out[i] = e.w * d * grad_at(i);
}

@compute @workgroup_size(WG)
fn bce_backward_target(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.count) { return; }
  let x = a[i];
  let sp = log1p_small(exp(-abs(x))) + max(-x, 0.0);
  out[i] = bce_weight(i) * ((bce_pos_weight(i) - 1.0) * sp - x) * grad_at(i);
}

// The class weight of target t, 0 for ignore_index, NaN for a target out of range.
fn nll_weight(t: i32) -> f32 {
  if (t == params.ignore_index) { return 0.0; }
  if (t < 0 || t >= i32(params.classes)) { return nan(); }
  if (params.wsize != 0u) { return weight[u32(t)]; }
  return 1.0;
}

@compute @workgroup_size(WG)
fn nll_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let m = index(wid, lid, nwg);
  if (m >= params.count) { return; }
  let t = targets[m];
  let w = nll_weight(t);
  var l = w;   // 0 (ignored) or NaN (out of range)
  if (t != params.ignore_index && t >= 0 && t < i32(params.classes)) {
    let n = m / params.inner;
    let s = m % params.inner;
    l = -w * a[(n * params.classes + u32(t)) * params.inner + s];
  }
  out[m] = l;
  if (params.mode != 0u) { out[params.count + m] = w; }
}

@compute @workgroup_size(1)
fn nll_mean() {
  out[0] = select(sums[0] / sums[1], nan(), sums[1] == 0.0);
}

@compute @workgroup_size(WG)
fn nll_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = index(wid, lid, nwg);
  if (j >= params.count) { return; }
  let s = j % params.inner;
  let c = (j / params.inner) % params.classes;
  let n = j / (params.inner * params.classes);
  let m = n * params.inner + s;
  let t = targets[m];
  var d = 0.0;
  if (t == params.ignore_index) {
    d = 0.0;
  } else if (t < 0 || t >= i32(params.classes)) {
    d = nan();   // every class of a target out of range
  } else if (t == i32(c)) {
    d = -nll_weight(t) * grad_at(m);
    if (params.mode != 0u) { d = d / sums[1]; }
  }
  out[j] = d;
}
