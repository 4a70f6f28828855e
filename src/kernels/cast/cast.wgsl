// Conversions between float32 and float16 storage (needs the adapter's shader-f16), over flat arrays.
// One thread per element; the 1D grid is folded into x/y (index(): kernels/prelude/grid.wgsl).
//
// WGSL leaves the conversion of an out-of-range f32 to f16 undefined, so narrow() chooses IEEE's result
// itself: |v| >= 65520 (the first value round-to-nearest takes past 65504) becomes ±inf, NaN stays NaN.
// Inside the range, f16(v) is one of v's two f16 neighbours (round-to-nearest-even on the drivers tested).

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

// The f16 with bits b (a function, so that NaN and inf never become constant expressions, which WGSL refuses).
fn f16_of_bits(b: u32) -> f16 {
  return bitcast<vec2<f16>>(b).x;
}

fn narrow(v: f32) -> f16 {
  let bits = bitcast<u32>(v);
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0u) { return f16_of_bits(0x7e00u | ((bits >> 16u) & 0x8000u)); }
  if (abs(v) >= 65520.0) { return f16_of_bits(select(0x7c00u, 0xfc00u, v < 0.0)); }
  return f16(v);
}

// out16 = f16(x)
@compute @workgroup_size(WG)
fn to_f16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  out16[i] = narrow(x[i]);
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
  out[i] = f32(narrow(x[i]));
}

// out16 = f16(f32(out16) + f32(x16)), in place (gradient accumulation of f16 tensors, summed in f32)
@compute @workgroup_size(WG)
fn add_f16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  out16[i] = narrow(f32(out16[i]) + f32(x16[i]));
}
