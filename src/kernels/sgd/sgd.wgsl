// In-place SGD update of one parameter tensor, with exactly torch.optim.SGD's semantics:
//   g = grad + weight_decay·p
//   momentum ≠ 0:  buf = g on the first step, else buf = momentum·buf + (1 − dampening)·g
//                  g = nesterov ? g + momentum·buf : buf
//   p = p − lr·g
// One thread per element; the 1D grid is folded into x/y (index = (wid.y * num_workgroups.x + wid.x) * WG + lid.x).
// Every hyperparameter is in the uniform, so changing the learning rate never recompiles.
// Bindings: sgd_plain uses (1 param, 2 grad); sgd_momentum uses (1 param, 2 grad, 3 momentum buffer).

struct Params {
  n: u32,
  lr: f32,
  momentum: f32,
  dampening: f32,
  weight_decay: f32,
  nesterov: u32,   // 0 or 1
  first: u32,      // 1 on the first step: the momentum buffer is initialised to g (its old contents are ignored)
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> buf: array<f32>;
// vec4 twins (entries *_v4, used when n is a multiple of 4; params.n then counts vec4s): a grid-stride loop.
@group(0) @binding(4) var<storage, read_write> param4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> grad4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> buf4: array<vec4<f32>>;

// index(wid, lid, nwg): kernels/prelude/grid.wgsl, joined on by the launcher (withPrelude).

// g = grad + weight_decay·p (PyTorch skips the add when weight_decay is 0; so do we, so that p = ±inf stays out of g).
fn decayed_grad(i: u32, p: f32) -> f32 {
  var g = grad[i];
  if (params.weight_decay != 0.0) { g += params.weight_decay * p; }
  return g;
}

@compute @workgroup_size(WG)
fn sgd_plain(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  let p = param[i];
  param[i] = p - params.lr * decayed_grad(i, p);
}

@compute @workgroup_size(WG)
fn sgd_momentum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  let p = param[i];
  var g = decayed_grad(i, p);
  var b = g;
  if (params.first == 0u) { b = params.momentum * buf[i] + (1.0 - params.dampening) * g; }
  buf[i] = b;
  if (params.nesterov != 0u) { g = g + params.momentum * b; } else { g = b; }
  param[i] = p - params.lr * g;
}

fn decayed_grad4(i: u32, p: vec4<f32>) -> vec4<f32> {
  var g = grad4[i];
  if (params.weight_decay != 0.0) { g += params.weight_decay * p; }
  return g;
}

@compute @workgroup_size(WG)
fn sgd_plain_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < params.n; i += nwg.x * WG) {
    let p = param4[i];
    param4[i] = p - params.lr * decayed_grad4(i, p);
  }
}

@compute @workgroup_size(WG)
fn sgd_momentum_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < params.n; i += nwg.x * WG) {
    let p = param4[i];
    var g = decayed_grad4(i, p);
    var b = g;
    if (params.first == 0u) { b = params.momentum * buf4[i] + (1.0 - params.dampening) * g; }
    buf4[i] = b;
    if (params.nesterov != 0u) { g = g + params.momentum * b; } else { g = b; }
    param4[i] = p - params.lr * g;
  }
}
