// Conversions between float32 and float16 storage (needs the adapter's shader-f16), over flat arrays.
// One thread per element; the 1D grid is folded into x/y (index(): kernels/prelude/grid.wgsl).
//
// Every narrowing goes through narrow_h (kernels/prelude/f16.wgsl): IEEE's ±inf from |v| >= 65520, NaN kept.

enable f16;

struct Params {
  n: u32,       // elements
  scale: f32,   // to_f16_scaled: multiplies before narrowing
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> x16: array<f16>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> out16: array<f16>;

// narrow_h(v): kernels/prelude/f16.wgsl, joined on by the launcher (withPrelude).

// out16 = f16(x)
@compute @workgroup_size(WG)
fn to_f16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  out16[i] = narrow_h(x[i]);
}

// out = f32(x16)
@compute @workgroup_size(WG)
fn to_f32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  out[i] = f32(x16[i]);
}

// out = f32(f16(x)): float32 values rounded to the nearest float16 (autocast's weights, kept in f32 buffers)
@compute @workgroup_size(WG)
fn round_f16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  out[i] = f32(narrow_h(x[i]));
}

// out16 = f16(f32(out16) + f32(x16)), in place (gradient accumulation of f16 tensors, summed in f32)
@compute @workgroup_size(WG)
fn add_f16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  out16[i] = narrow_h(f32(out16[i]) + f32(x16[i]));
}
