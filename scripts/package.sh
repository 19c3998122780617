#!/usr/bin/env bash
# Builds the Linux bundle of the desktop app with Fyne's packager:
# dist/QwenTune.tar.xz holds the binary, the evaluator plugins next to it,
# the icon and a .desktop entry, plus a Makefile whose `user-install` target
# puts QwenTune in the application menu (~/.local) so it starts by
# double-click; `sudo make install` installs it for every user (/usr/local).
#   scripts/package.sh && cd dist && tar xf QwenTune.tar.xz && make user-install
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:$(go env GOPATH)/bin
command -v fyne >/dev/null || go install fyne.io/tools/cmd/fyne@v1.7.4
mkdir -p dist
go build -trimpath -o dist/qwentune-desktop ./cmd/desktop
(cd dist && fyne package --os linux --executable qwentune-desktop --name QwenTune --app-id io.qwentune.app \
  --app-version "$(sed -n 's/^Version = "\(.*\)"/\1/p' ../FyneApp.toml)" --icon ../Icon.png --release)
# The bundle carries the plugins beside the binary, where the host looks first.
stage=$(mktemp -d)
tar -xJf dist/QwenTune.tar.xz -C "$stage"
bindir=$(dirname "$(find "$stage" -name qwentune-desktop -type f | head -1)")
scripts/build-plugins.sh "$bindir" >/dev/null
tar -cJf dist/QwenTune.tar.xz -C "$stage" .
rm -rf "$stage" dist/qwentune-desktop
echo "dist/QwenTune.tar.xz: extract it and run 'make user-install' to add QwenTune to the application menu"
