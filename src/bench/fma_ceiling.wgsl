// The bench's arithmetic ceiling: each thread runs ITERS steps of 16 independent vec4 multiply-add chains, four
// multiply-adds per chain per step (256 fma), on values in registers, with no memory traffic but one store per
// thread at the end (so nothing is optimised away). Its FLOP rate is what a kernel bound by arithmetic alone
// can reach. On llvmpipe each loop iteration has a fixed cost of roughly 150 multiply-adds: one multiply-add
// per chain per step measured 31 GFLOP/s, four 68, on the same machine. Workgroups of 8: on llvmpipe (8-lane SIMD) larger ones measured slower (64: 0.7×).

override ITERS: u32 = 1024u;

@group(0) @binding(1) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size(8)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let f = f32(gid.x);
  var a0 = vec4f(f); var a1 = vec4f(f + 1.0); var a2 = vec4f(f + 2.0); var a3 = vec4f(f + 3.0);
  var a4 = vec4f(f + 4.0); var a5 = vec4f(f + 5.0); var a6 = vec4f(f + 6.0); var a7 = vec4f(f + 7.0);
  var a8 = vec4f(f + 8.0); var a9 = vec4f(f + 9.0); var a10 = vec4f(f + 10.0); var a11 = vec4f(f + 11.0);
  var a12 = vec4f(f + 12.0); var a13 = vec4f(f + 13.0); var a14 = vec4f(f + 14.0); var a15 = vec4f(f + 15.0);
  let s = vec4f(0.999);
  let t = vec4f(0.001);
  for (var k = 0u; k < ITERS; k++) {
    a0 = fma(a0, s, t); a1 = fma(a1, s, t); a2 = fma(a2, s, t); a3 = fma(a3, s, t); a4 = fma(a4, s, t); a5 = fma(a5, s, t); a6 = fma(a6, s, t); a7 = fma(a7, s, t); a8 = fma(a8, s, t); a9 = fma(a9, s, t); a10 = fma(a10, s, t); a11 = fma(a11, s, t); a12 = fma(a12, s, t); a13 = fma(a13, s, t); a14 = fma(a14, s, t); a15 = fma(a15, s, t);
    a0 = fma(a0, s, t); a1 = fma(a1, s, t); a2 = fma(a2, s, t); a3 = fma(a3, s, t); a4 = fma(a4, s, t); a5 = fma(a5, s, t); a6 = fma(a6, s, t); a7 = fma(a7, s, t); a8 = fma(a8, s, t); a9 = fma(a9, s, t); a10 = fma(a10, s, t); a11 = fma(a11, s, t); a12 = fma(a12, s, t); a13 = fma(a13, s, t); a14 = fma(a14, s, t); a15 = fma(a15, s, t);
    a0 = fma(a0, s, t); a1 = fma(a1, s, t); a2 = fma(a2, s, t); a3 = fma(a3, s, t); a4 = fma(a4, s, t); a5 = fma(a5, s, t); a6 = fma(a6, s, t); a7 = fma(a7, s, t); a8 = fma(a8, s, t); a9 = fma(a9, s, t); a10 = fma(a10, s, t); a11 = fma(a11, s, t); a12 = fma(a12, s, t); a13 = fma(a13, s, t); a14 = fma(a14, s, t); a15 = fma(a15, s, t);
    a0 = fma(a0, s, t); a1 = fma(a1, s, t); a2 = fma(a2, s, t); a3 = fma(a3, s, t); a4 = fma(a4, s, t); a5 = fma(a5, s, t); a6 = fma(a6, s, t); a7 = fma(a7, s, t); a8 = fma(a8, s, t); a9 = fma(a9, s, t); a10 = fma(a10, s, t); a11 = fma(a11, s, t); a12 = fma(a12, s, t); a13 = fma(a13, s, t); a14 = fma(a14, s, t); a15 = fma(a15, s, t);
  }
  out[gid.x] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15;
}
