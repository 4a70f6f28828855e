#!/usr/bin/env python3
"""Derive the Winograd F(m, 3) matrices Aᵀ, G, Bᵀ for given interpolation points (exactly, with fractions),
check that Aᵀ[(G g) ⊙ (Bᵀ d)] is the 3-tap correlation of d, and estimate their float32 rounding error on
64-channel 2D tiles (y = Aᵀ[Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B)]A against float64).

Usage: winograd_matrices.py M POINT... (M + 1 finite points; ∞ is added)
  winograd_matrices.py 4 0 1 -1 1/2 -2     the points of src/kernels/conv/winograd4.wgsl
  winograd_matrices.py 4 0 1 -1 2 -2       the common choice (Lavin & Gray), for comparison
  winograd_matrices.py 2 0 1 -1            src/kernels/conv/winograd2.wgsl

Aᵀ[i][j] = a_jⁱ and G[j][k] = a_jᵏ / Π_{l≠j}(a_j − a_l) for the finite points a_j (∞: the last row / column);
Bᵀ is then the unique solution of the bilinear identity, solved exactly.
"""
import sys
from fractions import Fraction as F

R = 3  # filter taps


def solve(rows, rhs):
    """Gauss-Jordan on an exact, consistent (possibly overdetermined) system."""
    aug = [r[:] + [b] for r, b in zip(rows, rhs)]
    n = len(rows[0])
    pivots = []
    r = 0
    for c in range(n):
        p = next((i for i in range(r, len(aug)) if aug[i][c] != 0), None)
        if p is None:
            continue
        aug[r], aug[p] = aug[p], aug[r]
        pv = aug[r][c]
        aug[r] = [v / pv for v in aug[r]]
        for i in range(len(aug)):
            if i != r and aug[i][c] != 0:
                f = aug[i][c]
                aug[i] = [a - f * b for a, b in zip(aug[i], aug[r])]
        pivots.append(c)
        r += 1
    if any(aug[i][-1] != 0 for i in range(r, len(aug))):
        raise SystemExit('no solution: the points must be distinct')
    x = [F(0)] * n
    for i, c in enumerate(pivots):
        x[c] = aug[i][-1]
    return x


def matrices(m, pts):
    n = m + R - 1
    AT = [[p ** i for p in pts] + [F(int(i == m - 1))] for i in range(m)]
    G = []
    for j, p in enumerate(pts):
        f = F(1)
        for l, q in enumerate(pts):
            if l != j:
                f *= p - q
        G.append([p ** k / f for k in range(R)])
    G.append([F(int(k == R - 1)) for k in range(R)])
    rows, rhs = [], []
    for i in range(m):
        for k in range(R):
            for l in range(n):
                row = [F(0)] * (n * n)
                for j in range(n):
                    row[j * n + l] = AT[i][j] * G[j][k]
                rows.append(row)
                rhs.append(F(int(l == i + k)))
    x = solve(rows, rhs)
    BT = [[x[j * n + l] for l in range(n)] for j in range(n)]
    return AT, G, BT


def float32_error(AT, G, BT, m, channels=64, trials=200, seed=1):
    import numpy as np
    rng = np.random.default_rng(seed)
    at, g32, bt = (np.array([[float(v) for v in r] for r in X], dtype=np.float32) for X in (AT, G, BT))
    n = m + R - 1
    err = ref2 = 0.0
    for _ in range(trials):
        d = rng.standard_normal((channels, n, n))
        g = rng.standard_normal((channels, R, R)) / np.sqrt(R * R * channels)
        ref = np.zeros((m, m))
        for i in range(m):
            for j in range(m):
                ref[i, j] = np.sum(d[:, i:i + R, j:j + R] * g)
        V = np.einsum('ab,cbd,ed->cae', bt, d.astype(np.float32), bt).astype(np.float32)
        U = np.einsum('ab,cbd,ed->cae', g32, g.astype(np.float32), g32).astype(np.float32)
        P = np.zeros((n, n), dtype=np.float32)
        for c in range(channels):
            P = (P + U[c] * V[c]).astype(np.float32)
        y = (at @ P @ at.T).astype(np.float32)
        err += float(np.sum((y - ref) ** 2))
        ref2 += float(np.sum(ref ** 2))
    return (err / ref2) ** 0.5


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    m = int(sys.argv[1])
    pts = [F(a) for a in sys.argv[2:]]
    if len(pts) != m + 1:
        raise SystemExit(f'F({m}, 3) needs {m + 1} finite points, got {len(pts)}')
    AT, G, BT = matrices(m, pts)
    # Exact check of the identity on the unit vectors (it is bilinear).
    for dd in range(m + R - 1):
        for gg in range(R):
            y = [sum(AT[i][j] * G[j][gg] * BT[j][dd] for j in range(m + R - 1)) for i in range(m)]
            assert y == [F(int(dd == i + gg)) for i in range(m)], 'identity fails'
    for name, X in (('Aᵀ', AT), ('G', G), ('Bᵀ', BT)):
        print(name)
        for r in X:
            print('  ' + '  '.join(f'{str(v):>7}' for v in r))
    try:
        print(f'float32 relative error, 64-channel 2D tiles: {float32_error(AT, G, BT, m):.3g}')
    except ImportError:
        print('(numpy not installed: no float32 estimate)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
