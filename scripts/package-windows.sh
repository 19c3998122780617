#!/usr/bin/env bash
# scripts/package.sh --os windows: cross-builds QwenTune for Windows x86-64
# into dist/QwenTune-windows-amd64.zip (see package.sh). Needs
# x86_64-w64-mingw32-gcc and -windres (Debian gcc-mingw-w64-x86-64),
# ImageMagick (the icon) and zip. The C runtime is statically linked, so the
# user installs nothing besides the zip's files.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
for tool in x86_64-w64-mingw32-gcc x86_64-w64-mingw32-windres convert zip; do
  command -v "$tool" >/dev/null || { echo "package.sh --os windows: $tool is missing (scripts/setup.sh --tests installs it)" >&2; exit 1; }
done
export GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc CXX=x86_64-w64-mingw32-g++
root=$(pwd)
stage=$(mktemp -d)
syso=cmd/desktop/zz_icon_windows_amd64.syso
trap 'rm -rf "$stage" "$root/$syso"' EXIT
top="$stage/QwenTune"
mkdir -p "$top/plugins"

# The plugins first: their SHA-256 go into the app and the CLI
# (host.shipped), so the zip's plugins run without approval and a plugin
# swapped in later does not.
pkgs=()
for main in plugins/evaluators/*/main.go; do pkgs+=("./$(dirname "$main")"); done
go build -trimpath -ldflags "-s -w" -o "$stage/" "${pkgs[@]}"
for pkg in "${pkgs[@]}"; do
  name=$(basename "$pkg")
  mv "$stage/$name.exe" "$top/plugins/qwentune-eval-$name.exe"
done
sums=$(cd "$top/plugins" && sha256sum qwentune-eval-*.exe | cut -d' ' -f1 | paste -sd, -)
(cd "$top/plugins" && sha256sum qwentune-eval-*.exe >SHA256SUMS.txt)

# The icon as a Windows resource (.syso, linked by go build): the
# executable shows it in Explorer and on the task bar.
convert Icon.png -define icon:auto-resize=256,64,48,32,16 "$stage/icon.ico"
cp Icon.png "$top/Icon.png"
printf '1 ICON "%s"\n' "$stage/icon.ico" >"$stage/icon.rc"
x86_64-w64-mingw32-windres -O coff -i "$stage/icon.rc" -o "$syso"

ldflags="-s -w -X qwentune/plugins/evaluators/host.shipped=$sums -extldflags=-static"
# -H=windowsgui: the app opens no console window.
go build -trimpath -ldflags "$ldflags -H=windowsgui" -o "$top/QwenTune.exe" ./cmd/desktop
go build -trimpath -ldflags "$ldflags" -o "$top/qwentune.exe" ./cmd/qwentune

version=$(sed -n 's/^Version = "\(.*\)"/\1/p' FyneApp.toml)
sed 's/$/\r/' >"$top/README.txt" <<TXT
QwenTune $version for Windows (x86-64)

Fine-tune Qwen models with LoRA on your CPU, evaluate them and
chat with them. Nothing to install: keep the files of this folder together.

  QwenTune.exe   the desktop app: double-click it. Without a model it starts
                 on a small built-in demo model; pick a model folder or a
                 Hugging Face model name in the app.
  qwentune.exe   the command line (run "qwentune.exe help" in a terminal).
  plugins\\       the evaluator plugins. Their checksums (SHA256SUMS.txt) are
                 built into QwenTune.exe and qwentune.exe, so they run as
                 they are; a changed or added plugin must be approved first
                 ("qwentune.exe evaluators --trust PATH").

Settings and approved plugins live in %AppData%\\qwentune, downloaded models
in the Hugging Face cache (%UserProfile%\\.cache\\huggingface, or HF_HOME).
The Windows build multiplies with QwenTune's own kernels and pure-Go BLAS
(no OpenBLAS); training is slower than the Linux build on the same CPU.
TXT

mkdir -p dist
rm -f dist/QwenTune-windows-amd64.zip
(cd "$stage" && zip -qr -X "$root/dist/QwenTune-windows-amd64.zip" QwenTune)
echo "dist/QwenTune-windows-amd64.zip: unzip it on Windows and double-click QwenTune\\QwenTune.exe"
