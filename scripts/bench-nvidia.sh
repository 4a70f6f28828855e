#!/usr/bin/env bash
# The side-by-side benchmark on an NVIDIA GPU machine (CUDA PyTorch, no Node installed there):
# ours through Dawn's Vulkan backend against PyTorch CUDA fp32 with TF32 off, same shapes, ResNet-34 step at
# batch 32 and 224 px by default. Prepare here: build dist/ (`node build.mjs`) and put a portable Node with
# this repository's node_modules in .devgpu/ (its setup.sh puts them on PATH); carry .devgpu and dist, then
# run this there. Not yet run on such a machine.
# Usage: scripts/bench-nvidia.sh [extra flags for both benches, e.g. --quick]
set -euo pipefail
cd "$(dirname "$0")/.."
bash .devgpu/setup.sh
export PATH=/tmp/devgpu:$PATH VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
out=${OUT:-bench-results}
mkdir -p "$out"
node dist/bench.js --json "$out/ours-nvidia.json" --model-batch 32 "$@"
python3 tools/bench_torch.py --device cuda --json "$out/torch-cuda.json" --shapes-from "$out/ours-nvidia.json" --model-batch 32 "$@"
python3 tools/compare_bench.py "$out/ours-nvidia.json" "$out/torch-cuda.json"
