// Dynamic loss scaling (torch.cuda.amp.GradScaler): unscaling a float32 gradient in place and checking it for
// inf/NaN, without a CPU readback (torch's _amp_foreach_non_finite_check_and_unscale_):
//   unscale:    grad[i] *= inv_scale over n floats; found[0] = 1u when an input or a result is NaN or ±inf;
//   unscale_v4: the same on grad4 (n a multiple of 4; params.n counts vec4s; a grid-stride loop).
// The launcher zeroes found[0] with a GPU clear before a step's gradients are checked; these entries only ever
// store 1u into it, atomically, so any number of invocations may find a non-finite value at once (no data race),
// and a flag set by one gradient stays set through the others.

struct Params {
  n: u32,           // elements (unscale) or vec4s (unscale_v4)
  inv_scale: f32,   // 1 / scale, computed in float64 and rounded to float32 (as torch's inv_scale)
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> found: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> grad4: array<vec4<f32>>;

// NaN or ±inf, by the exponent bits: a compiler may assume that x != x is false and fold such a test away.
fn non_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}

fn non_finite4(x: vec4<f32>) -> bool {
  return any((bitcast<vec4<u32>>(x) & vec4<u32>(0x7f800000u)) == vec4<u32>(0x7f800000u));
}

@compute @workgroup_size(WG)
fn unscale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  let g = grad[i];
  let r = g * params.inv_scale;
  grad[i] = r;
  if (non_finite(g) || non_finite(r)) { atomicStore(&found[0], 1u); }
}

@compute @workgroup_size(WG)
fn unscale_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  var bad = false;
  for (var i = gid.x; i < params.n; i += nwg.x * WG) {
    let g = grad4[i];
    let r = g * params.inv_scale;
    grad4[i] = r;
    bad = bad || non_finite4(g) || non_finite4(r);
  }
  if (bad) { atomicStore(&found[0], 1u); }
}
