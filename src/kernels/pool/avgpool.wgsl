// Adaptive average pooling over NCHW float32 planes (planes = N·C), PyTorch's bins: output row i covers
// input rows floor(i·H/OH) .. ceil((i+1)·H/OH) − 1 (bins may overlap, and repeat when OH > H); columns alike.
// No atomics.

struct Params {
  planes: u32,
  h: u32,
  w: u32,
  oh: u32,
  ow: u32,
}

override WG: u32 = 64u;     // forward: threads per workgroup
override WX: u32 = 8u;      // backward: workgroup shape
override WY: u32 = 8u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;         // x (forward) or dy (backward)
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;   // y (forward) or dx (backward)

// The input range [start, end) of output bin i when n inputs are pooled into m outputs.
fn bin(i: u32, n: u32, m: u32) -> vec2<u32> {
  return vec2<u32>((i * n) / m, ((i + 1u) * n + m - 1u) / m);
}

// y[p, oy, ox] = mean of x over the bin. One thread per output on a 1D grid folded into x/y (a thread's
// few index divisions are paid once per bin, which for the global 1×1 pool is the whole plane).
@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid.x;
  if (i >= params.planes * params.oh * params.ow) { return; }
  let ox = i % params.ow;
  let oy = (i / params.ow) % params.oh;
  let p = i / (params.ow * params.oh);
  let by = bin(oy, params.h, params.oh);
  let bx = bin(ox, params.w, params.ow);
  let base = p * params.h * params.w;
  var acc = 0.0;
  for (var yy = by.x; yy < by.y; yy++) {
    for (var xx = bx.x; xx < bx.y; xx++) {
      acc += src[base + yy * params.w + xx];
    }
  }
  dst[i] = acc / f32((by.y - by.x) * (bx.y - bx.x));
}

// dx[p, y, x] = Σ dy[p, oy, ox] / area(oy, ox) over the bins that hold (y, x): a gather, one thread per
// input pixel on a 3D grid (x = column, y = row, z = plane, looping over planes beyond the grid's z).
// Bin i holds row y exactly when floor(y·OH/H) ≤ i ≤ floor(((y+1)·OH − 1)/H).
@compute @workgroup_size(WX, WY, 1)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let xx = gid.x;
  let yy = gid.y;
  if (xx >= params.w || yy >= params.h) { return; }
  let hw = params.h * params.w;
  if (params.oh == 1u && params.ow == 1u) {
    // The global pool (ResNet's): every pixel gets dy / (H·W).
    let inv_area = 1.0 / f32(hw);
    for (var p = gid.z; p < params.planes; p += nwg.z) {
      dst[p * hw + yy * params.w + xx] = src[p] * inv_area;
    }
    return;
  }
  let oy_lo = (yy * params.oh) / params.h;
  let oy_hi = min(((yy + 1u) * params.oh - 1u) / params.h + 1u, params.oh);
  let ox_lo = (xx * params.ow) / params.w;
  let ox_hi = min(((xx + 1u) * params.ow - 1u) / params.w + 1u, params.ow);
  for (var p = gid.z; p < params.planes; p += nwg.z) {
    var acc = 0.0;
    for (var oy = oy_lo; oy < oy_hi; oy++) {
      let by = bin(oy, params.h, params.oh);
      for (var ox = ox_lo; ox < ox_hi; ox++) {
        let bx = bin(ox, params.w, params.ow);
        acc += src[(p * params.oh + oy) * params.ow + ox] / f32((by.y - by.x) * (bx.y - bx.x));
      }
    }
    dst[p * hw + yy * params.w + xx] = acc;
  }
}
