// 2D max pooling over NCHW float32 planes (planes = N·C), PyTorch semantics: padded cells never win
// (the window is clipped to the image), ties go to the first maximum in row-major window order, and the
// argmax is the index h·W + w inside the plane (as torch's return_indices gives).
// Both entries use a 3D grid with no integer division to find a thread's element: x = column, y = row,
// z = plane (a thread loops over planes z, z + nz, ... when there are more planes than workgroups in z).
// No atomics.

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
}

override WX: u32 = 8u;
override WY: u32 = 8u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;            // x (forward) or dy (backward)
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;      // y (forward) or dx (backward)
@group(0) @binding(3) var<storage, read_write> argmax: array<i32>;   // written by forward, read by backward

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
    // Start from the window's first cell; a later cell replaces it only when strictly greater.
    var best_idx = first;
    var best = src[base + first];
    for (var yy = y_lo; yy < y_hi; yy++) {
      for (var xx = x_lo; xx < x_hi; xx++) {
        let j = yy * params.w + xx;
        let v = src[base + j];
        if (v > best) {
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

// The outputs [lo, hi) along one axis whose window (o·s − pad .. o·s − pad + k − 1) holds input i.
fn covering(i: u32, k: u32, s: u32, pad: u32, n_out: u32) -> vec2<u32> {
  let t = i32(i + pad) - i32(k) + 1;
  let lo = u32(max((t + i32(s) - 1) / i32(s), 0));
  let hi = min((i + pad) / s + 1u, n_out);
  return vec2<u32>(lo, hi);
}

// dx[p, y, x] = Σ dy[p, oy, ox] over the outputs whose window holds (y, x) and whose argmax is (y, x).
// A gather: one thread per input pixel visits the (at most ⌈kh/sh⌉·⌈kw/sw⌉) candidates in row-major order.
@compute @workgroup_size(WX, WY, 1)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let xx = gid.x;
  let yy = gid.y;
  if (xx >= params.w || yy >= params.h) { return; }
  let me = i32(yy * params.w + xx);
  let ry = covering(yy, params.kh, params.sh, params.ph, params.oh);
  let rx = covering(xx, params.kw, params.sw, params.pw, params.ow);
  for (var p = gid.z; p < params.planes; p += nwg.z) {
    var acc = 0.0;
    for (var oy = ry.x; oy < ry.y; oy++) {
      for (var ox = rx.x; ox < rx.y; ox++) {
        let o = (p * params.oh + oy) * params.ow + ox;
        if (argmax[o] == me) { acc += src[o]; }
      }
    }
    dst[(p * params.h + yy) * params.w + xx] = acc;
  }
}
