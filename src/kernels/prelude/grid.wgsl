// Shared WGSL (kernels/prelude/index.ts joins it onto the shaders that use it, after their own code).
// The flat index of a 1D grid folded into x and y (grid1d in kernels/util.ts): (wid.y * num_workgroups.x + wid.x) * WG + lid.x.
// The shader declares `override WG` (its workgroup size).
fn index(wid: vec3<u32>, lid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid.x;
}
