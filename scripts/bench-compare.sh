#!/usr/bin/env bash
# Runs our benchmark and PyTorch's (CPU, 2 threads) on the same shapes, one after the other, and prints the ratios.
# Usage: scripts/bench-compare.sh [--quick] [other flags for both, e.g. --model-batch 8 --img-size 224]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCH_OUT:-bench-results}
mkdir -p "$out"
node dist/bench.js --json "$out/ours.json" "$@"
/usr/bin/python3 tools/bench_torch.py --json "$out/torch.json" --shapes-from "$out/ours.json" "$@"
/usr/bin/python3 tools/compare_bench.py "$out/ours.json" "$out/torch.json"
