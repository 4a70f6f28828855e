#!/usr/bin/env python3
"""The one JSON of scripts/bench-gpu.sh, built from the files its parts left in its work folder:
parts.tsv (name, exit status, seconds, time limit per part), <part>.log, gradcheck.json, tune.json, parity.json,
kernels.json, model.json (node dist/*.js --json), torch.json, torch_kernels.json (tools/bench_torch.py --json),
runtime.txt (key=value lines) and nvidia-smi.txt. Standard library only.
Usage: bench_gpu_report.py WORK_DIR   prints the JSON; exit 0, 1 (the gradient check or the PyTorch parity failed)
or 2 (no part ran)."""
import json
import os
import re
import sys

# fp32 peaks without tensor cores (dense, boost clock), from NVIDIA's data sheets, by GPU name; the first match wins.
FP32_PEAK_TFLOPS = [
    ("H100 NVL", 60.0, "H100 NVL"),
    ("H100 PCIe", 51.0, "H100 PCIe"),
    ("H100", 67.0, "H100 SXM"),
    ("H200 NVL", 60.0, "H200 NVL"),
    ("H200", 67.0, "H200 SXM (as H100 SXM)"),
]
TARGETS = {"matmul_percent_of_peak": 25.0, "train_ratio": 0.5}
PARTS = ["gradcheck", "tune", "parity", "kernels", "model", "torch", "torch_kernels"]


