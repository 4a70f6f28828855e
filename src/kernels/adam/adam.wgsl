// In-place Adam / AdamW update of one parameter tensor, with exactly torch.optim.Adam's and AdamW's semantics:
//   g = grad + weight_decay·p                     (Adam's L2 term; weight_decay is 0 for AdamW)
//   m = beta1·m + (1 − beta1)·g
//   v = beta2·v + (1 − beta2)·g²
//   amsgrad: vmax = max(vmax, v), and vmax replaces v below
//   p = p·param_scale − step_size · m / (sqrt(v) / bc2_sqrt + eps)
// param_scale is AdamW's decoupled decay 1 − lr·weight_decay (1 for Adam); step_size = lr / (1 − beta1^step) and
// bc2_sqrt = sqrt(1 − beta2^step) are computed on the host in float64 from the parameter's step count, as are
// 1 − beta1 and 1 − beta2. eps is outside the square root, as in torch. m, v (and vmax) start at zero.
// Every hyperparameter is in the uniform, so changing the learning rate never recompiles.
// Bindings: adam uses (1 param, 2 grad, 3 exp_avg, 4 exp_avg_sq); adam_amsgrad adds (5 max_exp_avg_sq);
// the *_v4 twins bind 6–10 instead (n a multiple of 4; params.n then counts vec4s; a grid-stride loop).

struct Params {
  n: u32,
  step_size: f32,
  bc2_sqrt: f32,
  beta1: f32,
  beta2: f32,
  one_minus_beta1: f32,
  one_minus_beta2: f32,
  eps: f32,
  weight_decay: f32,
  param_scale: f32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<f32>;
@group(0) @binding(5) var<storage, read_write> max_exp_avg_sq: array<f32>;
@group(0) @binding(6) var<storage, read_write> param4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> grad4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> exp_avg4: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> exp_avg_sq4: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> max_exp_avg_sq4: array<vec4<f32>>;

// index(wid, lid, nwg): kernels/prelude/grid.wgsl, joined on by the launcher (withPrelude).

// The L2 term is skipped when weight_decay is 0 (as torch does), so that p = ±inf stays out of g.
fn decayed(g: f32, p: f32) -> f32 {
  if (params.weight_decay != 0.0) { return g + params.weight_decay * p; }
  return g;
}

fn decayed4(g: vec4<f32>, p: vec4<f32>) -> vec4<f32> {
  if (params.weight_decay != 0.0) { return g + params.weight_decay * p; }
  return g;
}

// torch.maximum: a NaN in either operand gives NaN (WGSL's max may drop it). NaN is told by its bits, since a
// compiler may assume that x != x is false.
fn is_nan4(x: vec4<f32>) -> vec4<bool> {
  return (bitcast<vec4<u32>>(x) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u);
}

fn maximum4(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
  return select(max(a, b), a + b, is_nan4(a) | is_nan4(b));
}

// The new parameter from the first moment and the (max) second moment.
fn updated(p: f32, m: f32, v: f32) -> f32 {
  return p * params.param_scale - params.step_size * (m / (sqrt(v) / params.bc2_sqrt + params.eps));
}

fn updated4(p: vec4<f32>, m: vec4<f32>, v: vec4<f32>) -> vec4<f32> {
  return p * params.param_scale - params.step_size * (m / (sqrt(v) / params.bc2_sqrt + params.eps));
}

@compute @workgroup_size(WG)
fn adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  let p = param[i];
  let g = decayed(grad[i], p);
  let m = params.beta1 * exp_avg[i] + params.one_minus_beta1 * g;
  let v = params.beta2 * exp_avg_sq[i] + params.one_minus_beta2 * g * g;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  param[i] = updated(p, m, v);
}

@compute @workgroup_size(WG)
fn adam_amsgrad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  let p = param[i];
  let g = decayed(grad[i], p);
  let m = params.beta1 * exp_avg[i] + params.one_minus_beta1 * g;
  let v = params.beta2 * exp_avg_sq[i] + params.one_minus_beta2 * g * g;
  let vmax = maximum4(vec4<f32>(max_exp_avg_sq[i]), vec4<f32>(v)).x;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  max_exp_avg_sq[i] = vmax;
  param[i] = updated(p, m, vmax);
}

@compute @workgroup_size(WG)
fn adam_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < params.n; i += nwg.x * WG) {
    let p = param4[i];
    let g = decayed4(grad4[i], p);
    let m = params.beta1 * exp_avg4[i] + params.one_minus_beta1 * g;
    let v = params.beta2 * exp_avg_sq4[i] + params.one_minus_beta2 * g * g;
    exp_avg4[i] = m;
    exp_avg_sq4[i] = v;
    param4[i] = updated4(p, m, v);
  }
}

@compute @workgroup_size(WG)
fn adam_amsgrad_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < params.n; i += nwg.x * WG) {
    let p = param4[i];
    let g = decayed4(grad4[i], p);
    let m = params.beta1 * exp_avg4[i] + params.one_minus_beta1 * g;
    let v = params.beta2 * exp_avg_sq4[i] + params.one_minus_beta2 * g * g;
    let vmax = maximum4(max_exp_avg_sq4[i], v);
    exp_avg4[i] = m;
    exp_avg_sq4[i] = v;
    max_exp_avg_sq4[i] = vmax;
    param4[i] = updated4(p, m, vmax);
  }
}
