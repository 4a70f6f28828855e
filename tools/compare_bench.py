#!/usr/bin/env python3
"""Print ours/PyTorch ratios for every row two bench JSON files share (ratio > 1: ours is faster).
Usage: compare_bench.py OURS.json TORCH.json [--markdown]   (--markdown: the kernel table as the README's)"""
import json
import sys

ours, torch_ = (json.load(open(p)) for p in sys.argv[1:3])
if "--markdown" in sys.argv[3:]:
    ref = {(r["name"], r["shape"]): r for r in torch_["kernels"]}
    print("| kernel | shape | ours ms | ours rate | PyTorch ms | PyTorch ms / ours ms |\n|---|---|---|---|---|---|")
    for r in ours["kernels"]:
        t = ref.get((r["name"], r["shape"]))
        if t:
            rate = f"{r['gflops']:.1f} GFLOP/s" if "gflops" in r else f"{r['gbps']:.2f} GB/s"
            print(f"| {r['name']} | {r['shape']} | {r['ms']:.1f} | {rate} | {t['ms']:.1f} | {t['ms'] / r['ms']:.2f}× |")
    sys.exit(0)
print(f"ours: {ours['adapter']}\nreference: {torch_['adapter']}\n")
ref = {(r["name"], r["shape"]): r for r in torch_["kernels"]}
print(f"{'kernel':34} {'shape':26} {'ours ms':>10} {'torch ms':>10} {'speed ratio':>12}")
for r in ours["kernels"]:
    t = ref.get((r["name"], r["shape"]))
    if t:
        print(f"{r['name']:34} {r['shape']:26} {r['ms']:10.3f} {t['ms']:10.3f} {t['ms'] / r['ms']:11.3f}x")
if ours.get("model") and torch_.get("model"):
    o, t = ours["model"], torch_["model"]
    print(f"\nresnet34 train step, batch {o['batch']}, {o['img_size']}px: ours {o['train_images_per_second']:.2f} images/s, "
          f"PyTorch {t['train_images_per_second']:.2f} images/s: ratio {o['train_images_per_second'] / t['train_images_per_second']:.3f}x")
    print(f"resnet34 eval: ours {o['eval_images_per_second']:.2f} images/s, PyTorch {t['eval_images_per_second']:.2f} images/s: "
          f"ratio {o['eval_images_per_second'] / t['eval_images_per_second']:.3f}x")
