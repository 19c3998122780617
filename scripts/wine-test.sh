#!/usr/bin/env bash
# The Windows build under Wine: unpacks dist/QwenTune-windows-amd64.zip
# (scripts/package.sh --os windows builds it unless WINE_TEST_ZIP names
# one) and checks that its qwentune.exe gives what the Linux build gives on
# the same input:
#   make-model   the same model files, byte for byte;
#   train        the same losses at every step (tiny model and demo model);
#   generate     the same greedy tokens with the adapter each build trained;
#   eval         the same metrics and predictions with the heuristic plugin
#                .exe (started over go-plugin's TCP loopback, trusted through
#                the checksums compiled into the zip's executables).
# Then QwenTune.exe opens its window on the built-in demo model under Xvfb
# (Mesa llvmpipe behind Wine's OpenGL) and a screenshot of it is checked: the
# app reaches "starting on the built-in demo model", its window appears,
# survives, and the screenshot is a drawn window, not a blank or black one.
# The Wine prefix is kept in ${XDG_CACHE_HOME:-~/.cache}/qwentune/wine
# (QWENTUNE_WINEPREFIX overrides it), so only the first run pays wineboot.
#
#   scripts/wine-test.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH=$PATH:/usr/local/go/bin
shots="$root/bin/screenshots-wine"
work=$(mktemp -d /tmp/qwentune-wine-test.XXXXXX)
export WINEPREFIX=${QWENTUNE_WINEPREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/qwentune/wine}
export WINEDEBUG=-all
# No Mono or Gecko: the prefix never asks to download them.
export WINEDLLOVERRIDES="mscoree,mshtml="
xvfb_pid=""
app_pid=""

