// ReLU and its backward over flat float32 arrays. One thread per element; the 1D grid is folded into x/y
// (index = (wid.y * num_workgroups.x + wid.x) * WG + lid.x) so that large tensors fit the 65535 limit.
// Bindings: forward uses (1: x, 3: y); backward uses (1: y, 2: dy, 3: dx).

struct Params {
  n: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;    // forward: x; backward: y, the forward's output
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
// vec4 twins (entries *_v4, used when n is a multiple of 4; params.n then counts vec4s): a grid-stride loop.
@group(0) @binding(4) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> out4: array<vec4<f32>>;

// index(wid, lid, nwg): kernels/prelude/grid.wgsl, joined on by the launcher (withPrelude).

// y = max(x, 0) as PyTorch computes it: a NaN input stays NaN (WGSL's max() may return 0 for it, so it is not
// used), so the trainer's NaN check still sees it; −0 stays −0.
@compute @workgroup_size(WG)
fn relu_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  let x = a[i];
  out[i] = select(x, 0.0, x < 0.0);
}

// dx = dy, or 0 where y ≤ 0 (PyTorch's threshold_backward): the gradient at x = 0 is 0, and at a NaN input
// (y = NaN) the upstream gradient passes through, as in PyTorch.
@compute @workgroup_size(WG)
fn relu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  out[i] = select(dy[i], 0.0, a[i] <= 0.0);
}

@compute @workgroup_size(WG)
fn relu_forward_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < params.n; i += nwg.x * WG) {
    let x = a4[i];
    out4[i] = select(x, vec4<f32>(0.0), x < vec4<f32>(0.0));
  }
}

@compute @workgroup_size(WG)
fn relu_backward_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < params.n; i += nwg.x * WG) {
    out4[i] = select(dy4[i], vec4<f32>(0.0), a4[i] <= vec4<f32>(0.0));
  }
}
