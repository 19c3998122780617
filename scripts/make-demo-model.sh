#!/usr/bin/env bash
# Reproduces the built-in demo model in data/demo: the King James Bible from
# Debian's bible-kjv package (public domain text) plus short ChatML chat turns
# (tools/demodata), and full-parameter pretraining of a random 5.1M-parameter
# Qwen2 (qwentune make-model --shape demo) with QwenTune's own engine.
# Usage: scripts/make-demo-model.sh [STEPS]   (default 900; ~25 minutes on 2 idle cores)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
steps=${1:-900}
work=${DEMO_WORK:-$(mktemp -d)}
command -v bible >/dev/null || { sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo; $sudo apt-get install -y -qq bible-kjv >/dev/null; }
go build -o bin/qwentune ./cmd/qwentune
bible -f "Gen1:1-Rev22:21" > "$work/kjv.txt"
go run ./tools/demodata -in "$work/kjv.txt" -out "$work/demo-train.jsonl"
bin/qwentune make-model --shape demo --out "$work/base" --seed 7
cat > "$work/demo.yml" <<YML
model: {name: $work/base, dtype: float32}
dataset: {train_file: $work/demo-train.jsonl, max_length: 192, padding: longest, truncation: true, append_eos: true, loss_on: all}
training: {output_dir: $work/run, mode: full, batch_size: 8, gradient_accumulation_steps: 1, learning_rate: 3.0e-3,
  lr_scheduler: cosine, warmup_steps: 50, weight_decay: 0.01, epochs: 1, max_steps: $steps, max_grad_norm: 1.0,
  save_steps: 250, logging_steps: 25, seed: 1}
YML
resume=()
[ -d "$work/run" ] && resume=(--resume)
bin/qwentune train --config "$work/demo.yml" --no-preflight "${resume[@]}"
# Keep the model in bfloat16 on disk (as Qwen2 checkpoints ship): 10 MB.
bin/qwentune export --format merged --model "$work/run" --dtype bf16 --out "$work/bf16"
rm -f data/demo/*.json data/demo/*.safetensors data/demo/*.jinja
cp "$work"/bf16/{config.json,generation_config.json,model.safetensors,tokenizer.json,tokenizer_config.json} data/demo/
echo "demo model written to data/demo (work files in $work)"
