#!/usr/bin/env bash
# Sets up a fresh machine and starts the QwenTune desktop app.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH=$PATH:/usr/local/go/bin
go build -o bin/qwentune-desktop ./cmd/desktop
exec ./bin/qwentune-desktop "$@"
