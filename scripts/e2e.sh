#!/usr/bin/env bash
# End-to-end check of the CLI on a tiny random model: make-model, inspect,
# tokenize round trip, data inspect, train (LoRA), resume, eval with the
# heuristic plugin (and base comparison) and the judge plugin, generate, chat. Fails on the first
# error or a wrong result.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Runs are recorded in a history of this test's own, not the user's.
export QWENTUNE_RUNS_DIR="$work/history"
go build -o bin/qwentune ./cmd/qwentune
scripts/build-plugins.sh > /dev/null
q=bin/qwentune
# Plugin approvals go to a throw-away config folder: the plugins next to
# bin/qwentune (bin/plugins) are listed as untrusted and started by nothing
# until approved.
[ -x bin/plugins/qwentune-eval-heuristic ] || NO_TRUST=1 scripts/build-plugins.sh >/dev/null
export XDG_CONFIG_HOME="$work/config"
$q evaluators > "$work/untrusted.txt" 2>&1 && { echo "evaluators should fail with only untrusted plugins"; exit 1; }
grep -q "heuristic  *untrusted" "$work/untrusted.txt" || { echo "evaluators did not list heuristic as untrusted:"; cat "$work/untrusted.txt"; exit 1; }
$q evaluators --trust bin/plugins > /dev/null
$q evaluators > "$work/trusted.txt" # grep -q on a pipe would stop early and fail the writer (SIGPIPE, exit 141)
grep -q "^heuristic" "$work/trusted.txt"

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
# a piped train file is read once and hashed as what was read
want=$(sha256sum data/train.jsonl | cut -d' ' -f1)
$q data inspect "${common[@]}" --set dataset.train_file=- --rows 0 < data/train.jsonl > "$work/piped.txt"
grep -q "sha256   $want" "$work/piped.txt" || { echo "piped train file: wrong hash"; cat "$work/piped.txt"; exit 1; }

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

# the run history: the three train calls (the run, its resume, the preset's)
# and the evaluation, then a fourth run with another learning rate that runs
# compare tells apart from the first
$q runs list > "$work/runs.txt"
[ "$(grep -c ' train ' "$work/runs.txt")" -eq 3 ] && [ "$(grep -c ' eval ' "$work/runs.txt")" -eq 1 ] ||
  { echo "runs list:"; cat "$work/runs.txt"; exit 1; }
$q train "${common[@]}" --set training.output_dir="$work/run-b" --set training.max_steps=4 --set training.learning_rate=0.001 --no-preflight > /dev/null
mapfile -t ids < <($q runs list --kind train | awk 'NR > 1 {print $1}')
[ "${#ids[@]}" -eq 4 ] || { echo "want 4 train runs, got ${ids[*]}"; exit 1; }
$q runs compare "${ids[0]}" "${ids[3]}" > "$work/compare.txt" # run-b and the first run (newest first)
sed -n '/config keys that differ/,/^metrics/p' "$work/compare.txt" > "$work/diff.txt"
grep -q "training.learning_rate" "$work/diff.txt" && grep -q "training.output_dir" "$work/diff.txt" && ! grep -q "lora.r" "$work/diff.txt" ||
  { echo "runs compare:"; cat "$work/compare.txt"; exit 1; }
$q runs rm "${ids[0]}" --delete-folder --yes > /dev/null
[ ! -e "$work/run-b" ] || { echo "runs rm --delete-folder left $work/run-b"; exit 1; }

# the judge plugin: a model (here the fine-tune itself) asked a rubric
# question per answer; every sample ends judged or "unjudged", none lost
$q eval "${common[@]}" --set evaluation.max_new_tokens=8 --evaluator judge --set evaluation.judge_model=finetune \
  --set evaluation.judge_max_new_tokens=4 --setting "labels=ok, not ok" --out "$work/judge" --json > "$work/judge.json"
grep -q '"evaluator":"judge"' "$work/judge.json"
judged=$(grep -o '"judged":[0-9]*' "$work/judge.json" | sed -n 1p | cut -d: -f2)
unjudged=$(grep -o '"unjudged":[0-9]*' "$work/judge.json" | sed -n 1p | cut -d: -f2)
[ "$((judged + unjudged))" -eq "$(wc -l < data/test.jsonl)" ] || { echo "judge: $judged judged + $unjudged unjudged"; exit 1; }
test -f "$work/judge/metrics.json" -a -f "$work/judge/predictions.jsonl"

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
