// C = X·Y (+ bias) (+ C) for float16 operands on the adapter's subgroup-matrix units
// (chromium_experimental_subgroup_matrix: Vulkan's cooperative matrices, Metal's simdgroup matrices), float32
// accumulation and output. The launcher (smatrix.ts) prepends the constants: SM_M, SM_N, SM_K (one of the
// adapter's configurations with float16 inputs and a float32 result), TM × TN matrices per workgroup and SG (the
// adapter's largest subgroup size: a workgroup is one subgroup).
//
// Operands (packed by matmul_smatrix_pack.wgsl): X = op(A) as [Kp][ldx] float16 (k-major: X[k][m] = A[m][k]),
// Y = op(B) as [Kp][ldy], both zero-padded to Kp (a multiple of SM_K) rows and to ldx, ldy (multiples of the
// workgroup's BM = TM·SM_M and BN = TN·SM_N) columns, so that every matrix load is inside the operand and the
// padding adds zeros. A workgroup computes a BM × BN tile of C: TM × TN result matrices, the left matrices
// loaded column-major from X, the right ones row-major from Y. It then stores them into workgroup memory,
// from which each invocation writes its elements inside C (with the bias and accumulation).
// Batches: matrix z at z·strideX, z·strideY; with zPer > 1, runs of zPer matrices sum into one C (reduce).
// With hwC, C is a convolution's NCHW output: the columns are the tile's images side by side (hwC pixels each).
//
// Every subgroup-matrix operation runs in uniform control flow: the only early return is per workgroup.
// The launcher puts the directives (enable f16; enable chromium_experimental_subgroup_matrix;) before the
// constants: WGSL wants them first.

struct Params {
  M: u32,
  N: u32,
  Kp: u32,         // K rounded up to SM_K (the operands' padded rows)
  batch: u32,
  ldx: u32,
  ldy: u32,
  strideX: u32,    // halves between matrices of X (0: one X for all)
  strideY: u32,
  ldc: u32,
  strideC: u32,
  offC: u32,
  offBias: u32,
  tilesN: u32,     // ceil(N / BN)
  tiles: u32,      // tilesN · ceil(M / BM)
  zPer: u32,       // terms per sum (1: C_z = X_z·Y_z)
  accumulate: u32, // 1: C += result
  biasMode: u32,   // 0: none, 1: bias[n] per column, 2: bias[m] per row
  hwC: u32,        // 0: C is [M][ldc]; else C is NCHW: column n is pixel n % hwC of image n / hwC, row m its channel
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f16>;
@group(0) @binding(2) var<storage, read> y: array<f16>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;   // bound to C's buffer when biasMode == 0
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const BM = TM * SM_M;
const BN = TN * SM_N;
var<workgroup> tile: array<f32, BM * BN>;

alias Left = subgroup_matrix_left<f16, SM_K, SM_M>;
alias Right = subgroup_matrix_right<f16, SM_N, SM_K>;
alias Result = subgroup_matrix_result<f32, SM_N, SM_M>;

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lidx: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = wid.y * nwg.x + wid.x;
  if (t >= p.tiles) { return; }
  let m0 = (t / p.tilesN) * BM;
  let n0 = (t % p.tilesN) * BN;
  let zFirst = wid.z * p.zPer;
  let zEnd = min(zFirst + p.zPer, p.batch);
  var acc: array<Result, TM * TN>;
  for (var z = zFirst; z < zEnd; z++) {
    let xBase = z * p.strideX + m0;
    let yBase = z * p.strideY + n0;
    for (var k = 0u; k < p.Kp; k += SM_K) {
      var right: array<Right, TN>;
      for (var j = 0u; j < TN; j++) {
        right[j] = subgroupMatrixLoad<Right, row_major>(&y, yBase + k * p.ldy + j * SM_N, p.ldy);
      }
      for (var i = 0u; i < TM; i++) {
        let left = subgroupMatrixLoad<Left, col_major>(&x, xBase + k * p.ldx + i * SM_M, p.ldx);
        for (var j = 0u; j < TN; j++) {
          acc[i * TN + j] = subgroupMatrixMultiplyAccumulate(left, right[j], acc[i * TN + j]);
        }
      }
    }
  }
  for (var i = 0u; i < TM; i++) {
    for (var j = 0u; j < TN; j++) {
      subgroupMatrixStore<row_major>(&tile, i * SM_M * BN + j * SM_N, acc[i * TN + j], BN);
    }
  }
  workgroupBarrier();
  let cBase = p.offC + wid.z * p.strideC;
  for (var e = lidx; e < BM * BN; e += SG) {
    let m = m0 + e / BN;
    let n = n0 + e % BN;
    if (m < p.M && n < p.N) {
      var v = tile[e];
      if (p.biasMode == 1u) { v += bias[p.offBias + n]; }
      if (p.biasMode == 2u) { v += bias[p.offBias + m]; }
      var at = cBase + m * p.ldc + n;
      if (p.hwC != 0u) { at = cBase + ((n / p.hwC) * p.M + m) * p.hwC + n % p.hwC; }
      if (p.accumulate == 1u) { v += c[at]; }
      c[at] = v;
    }
  }
}
