// F(2×2, 3×3) for winograd.wgsl (read its top): 2×2 output tiles, 4×4 input patches, 16 transformed
// positions ξ = 4a + b.
//
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],  Aᵀ = [1 1 1 0; 0 1 −1 −1]
//
// Each 2D transform applies the 1D one to the rows (as vec4 / vec3 / vec2 values), then to the columns.

const M = 2u;

// Bᵀ v for one row or column of 4 values.
fn bt(v: vec4f) -> vec4f {
  return vec4f(v.x - v.z, v.y + v.z, v.z - v.y, v.y - v.w);
}

// G v for 3 values.
fn gm(v: vec3f) -> vec4f {
  return vec4f(v.x, 0.5 * (v.x + v.y + v.z), 0.5 * (v.x - v.y + v.z), v.z);
}

// Aᵀ v for 4 values.
fn atv(v: vec4f) -> vec2f {
  return vec2f(v.x + v.y + v.z, v.y - v.z - v.w);
}

// A v for 2 values (A = (Aᵀ)ᵀ, 4 × 2).
fn am(v: vec2f) -> vec4f {
  return vec4f(v.x, v.x + v.y, v.x - v.y, -v.y);
}

// Gᵀ v for 4 values.
fn gt(v: vec4f) -> vec3f {
  return vec3f(v.x + 0.5 * (v.y + v.z), 0.5 * (v.y - v.z), 0.5 * (v.y + v.z) + v.w);
}

fn patchRow(base: u32, h: i32, w0: i32) -> vec4f {
  return vec4f(pixel(base, h, w0), pixel(base, h, w0 + 1), pixel(base, h, w0 + 2), pixel(base, h, w0 + 3));
}

// Store a 4×4 transformed tile (rows r0..r3, r_i[j] at ξ = 4i + j) at dst[offDst + ξ·stride + at].
fn storeTile(at: u32, stride: u32, r0: vec4f, r1: vec4f, r2: vec4f, r3: vec4f) {
  let o = p.offDst + at;
  dst[o] = r0.x; dst[o + stride] = r0.y; dst[o + 2u * stride] = r0.z; dst[o + 3u * stride] = r0.w;
  dst[o + 4u * stride] = r1.x; dst[o + 5u * stride] = r1.y; dst[o + 6u * stride] = r1.z; dst[o + 7u * stride] = r1.w;
  dst[o + 8u * stride] = r2.x; dst[o + 9u * stride] = r2.y; dst[o + 10u * stride] = r2.z; dst[o + 11u * stride] = r2.w;
  dst[o + 12u * stride] = r3.x; dst[o + 13u * stride] = r3.y; dst[o + 14u * stride] = r3.z; dst[o + 15u * stride] = r3.w;
}

// Row i of a 4×4 tile (ξ = 4i + j, j = 0..3) from src[offSrc + ξ·stride + at].
fn loadRow(at: u32, stride: u32, i: u32) -> vec4f {
  let o = p.offSrc + at + 4u * i * stride;
  return vec4f(src[o], src[o + stride], src[o + 2u * stride], src[o + 3u * stride]);
}

fn inputTransform(base: u32, h0: i32, w0: i32, at: u32, stride: u32) {
  let d0 = patchRow(base, h0, w0);
  let d1 = patchRow(base, h0 + 1, w0);
  let d2 = patchRow(base, h0 + 2, w0);
  let d3 = patchRow(base, h0 + 3, w0);
  // Bᵀ d (rows), then each row times B (= Bᵀ applied to the row).
  storeTile(at, stride, bt(d0 - d2), bt(d1 + d2), bt(d2 - d1), bt(d1 - d3));
}

fn filterTransform(g0: vec3f, g1: vec3f, g2: vec3f, at: u32, stride: u32) {
  // G g: 4 rows of 3, then each row times Gᵀ (= G applied to the row).
  storeTile(at, stride, gm(g0), gm(0.5 * (g0 + g1 + g2)), gm(0.5 * (g0 - g1 + g2)), gm(g2));
}

fn outputTransform(at: u32, stride: u32, base: u32, h: u32, w: u32, b: f32) {
  let m0 = loadRow(at, stride, 0u);
  let m1 = loadRow(at, stride, 1u);
  let m2 = loadRow(at, stride, 2u);
  let m3 = loadRow(at, stride, 3u);
  // Aᵀ P: 2 rows of 4, then each row times A.
  let y0 = atv(m0 + m1 + m2) + vec2f(b);
  let y1 = atv(m1 - m2 - m3) + vec2f(b);
  put(base, y0.x);
  if (w + 1u < p.W) { put(base + 1u, y0.y); }
  if (h + 1u < p.H) {
    put(base + p.W, y1.x);
    if (w + 1u < p.W) { put(base + p.W + 1u, y1.y); }
  }
}

fn gradTransform(base: u32, h: i32, w: i32, at: u32, stride: u32) {
  let e0 = vec2f(pixel(base, h, w), pixel(base, h, w + 1));
  let e1 = vec2f(pixel(base, h + 1, w), pixel(base, h + 1, w + 1));
  // A e: 4 rows of 2, then each row times Aᵀ (= A applied to the row).
  storeTile(at, stride, am(e0), am(e0 + e1), am(e0 - e1), am(-e1));
}

fn filterGradTransform(at: u32, stride: u32, out: u32) {
  let u0 = loadRow(at, stride, 0u);
  let u1 = loadRow(at, stride, 1u);
  let u2 = loadRow(at, stride, 2u);
  let u3 = loadRow(at, stride, 3u);
  // Gᵀ dU: 3 rows of 4, then each row times G.
  let g0 = gt(u0 + 0.5 * (u1 + u2));
  let g1 = gt(0.5 * (u1 - u2));
  let g2 = gt(0.5 * (u1 + u2) + u3);
  dst[out] = g0.x; dst[out + 1u] = g0.y; dst[out + 2u] = g0.z;
  dst[out + 3u] = g1.x; dst[out + 4u] = g1.y; dst[out + 5u] = g1.z;
  dst[out + 6u] = g2.x; dst[out + 7u] = g2.y; dst[out + 8u] = g2.z;
}
