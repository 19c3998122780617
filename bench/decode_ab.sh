#!/usr/bin/env bash
# Decode speed of QwenTune against llama.cpp in alternated runs (ours, theirs, ours, ...), the form in which
# issue 18's targets are stated: on a host shared with other work a single pair of runs says little, so each
# pair is run back to back and its ratio reported with the load average around it.
#
#   bench/decode_ab.sh --model DIR [--gguf FILE] [--dtype f32|bf16|q8_0] [--runs 3] [--gen 64] [--prompt-len 16]
#                      [--bin QWENTUNE] [--threads N] [--work DIR]
#
# --model is a QwenTune model folder (e.g. from `qwentune make-model --shape qwen2-1.5b`); --gguf the same weights
# as a GGUF for llama.cpp, written with `qwentune export --format gguf --dtype D` into WORK/gguf-D when not given
# (f32 for f32 and bf16, q8_0 for q8_0). Ours runs `qwentune bench infer --dtype float32|bfloat16|q8_0`; llama.cpp
# runs through bench/llamacpp_bench.mjs (node-llama-cpp@3.21.1 in $LLAMA_PEER_DIR, as scripts/parity.sh installs
# it), with the same number of threads (default: the CPUs, as GOMAXPROCS). Prints one line per pair: each side's
# tokens/s, weight GB/s, the load average before it and the CPUs the rest of the host used while it ran (the load
# average lags a minute behind; llama.cpp's spinning threads slow down badly when others want the cores), then
# the mean, worst and best of the pair ratios; exits 1 if any run failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
model="" gguf="" dtype=f32 runs=3 gen=64 plen=16 bin="" threads=$(nproc) work=/tmp/qwentune-decode-ab
while [ $# -gt 0 ]; do
	case $1 in
	--model) model=$2; shift 2 ;;
	--gguf) gguf=$2; shift 2 ;;
	--dtype) dtype=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--gen) gen=$2; shift 2 ;;
	--prompt-len) plen=$2; shift 2 ;;
	--bin) bin=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--work) work=$2; shift 2 ;;
	-h|--help) sed -n '2,14p' "$0"; exit 0 ;;
	*) echo "decode_ab.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$model" ] || { echo "decode_ab.sh: --model DIR is required" >&2; exit 2; }
case $dtype in
f32) ours_dtype=float32 gguf_dtype=f32 ;;
bf16) ours_dtype=bfloat16 gguf_dtype=f32 ;;
q8_0) ours_dtype=q8_0 gguf_dtype=q8_0 ;;
*) echo "decode_ab.sh: --dtype $dtype: want f32, bf16 or q8_0" >&2; exit 2 ;;
esac
peer=${LLAMA_PEER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/qwentune/llamapeer}
mkdir -p "$work"
if [ -z "$bin" ]; then
	bin=$work/qwentune
	(cd "$repo" && go build -o "$bin" ./cmd/qwentune)
fi
if [ -z "$gguf" ]; then
	gguf=$work/gguf-$gguf_dtype/model.gguf
	[ -f "$gguf" ] || "$bin" export --format gguf --model "$model" --dtype "$gguf_dtype" --out "$(dirname "$gguf")" >&2
fi

# llama.cpp mmaps the GGUF. A file just written (as the export above does) sits in the page cache in 4 KiB pages;
# read back from disk, Linux 6.18 on ext4 caches it in 2 MiB folios that the mapping gets as huge pages
# (FilePmdMapped), which read 20-25% faster. The GGUF leaves the page cache first (only this file, with
# posix_fadvise), so that llama.cpp gets its best case, as our weights get theirs (ops.Arena).
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$gguf"

load() { cut -d' ' -f1-3 /proc/loadavg; }
# field JSON KEY: one number from a JSON line.
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
# cpustat: busy and steal jiffies of all CPUs so far (from /proc/stat).
cpustat() { awk '/^cpu /{print $2+$3+$4+$7+$8, $9}' /proc/stat; }
# measure CMD...: runs CMD, leaves its last output line in $out and, in $others, the CPUs that everything
# else on the host kept busy while it ran (all busy time minus the command's own user+system time, per
# second of the run) and the CPUs stolen by the hypervisor: the load average lags by a minute, this does not.
measure() {
	local s0 s1 t0 t1 tf=$work/time.$$
	s0=$(cpustat) t0=$(date +%s.%N)
	out=$(/usr/bin/time -f '%U %S' -o "$tf" "$@" 2>/dev/null | tail -n1) || return 1
	t1=$(date +%s.%N) s1=$(cpustat)
	others=$(python3 -c '
import os, sys
b0, st0, b1, st1, t0, t1, u, s = map(float, sys.argv[1:])
hz, wall = os.sysconf("SC_CLK_TCK"), t1 - t0
print(f"others {max(0.0, ((b1 - b0) / hz - u - s) / wall):.2f} CPUs, steal {(st1 - st0) / hz / wall:.2f}")' $s0 $s1 "$t0" "$t1" $(tail -n1 "$tf"))
	rm -f "$tf"
}

ratios=()
failed=0
echo "# decode_ab $(date -u +%FT%TZ): ours --dtype $ours_dtype vs llama.cpp on $(basename "$gguf") ($gguf_dtype), $threads threads, prompt $plen, $gen tokens"
for i in $(seq 1 "$runs"); do
	l0=$(load)
	if ! measure env GOMAXPROCS="$threads" "$bin" bench infer --model "$model" --dtype "$ours_dtype" --prompt-len "$plen" --gen "$gen" --json; then
		echo "run $i: ours failed" >&2; failed=1; continue
	fi
	o=$out oo=$others l1=$(load)
	if ! measure node "$here/llamacpp_bench.mjs" --gguf "$gguf" --prompt-len "$plen" --gen "$gen" --threads "$threads" --peer "$peer" --json; then
		echo "run $i: llama.cpp failed" >&2; failed=1; continue
	fi
	t=$out to=$others l2=$(load)
	ot=$(field "$o" decode_tokens_per_s) ob=$(field "$o" decode_bytes_per_s) orr=$(field "$o" weight_read_bytes_per_s)
	tt=$(field "$t" decode_tokens_per_s) tb=$(field "$t" decode_bytes_per_s)
	r=$(python3 -c "print(f'{$ot/$tt:.3f}')")
	ratios+=("$r")
	printf 'run %d  ours %6.2f tok/s (%5.1f GB/s, probe %5.1f GB/s; load %s, %s) | llama.cpp %6.2f tok/s (%5.1f GB/s; load %s, %s) | ratio %s\n' \
		"$i" "$ot" "$(python3 -c "print($ob/1e9)")" "$(python3 -c "print($orr/1e9)")" "$l0" "$oo" "$tt" "$(python3 -c "print($tb/1e9)")" "$l1" "$to" "$r"
done
if [ ${#ratios[@]} -gt 0 ]; then
	python3 -c 'import sys; r=[float(x) for x in sys.argv[1:]]; print(f"ratio ours/llama.cpp: mean {sum(r)/len(r):.3f}, worst {min(r):.3f}, best {max(r):.3f} over {len(r)} alternated pairs")' "${ratios[@]}"
fi
exit $failed
