#!/usr/bin/env bash
# Sets up a fresh machine and runs every check CI runs: gofmt, go vet, the unit
# tests (default OpenBLAS build, the kernels and model under the race detector,
# and the pure-Go build of the kernels), a build without cgo, the parity suite
# against transformers, PEFT and the gguf package, the CLI end to end on a tiny
# model, the real-window test of the desktop app under Xvfb, and the Windows
# zip built with mingw-w64 and checked under Wine against the Linux build.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --tests
export PATH=$PATH:/usr/local/go/bin
export CI=${CI:-1}

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$bad" ]; then echo "gofmt would change:"; echo "$bad"; exit 1; fi
echo "== go vet"
go vet ./...
echo "== go test"
go test -timeout 20m ./...
echo "== go test -race (kernels and model: data races, and checkptr on the unsafe views)"
go test -race -timeout 10m ./engine/ops/... ./engine/nn/...
echo "== go test -tags purego (kernels)"
go test -tags purego -timeout 10m ./engine/ops/...
echo "== go test -tags noopenblas (kernels and model: the C kernels with gonum, the Windows build's backend)"
go test -tags noopenblas -timeout 10m ./engine/ops/... ./engine/nn/...
echo "== go vet for Windows (the engine, model, CLI and plugins; the app is built by wine-test.sh)"
GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc \
  go vet ./engine/... ./model/... ./internal/... ./plugins/... ./cmd/qwentune
echo "== go build without cgo (the engine falls back to the kernels' Go twins)"
CGO_ENABLED=0 go build ./engine/...
echo "== parity with transformers, PEFT and gguf (scripts/parity.sh)"
./scripts/parity.sh
if [ -x scripts/e2e.sh ]; then
  echo "== end to end (CLI)"
  ./scripts/e2e.sh
fi
if [ -x scripts/window-test.sh ]; then
  echo "== real window (Xvfb)"
  ./scripts/window-test.sh
fi
if [ -x scripts/wine-test.sh ]; then
  echo "== Windows build under Wine (scripts/wine-test.sh)"
  t=$SECONDS
  ./scripts/wine-test.sh
  echo "== Windows build under Wine: $((SECONDS - t)) s"
fi
if [ -x scripts/arm64-test.sh ]; then
  echo "== arm64 under qemu, and the darwin/arm64 build (scripts/arm64-test.sh)"
  t=$SECONDS
  ./scripts/arm64-test.sh
  echo "== arm64 and darwin: $((SECONDS - t)) s"
fi
echo "all checks passed"
