#!/usr/bin/env bash
# Builds the Linux bundle of the desktop app with Fyne's packager:
# dist/QwenTune.tar.xz holds the binary, the evaluator plugins, the icon and
# a .desktop entry, plus a Makefile whose `user-install` target
# puts QwenTune in the application menu (~/.local) so it starts by
# double-click; `sudo make install` installs it for every user (/usr/local).
#   scripts/package.sh && cd dist && tar xf QwenTune.tar.xz && make user-install
#
# With --os windows it cross-builds the Windows x86-64 app instead, with
# Debian's mingw-w64 toolchain (cgo on, Fyne's GLFW/OpenGL driver; the
# engine's own kernels and gonum's pure-Go BLAS, no OpenBLAS DLL), into
# dist/QwenTune-windows-amd64.zip: QwenTune.exe (the desktop app, icon
# embedded), qwentune.exe (the CLI), plugins\qwentune-eval-*.exe with
# their SHA-256 compiled into both executables, the icon and README.txt.
#   scripts/package.sh --os windows
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:$(go env GOPATH)/bin
if [ "${1:-}" = "--os" ]; then
  case "${2:-}" in
  linux) ;;
  windows) exec scripts/package-windows.sh ;;
  *) echo "package.sh: --os ${2:-}: want linux or windows" >&2; exit 2 ;;
  esac
fi
command -v fyne >/dev/null || go install fyne.io/tools/cmd/fyne@v1.7.4
mkdir -p dist
# The plugins are built first and their SHA-256 compiled into the app
# (host.shipped): the bundle's plugins run without approval, and a plugin
# swapped in later does not.
plugins=$(mktemp -d)
NO_TRUST=1 scripts/build-plugins.sh "$plugins" >/dev/null
sums=$(cd "$plugins" && sha256sum qwentune-eval-* | cut -d' ' -f1 | paste -sd, -)
go build -trimpath -ldflags "-X qwentune/plugins/evaluators/host.shipped=$sums" -o dist/qwentune-desktop ./cmd/desktop
root=$(pwd)
version=$(sed -n 's/^Version = "\(.*\)"/\1/p' FyneApp.toml)
(cd dist && fyne package --os linux --source-dir "$root/cmd/desktop" --executable "$root/dist/qwentune-desktop" \
  --name QwenTune --app-id io.qwentune.app --icon "$root/Icon.png" --app-version "$version" --release)
# Add the evaluator plugins, and teach the Makefile to
# install them next to the binary (the first folder the app searches) or, for
# a user install, into ~/.config/qwentune/plugins.
stage=$(mktemp -d)
tar -xJf dist/QwenTune.tar.xz -C "$stage"
top=$(find "$stage" -name Makefile -printf '%h\n' | head -1)
mkdir -p "$top/plugins" && cp -p "$plugins"/qwentune-eval-* "$top/plugins/" && rm -rf "$plugins"
cat >>"$top/Makefile" <<'MAKE'

install: install-plugins
install-plugins:
	install -Dm00755 -t $(DESTDIR)$(PREFIX)/bin plugins/qwentune-eval-*
user-install: user-install-plugins
user-install-plugins:
	install -Dm00755 -t $(HOME)/.config/qwentune/plugins plugins/qwentune-eval-*
MAKE
tar -cJf dist/QwenTune.tar.xz -C "$stage" .
rm -rf "$stage" dist/qwentune-desktop
echo "dist/QwenTune.tar.xz: extract it and run 'make user-install' to add QwenTune to the application menu"
