// ---- float16 storage (kernels/prelude/f16.wgsl): f32 → f16 with IEEE's overflow to ±inf and NaN kept.
// WGSL leaves the conversion of an out-of-range f32 to f16 undefined, so narrow_h chooses IEEE's result itself:
// |v| >= 65520 (the first value round-to-nearest takes past 65504) becomes ±inf, NaN stays NaN (its sign kept).
// Inside the range, f16(v) is one of v's two f16 neighbours (round-to-nearest-even on the drivers tested).
// The shader that joins this part declares `enable f16;`.

// The f16 with bits b (a function, so that NaN and inf never become constant expressions, which WGSL refuses).
fn f16_of_bits_h(b: u32) -> f16 {
  return bitcast<vec2<f16>>(b).x;
}

fn narrow_h(v: f32) -> f16 {
  let bits = bitcast<u32>(v);
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0u) { return f16_of_bits_h(0x7e00u | ((bits >> 16u) & 0x8000u)); }
  if (abs(v) >= 65520.0) { return f16_of_bits_h(select(0x7c00u, 0xfc00u, v < 0.0)); }
  return f16(v);
}

fn narrow_h4(v: vec4<f32>) -> vec4<f16> {
  return vec4<f16>(narrow_h(v.x), narrow_h(v.y), narrow_h(v.z), narrow_h(v.w));
}
