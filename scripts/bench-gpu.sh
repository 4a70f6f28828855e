#!/usr/bin/env bash
# The GPU check, in one call, on a machine with an NVIDIA GPU, CUDA and PyTorch but no Node and no network:
#   1. gradcheck      the gradient-check suite (node dist/gradcheck.js) on the GPU's WebGPU adapter;
#   2. tune           the autotuner on the kernel rows' shapes and on the ResNet-34 step (bench --tune-only),
#                     kept in a tune cache that the next parts load;
#   parity            ResNet-34 against PyTorch on the GPU's adapter, with the tuned kernels: the fixture of
#                     tools/make_resnet_fixture.py (PyTorch on the CPU, float64 gradients; it needs torchvision),
#                     then bench --parity (eval logits, a train step's loss and gradients, running statistics);
#   3. kernels        the kernel bench (bench --no-model), 4096³ matmul rows included;
#   4. model          the ResNet-34 train and eval steps at batch 32 and 224 px (bench --no-kernels);
#   5. torch          PyTorch CUDA fp32 (TF32 off) on the same step (tools/bench_torch.py --device cuda);
#   6. torch_kernels  PyTorch on the kernel rows' shapes.
# It prints one JSON on stdout (tools/bench_gpu_report.py; everything else goes to stderr) and writes it to
# $OUT/bench-gpu.json when $OUT is set, with each part's log and JSON in $OUT/bench-gpu-parts/. A part that
# fails or runs out of time is recorded in the JSON and the next one runs. Exit status: 0, or 1 when the
# gradient check failed (or the report could not be built), or 2 when no part ran.
#
# Prepare here (linux-x64): scripts/pack-gpu.sh (builds dist/ and writes .devgpu/), then carry .devgpu and
# dist to the GPU machine and run scripts/bench-gpu.sh from the checkout there. It unpacks .devgpu's Node,
# dawn.node and Vulkan loader into $BENCH_GPU_RUNTIME (default /tmp/webgpu-resnet-runtime) and
# node_modules/webgpu. The parts' time limits keep the whole run under 9 minutes.
#
# Environment:
#   VK_DRIVER_FILES      the Vulkan driver (default /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json)
#   WEBGPU_ADAPTER       Dawn's adapter, by a part of its name (default NVIDIA; set it empty for Dawn's choice)
#   PYTHON               the Python with PyTorch (default python3)
#   BENCH_GPU_PARTS      the parts to run, comma-separated (default all seven)
#   BENCH_GPU_BUDGET_S   seconds for all parts together (default 480)
#   BENCH_GPU_<PART>_ARGS  extra flags for one part (GRADCHECK, TUNE, PARITY, KERNEL, MODEL, TORCH, TORCH_KERNEL)
#   BENCH_GPU_LOCAL=1    a quick run on this machine: no unpacking, the local node and adapter, PyTorch on the
#                        CPU, tiny sizes (ResNet-18 at 32 px, batch 2; the parity fixture at 64 px); what
#                        test/dist/bench_gpu_script.test.ts runs
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
t0=$SECONDS
local_mode=${BENCH_GPU_LOCAL:-0}
py=${PYTHON:-python3}
parts=",${BENCH_GPU_PARTS:-gradcheck,tune,parity,kernels,model,torch,torch_kernels},"
budget=${BENCH_GPU_BUDGET_S:-480}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-gpu.XXXXXX")
trap 'rm -rf "$work"' EXIT
say() { printf 'bench-gpu: %s\n' "$*" >&2; }

if [ "$local_mode" = 1 ]; then
  mode=local
  tune_args=(--tune-only --no-kernels --model-batch 2 --img-size 32 --arch resnet18 --samples 1)
  kernel_args=(--no-model --quick --batch 2 --samples 1)
  model_args=(--no-kernels --model-batch 2 --img-size 32 --arch resnet18 --steps 1 --samples 1)
  torch_args=(--device cpu --no-kernels --model-batch 2 --img-size 32 --arch resnet18 --steps 1)
  torch_kernel_args=(--device cpu --no-model --quick --batch 2 --samples 1)
  parity_fixture=(--batch 2 --size 64)
else
  mode=gpu
  # No --quick for the kernel rows: it would drop the 4096³ matmuls. Tuning covers the rows' shapes and the step.
  tune_args=(--tune-only --batch 32 --model-batch 32 --img-size 224 --arch resnet34 --samples 3)
  kernel_args=(--no-model --batch 32 --samples 3)
  model_args=(--no-kernels --model-batch 32 --img-size 224 --arch resnet34 --steps 3 --samples 3)
  torch_args=(--device cuda --no-kernels --model-batch 32 --img-size 224 --arch resnet34 --steps 3)
  torch_kernel_args=(--device cuda --no-model --batch 32 --samples 3)
  parity_fixture=(--batch 2 --size 224)
