#!/usr/bin/env bash
# Packs what a GPU machine without Node needs to run this project's dist/ there: this machine's Node binary,
# Dawn's dawn.node for linux-x64 (npm `webgpu`) and the Vulkan loader (libvulkan.so.1), plus a libstdc++ that
# dawn.node can fall back on when the machine's is older than the one it was built against.
# Run from anywhere in the checkout, on linux-x64, after `npm ci`. It builds dist/ (`node build.mjs`; set
# PACK_GPU_NO_BUILD=1 to keep the current one) and writes .devgpu/ (ignored by git):
#   .devgpu/runtime.tar.xz   bin/node, lib/libvulkan.so.1*, lib/compat/libstdc++.so.6*, node_modules/webgpu/
#   .devgpu/manifest.txt     what is inside (versions, the commit) as key=value lines
# Then carry .devgpu and dist to the GPU machine and run scripts/bench-gpu.sh there, which unpacks the archive.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
[ "$(uname -m)" = x86_64 ] || { echo "pack-gpu.sh: this machine is $(uname -m); the GPU machine needs linux-x64 binaries" >&2; exit 1; }
[ -f node_modules/webgpu/dist/linux-x64/dawn.node ] || { echo "pack-gpu.sh: node_modules/webgpu/dist/linux-x64/dawn.node is missing: run npm ci first" >&2; exit 1; }
[ "${PACK_GPU_NO_BUILD:-0}" = 1 ] || node build.mjs >&2
for f in dist/bench.js dist/gradcheck.js; do [ -f "$f" ] || { echo "pack-gpu.sh: $f is missing: build with node build.mjs" >&2; exit 1; }; done

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib/compat" "$stage/node_modules/webgpu/dist"
cp "$(readlink -f "$(command -v node)")" "$stage/bin/node"
cp -r node_modules/webgpu/package.json node_modules/webgpu/index.js node_modules/webgpu/LICENSE.md "$stage/node_modules/webgpu/"
cp -r node_modules/webgpu/dist/linux-x64 "$stage/node_modules/webgpu/dist/"

# The Vulkan loader: this machine's (lavapipe runs through it here), else Debian's package downloaded by apt.
vulkan=$(ldconfig -p | awk '/libvulkan\.so\.1 .*x86-64/ { print $NF; exit }')
if [ -n "$vulkan" ]; then
  cp -L "$vulkan" "$stage/lib/libvulkan.so.1"
  vulkan_from=$vulkan
else
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/pack-gpu-apt'
  mkdir -p /tmp/pack-gpu-apt/partial "$stage/deb"
  # shellcheck disable=SC2086 # $o is a list of options
  apt-get $o update -qq >/dev/null
  # shellcheck disable=SC2086
  (cd "$stage/deb" && apt-get $o download libvulkan1 >/dev/null)
  dpkg -x "$stage"/deb/libvulkan1_*.deb "$stage/deb/x"
  cp -L "$stage"/deb/x/usr/lib/x86_64-linux-gnu/libvulkan.so.1 "$stage/lib/libvulkan.so.1"
  vulkan_from=$(basename "$stage"/deb/libvulkan1_*.deb)
  rm -rf "$stage/deb"
fi
# dawn.node needs GLIBCXX_3.4.30 (GCC 12's libstdc++): used only where the machine's libstdc++ lacks it.
libstdcxx=$(ldconfig -p | awk '/libstdc\+\+\.so\.6 .*x86-64/ { print $NF; exit }')
[ -n "$libstdcxx" ] && cp -L "$libstdcxx" "$stage/lib/compat/libstdc++.so.6"

rm -rf .devgpu
mkdir -p .devgpu
tar -C "$stage" -cf - bin lib node_modules | xz -T2 -6 > .devgpu/runtime.tar.xz
{
  echo "commit=$(git rev-parse HEAD)$(git diff --quiet HEAD -- src build.mjs || echo '+uncommitted')"
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "node=$(node --version)"
  echo "webgpu=$(node -p "require('./node_modules/webgpu/package.json').version")"
  echo "vulkan_loader=$vulkan_from"
  echo "libstdcxx_compat=${libstdcxx:-none}"
} > .devgpu/manifest.txt

cat .devgpu/manifest.txt >&2
size() { du -sm "$1" | cut -f1; }
echo "pack-gpu.sh: .devgpu is $(size .devgpu) MiB, dist $(size dist) MiB; carry [\".devgpu\", \"dist\"] and run scripts/bench-gpu.sh" >&2
