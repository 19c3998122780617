#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build and test QwenTune:
# a C toolchain and the X11/OpenGL headers for Fyne (cgo), OpenBLAS for the
# matrix-multiply backend, Xvfb/xdotool/ImageMagick for the real-window test,
# the npm packages the tests use as reference implementations, and, with
# --tests, the Windows cross toolchain and Wine and the Python venv of the
# parity suite (scripts/pyenv.sh: PyTorch, transformers, PEFT, gguf; the app
# and the CLI never need Python).
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
tests=false
[ "${1:-}" = "--tests" ] && tests=true

pkgs=(gcc pkg-config libgl1-mesa-dev xorg-dev libopenblas-dev xvfb xdotool imagemagick nodejs npm python3 python3-venv)
# The Windows build and its test under Wine (scripts/package.sh --os windows,
# scripts/wine-test.sh): mingw-w64, Wine, Mesa's software OpenGL, zip.
$tests && pkgs+=(gcc-mingw-w64-x86-64 wine wine64 libgl1-mesa-dri zip unzip qemu-user-static)
$tests && pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross) # arm64 cgo build under qemu (scripts/arm64-test.sh)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm may come with nodejs from another source: accept a working npm binary.
if command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/npm}"); missing=("${missing[@]/nodejs}")
fi
read -r -a missing <<<"${missing[*]:-}"
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then export PATH=$PATH:/usr/local/go/bin; else
    echo "setup: Go 1.26 is required (https://go.dev/dl/)" >&2; exit 1; fi
fi

if [ -f tools/npm/package-lock.json ] && [ ! -d tools/npm/node_modules ]; then
  echo "setup: npm ci (test reference packages)"
  npm ci --prefix tools/npm --no-audit --no-fund >/dev/null
fi

if $tests; then
  echo "setup: the parity suite's Python venv"
  ./scripts/pyenv.sh >/dev/null
fi

echo "setup: building evaluator plugins"
./scripts/build-plugins.sh