fi
# Time limits per part (seconds); each part also leaves 15 s per later part of the budget.
declare -A limit=([gradcheck]=60 [tune]=120 [parity]=60 [kernels]=90 [model]=75 [torch]=60 [torch_kernels]=45)
order=(gradcheck tune parity kernels model torch torch_kernels)

runtime_error=""
# Unpack .devgpu/runtime.tar.xz (scripts/pack-gpu.sh): Node on PATH, the Vulkan loader on LD_LIBRARY_PATH,
# dawn.node in node_modules/webgpu where dist/*.js import it.
unpack() {
  local rt=${BENCH_GPU_RUNTIME:-/tmp/webgpu-resnet-runtime} archive=.devgpu/runtime.tar.xz
  if [ ! -f "$archive" ]; then
    runtime_error="$archive is missing: run scripts/pack-gpu.sh on a linux-x64 machine and carry .devgpu and dist"
    return 1
  fi
  if [ ! -f dist/bench.js ] || [ ! -f dist/gradcheck.js ]; then
    runtime_error="dist/ is missing or incomplete: carry dist (scripts/pack-gpu.sh builds it)"
    return 1
  fi
  rm -rf "$rt"
  mkdir -p "$rt" || { runtime_error="cannot create $rt"; return 1; }
  if command -v xz >/dev/null; then
    xz -dc "$archive" | tar -C "$rt" -xf -
  else
    "$py" -c 'import sys, tarfile
t = tarfile.open(sys.argv[1])
t.extractall(sys.argv[2], **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))' "$archive" "$rt"
  fi || { runtime_error="cannot unpack $archive into $rt"; return 1; }
  if [ ! -f node_modules/webgpu/dist/linux-x64/dawn.node ]; then
    rm -rf node_modules/webgpu
    if ! { mkdir -p node_modules && cp -r "$rt/node_modules/webgpu" node_modules/; }; then
      runtime_error="cannot copy webgpu into node_modules"
      return 1
    fi
  fi
  export PATH="$rt/bin:$PATH" LD_LIBRARY_PATH="$rt/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local probe="import('webgpu').then(() => {}, (e) => { console.error(e.message); process.exit(1); })" msg
  if ! msg=$(node --input-type=module -e "$probe" 2>&1); then
    # dawn.node needs a newer libstdc++ than the machine's: the packed one.
    if [[ $msg == *GLIBCXX* ]]; then
      export LD_LIBRARY_PATH="$rt/lib/compat:$LD_LIBRARY_PATH"
      msg=$(node --input-type=module -e "$probe" 2>&1) || { runtime_error="dawn.node does not load: ${msg//$'\n'/ }"; return 1; }
      say "dawn.node loads with the packed libstdc++"
    else
      runtime_error="node or dawn.node does not start: ${msg//$'\n'/ }"
      return 1
    fi
  fi
}

if [ "$mode" = gpu ]; then
  export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
  [ -f "$VK_DRIVER_FILES" ] || say "warning: VK_DRIVER_FILES=$VK_DRIVER_FILES does not exist"
  export WEBGPU_ADAPTER=${WEBGPU_ADAPTER-NVIDIA}
  [ -n "$WEBGPU_ADAPTER" ] || unset WEBGPU_ADAPTER
  # Dawn offers 'chromium-experimental-subgroup-matrix' (the float16 GEMM of kernels/matmul/smatrix.ts, checked by
  # the gradient-check suite where the GPU has float16 configurations) only with this toggle.
  export WEBGPU_DAWN_FEATURES=${WEBGPU_DAWN_FEATURES-allow_unsafe_apis}
  unpack || say "error: $runtime_error"
fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$work/nvidia-smi.txt" 2>/dev/null || rm -f "$work/nvidia-smi.txt"

{
  echo "mode=$mode"
  echo "started=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  commit=$(git rev-parse HEAD 2>/dev/null) || commit=$(sed -n 's/^commit=//p' .devgpu/manifest.txt 2>/dev/null)
  echo "commit=$commit"
  echo "node=$(node --version 2>/dev/null || echo none)"
  echo "python=$("$py" --version 2>&1 || echo "none ($py)")"
  echo "vk_driver_files=${VK_DRIVER_FILES:-}"
  echo "webgpu_adapter=${WEBGPU_ADAPTER:-}"
  echo "budget_s=$budget"
  [ -n "$runtime_error" ] && echo "error=$runtime_error"
  [ "$mode" = gpu ] && [ -f .devgpu/manifest.txt ] && sed 's/^/packed_/' .devgpu/manifest.txt
} > "$work/runtime.txt"

