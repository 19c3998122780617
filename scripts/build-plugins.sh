#!/bin/sh
# Builds every evaluator plugin (plugins/evaluators/<name>/main.go) into
# bin/plugins/qwentune-eval-<name>, or into the folder given as $1, and
# writes the plugins.sha256 manifest the host verifies before running them.
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

cd "$out"
bins=""
for pkg in $pkgs; do
	name=$(basename "$pkg")
	bin="qwentune-eval-$name$exe"
	mv "$stage/$name$exe" "$bin"
	bins="$bins $bin"
	echo "built $out/$bin"
done
if command -v sha256sum >/dev/null 2>&1; then
	sum="sha256sum"
else
	sum="shasum -a 256"
fi
# Written beside and renamed, so a reader never sees half a manifest.
# shellcheck disable=SC2086 # $bins is a list of plain file names
$sum $bins >plugins.sha256.tmp
mv plugins.sha256.tmp plugins.sha256
echo "wrote $out/plugins.sha256"
