#!/usr/bin/env python3
"""PyTorch reference for the whole-model parity test (run with Debian's python3-torch: /usr/bin/python3).

Builds a seeded, randomly initialised torchvision ResNet with the recipe's head
(fc = Sequential(Dropout(p), Linear(features, classes))), saves it with torch.save(model.state_dict())
exactly as torchvision publishes weights, and writes into OUT/:
  model.pth          the state_dict
  fixture.safetensors
    input [N,3,S,S], labels [N] (int64), dropout_mask [N,features] (0/1),
    eval_logits, train_logits, train_loss [1],
    grad.<param> for chosen parameters, after loss.backward() of the train-mode forward, computed in float64,
    grad32.<param> PyTorch's float32 gradients, and
    torch32_error.<param> PyTorch's own float32 gradient's relative error against the float64 one,
    after.<bn buffer> BatchNorm running statistics after that one train-mode forward.
Usage: make_resnet_fixture.py OUT [--arch resnet34] [--classes 37] [--batch 2] [--size 224] [--seed 0]
"""
import argparse
import copy
import os
import sys

import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_model import add_fixture_args, build_model  # noqa: E402
from safetensors_io import save_safetensors  # noqa: E402

GRAD_KEYS = [
    "conv1.weight",
    "bn1.weight",
    "layer1.0.conv1.weight",
    "layer2.0.downsample.0.weight",
    "layer4.1.bn2.weight",
    "layer4.1.bn2.bias",
    "layer4.2.conv2.weight",
    "fc.1.weight",
    "fc.1.bias",
]
BUFFER_KEYS = ["bn1.running_mean", "bn1.running_var", "layer4.2.bn2.running_mean", "layer4.2.bn2.running_var", "bn1.num_batches_tracked"]


class FixedMaskDropout(nn.Module):
    """Dropout with a mask given from outside, so both frameworks apply the same one."""

    def __init__(self, mask: torch.Tensor, p: float):
        super().__init__()
        self.mask, self.p = mask, p

    def forward(self, x):
        return x * self.mask / (1 - self.p) if self.training else x


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--arch", default="resnet34")
    ap.add_argument("--classes", type=int, default=37)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dropout", type=float, default=0.5)
    add_fixture_args(ap)
    a = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(a.seed)
    model = build_model(a.arch, a.classes, a.dropout, a.residual_bn_scale, a.conv1_init)
    features = model.fc[1].in_features
    os.makedirs(a.out, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(a.out, "model.pth"))

    g = torch.Generator().manual_seed(a.seed + 1)
    x = torch.randn(a.batch, 3, a.size, a.size, generator=g)
    labels = torch.randint(0, a.classes, (a.batch,), generator=g)
    mask = (torch.rand(a.batch, features, generator=g) >= a.dropout).float()

    model.eval()
    with torch.no_grad():
        eval_logits = model(x)

    model.fc[0] = FixedMaskDropout(mask, a.dropout)
    # The same step in float64: the reference the gradients are judged against. Train-mode BatchNorm on a
    # small batch is ill-conditioned, so PyTorch's own float32 gradients differ from float64 by ~1e-2 in the
    # early layers; the test asks ours to be as close to float64 as PyTorch's float32 ones are.
    model64 = copy.deepcopy(model).double()
    model64.fc[0] = FixedMaskDropout(mask.double(), a.dropout)
    model64.train()
    nn.functional.cross_entropy(model64(x.double()), labels).backward()
    grads64 = dict(model64.named_parameters())

    model.train()
    train_logits = model(x)
    loss = nn.functional.cross_entropy(train_logits, labels)
    loss.backward()
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    out = {
        "input": x,
        "labels": labels,
        "dropout_mask": mask,
        "eval_logits": eval_logits,
        "train_logits": train_logits.detach(),
        "train_loss": loss.detach().reshape(1),
    }
    for k in GRAD_KEYS:
        g32, g64 = params[k].grad.double(), grads64[k].grad
        out["grad." + k] = g64.float()
        out["grad32." + k] = params[k].grad
        out["torch32_error." + k] = ((g32 - g64).norm() / g64.norm()).float().reshape(1)
    for k in BUFFER_KEYS:
        out["after." + k] = buffers[k]
    save_safetensors(out, os.path.join(a.out, "fixture.safetensors"), {"arch": a.arch, "torch": torch.__version__})
    print(f"wrote {a.out}/model.pth and fixture.safetensors: loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
