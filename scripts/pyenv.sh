#!/usr/bin/env bash
# Creates (once) the Python venv that holds QwenTune's reference peers: PyTorch, transformers, PEFT, accelerate,
# gguf and tensorboard, pinned in tools/python/requirements.txt. Tests and benchmarks only: the app and the CLI
# never need Python. Prints the venv's python on stdout; messages go to stderr.
#
#   py=$(scripts/pyenv.sh)        # install if missing or if the requirements changed, then print the interpreter
#
# The venv lives in $QWENTUNE_PYENV, default ${XDG_CACHE_HOME:-~/.cache}/qwentune/pyenv; it is rebuilt when the
# requirements file changes (its hash is kept in the venv). Needs python3 >= 3.10 with venv, and PyPI.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
req=$repo/tools/python/requirements.txt
venv=${QWENTUNE_PYENV:-${XDG_CACHE_HOME:-$HOME/.cache}/qwentune/pyenv}
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" = "$want" ]; then
	echo "$venv/bin/python"
	exit 0
fi
base=${PYTHON:-python3}
if ! "$base" -c 'import sys, venv; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
	echo "pyenv: $base must be Python >= 3.10 with the venv module (Debian: apt-get install python3-venv)" >&2
	exit 1
fi
echo "pyenv: installing the Python reference peers into $venv (torch, transformers, peft, accelerate, gguf; ~5.7 GB, a few minutes)" >&2
# The hash is written last: an interrupted install has none and is redone from scratch.
rm -rf "$venv"
"$base" -m venv "$venv" >&2
start=$SECONDS
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req" >&2
echo "$want" >"$venv/.requirements.sha256"
echo "pyenv: installed in $((SECONDS - start)) s, $(du -sh "$venv" | cut -f1)" >&2
echo "$venv/bin/python"
