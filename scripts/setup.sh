#!/usr/bin/env bash
# Sets up everything the project needs on Debian/Ubuntu, then builds it.
#   scripts/setup.sh               the WebGPU driver (when no adapter works), npm packages, the build
#   scripts/setup.sh --test-tools  also what the tests use: PyTorch (python3-torch), scikit-learn (its handwritten
#                                  digits, real data for the float16 accuracy test), Chromium, and (as root) a
#                                  Debian sid root with a newer lavapipe that offers subgroup matrices
# Installing system packages needs root (or sudo). Everything is skipped when already present.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test_tools=0
[[ "${1:-}" == "--test-tools" ]] && want_test_tools=1

SUDO=""
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null; then SUDO="sudo"; fi
apt_updated=0
apt_install() {
  if ! command -v apt-get >/dev/null; then
    echo "setup: apt-get not found; install these yourself: $*" >&2
    return 0
  fi
  if [[ $apt_updated -eq 0 ]]; then $SUDO apt-get update -q >/dev/null; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# 1. npm packages (exactly the lock file).
if [[ ! -d node_modules/webgpu ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

# 2. A WebGPU adapter. Dawn needs Vulkan; without a GPU, Mesa >= 23 lavapipe is the software driver.
adapter_ok() { node -e "import('webgpu').then(async ({create,globals})=>{Object.assign(globalThis,globals);const g=create([]);const a=await g.requestAdapter();process.exit(a?0:1)}).catch(()=>process.exit(1))" 2>/dev/null; }
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
if ! adapter_ok; then
  echo "setup: no WebGPU adapter; installing Mesa's lavapipe software Vulkan driver"
  . /etc/os-release 2>/dev/null || true
  if [[ "${VERSION_CODENAME:-}" == "bookworm" ]]; then
    # Debian 12's own Mesa 22.3 is too old for Dawn; bookworm-backports has Mesa 25.
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' | $SUDO tee /etc/apt/sources.list.d/backports.sources >/dev/null
    apt_updated=0
    apt_install -t bookworm-backports mesa-vulkan-drivers
  else
    apt_install mesa-vulkan-drivers
  fi
  adapter_ok || { echo "setup: still no WebGPU adapter; see README.md (Requirements)" >&2; exit 1; }
fi

# 3. Test tools: PyTorch for the parity fixtures, Chromium for the browser test.
if [[ $want_test_tools -eq 1 ]]; then
  if ! /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null; then
    echo "setup: installing python3-torch and python3-torchvision (PyTorch reference for the parity tests)"
    apt_install python3-torch python3-torchvision
  fi
  if ! /usr/bin/python3 -c 'import sklearn, PIL' 2>/dev/null; then
    echo "setup: installing python3-sklearn and python3-pil (real handwritten digits for the float16 accuracy test)"
    apt_install python3-sklearn python3-pil
  fi
  if ! command -v chromium >/dev/null; then
    echo "setup: installing chromium (browser test)"
    apt_install chromium
  fi
  # The subgroup-matrix kernel's tests (test/dist/subgroup_matrix.test.ts) need an adapter that offers
  # 'chromium-experimental-subgroup-matrix': lavapipe from Mesa 25.2 on (VK_KHR_cooperative_matrix). Debian 12's
  # backports stop at 25.0, and sid's Mesa needs sid's glibc, so it lives in a sid root (about 1 GB, 1 minute),
  # run through chroot (root only). WEBGPU_RESNET_SID_ROOT moves it.
  sid_root="${WEBGPU_RESNET_SID_ROOT:-/opt/webgpu-resnet-sid}"
  if [[ $(id -u) -eq 0 ]] && [[ ! -e "$sid_root/usr/share/vulkan/icd.d/lvp_icd.json" ]]; then
    echo "setup: a Debian sid root with Mesa's newest lavapipe in $sid_root (subgroup-matrix tests)"
    command -v debootstrap >/dev/null || apt_install debootstrap
    debootstrap --variant=minbase sid "$sid_root" http://deb.debian.org/debian >/dev/null
    # sid's Release file can be past its Valid-Until on a machine whose clock runs ahead of the mirror.
    chroot "$sid_root" apt-get -o Acquire::Check-Valid-Until=false update -q >/dev/null
    chroot "$sid_root" env DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Check-Valid-Until=false install -y -q --no-install-recommends mesa-vulkan-drivers >/dev/null
  fi
  # The same Node runs there (its binary needs only glibc).
  if [[ -d "$sid_root/usr" ]] && ! cmp -s "$(command -v node)" "$sid_root/usr/local/bin/node"; then
    cp "$(command -v node)" "$sid_root/usr/local/bin/node"
  fi
fi

# 4. Build.
echo "setup: build"
npm run build --silent
