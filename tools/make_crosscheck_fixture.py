#!/usr/bin/env python3
"""PyTorch float64 references for the seeded randomized cross-check (test/crosscheck.test.ts).

Run with Debian's python3-torch (/usr/bin/python3). A seeded generator draws random cases per op, with tiny,
odd and tied shapes and values, and a share of non-finite inputs (NaN, +inf, -inf):
  conv2d (forward, dx, dw, db), batch norm (plain, + ReLU, + residual + ReLU; train and eval: y, running
  statistics, dx, dweight, dbias, dresidual), max pool and adaptive average pool (y, dx), linear and matmul
  (y, gradients), cross-entropy (loss, dlogits), relu (y, dx) and dropout with a given mask (y, dx).
Every input is a float32 value (drawn in float32, then widened), so the test feeds the very same numbers to
the GPU; every reference is computed in float64 with autograd.

Writes OUT/cases.json (one entry per case: op, parameters, and for each tensor its offset, length and shape
in OUT/cases.bin) and OUT/cases.bin (float64, little-endian). For each output, `scale` is the size of the
terms it sums (the output computed from |inputs|, or an equivalent bound): the test measures errors relative
to it, so that a sum that cancels to about 0 is not judged by its own tiny size.

Usage: make_crosscheck_fixture.py OUT [--cases 300] [--seed 20]
"""
import argparse
import json
import os
import random
import struct
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

OPS = ["conv2d", "batchnorm", "maxpool", "avgpool", "linear", "matmul", "cross_entropy", "relu", "dropout"]
# conv2d and batch norm are drawn more often: they have the most code paths.
WEIGHTS = [6, 4, 2, 1, 1, 1, 2, 1, 1]
NONFINITE = [float("nan"), float("inf"), float("-inf")]


