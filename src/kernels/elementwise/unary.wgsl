// Unary and in-place kernels over flat float32 arrays (scalar and vec4 entries as in elementwise.wgsl).

struct Params {
  n: u32,       // elements (scalar entries) or vec4s (vec4 entries)
  scalar: f32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> out4: array<vec4<f32>>;

// index(wid, lid, nwg): kernels/prelude/grid.wgsl, joined on by the launcher (withPrelude).

// out = scalar * x
@compute @workgroup_size(WG)
fn scale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  out[i] = params.scalar * x[i];
}

@compute @workgroup_size(WG)
fn scale_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < params.n; i += nwg.x * WG) { out4[i] = params.scalar * x4[i]; }
}

// out += x   (gradient accumulation, in place)
@compute @workgroup_size(WG)
fn accumulate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  out[i] = out[i] + x[i];
}

@compute @workgroup_size(WG)
fn accumulate_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < params.n; i += nwg.x * WG) { out4[i] = out4[i] + x4[i]; }
}
