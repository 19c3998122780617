#!/usr/bin/env bash
# End-to-end check of the CLI on a tiny random model: make-model, inspect,
# tokenize round trip, data inspect, train (LoRA), resume, eval with the
# heuristic plugin (and base comparison), generate, chat. Fails on the first
# error or a wrong result.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o bin/qwentune ./cmd/qwentune
q=bin/qwentune

$q make-model --shape tiny --out "$work/tiny" --seed 3
# (outputs go to files before grep -q: grep stops reading at the first match,
# and with pipefail the writer's SIGPIPE would fail the step)
$q inspect "$work/tiny" > "$work/inspect.txt"
grep -q "Qwen2ForCausalLM" "$work/inspect.txt"

# tokenize round trip
out=$(echo '{"text": "Hello, world! 123"}' | $q tokenize --tokenizer "$work/tiny")
back=$(echo "$out" | $q tokenize --tokenizer "$work/tiny" --decode)
[ "$back" = '{"text":"Hello, world! 123"}' ] || { echo "tokenize round trip: got $back"; exit 1; }

common=(--config config.yml --set model.name="$work/tiny" --set training.output_dir="$work/run"
  --set dataset.max_length=96 --set lora.r=4 --set training.logging_steps=2 --set training.save_steps=4)
$q data inspect "${common[@]}" --rows 1 > "$work/data.txt"
grep -q "format" "$work/data.txt"

# train for 4 steps, then resume to 8: the resumed run continues from checkpoint-4
$q train "${common[@]}" --set training.max_steps=4 --no-preflight --json > "$work/train1.jsonl"
grep -q '"event":"done"' "$work/train1.jsonl"
test -f "$work/run/adapter_model.safetensors" -a -f "$work/run/adapter_config.json" -a -f "$work/run/trainer_state.json"
test -d "$work/run/checkpoint-4"
$q train "${common[@]}" --set training.max_steps=8 --resume --json > "$work/train2.jsonl"
grep -q '"global_step":8' "$work/train2.jsonl"

# a preset is applied before --set and says what it changed; the pre-flight
# counts the padding
$q train "${common[@]}" --set training.output_dir="$work/preset" --preset quick --set training.max_steps=2 --json \
  > "$work/preset.jsonl" 2> "$work/preset.err"
grep -q 'preset quick changed lora.r 64 → 16' "$work/preset.err"
grep -q '"padding_tokens":' "$work/preset.jsonl"

# evaluation with the heuristic plugin, against the base model too
$q eval "${common[@]}" --set evaluation.max_new_tokens=8 --compare-base --out "$work/eval" > "$work/eval.txt"
grep -q "confusion matrix" "$work/eval.txt"
test -f "$work/eval/metrics.json" -a -f "$work/eval/predictions.jsonl" -a -f "$work/eval/predictions.csv"

# generation: greedy is deterministic
a=$($q generate --model "$work/tiny" --adapter "$work/run" --ids '[1,2,3]' --max-new-tokens 6 --json)
b=$($q generate --model "$work/tiny" --adapter "$work/run" --ids '[1,2,3]' --max-new-tokens 6 --json)
[ "$a" = "$b" ] || { echo "greedy generation differs: $a vs $b"; exit 1; }

# chat: one prompt, and the interactive loop ending at quit
$q chat "${common[@]}" --set chat.max_new_tokens=5 "Hello" > /dev/null
printf 'Hi there\nquit\n' | $q chat "${common[@]}" --set chat.max_new_tokens=5 > /dev/null

# usage errors exit 2
set +e
$q train --set lora.r=sixty > /dev/null 2>&1; [ $? -eq 2 ] || { echo "bad --set should exit 2"; exit 1; }
$q train --preset fastest > /dev/null 2>&1; [ $? -eq 2 ] || { echo "an unknown preset should exit 2"; exit 1; }
$q nosuchcommand > /dev/null 2>&1; [ $? -eq 2 ] || { echo "unknown command should exit 2"; exit 1; }
set -e
echo "e2e: ok"
