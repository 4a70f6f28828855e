// Shared WGSL (kernels/prelude/index.ts joins it onto the shaders that use it, after their own code).
// Tree reductions over one workgroup of WG threads (the shader declares `override WG`, a power of two), for
// kernels that give a workgroup to each row: each thread passes its partial value and gets the row's result.
// Call in uniform control flow (every thread of the workgroup, the same number of times).
var<workgroup> wg_red: array<f32, WG>;

fn wg_reduce(lid: u32, v: f32, take_max: bool) -> f32 {
  wg_red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { wg_red[lid] = select(wg_red[lid] + wg_red[lid + s], max(wg_red[lid], wg_red[lid + s]), take_max); }
    workgroupBarrier();
  }
  let r = wg_red[0];
  workgroupBarrier();   // every thread has read the result before wg_red is written again
  return r;
}

fn wg_sum(lid: u32, v: f32) -> f32 {
  return wg_reduce(lid, v, false);
}

fn wg_max(lid: u32, v: f32) -> f32 {
  return wg_reduce(lid, v, true);
}
