#!/usr/bin/env bash
# The parity suite: QwenTune held against the real Python stack (transformers, PEFT, the gguf package; versions
# pinned in tools/python/requirements.txt) on tiny Qwen2 models that transformers itself makes. Fails on any
# difference and when the reference is missing. Called by scripts/test.sh after the unit tests.
#
#   ./scripts/parity.sh                 # the whole suite
#   ./scripts/parity.sh -run TestGGUF   # extra arguments go to go test
#
# Every check is a Go test with the build tag "parity" in parity/ (see parity/doc.go): a new check is a new
# parity/*_test.go file, picked up here without a change. The Python reference scripts live beside the tests,
# which call them with the venv's python (QWENTUNE_PYTHON).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
start=$SECONDS

QWENTUNE_PYTHON=$(./scripts/pyenv.sh)
export QWENTUNE_PYTHON
versions=$("$QWENTUNE_PYTHON" -c 'from importlib.metadata import version as v; print(", ".join(f"{p} {v(p)}" for p in ("torch", "transformers", "peft", "accelerate", "gguf")))')
echo "parity: reference $versions ($QWENTUNE_PYTHON)"

# llama.cpp as a peer (Qwen3 GGUF greedy tokens): node-llama-cpp@3.21.1 with its prebuilt CPU build, from npm,
# into the cache once (~730 MB, ~20 s).
export LLAMA_PEER_DIR=${LLAMA_PEER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/qwentune/llamapeer}
if [ ! -f "$LLAMA_PEER_DIR/node_modules/node-llama-cpp/package.json" ]; then
  echo "parity: installing node-llama-cpp@3.21.1 into $LLAMA_PEER_DIR"
  mkdir -p "$LLAMA_PEER_DIR"
  (cd "$LLAMA_PEER_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } &&
    npm install --no-audit --no-fund node-llama-cpp@3.21.1 >install.log 2>&1) || { cat "$LLAMA_PEER_DIR/install.log"; exit 1; }
fi

# The models are made once for the whole run, by transformers (parity/models.py).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$QWENTUNE_PYTHON" parity/models.py "$work/models" >/dev/null 2>"$work/models.log" || { cat "$work/models.log"; exit 1; }
export QWENTUNE_PARITY_MODELS=$work/models

echo "== go vet -tags parity"
go vet -tags parity ./parity/...
echo "== go test -tags parity"
if ! go test -tags parity -count=1 -timeout 40m -v "$@" ./parity/...; then
  echo "parity: FAILED after $((SECONDS - start)) s"
  exit 1
fi
echo "parity: all checks passed in $((SECONDS - start)) s"
