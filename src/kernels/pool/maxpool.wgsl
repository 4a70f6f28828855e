// 2D max pooling over NCHW float32 planes (planes = N·C), PyTorch semantics: padded cells never win
// (the window is clipped to the image), ties go to the first maximum in row-major window order, and the
// argmax is the index h·W + w inside the plane (as torch's return_indices gives). A NaN wins its window, as
// in PyTorch (`val > maxval || isnan(val)`: the last NaN in row-major order), so a NaN is never lost.
//
// forward and scatter use a 3D grid, so a thread finds its element without an integer division:
// x = column, y = row, z = plane (a thread loops over planes z, z + nz, ... beyond the grid's z).
// The backward is a race-free scatter without atomics: dx is cleared (by the launcher, with clearBuffer), then
// the outputs are split into ⌈kh/sh⌉·⌈kw/sw⌉ classes by (oy mod my, ox mod mx); within a class the windows are
// disjoint, so no two threads add into the same dx element, and the classes run as consecutive dispatches in
// a fixed order (deterministic sums). This moves ~4× fewer values than a per-pixel gather over candidate windows.

struct Params {
  planes: u32,
  h: u32,
  w: u32,
  oh: u32,
  ow: u32,
  kh: u32,
  kw: u32,
  sh: u32,
  sw: u32,
  ph: u32,
  pw: u32,
  cy: u32,   // scatter: this pass's class of outputs, oy ≡ cy (mod my) and ox ≡ cx (mod mx)
  cx: u32,
  my: u32,   // ⌈kh/sh⌉ and ⌈kw/sw⌉
  mx: u32,
}

override WX: u32 = 8u;
override WY: u32 = 8u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;            // x (forward) or dy (scatter)
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;      // y (forward) or dx (scatter)
@group(0) @binding(3) var<storage, read_write> argmax: array<i32>;   // written by forward, read by scatter

// NaN by its bits: a compiler may assume that `v != v` is false.
fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// y[p, oy, ox] = max over the clipped window, argmax its first position. One thread per output.
@compute @workgroup_size(WX, WY, 1)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let ox = gid.x;
  let oy = gid.y;
  if (ox >= params.ow || oy >= params.oh) { return; }
  let y0 = i32(oy * params.sh) - i32(params.ph);
  let x0 = i32(ox * params.sw) - i32(params.pw);
  let y_lo = u32(max(y0, 0));
  let x_lo = u32(max(x0, 0));
  let y_hi = u32(min(y0 + i32(params.kh), i32(params.h)));
  let x_hi = u32(min(x0 + i32(params.kw), i32(params.w)));
  let first = y_lo * params.w + x_lo;
  for (var p = gid.z; p < params.planes; p += nwg.z) {
    let base = p * params.h * params.w;
    // Start from the window's first cell; a later cell replaces it when strictly greater, or NaN.
    var best_idx = first;
    var best = src[base + first];
    for (var yy = y_lo; yy < y_hi; yy++) {
      for (var xx = x_lo; xx < x_hi; xx++) {
        let j = yy * params.w + xx;
        let v = src[base + j];
        if (v > best || is_nan(v)) {
          best = v;
          best_idx = j;
        }
      }
    }
    let o = (p * params.oh + oy) * params.ow + ox;
    dst[o] = best;
    argmax[o] = i32(best_idx);
  }
}

// dx[p, argmax] += dy[p, oy, ox] for the outputs of class (cy, cx). One thread per output of the class.
@compute @workgroup_size(WX, WY, 1)
fn scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let ox = params.cx + gid.x * params.mx;
  let oy = params.cy + gid.y * params.my;
  if (ox >= params.ow || oy >= params.oh) { return; }
  for (var p = gid.z; p < params.planes; p += nwg.z) {
    let o = (p * params.oh + oy) * params.ow + ox;
    let i = p * params.h * params.w + u32(argmax[o]);
    dst[i] = dst[i] + src[o];
  }
}
