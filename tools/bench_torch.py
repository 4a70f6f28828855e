#!/usr/bin/env python3
"""PyTorch on the same shapes as `node dist/bench.js`, in the same JSON format: on the CPU (2 threads by default)
or, with --device cuda, on an NVIDIA GPU in fp32 with TF32 off (timed around torch.cuda.synchronize()).
Usage: bench_torch.py [--quick] [--json FILE] [--batch N] [--model-batch N] [--img-size N] [--samples N] [--threads 2]
                      [--shapes-from OURS.json] [--device cpu|cuda] [--arch resnet18|resnet34]
Without torchvision, the model is built by resnet_basic() below (the same layers as torchvision's)."""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import torchvision
except ImportError:  # a machine with PyTorch only: resnet_basic() builds the same network
    torchvision = None

CONVS = [  # name, c, o, h, k, stride, pad — must match src/bench/shapes.ts
    ("conv1 7x7/2", 3, 64, 224, 7, 2, 3),
    ("layer1 3x3", 64, 64, 56, 3, 1, 1),
    ("layer2.0 3x3/2", 64, 128, 56, 3, 2, 1),
    ("layer2 3x3", 128, 128, 28, 3, 1, 1),
    ("layer2 down 1x1/2", 64, 128, 56, 1, 2, 0),
    ("layer3.0 3x3/2", 128, 256, 28, 3, 2, 1),
    ("layer3 3x3", 256, 256, 14, 3, 1, 1),
    ("layer3 down 1x1/2", 128, 256, 28, 1, 2, 0),
    ("layer4.0 3x3/2", 256, 512, 14, 3, 2, 1),
    ("layer4 3x3", 512, 512, 7, 3, 1, 1),
    ("layer4 down 1x1/2", 256, 512, 14, 1, 2, 0),
]
QUICK_CONVS = {"layer1 3x3", "layer4 3x3", "conv1 7x7/2"}


def matmul_shapes(b, shapes_from=None):
    """The matmul rows; with shapes_from (our bench's JSON), its m, n, k per row name (the GEMM rows cap
    their images to fit one binding of the adapter, see src/bench/shapes.ts)."""
    if shapes_from:
        with open(shapes_from) as f:
            ours = json.load(f)
        return [(r["name"][len("matmul "):], *map(int, r["shape"].split("x"))) for r in ours["kernels"] if r["name"].startswith("matmul ")]
    return [("square 1024", 1024, 1024, 1024), ("square 512", 512, 512, 512), ("fc 512→1000", b, 1000, 512), ("fc 512→37", b, 37, 512),
            ("layer1 GEMM", 64, b * 56 * 56, 576), ("layer4 GEMM", 512, b * 7 * 7, 4608)]


DEV = "cpu"


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: two 3x3 convolutions with batch norm, and a 1x1/stride downsample when the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


def resnet_basic(arch):
    """ResNet-18 or -34 as torchvision builds it (stem, four stages of BasicBlocks, average pool, fc to 1000)."""
    blocks = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3]}[arch]
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for i, n in enumerate(blocks):
        cout = 64 * 2 ** i
        for j in range(n):
            layers.append(BasicBlock(cin, cout, 2 if i > 0 and j == 0 else 1))
            cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000))


def build_model(arch):
    """The benchmarked network: `arch` with the fine-tuning head of ours (dropout 0.5, fc 512 -> 37)."""
    if torchvision is not None:
        model = getattr(torchvision.models, arch)()
        model.fc = nn.Sequential(nn.Dropout(0.5), nn.Linear(512, 37))
        return model
    model = resnet_basic(arch)
    model[-1] = nn.Sequential(nn.Dropout(0.5), nn.Linear(512, 37))
    return model


def sync():
    """Wait for queued GPU work (CUDA runs asynchronously); nothing to wait for on the CPU."""
    if DEV == "cuda":
        torch.cuda.synchronize()


