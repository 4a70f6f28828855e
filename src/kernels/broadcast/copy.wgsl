// expand and where over a strided layout (joined after strided.wgsl): one thread per element of the contiguous output.

// cond is true where its bits under params.cmask are not all 0 (nonzero, as torch.where's bool(cond); NaN is true).
fn cond_at(k: u32) -> bool {
  return (cond[k] & params.cmask) != 0u;
}

// out = a broadcast to the output shape (torch.Tensor.expand, copied).
@compute @workgroup_size(WG)
fn expand(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  out[i] = in_a[offsets(i).x];
}

// out = cond ? a : b (a select: a NaN in the branch not taken does not reach out).
@compute @workgroup_size(WG)
fn where_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  let o = offsets(i);
  out[i] = select(in_b[o.y], in_a[o.x], cond_at(o.z));
}

// The gradient of a at every output element: dy where cond, else 0 (sumToShape then reduces it to a's shape).
@compute @workgroup_size(WG)
fn where_da(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  out[i] = select(0.0, in_dy[i], cond_at(offsets(i).z));
}

// The gradient of b: dy where not cond, else 0.
@compute @workgroup_size(WG)
fn where_db(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  out[i] = select(in_dy[i], 0.0, cond_at(offsets(i).z));
}
