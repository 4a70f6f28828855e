// out[i] = value, and seeded random fills. The generator is counter based (a hash of seed and element
// index, PCG-style rounds), so a value depends only on (seed, index): reproducible whatever the grid.

struct Params {
  n: u32,
  seed: u32,
  a: f32,   // fill: value; uniform: low;  normal: mean
  b: f32,   // uniform: high; normal: std
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

// index(wid, lid, nwg): kernels/prelude/grid.wgsl, joined on by the launcher (withPrelude).

// pcg, rand01: the project's counter-based generator, kernels/prelude/rng.wgsl (joined on by the launcher).

@compute @workgroup_size(WG)
fn fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  out[i] = params.a;
}

@compute @workgroup_size(WG)
fn rand_uniform(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  out[i] = params.a + (params.b - params.a) * rand01(params.seed, i, 0u);
}

// Box-Muller on two independent uniforms per element.
@compute @workgroup_size(WG)
fn rand_normal(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  let u1 = rand01(params.seed, i, 1u);
  let u2 = rand01(params.seed, i, 2u);
  let z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
  out[i] = params.a + params.b * z;
}