class Case:
    def __init__(self, blob, op, params):
        self.blob = blob
        self.entry = {"op": op, "params": params, "tensors": {}, "scales": {}}

    def put(self, name, t, scale=None):
        t = t.detach().to(torch.float64).contiguous()
        flat = t.reshape(-1).tolist()
        self.entry["tensors"][name] = {"offset": len(self.blob) // 8, "length": len(flat), "shape": list(t.shape)}
        self.blob.extend(struct.pack("<%dd" % len(flat), *flat))
        if scale is not None:
            # The largest finite term size (a non-finite input makes some outputs' scales non-finite).
            s = scale.detach().abs().reshape(-1)
            s = s[torch.isfinite(s)]
            self.entry["scales"][name] = float(s.max()) if s.numel() else 0.0


def f32(gen, shape, lo=-1.0, hi=1.0):
    """Uniform values, exactly representable in float32."""
    return (torch.rand(shape, generator=gen, dtype=torch.float32) * (hi - lo) + lo).to(torch.float64)


def ties(gen, shape):
    """Small integers: many ties (max pool), exact zeros (relu)."""
    return torch.randint(-3, 4, shape, generator=gen).to(torch.float64)


def poison(rng, t, count=None):
    """Put NaN / ±inf into 1 or 2 random elements of t (in place); returns t."""
    flat = t.view(-1)
    for _ in range(count or rng.randint(1, 2)):
        flat[rng.randrange(flat.numel())] = rng.choice(NONFINITE)
    return t


def leaf(t):
    return t.clone().requires_grad_(True)


def grads(out, dy, inputs):
    g = torch.autograd.grad(out, [t for t in inputs if t is not None], dy, allow_unused=True)
    it = iter(g)
    return [next(it) if t is not None else None for t in inputs]


def gen_conv(case, rng, gen, nonfinite):
    if rng.random() < 0.4:  # the Winograd geometry
        kh = kw = 3
        stride, pad = 1, 1
    else:
        kh, kw = rng.choice([1, 1, 2, 3, 3, 5, 7]), rng.choice([1, 2, 3, 3, 5])
        if rng.random() < 0.6:
            kw = kh
        stride, pad = rng.randint(1, 3), rng.randint(0, 3)
    n, c, o = rng.randint(1, 3), rng.randint(1, 5), rng.randint(1, 6)
    while True:
        h, w = rng.randint(1, 11), rng.randint(1, 11)
        oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
        if oh >= 1 and ow >= 1:
            break
    bias = rng.random() < 0.5
    x, wt = f32(gen, (n, c, h, w)), f32(gen, (o, c, kh, kw))
    b = f32(gen, (o,)) if bias else None
    dy = f32(gen, (n, o, oh, ow))
    if nonfinite:
        poison(rng, x if rng.random() < 0.6 else wt)
    case.entry["params"].update(dict(N=n, C=c, H=h, W=w, O=o, KH=kh, KW=kw, stride=stride, pad=pad, bias=bias))
    xl, wl, bl = leaf(x), leaf(wt), (leaf(b) if b is not None else None)
    y = F.conv2d(xl, wl, bl, stride=stride, padding=pad)
    dx, dw, db = grads(y, dy, [xl, wl, bl])
    # Magnitudes: the same sums over |x|, |w|, |dy|.
    xa, wa = leaf(x.abs()), leaf(wt.abs())
    ya = F.conv2d(xa, wa, b.abs() if b is not None else None, stride=stride, padding=pad)
    dxa, dwa = grads(ya, dy.abs(), [xa, wa])
    case.put("x", x)
    case.put("w", wt)
    if b is not None:
        case.put("b", b)
        case.put("db", db, dy.abs().sum(dim=(0, 2, 3)))
    case.put("dy", dy)
    case.put("y", y, ya)
    case.put("dx", dx, dxa)
    case.put("dw", dw, dwa)


def gen_batchnorm(case, rng, gen, nonfinite):
    kind = rng.choice(["plain", "relu", "residual"])
    training = rng.random() < 0.7
    n, c = rng.randint(1, 4), rng.randint(1, 5)
    h, w = rng.randint(1, 6), rng.choice([1, 2, 3, 4, 5, 8])
    if training and n * h * w < 2:
        n = 2  # PyTorch refuses one value per channel in training
    momentum = rng.choice([0.1, 0.5, 1.0])
    eps = rng.choice([1e-5, 1e-5, 1e-3])
    affine = rng.random() < 0.8
    offset = rng.choice([0.0, 0.0, 3.0, 100.0])  # a common offset: the variance must not cancel
    x = f32(gen, (n, c, h, w)) + offset
    # A constant channel (not under a ReLU without a bias: x̂ ≈ 0 there, and float64's rounding of the mean
    # would decide the ReLU's mask).
    if rng.random() < 0.15 and (kind == "plain" or affine):
        x[:, 0] = x[0, 0, 0, 0]
        if training and rng.random() < 0.5:
            eps = 0.0
    x = x.float().double()
    rm, rv = f32(gen, (c,)), f32(gen, (c,), 0.5, 2.0)
    wt, b = (f32(gen, (c,), 0.5, 1.5), f32(gen, (c,))) if affine else (None, None)
    res = f32(gen, (n, c, h, w)) if kind == "residual" else None
    dy = f32(gen, (n, c, h, w))
    if nonfinite:
        poison(rng, x if (res is None or rng.random() < 0.5) else res)
    case.entry["params"].update(dict(N=n, C=c, H=h, W=w, kind=kind, training=training, momentum=momentum, eps=eps, affine=affine))
    xl, wl, bl = leaf(x), (leaf(wt) if affine else None), (leaf(b) if affine else None)
    rl = leaf(res) if res is not None else None
    rm_out, rv_out = rm.clone(), rv.clone()
    y = F.batch_norm(xl, rm_out, rv_out, wl, bl, training=training, momentum=momentum, eps=eps)
    if kind == "residual":
        y = y + rl
    if kind != "plain":
        y = F.relu(y)
    dx, dwt, db, dres = grads(y, dy, [xl, wl, bl, rl])
    # Scales: dx sums n·h·w terms of size |dy|·|w|·invstd (training), y is |x̂·w| + |b| + |res|.
    if training:
        var = x.var(dim=(0, 2, 3), unbiased=False)
    else:
        var = rv
    invstd = torch.where((var + eps) > 0, 1 / torch.sqrt(var + eps), torch.zeros_like(var))
    wabs = wt.abs() if affine else torch.ones(c)
    mean = x.mean(dim=(0, 2, 3)) if training else rm
    xhat = ((x - mean.view(1, c, 1, 1)) * invstd.view(1, c, 1, 1)).abs()
    # y's terms: x·invstd and mean·invstd are subtracted (float32 rounds the mean to ~6e-8·|mean|).
    yscale = (x.abs() + mean.abs().view(1, c, 1, 1)) * (invstd * wabs).view(1, c, 1, 1) + (b.abs().view(1, c, 1, 1) if affine else 0) + (res.abs() if res is not None else 0)
    gscale = dy.abs().amax() * (wabs * invstd).amax() * (3.0 if training else 1.0)
    case.put("x", x)
    case.put("rm", rm)
    case.put("rv", rv)
    if affine:
        case.put("w", wt)
        case.put("b", b)
        case.put("dweight", dwt, (dy.abs() * xhat).sum(dim=(0, 2, 3)))
        case.put("dbias", db, dy.abs().sum(dim=(0, 2, 3)))
    if res is not None:
        case.put("res", res)
        case.put("dres", dres, dy)
    case.put("dy", dy)
    case.put("y", y, yscale)
    case.put("rm_out", rm_out, rm_out.abs() + rm.abs() + x.abs().amax())
    case.put("rv_out", rv_out, rv_out.abs() + rv.abs() + (x - x.mean()).abs().amax() ** 2)
    case.put("dx", dx, gscale.reshape(1))


def gen_maxpool(case, rng, gen, nonfinite):
    n, c = rng.randint(1, 3), rng.randint(1, 3)
    kh, kw = rng.randint(1, 4), rng.randint(1, 4)
    sh, sw = rng.randint(1, 3), rng.randint(1, 3)
    ph, pw = rng.randint(0, kh // 2), rng.randint(0, kw // 2)
    while True:
        h, w = rng.randint(1, 9), rng.randint(1, 9)
        if (h + 2 * ph - kh) // sh + 1 >= 1 and (w + 2 * pw - kw) // sw + 1 >= 1:
            break
    x = ties(gen, (n, c, h, w)) if rng.random() < 0.5 else f32(gen, (n, c, h, w))
    if nonfinite:
        poison(rng, x, rng.randint(1, 3))
    xl = leaf(x)
    y = F.max_pool2d(xl, (kh, kw), (sh, sw), (ph, pw))
    dy = f32(gen, tuple(y.shape))
    (dx,) = grads(y, dy, [xl])
    case.entry["params"].update(dict(N=n, C=c, H=h, W=w, kh=kh, kw=kw, sh=sh, sw=sw, ph=ph, pw=pw))
    case.put("x", x)
    case.put("dy", dy)
    case.put("y", y, y.detach().abs().nan_to_num(0, 0, 0))
    # An input takes the dy of every window whose maximum it is: at most ⌈kh/sh⌉·⌈kw/sw⌉ of them.
    case.put("dx", dx, dy.abs().amax().reshape(1) * (-(-kh // sh)) * (-(-kw // sw)))


def gen_avgpool(case, rng, gen, nonfinite):
    n, c = rng.randint(1, 3), rng.randint(1, 3)
    h, w = rng.randint(1, 9), rng.randint(1, 9)
    oh, ow = rng.randint(1, h + 2), rng.randint(1, w + 2)
    x = f32(gen, (n, c, h, w))
    if nonfinite:
        poison(rng, x)
    xl = leaf(x)
    y = F.adaptive_avg_pool2d(xl, (oh, ow))
    dy = f32(gen, tuple(y.shape))
    (dx,) = grads(y, dy, [xl])
    xa = leaf(x.abs())
    ya = F.adaptive_avg_pool2d(xa, (oh, ow))
    (dxa,) = grads(ya, dy.abs(), [xa])
    case.entry["params"].update(dict(N=n, C=c, H=h, W=w, oh=oh, ow=ow))
    case.put("x", x)
    case.put("dy", dy)
    case.put("y", y, ya)
    case.put("dx", dx, dxa)


def gen_linear(case, rng, gen, nonfinite):
    n, fin, fout = rng.randint(1, 9), rng.randint(1, 40), rng.randint(1, 12)
    bias = rng.random() < 0.7
    x, wt = f32(gen, (n, fin)), f32(gen, (fout, fin))
    b = f32(gen, (fout,)) if bias else None
    dy = f32(gen, (n, fout))
    if nonfinite:
        poison(rng, x if rng.random() < 0.5 else wt)
    xl, wl, bl = leaf(x), leaf(wt), (leaf(b) if bias else None)
    y = F.linear(xl, wl, bl)
    dx, dw, db = grads(y, dy, [xl, wl, bl])
    xa, wa = leaf(x.abs()), leaf(wt.abs())
    ya = F.linear(xa, wa, b.abs() if bias else None)
    dxa, dwa = grads(ya, dy.abs(), [xa, wa])
    case.entry["params"].update(dict(N=n, inF=fin, outF=fout, bias=bias))
    case.put("x", x)
    case.put("w", wt)
    if bias:
        case.put("b", b)
        case.put("db", db, dy.abs().sum(0))
    case.put("dy", dy)
    case.put("y", y, ya)
    case.put("dx", dx, dxa)
    case.put("dw", dw, dwa)


def gen_matmul(case, rng, gen, nonfinite):
    m, k, n = rng.randint(1, 20), rng.randint(1, 40), rng.randint(1, 20)
    a, b, dy = f32(gen, (m, k)), f32(gen, (k, n)), f32(gen, (m, n))
    if nonfinite:
        poison(rng, a if rng.random() < 0.5 else b)
    al, bl = leaf(a), leaf(b)
    c = al @ bl
    da, db = grads(c, dy, [al, bl])
    aa, ba = leaf(a.abs()), leaf(b.abs())
    ca = aa @ ba
    daa, dba = grads(ca, dy.abs(), [aa, ba])
    case.entry["params"].update(dict(M=m, K=k, N=n))
    case.put("a", a)
    case.put("b", b)
    case.put("dy", dy)
    case.put("y", c, ca)
    case.put("da", da, daa)
    case.put("db", db, dba)


def gen_cross_entropy(case, rng, gen, nonfinite):
    n, c = rng.randint(1, 9), rng.randint(1, 40)
    smoothing = rng.choice([0.0, 0.0, 0.1, 0.3])
    reduction = rng.choice(["mean", "sum", "none"])
    logits = f32(gen, (n, c), -1, 1) * rng.choice([1.0, 5.0, 30.0])
    logits = logits.float().double()
    labels = torch.randint(0, c, (n,), generator=gen)
    if nonfinite:
        # A −inf logit (a class ruled out), sometimes NaN or +inf.
        flat = logits.view(-1)
        flat[rng.randrange(flat.numel())] = rng.choice([float("-inf"), float("-inf"), float("nan"), float("inf")])
    up = f32(gen, (n,)) if reduction == "none" else torch.tensor(rng.choice([1.0, 0.5]))
    ll = leaf(logits)
    loss = F.cross_entropy(ll, labels, reduction=reduction, label_smoothing=smoothing)
    (dl,) = grads(loss, up, [ll])
    case.entry["params"].update(dict(N=n, C=c, smoothing=smoothing, reduction=reduction))
    case.put("logits", logits)
    case.put("labels", labels.double())
    case.put("up", up.reshape(-1))
    lossv = loss.detach().reshape(-1)
    case.put("loss", lossv, lossv.abs().nan_to_num(0, 0, 0) + 1)
    case.put("dlogits", dl, up.abs().amax().reshape(1) * (1 if reduction != "mean" else 1 / n))


def gen_relu(case, rng, gen, nonfinite):
    shape = tuple(rng.randint(1, 5) for _ in range(rng.randint(1, 3)))
    x = ties(gen, shape) if rng.random() < 0.5 else f32(gen, shape)
    flat = x.view(-1)
    for _ in range(rng.randint(0, 2)):
        flat[rng.randrange(flat.numel())] = -0.0
    if nonfinite:
        poison(rng, x)
    dy = f32(gen, shape)
    xl = leaf(x)
    y = F.relu(xl)
    (dx,) = grads(y, dy, [xl])
    case.entry["params"].update(dict(shape=list(shape)))
    case.put("x", x)
    case.put("dy", dy)
    case.put("y", y, y.detach().abs().nan_to_num(0, 0, 0))
    case.put("dx", dx, dy)


def gen_dropout(case, rng, gen, nonfinite):
    shape = tuple(rng.randint(1, 6) for _ in range(rng.randint(1, 3)))
    p = rng.choice([0.1, 0.25, 0.5, 0.9])
    x, dy = f32(gen, shape), f32(gen, shape)
    mask = (torch.rand(shape, generator=gen) >= p).double()
    if nonfinite:
        poison(rng, x)
    xl = leaf(x)
    y = xl * mask / (1 - p)
    (dx,) = grads(y, dy, [xl])
    case.entry["params"].update(dict(shape=list(shape), p=p))
    case.put("x", x)
    case.put("mask", mask)
    case.put("dy", dy)
    case.put("y", y, (x.abs() / (1 - p)).nan_to_num(0, 0, 0))
    case.put("dx", dx, dy / (1 - p))


GENERATORS = {
    "conv2d": gen_conv,
    "batchnorm": gen_batchnorm,
    "maxpool": gen_maxpool,
    "avgpool": gen_avgpool,
    "linear": gen_linear,
    "matmul": gen_matmul,
    "cross_entropy": gen_cross_entropy,
    "relu": gen_relu,
    "dropout": gen_dropout,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--nonfinite", type=float, default=0.15, help="share of cases with a NaN or ±inf input")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    blob = bytearray()
    cases = []
    # Each op in turn first (so that even a short run covers every op), then weighted random draws.
    ops = list(OPS) + rng.choices(OPS, weights=WEIGHTS, k=max(0, args.cases - len(OPS)))
    for i, op in enumerate(ops[: args.cases]):
        nonfinite = rng.random() < args.nonfinite
        case = Case(blob, op, {"id": i, "nonfinite": nonfinite})
        GENERATORS[op](case, rng, gen, nonfinite)
        cases.append(case.entry)
    with open(os.path.join(args.out, "cases.bin"), "wb") as f:
        f.write(blob)
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump({"seed": args.seed, "torch": torch.__version__, "cases": cases}, f)
    print(f"{len(cases)} cross-check cases (seed {args.seed}) in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
