// Copies between a contiguous array and a strided view of another buffer (the shape ops: permute, transpose,
// narrow, slice, cat). The view has up to 8 dims, right-aligned in the slots (unused leading slots: size 1,
// stride 0); element i of the view (row-major over its sizes) is at offset + Σ_d c_d · stride_d.
// The arrays are u32: a copy moves the 4-byte words as they are, so f32 and i32 tensors both go through.

struct Params {
  n: u32,        // elements of the view
  offset: u32,   // the view's first element in the strided buffer
  size0: u32,
  size1: u32,
  size2: u32,
  size3: u32,
  size4: u32,
  size5: u32,
  size6: u32,
  size7: u32,
  stride0: u32,
  stride1: u32,
  stride2: u32,
  stride3: u32,
  stride4: u32,
  stride5: u32,
  stride6: u32,
  stride7: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

// index(wid, lid, nwg): kernels/prelude/grid.wgsl, joined on by the launcher (withPrelude).

// The strided buffer's offset of the view's element i.
fn view_offset(i: u32) -> u32 {
  var sizes = array<u32, 8>(params.size0, params.size1, params.size2, params.size3, params.size4, params.size5, params.size6, params.size7);
  var strides = array<u32, 8>(params.stride0, params.stride1, params.stride2, params.stride3, params.stride4, params.stride5, params.stride6, params.stride7);
  var rest = i;
  var at = params.offset;
  for (var d = 7; d >= 0; d--) {
    at += (rest % sizes[d]) * strides[d];
    rest = rest / sizes[d];
  }
  return at;
}

// dst[i] = src[view(i)]: read the view into a contiguous array (the forward of permute, narrow, slice; cat's backward).
@compute @workgroup_size(WG)
fn strided_gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  dst[i] = src[view_offset(i)];
}

// dst[view(i)] = src[i]: write a contiguous array into the view (cat's forward; the backward of narrow and slice,
// into a zero-filled gradient). The view's offsets are distinct, so no two threads write the same element.
@compute @workgroup_size(WG)
fn strided_scatter(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(wid, lid, nwg);
  if (i >= params.n) { return; }
  dst[view_offset(i)] = src[i];
}
