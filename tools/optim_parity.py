#!/usr/bin/env python3
"""PyTorch reference for the optimizer and scheduler parity test (run with Debian's python3-torch: /usr/bin/python3).

test/optim_parity.test.ts passes everything as one JSON argument (the cases live in src/reference/optim_cases.ts):
  weights {w1, b1, w2, b2}, inputs [[batch*inF]], labels [[batch]], net {inF, hidden, classes, batch}, steps,
  runs: [{name, optimizer: {kind: sgd|adam|adamw, options, group0}, clip, scheduler}]
  schedules: [{name, optimizer: sgd|adam, groupLrs, steps, spec}]
Each run trains Linear(inF, hidden) -> relu -> Linear(hidden, classes) with cross-entropy on the batches (cycled in
order) for `steps` steps: zero_grad, forward, backward, clip (clip_grad_norm_ or clip_grad_value_), optimizer step,
scheduler step. Group 0 holds the first Linear (with the hyperparameters of `group0`), group 1 the second.
The same run in float64 shows how far PyTorch's own float32 run is from exact.
Each schedule steps a scheduler on an optimizer of two empty groups and records every group's lr (and momentum
or beta1) after construction and after each step.
Writes OUT/optim_parity.json:
  runs.<name>: loss, loss64 [steps]; lr [steps][groups] (the lr each step used); norm [steps] (clip_grad_norm_'s
    return, or null); weights, weights64 {w1, b1, w2, b2} after the last step (flat lists)
  schedules.<name>: lr [steps + 1][groups], momentum [steps + 1][groups]
Usage: optim_parity.py OUT SPEC_JSON
"""
import json
import os
import sys
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

OPTION_NAMES = {"lr": "lr", "momentum": "momentum", "dampening": "dampening", "weightDecay": "weight_decay",
                "nesterov": "nesterov", "betas": "betas", "eps": "eps", "amsgrad": "amsgrad"}


def snake(options: dict) -> dict:
    out = {}
    for k, v in options.items():
        if k not in OPTION_NAMES:
            raise ValueError(f"unknown optimizer option {k}")
        out[OPTION_NAMES[k]] = tuple(v) if k == "betas" else v
    return out


def make_optimizer(kind: str, groups: list, options: dict) -> torch.optim.Optimizer:
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    return cls(groups, **snake(options))


def make_scheduler(opt: torch.optim.Optimizer, s: dict):
    S = torch.optim.lr_scheduler
    k = s["kind"]
    if k == "step":
        return S.StepLR(opt, step_size=s["stepSize"], gamma=s["gamma"])
    if k == "multistep":
        return S.MultiStepLR(opt, milestones=s["milestones"], gamma=s["gamma"])
    if k == "exponential":
        return S.ExponentialLR(opt, gamma=s["gamma"])
    if k == "cosine":
        return S.CosineAnnealingLR(opt, T_max=s["tMax"], eta_min=s["etaMin"])
    if k == "linear":
        return S.LinearLR(opt, start_factor=s["startFactor"], end_factor=s["endFactor"], total_iters=s["totalIters"])
    if k == "onecycle":
        return S.OneCycleLR(opt, max_lr=s["maxLr"], total_steps=s["totalSteps"], pct_start=float(s["pctStart"]),
                            anneal_strategy=s["annealStrategy"], cycle_momentum=s["cycleMomentum"],
                            base_momentum=s["baseMomentum"], max_momentum=s["maxMomentum"],
                            div_factor=float(s["divFactor"]), final_div_factor=float(s["finalDivFactor"]),
                            three_phase=s["threePhase"])
    if k == "sequential":
        return S.SequentialLR(opt, schedulers=[make_scheduler(opt, x) for x in s["schedulers"]], milestones=s["milestones"])
    raise ValueError(f"unknown scheduler {k}")


def momentum_of(group: dict) -> float:
    return group["betas"][0] if "betas" in group else group["momentum"]


def train(spec: dict, run: dict, dtype: torch.dtype) -> dict:
    net, w = spec["net"], spec["weights"]
    l1 = nn.Linear(net["inF"], net["hidden"]).to(dtype)
    l2 = nn.Linear(net["hidden"], net["classes"]).to(dtype)
    with torch.no_grad():
        l1.weight.copy_(torch.tensor(w["w1"], dtype=dtype).view(net["hidden"], net["inF"]))
        l1.bias.copy_(torch.tensor(w["b1"], dtype=dtype))
        l2.weight.copy_(torch.tensor(w["w2"], dtype=dtype).view(net["classes"], net["hidden"]))
        l2.bias.copy_(torch.tensor(w["b2"], dtype=dtype))
    o = run["optimizer"]
    groups = [{"params": [l1.weight, l1.bias], **snake(o["group0"])}, {"params": [l2.weight, l2.bias]}]
    opt = make_optimizer(o["kind"], groups, o["options"])
    sched = make_scheduler(opt, run["scheduler"])
    params = [l1.weight, l1.bias, l2.weight, l2.bias]
    clip = run["clip"]
    losses, lrs, norms = [], [], []
    for step in range(spec["steps"]):
        b = step % len(spec["inputs"])
        x = torch.tensor(spec["inputs"][b], dtype=dtype).view(net["batch"], net["inF"])
        y = torch.tensor(spec["labels"][b], dtype=torch.long)
        opt.zero_grad()
        loss = F.cross_entropy(l2(F.relu(l1(x))), y)
        loss.backward()
        norm = None
        if clip and "maxNorm" in clip:
            norm = nn.utils.clip_grad_norm_(params, clip["maxNorm"], clip["normType"]).item()
        elif clip:
            nn.utils.clip_grad_value_(params, clip["value"])
        lrs.append([g["lr"] for g in opt.param_groups])
        losses.append(loss.item())
        norms.append(norm)
        opt.step()
        sched.step()
    weights = {"w1": l1.weight, "b1": l1.bias, "w2": l2.weight, "b2": l2.bias}
    return {"loss": losses, "lr": lrs, "norm": norms, "weights": {k: v.detach().flatten().tolist() for k, v in weights.items()}}


def schedule(entry: dict) -> dict:
    params = [nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(2))]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, entry["groupLrs"])]
    opt = torch.optim.SGD(groups, lr=1, momentum=0.9) if entry["optimizer"] == "sgd" else torch.optim.Adam(groups, lr=1)
    sched = make_scheduler(opt, entry["spec"])
    lrs, moms = [], []
    for step in range(entry["steps"] + 1):
        if step > 0:
            opt.step()  # no gradients: nothing changes, but the order is torch's
            sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
        moms.append([momentum_of(g) for g in opt.param_groups])
    return {"lr": lrs, "momentum": moms}


def main() -> None:
    out, spec = sys.argv[1], json.loads(sys.argv[2])
    warnings.filterwarnings("ignore")  # SequentialLR's step(0) is torch's own deprecated call
    torch.set_num_threads(1)
    runs = {}
    for run in spec["runs"]:
        r32 = train(spec, run, torch.float32)
        r64 = train(spec, run, torch.float64)
        runs[run["name"]] = {**r32, "loss64": r64["loss"], "weights64": r64["weights"]}
    schedules = {e["name"]: schedule(e) for e in spec["schedules"]}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "optim_parity.json"), "w") as f:
        json.dump({"torch": torch.__version__, "runs": runs, "schedules": schedules}, f)


if __name__ == "__main__":
    main()
