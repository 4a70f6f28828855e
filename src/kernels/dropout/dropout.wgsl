// Dropout over flat float32 arrays: out = x · mask · scale, with scale = 1/(1−p) (0 when p = 1).
// One thread per element; the 1D grid is folded into x/y (index = (wid.y * num_workgroups.x + wid.x) * WG + lid.x).
//
// dropout_seeded draws the mask on the GPU: element i is kept when rand01(seed, i, DROPOUT_STREAM) >= p,
// so the mask depends only on (seed, index), whatever the grid. The same entry with the same seed applied to
// the upstream gradient is the backward (the mask is regenerated, not stored).
// dropout_masked applies an explicit 0/1 mask (for instance the one PyTorch drew, in parity tests).
// Bindings: seeded uses (1: x, 2: out); masked uses (1: x, 2: out, 3: mask).

struct Params {
  n: u32,
  seed: u32,
  p: f32,       // drop probability
  scale: f32,   // 1/(1−p), or 0 when p = 1
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;

// index(wid, lid, nwg): kernels/prelude/grid.wgsl, joined on by the launcher (withPrelude).

// pcg, rand01: the project's counter-based generator, kernels/prelude/rng.wgsl (joined on by the launcher).

// ../elementwise/fill.wgsl uses streams 0 (uniform) and 1, 2 (normal); dropout draws from its own stream.
const DROPOUT_STREAM: u32 = 3u;

@compute @workgroup_size(WG)
fn dropout_seeded(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  let keep = rand01(params.seed, i, DROPOUT_STREAM) >= params.p;
  // A multiply (not a select of 0) so that a NaN input stays NaN even where it is dropped, as in PyTorch.
  out[i] = x[i] * select(0.0, params.scale, keep);
}

@compute @workgroup_size(WG)
fn dropout_masked(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  out[i] = x[i] * (mask[i] * params.scale);
}
