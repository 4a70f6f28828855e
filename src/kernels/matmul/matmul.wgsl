// Matrix multiply: C[M,N] = op(A)·op(B) (+ bias) (+ C), for one matrix or a batch of them.
//   op(A)[m,k] = TRANS_A ? A[k*M + m] : A[m*K + k]      (A stored [M,K], or [K,M] when transposed)
//   op(B)[k,n] = TRANS_B ? B[n*K + k] : B[k*N + n]      (B stored [K,N], or [N,K] when transposed)
//   TRANS_C stores the result transposed, C[m,n] at C[n*M + m]: the launcher computes Cᵀ = op(B)ᵀ·op(A)ᵀ
//   this way for A·B, which puts a K-major matrix in the A slot (see "Parallelisation").
// Batched: matrix z of A, B, C starts at offA + z*strideA (likewise B, C); a stride of 0 reuses one matrix.
// REDUCE_BATCH sums the products over the batch into one C instead: C = Σ_z op(A_z)·op(B_z).
//
// Parallelisation (register tiling): a workgroup of WG threads owns a TM × (WG·TN) block of C. Every thread
// computes TM rows × TN columns; its columns are n0 + j·WG + lane (j < TN), so neighbouring threads read
// neighbouring columns. The rows depend only on the workgroup id, so every A load has the same address in all
// threads: a CPU driver (llvmpipe) loads a uniform address once and broadcasts it, instead of a per-lane
// gather. With A stored K-major (TRANS_A) a thread's TM values of A for one k are also adjacent in memory,
// which measured fastest for most shapes on lavapipe.
// Each loaded value is reused TN (A) or TM (B) times from registers; no workgroup memory or barriers.
// Edge tiles clamp their load indices into the matrix and skip the out-of-range stores, so any M, N ≥ 1 and
// K ≥ 0 work. Tiles are numbered n-fastest over a 2D grid (x, y folded by grid1d); z is the batch.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  batch: u32,
  strideA: u32,
  strideB: u32,
  strideC: u32,
  tilesN: u32,   // ceil(N / (WG·TN))
  tiles: u32,    // tilesN · ceil(M / TM)
  offA: u32,     // element offsets of the matrices inside their bindings
  offB: u32,
  offC: u32,
  offBias: u32,
}

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override BIAS: u32 = 0u;            // 0: none, 1: bias[n] per column, 2: bias[m] per row
override TRANS_C: bool = false;
override ACCUMULATE: bool = false;  // C += result instead of C = result
override REDUCE_BATCH: bool = false;
override TM: u32 = 16u;             // rows per thread (≤ MAX_TM)
override TN: u32 = 8u;              // columns per thread (≤ MAX_TN)
override WG: u32 = 8u;              // threads per workgroup, side by side along N

const MAX_TM = 16u;
const MAX_TN = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;   // bound to A's buffer when BIAS == 0
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

fn cIndex(base: u32, m: u32, n: u32) -> u32 {
  return base + select(m * p.N + n, n * p.M + m, TRANS_C);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let tile = wid.y * nwg.x + wid.x;
  if (tile >= p.tiles) { return; }
  let m0 = (tile / p.tilesN) * TM;
  let n0 = (tile % p.tilesN) * (WG * TN) + lid.x;

  // Per-row and per-column base offsets (indices clamped into the matrix) and the step along k.
  let aStep = select(1u, p.M, TRANS_A);
  let bStep = select(p.N, 1u, TRANS_B);
  var aRow: array<u32, MAX_TM>;
  var bCol: array<u32, MAX_TN>;
  for (var i = 0u; i < TM; i++) {
    let m = min(m0 + i, p.M - 1u);
    aRow[i] = select(m * p.K, m, TRANS_A);
  }
  for (var j = 0u; j < TN; j++) {
    let n = min(n0 + j * WG, p.N - 1u);
    bCol[j] = select(n, n * p.K, TRANS_B);
  }

  var acc: array<array<f32, MAX_TN>, MAX_TM>;
  for (var i = 0u; i < TM; i++) {
    for (var j = 0u; j < TN; j++) { acc[i][j] = 0.0; }
  }

  let batches = select(1u, p.batch, REDUCE_BATCH);
  for (var z = 0u; z < batches; z++) {
    let zz = select(wid.z, z, REDUCE_BATCH);
    var ia = p.offA + zz * p.strideA;
    var ib = p.offB + zz * p.strideB;
    var av: array<f32, MAX_TM>;
    var bv: array<f32, MAX_TN>;
    for (var k = 0u; k < p.K; k++) {
      for (var i = 0u; i < TM; i++) { av[i] = a[ia + aRow[i]]; }
      for (var j = 0u; j < TN; j++) { bv[j] = b[ib + bCol[j]]; }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { acc[i][j] = fma(av[i], bv[j], acc[i][j]); }
      }
      ia += aStep;
      ib += bStep;
    }
  }

  // Bias values, loaded once per row / column, with clamped indices and no branches (the values of
  // out-of-range elements are never stored): a CPU driver compiles this to far less code.
  var biasRow: array<f32, MAX_TM>;
  var biasCol: array<f32, MAX_TN>;
  for (var i = 0u; i < TM; i++) {
    biasRow[i] = 0.0;
    if (BIAS == 2u) { biasRow[i] = bias[p.offBias + min(m0 + i, p.M - 1u)]; }
  }
  for (var j = 0u; j < TN; j++) {
    biasCol[j] = 0.0;
    if (BIAS == 1u) { biasCol[j] = bias[p.offBias + min(n0 + j * WG, p.N - 1u)]; }
  }

  let zc = select(wid.z, 0u, REDUCE_BATCH);
  let cBase = p.offC + zc * p.strideC;
  for (var i = 0u; i < TM; i++) {
    let m = m0 + i;
    if (m < p.M) {
      for (var j = 0u; j < TN; j++) {
        let n = n0 + j * WG;
        if (n < p.N) {
          let ic = cIndex(cBase, m, n);
          var v = acc[i][j] + biasRow[i] + biasCol[j];
          if (ACCUMULATE) { v += c[ic]; }
          c[ic] = v;
        }
      }
    }
  }
}