cleanup() {
	[ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true
	[ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
	wineserver -k 2>/dev/null || true
	rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

fail() {
	echo "wine-test: FAIL: $*" >&2
	exit 1
}

for tool in wine wineserver x86_64-w64-mingw32-gcc unzip python3 Xvfb xdotool import; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/setup.sh --tests installs it)"
done

start=$SECONDS
zip=${WINE_TEST_ZIP:-}
[ -z "$zip" ] || zip=$(realpath "$zip")
if [ -z "$zip" ]; then
	echo "wine-test: packaging (scripts/package.sh --os windows)"
	scripts/package.sh --os windows
	zip=dist/QwenTune-windows-amd64.zip
fi
unzip -q "$zip" -d "$work"
win="$work/QwenTune"
[ -f "$win/qwentune.exe" ] && [ -f "$win/QwenTune.exe" ] && [ -f "$win/plugins/qwentune-eval-heuristic.exe" ] &&
	[ -f "$win/plugins/SHA256SUMS.txt" ] && [ -f "$win/Icon.png" ] && [ -f "$win/README.txt" ] ||
	fail "the zip lacks a file: $(cd "$work" && find . -type f | sort | tr '\n' ' ')"
echo "wine-test: packaged in $((SECONDS - start)) s"

echo "wine-test: the Linux build"
go build -o bin/qwentune ./cmd/qwentune
NO_TRUST=1 scripts/build-plugins.sh >/dev/null
lin=bin/qwentune
export XDG_CONFIG_HOME="$work/config" QWENTUNE_RUNS_DIR="$work/runs"
$lin evaluators --trust bin/plugins >/dev/null

# The prefix, made once. Go 1.24+ takes random bytes from ProcessPrng in
# bcryptprimitives.dll, which Windows 10/11 have and Wine 8 lacks: the test
# prefix gets a stand-in (scripts/wine/bcryptprimitives.c), never the zip.
t=$SECONDS
mkdir -p "$(dirname "$WINEPREFIX")"
if [ ! -f "$WINEPREFIX/system.reg" ]; then
	echo "wine-test: creating the Wine prefix $WINEPREFIX"
	wineboot -i >"$work/wineboot.log" 2>&1 || fail "wineboot: $(tail -5 "$work/wineboot.log")"
	wineserver -w
fi
dll="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
x86_64-w64-mingw32-gcc -O2 -shared -o "$work/bcryptprimitives.dll" scripts/wine/bcryptprimitives.c -lbcrypt
cmp -s "$work/bcryptprimitives.dll" "$dll" 2>/dev/null || cp "$work/bcryptprimitives.dll" "$dll"
echo "wine-test: Wine prefix ready in $((SECONDS - t)) s ($(wine --version))"

# Windows paths for Wine: Z: is the Linux root.
wp() { printf 'Z:%s' "${1//\//\\}"; }
wq() { wine "$win/qwentune.exe" "$@"; }

# make-model: the same files, byte for byte.
$lin make-model --shape tiny --out "$work/lin/tiny" --seed 3 >/dev/null 2>&1
wq make-model --shape tiny --out "$(wp "$work/win/tiny")" --seed 3 >"$work/win-make.log" 2>&1 ||
	fail "qwentune.exe make-model: $(cat "$work/win-make.log")"
for f in $(cd "$work/lin/tiny" && ls); do
	cmp "$work/lin/tiny/$f" "$work/win/tiny/$f" || fail "make-model: $f differs between Linux and Windows"
done
echo "wine-test: make-model: the same $(ls "$work/lin/tiny" | wc -l) files"

# The losses of a training run, one line per step ("step loss grad_norm").
losses() {
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "step":
        print(e["step"], e["loss"], e["grad_norm"])' "$1"
}
# Same losses to 1e-5 relative: the builds run the same engine code, but the
# Linux build multiplies with OpenBLAS, the Windows build with the engine's
# own kernels and gonum, which sum in another order.
same_losses() {
	python3 - "$1" "$2" <<'PY' || fail "train ($3): the losses differ: $(paste "$1" "$2")"
import sys
a = [l.split() for l in open(sys.argv[1])]
b = [l.split() for l in open(sys.argv[2])]
assert a and len(a) == len(b), (len(a), len(b))
for x, y in zip(a, b):
    assert x[0] == y[0]
    for u, v in zip(map(float, x[1:]), map(float, y[1:])):
        assert abs(u - v) <= 1e-5 * max(abs(u), abs(v), 1e-3), (x, y)
PY
}
train_both() { # name, then the settings
	local name=$1
	shift
	$lin train --config config.yml --set training.output_dir="$work/lin/$name" "$@" --no-preflight --json >"$work/lin-$name.jsonl" 2>"$work/lin-$name.err" ||
		fail "Linux train $name: $(tail -5 "$work/lin-$name.err")"
	wq train --config config.yml --set training.output_dir="$(wp "$work/win/$name")" "$@" --no-preflight --json >"$work/win-$name.jsonl" 2>"$work/win-$name.err" ||
		fail "qwentune.exe train $name: $(tail -5 "$work/win-$name.err")"
	losses "$work/lin-$name.jsonl" >"$work/lin-$name.loss"
	losses "$work/win-$name.jsonl" >"$work/win-$name.loss"
	same_losses "$work/lin-$name.loss" "$work/win-$name.loss" "$name"
	[ -f "$work/win/$name/adapter_model.safetensors" ] || fail "qwentune.exe train $name wrote no adapter"
	echo "wine-test: train $name: the same loss at each of $(wc -l <"$work/win-$name.loss") steps ($(tail -1 "$work/win-$name.loss" | cut -d' ' -f2) at the last)"
}
train_both tiny --set model.name="$work/lin/tiny" --set dataset.max_length=96 --set lora.r=4 \
	--set training.logging_steps=1 --set training.max_steps=4
train_both demo --set model.name=demo --set training.logging_steps=1 --set training.max_steps=12 \
	--set training.learning_rate=2.0e-3

# generate: the same greedy tokens, each build with the adapter it trained.
prompt="How do I reset my password?"
$lin generate --model demo --adapter "$work/lin/demo" --prompt "$prompt" --max-new-tokens 32 --json >"$work/lin-gen.json"
wq generate --model demo --adapter "$(wp "$work/win/demo")" --prompt "$prompt" --max-new-tokens 32 --json >"$work/win-gen.json" 2>"$work/win-gen.err" ||
	fail "qwentune.exe generate: $(tail -5 "$work/win-gen.err")"
cmp -s "$work/lin-gen.json" "$work/win-gen.json" ||
	fail "generate: Linux $(cat "$work/lin-gen.json") but Windows $(cat "$work/win-gen.json")"
echo "wine-test: generate: the same 32 greedy tokens: $(cat "$work/win-gen.json")"

# eval with the heuristic plugin: the same metrics and predictions.
eval_args=(--config config.yml --set model.name=demo --set evaluation.max_new_tokens=24 --set evaluation.evaluator=heuristic)
$lin eval "${eval_args[@]}" --set training.output_dir="$work/lin/demo" --out "$work/lin/eval" >"$work/lin-eval.txt" 2>&1 ||
	fail "Linux eval: $(tail -5 "$work/lin-eval.txt")"
wq evaluators >"$work/win-evaluators.txt" 2>&1 || fail "qwentune.exe evaluators: $(cat "$work/win-evaluators.txt")"
# Only trusted plugins are listed (an untrusted one fails the command).
grep -q "^heuristic " "$work/win-evaluators.txt" || fail "qwentune.exe does not list the zip's heuristic plugin: $(cat "$work/win-evaluators.txt")"
wq eval "${eval_args[@]}" --set training.output_dir="$(wp "$work/win/demo")" --out "$(wp "$work/win/eval")" >"$work/win-eval.txt" 2>&1 ||
	fail "qwentune.exe eval: $(tail -5 "$work/win-eval.txt")"
python3 - "$work/lin/eval" "$work/win/eval" <<'PY' || fail "eval: Linux and Windows differ (above)"
import json, sys
a, b = (json.load(open(d + "/metrics.json")) for d in sys.argv[1:])
if a["metrics"] != b["metrics"] or a["samples"] != b["samples"]:
    sys.exit(f"metrics: {a['metrics']} != {b['metrics']}")
pa, pb = ([json.loads(l) for l in open(d + "/predictions.jsonl")] for d in sys.argv[1:])
keep = lambda p: {k: v for k, v in p.items() if "time" not in k and "second" not in k}
if [keep(p) for p in pa] != [keep(p) for p in pb]:
    sys.exit("predictions differ")
m = a["metrics"]
print(f"wine-test: eval: the same metrics on {a['samples']} samples (accuracy {m['accuracy']:.4f}, f1 {m['f1']:.4f}) and predictions")
PY
echo "wine-test: CLI checks done at $((SECONDS - start)) s"

# The desktop app under Xvfb, on the built-in demo model.
echo "wine-test: starting Xvfb"
Xvfb -displayfd 3 -screen 0 1440x900x24 -nolisten tcp 3>"$work/display" >"$work/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 300); do
	[ -s "$work/display" ] && grep -q '^[0-9]' "$work/display" && break
	kill -0 "$xvfb_pid" 2>/dev/null || fail "Xvfb did not start: $(cat "$work/xvfb.log")"
	sleep 0.1
done
grep -q '^[0-9]' "$work/display" || fail "Xvfb did not report a display"
export DISPLAY=":$(head -1 "$work/display" | tr -dc 0-9)"
rm -rf "$shots"
mkdir -p "$shots" "$work/app"
# Mesa's llvmpipe renders the OpenGL that Wine's opengl32 hands to GLFW.
(cd "$work/app" && HF_HUB_OFFLINE=1 LIBGL_ALWAYS_SOFTWARE=1 wine "$win/QwenTune.exe" >"$work/app.log" 2>&1) &
app_pid=$!
wid=""
for _ in $(seq 300); do
	kill -0 "$app_pid" 2>/dev/null || fail "QwenTune.exe exited during start-up: $(tail -20 "$work/app.log")"
	wid=$(xdotool search --name '^QwenTune' 2>/dev/null | head -1 || true)
	[ -n "$wid" ] && break
	sleep 0.2
done
[ -n "$wid" ] || fail "no QwenTune window appeared within 60 s: $(tail -20 "$work/app.log")"
for _ in $(seq 150); do
	grep -q 'starting on the built-in demo model' "$work/app.log" && break
	sleep 0.2
done
grep -q 'starting on the built-in demo model' "$work/app.log" || fail "QwenTune.exe did not start on the demo model: $(tail -20 "$work/app.log")"
sleep 8
kill -0 "$app_pid" 2>/dev/null || fail "QwenTune.exe crashed: $(tail -20 "$work/app.log")"
import -window root "$shots/0-first-start.png"
echo "wine-test: screenshot $shots/0-first-start.png ($(xdotool getwindowgeometry "$wid" | tr '\n' ' '))"
# A drawn window: many colours, and neither mostly black nor mostly white.
read -r colors mean < <(convert "$shots/0-first-start.png" -format '%k %[fx:mean]\n' info:)
echo "wine-test: screenshot: $colors colours, mean brightness $mean"
[ "$colors" -ge 16 ] || fail "the screenshot has $colors colours: nothing was drawn"
awk -v m="$mean" 'BEGIN { exit !(m > 0.05 && m < 0.97) }' || fail "the screenshot is blank (mean brightness $mean)"
if grep -q 'panic:' "$work/app.log"; then fail "QwenTune.exe panicked: $(grep -A5 'panic:' "$work/app.log")"; fi
echo "wine-test: OK in $((SECONDS - start)) s"
