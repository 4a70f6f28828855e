// A batch norm in eval mode folded into the convolution before it (inference):
//   γ·(conv + b − μ)/√(σ² + ε) + β = scale·conv + shift,   scale = γ/√(σ² + ε),   shift = β + (b − μ)·scale,
// per channel c, with the invstd computed as batchnorm.wgsl's stats_eval computes it. γ, β and the
// convolution's bias b are optional (flags bits 0, 1, 2; 1, 0 and 0 when absent).

struct Params {
  C: u32,
  flags: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read> variance: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read> convBias: array<f32>;
@group(0) @binding(6) var<storage, read_write> scale: array<f32>;
@group(0) @binding(7) var<storage, read_write> shift: array<f32>;

@compute @workgroup_size(64)
fn fold(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= p.C) { return; }
  var s = 1.0 / sqrt(variance[c] + p.eps);
  if ((p.flags & 1u) != 0u) { s *= gamma[c]; }
  var t = -mean[c];
  if ((p.flags & 4u) != 0u) { t += convBias[c]; }
  t *= s;
  if ((p.flags & 2u) != 0u) { t += beta[c]; }
  scale[c] = s;
  shift[c] = t;
}