# part NAME COMMAND...: run one part under its time limit, its output to stderr and NAME.log, its result in parts.tsv.
part() {
  local name=$1 i later=0 left t start rc cap
  shift
  if [[ $parts != *",$name,"* ]]; then
    printf '%s\tskip\t\t\n' "$name" >> "$work/parts.tsv"
    return
  fi
  for ((i = ${#order[@]} - 1; i >= 0; i--)); do
    [ "${order[i]}" = "$name" ] && break
    [[ $parts == *",${order[i]},"* ]] && later=$((later + 1))
  done
  left=$((budget - (SECONDS - t0) - 15 * later))
  cap=${limit[$name]}
  t=$((left < cap ? left : cap))
  if [ "$t" -lt 10 ]; then
    say "$name: no time left"
    printf '%s\tnotime\t\t\n' "$name" >> "$work/parts.tsv"
    return
  fi
  say "$name (at most $t s): $*"
  start=$SECONDS
  if command -v timeout >/dev/null; then
    timeout -k 5 "$t" "$@" 2>&1 | tee "$work/$name.log" >&2
  else
    "$@" 2>&1 | tee "$work/$name.log" >&2
  fi
  rc=${PIPESTATUS[0]}
  say "$name: exit $rc after $((SECONDS - start)) s"
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - start))" "$t" >> "$work/parts.tsv"
}

if [ -z "$runtime_error" ]; then
  cache=(--tune-cache "$work/tune-cache.json")
  # shellcheck disable=SC2086 # the extra flags are word-split on purpose
  {
    part gradcheck node dist/gradcheck.js --json "$work/gradcheck.json" ${BENCH_GPU_GRADCHECK_ARGS:-}
    part tune node dist/bench.js "${tune_args[@]}" "${cache[@]}" --json "$work/tune.json" ${BENCH_GPU_TUNE_ARGS:-}
    # The fixture (PyTorch, its log to stderr), then our model on it: bench --parity exits 1 when a number is off.
    part parity bash -c '"$0" tools/make_resnet_fixture.py "$1" "${@:2:4}" >&2 && exec node dist/bench.js --parity "$1" --no-kernels --no-model "${@:6}"' \
      "$py" "$work/parity" "${parity_fixture[@]}" "${cache[@]}" --json "$work/parity.json" ${BENCH_GPU_PARITY_ARGS:-}
    part kernels node dist/bench.js "${kernel_args[@]}" "${cache[@]}" --json "$work/kernels.json" ${BENCH_GPU_KERNEL_ARGS:-}
    part model node dist/bench.js "${model_args[@]}" "${cache[@]}" --json "$work/model.json" ${BENCH_GPU_MODEL_ARGS:-}
  }
else
  for p in gradcheck tune parity kernels model; do printf '%s\t%s\t\t\n' "$p" "$([[ $parts == *",$p,"* ]] && echo 1 || echo skip)" >> "$work/parts.tsv"; echo "error: $runtime_error" > "$work/$p.log"; done
fi
shapes=()
[ -f "$work/kernels.json" ] && shapes=(--shapes-from "$work/kernels.json")
# shellcheck disable=SC2086
{
  part torch "$py" tools/bench_torch.py "${torch_args[@]}" --json "$work/torch.json" ${BENCH_GPU_TORCH_ARGS:-}
  part torch_kernels "$py" tools/bench_torch.py "${torch_kernel_args[@]}" "${shapes[@]}" --json "$work/torch_kernels.json" ${BENCH_GPU_TORCH_KERNEL_ARGS:-}
}

echo "seconds=$((SECONDS - t0))" >> "$work/runtime.txt"
report=$("$py" tools/bench_gpu_report.py "$work")
rc=$?
if [ -z "$report" ] || [ "$rc" -gt 2 ]; then
  say "error: tools/bench_gpu_report.py failed (exit $rc)"
  report="{\"script\": \"scripts/bench-gpu.sh\", \"error\": \"tools/bench_gpu_report.py failed (exit $rc): see stderr\"}"
  rc=1
fi
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT/bench-gpu-parts"
  printf '%s\n' "$report" > "$OUT/bench-gpu.json"
  cp "$work"/*.json "$work"/*.log "$work"/*.tsv "$work"/*.txt "$OUT/bench-gpu-parts/" 2>/dev/null
fi
printf '%s\n' "$report"
exit "$rc"
