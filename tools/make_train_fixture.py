#!/usr/bin/env python3
"""PyTorch reference for the training parity test (run with Debian's python3-torch: /usr/bin/python3).

Builds a seeded, randomly initialised torchvision ResNet with the recipe's head
(fc = Sequential(Dropout(0), Linear(features, classes)), so the keys are fc.1.*) and random BatchNorm affine
parameters and running statistics, saves it with torch.save(model.state_dict()), then trains it for a few
steps in train mode with SGD(momentum) and StepLR stepped every `--steps-per-epoch` steps, on fixed batches
cycled in order (no augmentation).

A freshly initialised ResNet-34 is a chaotic thing to train: with batch-4 train-mode BatchNorm, full-size
residual branches and torchvision's fan-out init of conv1 (whose effective learning rate lr/|w|² is then ~20×
the other layers'), the gradients explode with depth and ReLU/max-pool switches flip under rounding, so
PyTorch's own float32 run ends up 60% (conv1.weight) away from its float64 run after 10 steps at lr 0.01,
and no float32 implementation can be compared with it. Two changes make the start look like a trained
network and bring PyTorch's float32 run to within ~3e-4 of its float64 run (see weights64 below): the last
BatchNorm of every residual branch gets weights ×`--residual-bn-scale` (0.1; the idea of torchvision's
zero_init_residual), and conv1 gets a fan-in Kaiming init. `--residual-bn-scale 1 --conv1-init fan_out`
gives the plain (chaotic) model.
Writes into OUT/:
  model.pth            the state_dict before training
  train.safetensors
    inputs [B,N,3,S,S], labels [B,N] (int64): the batches; step i uses batch i % B
    loss [steps]: the loss at every step (before its update); lr [steps]: the lr that step used
    weights.<key>: every state_dict entry (parameters and BatchNorm buffers) after the last step
    loss64 [steps], weights64.<key>: the same run in float64 (stored as float32), to show how far PyTorch's
      own float32 run is from it
    steplr_30 [30]: the lr of StepLR(SGD(lr=0.001), step_size=3, gamma=0.9) in epochs 0..29, i.e. the lr in
      effect after e calls of scheduler.step()
    metadata "lr" and "steplr_30": the same lrs as JSON float64 lists (exact; the tensors are float32)
Usage: make_train_fixture.py OUT [--arch resnet34] [--classes 37] [--batch 4] [--size 64] [--batches 5]
       [--steps 10] [--steps-per-epoch 2] [--lr 0.01] [--momentum 0.9] [--step-size 3] [--gamma 0.5] [--seed 0]
       [--residual-bn-scale 0.1] [--conv1-init fan_in]
"""
import argparse
import copy
import json
import os
import sys

import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_model import add_fixture_args, build_model  # noqa: E402
from safetensors_io import save_safetensors  # noqa: E402


def train(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, a) -> tuple[list[float], list[float]]:
    """The training loop under test: returns the loss and the lr of every step."""
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=a.step_size, gamma=a.gamma)
    model.train()
    losses, lrs = [], []
    for step in range(a.steps):
        if step > 0 and step % a.steps_per_epoch == 0:
            sched.step()  # end of an "epoch"
        b = step % inputs.shape[0]
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(inputs[b]), labels[b])
        loss.backward()
        lrs.append(opt.param_groups[0]["lr"])
        losses.append(loss.item())
        opt.step()
    return losses, lrs


def steplr_lrs(epochs: int) -> list[float]:
    """StepLR's lr per epoch: the lr used in epoch e is the one in effect before the e-th step() call."""
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.001)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.9)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def rel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Relative L2 error ‖a − b‖ / ‖b‖."""
    a, b = a.double(), b.double()
    d, n = (a - b).norm(), b.norm()
    return d / n if n > 0 else d


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--arch", default="resnet34")
    ap.add_argument("--classes", type=int, default=37)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--steps-per-epoch", type=int, default=2)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--step-size", type=int, default=3)
    ap.add_argument("--gamma", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    add_fixture_args(ap)
    a = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(a.seed)
    model = build_model(a.arch, a.classes, 0.0, a.residual_bn_scale, a.conv1_init)
    os.makedirs(a.out, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(a.out, "model.pth"))

    g = torch.Generator().manual_seed(a.seed + 1)
    inputs = torch.randn(a.batches, a.batch, 3, a.size, a.size, generator=g)
    labels = torch.randint(0, a.classes, (a.batches, a.batch), generator=g)

    # The same run in float64: the reference that shows how far PyTorch's own float32 run drifts (the test
    # prints it next to our error, and checks that the fixture is well-conditioned).
    model64 = copy.deepcopy(model).double()
    losses64, _ = train(model64, inputs.double(), labels, a)
    losses, lrs = train(model, inputs, labels, a)

    steplr = steplr_lrs(30)
    out = {
        "inputs": inputs,
        "labels": labels,
        "loss": torch.tensor(losses, dtype=torch.float32),
        "lr": torch.tensor(lrs, dtype=torch.float32),
        "loss64": torch.tensor(losses64, dtype=torch.float32),
        "steplr_30": torch.tensor(steplr, dtype=torch.float32),
    }
    final, final64 = model.state_dict(), model64.state_dict()
    for k, v in final.items():
        out["weights." + k] = v
    for k, v in final64.items():
        if v.is_floating_point():
            out["weights64." + k] = v
    meta = {"arch": a.arch, "torch": torch.__version__, "lr": json.dumps(lrs), "steplr_30": json.dumps(steplr)}
    save_safetensors(out, os.path.join(a.out, "train.safetensors"), meta)
    err, worst = max((rel(v, final64[k]).item(), k) for k, v in final.items() if v.is_floating_point())
    print(f"wrote {a.out}/model.pth and train.safetensors: losses {' '.join(f'{x:.5f}' for x in losses)}")
    print(f"PyTorch float32 vs float64: worst final tensor {worst} {err:.2e}")


if __name__ == "__main__":
    main()