def read_json(work, name):
    try:
        with open(os.path.join(work, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_lines(work, name):
    try:
        with open(os.path.join(work, name), errors="replace") as f:
            return [l.rstrip("\n") for l in f]
    except OSError:
        return []


def error_line(lines):
    """A failed part's message: its first 'error: …' line (the Node CLIs), else its last non-empty line."""
    for l in lines:
        if l.startswith("error: "):
            return l[len("error: "):][:400]
    rest = [l for l in lines if l.strip()]
    return rest[-1][:400] if rest else "no output"


def parts_status(work):
    status = {p: {"status": "not run"} for p in PARTS}
    for line in read_lines(work, "parts.tsv"):
        name, rc, seconds, limit = (line.split("\t") + ["", "", "", ""])[:4]
        s = {"seconds": float(seconds) if seconds else None, "limit_s": int(limit) if limit.isdigit() else None}
        if rc == "skip":
            s["status"] = "skipped"
        elif rc == "notime":
            s.update(status="not run", error="no time left in the budget")
        elif rc == "0":
            s["status"] = "ok"
        elif rc in ("124", "137"):
            s.update(status="timed out", exit=int(rc), error=f"stopped after its limit of {limit} s")
        else:
            s.update(status="failed", exit=int(rc) if rc.lstrip("-").isdigit() else rc, error=error_line(read_lines(work, f"{name}.log")))
        status[name] = s
    return status


def gpu_name(work, runtime, torch_adapter, dawn):
    smi = [l for l in read_lines(work, "nvidia-smi.txt") if l.strip()]
    if smi:
        name, _, driver = smi[0].partition(",")
        return {"name": name.strip(), "driver": driver.strip(), "source": "nvidia-smi", "count": len(smi)}
    m = re.search(r"CUDA .*?, (.+)$", torch_adapter or "")
    if m:
        return {"name": m.group(1), "driver": None, "source": "torch.cuda.get_device_name"}
    if dawn:
        return {"name": dawn.get("description") or dawn.get("name"), "driver": None, "source": "the WebGPU adapter"}
    return None


def fp32_peak(name):
    for key, tflops, which in FP32_PEAK_TFLOPS:
        if name and key.lower() in name.lower():
            return {"tflops": tflops, "gpu": which, "note": "fp32 without tensor cores, NVIDIA data sheet (a constant per GPU name)"}
    return None


def finite(x):
    """x with every NaN or infinite float as None (the JSON stays valid)."""
    if isinstance(x, float):
        return x if x == x and abs(x) != float("inf") else None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [finite(v) for v in x]
    return x


def main():
    work = sys.argv[1]
    runtime = dict(l.split("=", 1) for l in read_lines(work, "runtime.txt") if "=" in l)
    parts = parts_status(work)
    gc, tune, parity, kernels, model = (read_json(work, f"{n}.json") for n in ("gradcheck", "tune", "parity", "kernels", "model"))
    torch_model, torch_kernels = read_json(work, "torch.json"), read_json(work, "torch_kernels.json")

    dawn = next(({"name": d.get("adapter"), "description": d.get("adapter_description")} for d in (gc, kernels, model, tune) if d), None)
    torch_adapter = next((d.get("adapter") for d in (torch_model, torch_kernels) if d), None)
    gpu = gpu_name(work, runtime, torch_adapter, dawn)
    peak = fp32_peak(gpu and gpu["name"]) or fp32_peak(dawn and dawn["description"])
    out = {
        "script": "scripts/bench-gpu.sh",
        "mode": runtime.get("mode"),
        "commit": runtime.get("commit"),
        "started": runtime.get("started"),
        "seconds": float(runtime["seconds"]) if runtime.get("seconds") else None,
        "runtime": {k: v for k, v in runtime.items() if k not in ("mode", "commit", "started", "seconds")},
        "gpu": gpu,
        "adapter": dawn,
        "torch": torch_adapter,
        "fp32_peak": peak,
        "targets": TARGETS,
    }

    # (1) The gradient checks.
    g = {"status": parts["gradcheck"]["status"]}
    if gc:
        failed = gc.get("failed", [])
        g.update(passed=gc.get("passed"), checks=gc.get("checks"), failed=len(failed), skipped=gc.get("skipped", []), seconds=gc.get("seconds"),
                 failures=[{k: f.get(k) for k in ("kernel", "name", "error", "tol", "message") if f.get(k) is not None} for f in failed[:20]])
    elif parts["gradcheck"].get("error"):
        g.update(passed=False, error=parts["gradcheck"]["error"])
    out["gradcheck"] = g

    # (1b) ResNet-34 against PyTorch on this adapter (bench --parity), with the tuned kernels.
    pr = (parity or {}).get("parity")
    pa = {"status": parts["parity"]["status"]}
    if pr:
        rows = pr.get("rows", [])
        pa.update(passed=bool(pr.get("pass")), batch=pr.get("batch"), size=pr.get("size"), comparisons=len(rows),
                  failures=[r for r in rows if not r.get("pass")],
                  worst=max(rows, key=lambda r: r["error"] / r["tolerance"] if r["tolerance"] else r["error"], default=None))
    elif parts["parity"].get("error"):
        pa.update(passed=False, error=parts["parity"]["error"])
    out["parity"] = pa

    # (2) The kernel rows, with PyTorch's time for the same row where it ran.
    ref = {(r["name"], r["shape"]): r for r in (torch_kernels or {}).get("kernels", [])}
    rows = []
    for r in (kernels or {}).get("kernels", []):
        row = {k: r[k] for k in ("name", "shape", "ms", "gflops", "gbps", "kernels") if k in r}
        t = ref.get((r["name"], r["shape"]))
        if t:
            row["torch_ms"] = t["ms"]
        rows.append(row)
    out["kernels"] = {"status": parts["kernels"]["status"], "rows": rows}
    for p in ("kernels", "torch_kernels"):
        if parts[p].get("error"):
            out["kernels"][f"{p}_error"] = parts[p]["error"]
    if kernels:
        out["kernels"]["ceilings"] = kernels.get("ceilings")

    # The largest square matmul (4096³ on a GPU): every matmul kernel on it; the best against the fp32 peak.
    def square(r):
        dims = r["shape"].split("x")
        return int(dims[0]) if r["name"].startswith("matmul ") and len(dims) == 3 and len(set(dims)) == 1 and "gflops" in r else 0

    def kernel_name(r):
        """A matmul variant's name; 'default' for the 'matmul square N' row (the tuned or heuristic choice)."""
        name = r["name"][len("matmul "):]
        return "default" if name.startswith("square ") else name

    n = max((square(r) for r in rows), default=0)
    if n:
        on = [r for r in rows if square(r) == n]
        best = max(on, key=lambda r: r["gflops"])
        sq = {"shape": best["shape"], "best_gflops": best["gflops"], "best_kernel": kernel_name(best),
              "kernels": {kernel_name(r): r["gflops"] for r in on}}
        if peak:
            sq["percent_of_fp32_peak"] = 100 * best["gflops"] / (peak["tflops"] * 1000)
            sq["meets_target"] = sq["percent_of_fp32_peak"] >= TARGETS["matmul_percent_of_peak"]
        t = [x for x in (torch_kernels or {}).get("kernels", []) if x["shape"] == best["shape"] and "gflops" in x]
        if t:
            sq["torch_gflops"] = max(x["gflops"] for x in t)
        out["matmul_square"] = sq
    else:
        out["matmul_square"] = None

    # (3) The ResNet step, ours against PyTorch.
    ours, theirs = (model or {}).get("model"), (torch_model or {}).get("model")
    res = {"status": {"ours": parts["model"]["status"], "torch": parts["torch"]["status"]}, "ours": ours, "torch": theirs}
    errors = {k: parts[p]["error"] for k, p in (("ours", "model"), ("torch", "torch")) if parts[p].get("error")}
    if errors:
        res["errors"] = errors
    if ours and theirs:
        same = all(ours.get(k) == theirs.get(k) for k in ("arch", "batch", "img_size"))
        res["same_settings"] = same
        res["train_ratio"] = ours["train_images_per_second"] / theirs["train_images_per_second"]
        res["eval_ratio"] = ours["eval_images_per_second"] / theirs["eval_images_per_second"]
        res["meets_target"] = res["train_ratio"] >= TARGETS["train_ratio"]
    out["resnet"] = res

    # The tuner's choices.
    tuned = (tune or {}).get("tuned")
    if tuned is not None:
        out["tune"] = {
            "status": parts["tune"]["status"],
            "choices": len(tuned),
            "differ_from_heuristic": sum(1 for c in tuned if c["pick"] != c["heuristic"]),
            "timers": sorted({c.get("timer") for c in tuned if c.get("timer")}),
            "picks": [{"site": c["site"], "shape": c["shape"], "pick": c["pick"], "heuristic": c["heuristic"],
                       "speedup": c["times"][c["heuristic"]] / c["times"][c["pick"]] if c.get("times", {}).get(c["pick"]) and c["times"].get(c["heuristic"]) else None}
                      for c in tuned],
        }
    else:
        out["tune"] = {"status": parts["tune"]["status"], "error": parts["tune"].get("error")}
    out["parts"] = parts

    gradcheck_failed = parts["gradcheck"]["status"] not in ("skipped",) and not (gc and gc.get("passed") and parts["gradcheck"]["status"] == "ok")
    # Numbers off from PyTorch's (not a part that could not run, such as a machine without torchvision: its error says so).
    parity_failed = bool(pr) and not pr.get("pass")
    ran = any(p["status"] == "ok" for p in parts.values())
    out["passed"] = ran and not gradcheck_failed and not parity_failed
    print(json.dumps(finite(out), indent=2, allow_nan=False, default=str))
    return 2 if not ran else 1 if gradcheck_failed or parity_failed else 0


if __name__ == "__main__":
    sys.exit(main())
