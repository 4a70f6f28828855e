// axpy over flat float32 arrays (add, sub, mul, …: the declared binary ops of binary_ops.ts, generated).
// Scalar entries: one thread per element, the 1D grid folded into x/y
//   (index = (wid.y * num_workgroups.x + wid.x) * WG + lid.x) so that large tensors fit the 65535 limit.
// vec4 entries (*_v4, used when n is a multiple of 4): a grid-stride loop over vec4s, so the launcher picks
//   the number of workgroups for the adapter (a few per core on a CPU driver, many on a GPU).

struct Params {
  n: u32,       // elements (scalar entries) or vec4s (vec4 entries)
  scalar: f32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> out4: array<vec4<f32>>;

// index(wid, lid, nwg): kernels/prelude/grid.wgsl, joined on by the launcher (withPrelude).

// out = a + scalar * b
@compute @workgroup_size(WG)
fn axpy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  out[i] = a[i] + params.scalar * b[i];
}

@compute @workgroup_size(WG)
fn axpy_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < params.n; i += nwg.x * WG) { out4[i] = a4[i] + params.scalar * b4[i]; }
}
