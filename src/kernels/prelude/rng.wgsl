// Shared WGSL (kernels/prelude/index.ts joins it onto the shaders that use it, after their own code).
// The project's counter-based generator (elementwise/fill.wgsl and dropout/dropout.wgsl); its CPU port is
// src/reference/dropout.ts (rand01Ref), which test/dropout.test.ts checks bit for bit.
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// A uniform float in (0, 1): 24 random bits, offset by half a step so 0 never occurs.
fn rand01(seed: u32, i: u32, stream: u32) -> f32 {
  let h = pcg(pcg(seed ^ (stream * 0x9E3779B9u)) ^ pcg(i));
  return (f32(h >> 8u) + 0.5) / 16777216.0;
}
