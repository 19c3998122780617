#!/bin/sh
# Builds every evaluator plugin (plugins/evaluators/<name>/main.go) into
# bin/plugins/qwentune-eval-<name>, or into the folder given as $1, and
# approves what it built for the current user with
# `qwentune evaluators --trust <folder>` (their SHA-256 recorded in the
# user's config folder, never beside the plugins). With NO_TRUST=1 nothing
# is approved (scripts/package.sh builds the checksums into the app instead).
#
#   scripts/build-plugins.sh            # -> bin/plugins
#   scripts/build-plugins.sh /some/dir  # -> /some/dir
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$root/bin/plugins"}
mkdir -p "$out"
out=$(cd "$out" && pwd)
exe=$(go env GOEXE)
stage=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$stage"' EXIT

cd "$root"
pkgs=""
for main in plugins/evaluators/*/main.go; do
	pkgs="$pkgs ./$(dirname "$main")"
done
# One go build links all plugins in parallel; each lands in $stage/<name>.
# shellcheck disable=SC2086 # $pkgs is a list of plain package paths
go build -trimpath -o "$stage/" $pkgs

for pkg in $pkgs; do
	name=$(basename "$pkg")
	bin="qwentune-eval-$name$exe"
	mv "$stage/$name$exe" "$out/$bin"
	echo "built $out/$bin"
done
# The old in-folder manifest is no trust anchor any more.
rm -f "$out/plugins.sha256"
if [ "${NO_TRUST:-0}" != 1 ]; then
	go run ./cmd/qwentune evaluators --trust "$out"
fi