def time_it(fn, samples):
    fn()
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    once = time.perf_counter() - t0
    inner = max(1, min(50, round(0.02 / max(once, 1e-6))))
    times = []
    for _ in range(samples):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        sync()
        times.append((time.perf_counter() - t) / inner * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--batch", type=int)
    ap.add_argument("--model-batch", type=int)
    ap.add_argument("--img-size", type=int)
    ap.add_argument("--samples", type=int)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-kernels", action="store_true")
    ap.add_argument("--no-model", action="store_true")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--shapes-from", help="our bench's JSON: take the matmul shapes from it")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--arch", choices=["resnet18", "resnet34"], default="resnet34")
    a = ap.parse_args()
    global DEV
    DEV = a.device
    torch.set_num_threads(a.threads)
    if DEV == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("bench_torch.py --device cuda: this PyTorch sees no CUDA GPU")
        # fp32 as ours: no TF32 in matmuls or convolutions.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        adapter = f"PyTorch {torch.__version__} CUDA fp32 (TF32 off), {torch.cuda.get_device_name(0)}"
    else:
        adapter = f"PyTorch {torch.__version__} CPU ({a.threads} threads)"
    b = a.batch or (4 if a.quick else 32)
    mb = a.model_batch or (2 if a.quick else 8)
    size = a.img_size or (112 if a.quick else 224)
    samples = a.samples or (3 if a.quick else 5)
    rows = []

    def add(name, shape, ms, gflops=None, gbps=None):
        r = {"name": name, "shape": shape, "ms": ms}
        if gflops is not None:
            r["gflops"] = gflops
        if gbps is not None:
            r["gbps"] = gbps
        rows.append(r)
        print(f"{name:34} {shape:26} {ms:10.3f} ms " + (f"{gflops:8.2f} GFLOP/s" if gflops is not None else f"{gbps:8.2f} GB/s"))

    print(f"adapter: {adapter}")
    dev = DEV
    with torch.no_grad():
        if not a.no_kernels:
            for name, m, n, k in matmul_shapes(b, a.shapes_from):
                if a.quick and m * n * k > 2 ** 28:
                    continue
                A, B = torch.randn(m, k, device=dev), torch.randn(k, n, device=dev)
                ms = time_it(lambda: A @ B, samples)
                add(f"matmul {name}", f"{m}x{n}x{k}", ms, gflops=2 * m * n * k / (ms * 1e6))
            for name, c, o, h, k, s, p in CONVS:
                if a.quick and name not in QUICK_CONVS:
                    continue
                x, w = torch.randn(b, c, h, h, device=dev), torch.randn(o, c, k, k, device=dev)
                y = F.conv2d(x, w, stride=s, padding=p)
                oh = y.shape[-1]
                flops = 2 * b * o * oh * oh * c * k * k
                shape = f"{b}x{c}x{h}² → {o} k{k}s{s}"
                ms = time_it(lambda: F.conv2d(x, w, stride=s, padding=p), samples)
                add(f"conv fwd {name}", shape, ms, gflops=flops / (ms * 1e6))
                if name != "conv1 7x7/2":
                    ms = time_it(lambda: torch.nn.grad.conv2d_input(x.shape, w, y, stride=s, padding=p), samples)
                    add(f"conv dX {name}", shape, ms, gflops=flops / (ms * 1e6))
                ms = time_it(lambda: torch.nn.grad.conv2d_weight(x, w.shape, y, stride=s, padding=p), samples)
                add(f"conv dW {name}", shape, ms, gflops=flops / (ms * 1e6))
        # Batch norm + relu, max pool, cross-entropy and SGD with autograd where there is a backward.
        if not a.no_kernels:
            x = torch.randn(b, 64, 56, 56, device=dev)
            bn = nn.BatchNorm2d(64).to(dev)
            nbytes = x.numel() * 4
            ms = time_it(lambda: F.relu(bn(x)), samples)
            add("batchnorm+relu fwd (train)", f"{b}x64x56²", ms, gbps=3 * nbytes / (ms * 1e6))
    if not a.no_kernels:
        x = torch.randn(b, 64, 56, 56, device=dev, requires_grad=True)
        bn = nn.BatchNorm2d(64).to(dev)
        out = F.relu(bn(x))
        g = torch.randn_like(out)
        ms = time_it(lambda: torch.autograd.grad(out, [x, bn.weight, bn.bias], g, retain_graph=True), samples)
        add("batchnorm+relu bwd", f"{b}x64x56²", ms, gbps=5 * x.numel() * 4 / (ms * 1e6))
        xp = torch.randn(b, 64, 112, 112, device=dev, requires_grad=True)
        nbytes = xp.numel() * 4 * 1.5
        with torch.no_grad():
            ms = time_it(lambda: F.max_pool2d(xp, 3, 2, 1), samples)
        add("maxpool 3x3/2 fwd", f"{b}x64x112²", ms, gbps=nbytes / (ms * 1e6))
        yp = F.max_pool2d(xp, 3, 2, 1)
        gp = torch.randn_like(yp)
        ms = time_it(lambda: torch.autograd.grad(yp, xp, gp, retain_graph=True), samples)
        add("maxpool 3x3/2 bwd", f"{b}x64x112²", ms, gbps=nbytes / (ms * 1e6))
        logits = torch.randn(b, 1000, device=dev, requires_grad=True)
        labels = torch.zeros(b, dtype=torch.long, device=dev)
        def ce():
            loss = F.cross_entropy(logits, labels)
            torch.autograd.grad(loss, logits)
        ms = time_it(ce, samples)
        add("softmax-cross-entropy fwd+bwd", f"{b}x1000", ms, gbps=3 * b * 1000 * 4 / (ms * 1e6))
        n = 21_797_672
        p = nn.Parameter(torch.randn(n, device=dev))
        p.grad = torch.randn(n, device=dev)
        opt = torch.optim.SGD([p], lr=0.001, momentum=0.9)
        opt.step()
        ms = time_it(opt.step, samples)
        add("sgd momentum update", f"{n} params", ms, gbps=5 * n * 4 / (ms * 1e6))

    m = None
    if a.no_model:
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"adapter": adapter, "kernels": rows, "model": m}, f, indent=2)
        return
    model = build_model(a.arch).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    x = torch.randn(mb, 3, size, size, device=dev)
    y = torch.arange(mb, device=dev) % 37

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    model.train()
    step()
    steps = a.steps or (2 if a.quick else 3)
    train_ms = statistics.median([time_it(step, 1) for _ in range(steps)])
    model.eval()
    with torch.no_grad():
        eval_ms = statistics.median([time_it(lambda: model(x), 1) for _ in range(steps)])
    m = {"arch": a.arch, "torchvision": torchvision is not None, "batch": mb, "img_size": size, "train_images_per_second": mb * 1000 / train_ms, "eval_images_per_second": mb * 1000 / eval_ms, "train_step_ms": train_ms}
    print(f"model {a.arch} batch {mb} {size}px: train step {train_ms:.0f} ms = {m['train_images_per_second']:.2f} images/s; eval {m['eval_images_per_second']:.2f} images/s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"adapter": adapter, "kernels": rows, "model": m}, f, indent=2)


if __name__ == "__main__":
    main()
