#!/usr/bin/env bash
# Real-window test of the desktop app: builds cmd/desktop, starts Xvfb
# (1440x900), opens the app on the built-in demo model and the seed data with
# QWENTUNE_DEMO_TOUR=1 (the app walks every screen: load, inspect, train,
# evaluate, chat, export, runs), and saves a screenshot of each screen under
# bin/screenshots. The tour trains with what the app shows for the demo (the
# quick preset); the test fails unless that first run lowers the loss and
# changes the fine-tune's answer to a training question. Two training runs
# from the CLI with other learning rates come first, so the Runs screen
# overlays three curves (the app's run is the third) and `qwentune runs list`
# / `runs compare` are checked after. It also drives the window with xdotool
# (tab switching with the mouse, typing into the chat box). Exits non-zero
# when the app fails to start, crashes, or does not finish the tour.
#
#   scripts/window-test.sh            # a free display
#   DISPLAY_NUM=98 scripts/window-test.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH=$PATH:/usr/local/go/bin
shots="$root/bin/screenshots"
work=$(mktemp -d /tmp/qwentune-window-test.XXXXXX)
xvfb_pid=""
app_pid=""

cleanup() {
	[ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true
	[ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
	rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

fail() {
	echo "window-test: FAIL: $*" >&2
	if [ -f "$work/app.log" ]; then
		echo "--- app output (tail) ---" >&2
		tail -40 "$work/app.log" >&2
	fi
	if [ -s "$work/xvfb.log" ]; then
		echo "--- Xvfb output ---" >&2
		tail -20 "$work/xvfb.log" >&2
	fi
	exit 1
}

for tool in Xvfb xdotool import; do
	command -v "$tool" >/dev/null || fail "$tool is not installed"
done

echo "window-test: building"
go build -o bin/qwentune-desktop ./cmd/desktop
go build -o bin/qwentune ./cmd/qwentune
[ -x bin/plugins/qwentune-eval-heuristic ] || NO_TRUST=1 scripts/build-plugins.sh >/dev/null
# The plugins are approved in the test's own config folders (a build from
# source has no checksums compiled in; the packaged app has).
for c in config fresh-config; do
	XDG_CONFIG_HOME="$work/$c" bin/qwentune evaluators --trust bin/plugins >/dev/null
done

echo "window-test: the config (built-in demo model) in $work"
mkdir -p "$work/project"
cp data/train.jsonl data/test.jsonl "$work/project/"
# Only where things are and how much to generate: the training settings
# are what the app puts on screen for the demo model (the quick preset), so
# the tour's Train is a newcomer's first run. Chat is greedy, so the base
# and the fine-tune differ only by what training changed.
cat >"$work/project/config.yml" <<EOF
model:
  name: demo
dataset:
  train_file: train.jsonl
  test_file: test.jsonl
training:
  output_dir: run
evaluation:
  max_new_tokens: 24
  evaluator: heuristic
chat:
  max_new_tokens: 40
  temperature: 0
EOF

# Two runs from the CLI with other learning rates; the app's Train button
# makes the third. All of them go to this test's own run history.
export QWENTUNE_RUNS_DIR="$work/history"
for lr in 1.0e-3 2.0e-3; do
	echo "window-test: CLI training run, learning rate $lr"
	bin/qwentune train --config "$work/project/config.yml" --set training.learning_rate=$lr \
		--set "training.output_dir=run-lr$lr" --set training.max_steps=24 --no-preflight >"$work/cli-$lr.log" 2>&1 ||
		fail "qwentune train (learning rate $lr): $(tail -5 "$work/cli-$lr.log")"
done

# Xvfb picks a free display itself (-displayfd) and writes its number
# when it accepts connections, so a display left over by another run, or
# a slow start, cannot make the app meet a half-started or foreign server.
# DISPLAY_NUM asks for a given display instead.
echo "window-test: starting Xvfb"
want=()
[ -n "${DISPLAY_NUM:-}" ] && want=(":$DISPLAY_NUM")
Xvfb "${want[@]}" -displayfd 3 -screen 0 1440x900x24 -nolisten tcp 3>"$work/display" >"$work/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 300); do
	[ -s "$work/display" ] && grep -q '^[0-9]' "$work/display" && break
	kill -0 "$xvfb_pid" 2>/dev/null || fail "Xvfb did not start: $(cat "$work/xvfb.log")"
	sleep 0.1
done
grep -q '^[0-9]' "$work/display" || fail "Xvfb did not report a display within 30 s: $(cat "$work/xvfb.log")"
num=$(head -1 "$work/display" | tr -dc 0-9)
export DISPLAY=":$num"
echo "window-test: Xvfb on :$num"

rm -rf "$shots"
mkdir -p "$shots"
# The window size the app remembers: the whole screen. (Resizing it
# afterwards with xdotool leaves a stale GL viewport under Xvfb, which has
# no window manager.)
mkdir -p "$work/config/fyne/io.qwentune.app"
echo '{"windowWidth":1440,"windowHeight":900}' >"$work/config/fyne/io.qwentune.app/preferences.json"
echo "window-test: starting the app"
XDG_CONFIG_HOME="$work/config" QWENTUNE_DEMO_TOUR=1 LANG=en_US.UTF-8 \
	bin/qwentune-desktop "$work/project/config.yml" >"$work/app.log" 2>&1 &
app_pid=$!

wid=""
for _ in $(seq 100); do
	kill -0 "$app_pid" 2>/dev/null || fail "the app exited during start-up"
	wid=$(xdotool search --name '^QwenTune' 2>/dev/null | head -1 || true)
	[ -n "$wid" ] && break
	sleep 0.2
done
[ -n "$wid" ] || fail "no QwenTune window appeared"
echo "window-test: window $wid"
xdotool windowmove "$wid" 0 0 || true
xdotool getwindowgeometry "$wid"

shot() {
	import -window root "$shots/$1.png"
	echo "window-test: screenshot $shots/$1.png"
}

# Follow the tour: each "TOUR <screen>" line means that screen is ready.
seen=0
deadline=$((SECONDS + 420))
while [ $SECONDS -lt $deadline ]; do
	kill -0 "$app_pid" 2>/dev/null || fail "the app crashed"
	mapfile -t marks < <(grep '^TOUR ' "$work/app.log" || true)
	while [ "$seen" -lt "${#marks[@]}" ]; do
		name=${marks[$seen]#TOUR }
		seen=$((seen + 1))
		[ "$name" = done ] && break 2
		shot "$seen-$name"
	done
	sleep 0.2
done
grep -q '^TOUR done' "$work/app.log" || fail "the tour did not finish"

# The first run taught the demo model: the loss fell, and the fine-tune's
# greedy answer to a training question is not the base's.
read -r first last < <(sed -n 's/^TOUR-LOSS //p' "$work/app.log") || true
base=$(sed -n 's/^TOUR-ANSWER base: //p' "$work/app.log")
tuned=$(sed -n 's/^TOUR-ANSWER tuned: //p' "$work/app.log")
echo "window-test: first-run loss ${first:-?} → ${last:-?}"
echo "window-test: base answer:  $base"
echo "window-test: tuned answer: $tuned"
[ -n "${first:-}" ] && awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 1) }' ||
	fail "the first run did not teach: loss ${first:-?} → ${last:-?}"
[ -n "$base" ] && [ -n "$tuned" ] || fail "the chat did not answer in both columns"
[ "$base" != "$tuned" ] || fail "the fine-tune answers like its base after the first run: $tuned"

# The history holds the three training runs; runs compare names the keys
# that differ.
bin/qwentune runs list --kind train >"$work/runs.txt" 2>&1 || fail "qwentune runs list: $(cat "$work/runs.txt")"
[ "$(grep -c ' finished ' "$work/runs.txt")" -eq 3 ] || fail "runs list does not show three finished training runs: $(cat "$work/runs.txt")"
mapfile -t ids < <(awk 'NR > 1 {print $1}' "$work/runs.txt")
bin/qwentune runs compare "${ids[@]}" >"$work/compare.txt" 2>&1 || fail "qwentune runs compare: $(cat "$work/compare.txt")"
sed -n '/config keys that differ/,/^metrics/p' "$work/compare.txt" >"$work/differ.txt"
for key in training.learning_rate training.max_steps training.output_dir; do
	grep -q "$key" "$work/differ.txt" ||
		fail "runs compare does not name $key: $(cat "$work/compare.txt")"
done
echo "window-test: runs list shows the three training runs; runs compare names learning_rate, max_steps, output_dir"

# Drive the window with the mouse and keyboard like a user: click the
# Chat tab, click the message box, type a question and send it with
# Shift+Enter, then click the Dataset tab.
n=$seen # the "done" mark took the number after the last screen
xdotool mousemove 376 21 click 1
sleep 0.5
xdotool mousemove 400 855 click 1
sleep 0.3
xdotool type --delay 20 "Can I use it offline?"
xdotool key shift+Return
sleep 4
shot "$n-xdotool-chat"
xdotool mousemove 165 21 click 1
sleep 1
shot "$((n + 1))-xdotool-dataset"

kill -0 "$app_pid" 2>/dev/null || fail "the app crashed after the tour"
if grep -q 'panic:' "$work/app.log"; then
	fail "the app panicked"
fi
echo "window-test: closing the app"
xdotool windowclose "$wid" 2>/dev/null || kill "$app_pid"
for _ in $(seq 50); do
	kill -0 "$app_pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$app_pid" 2>/dev/null; then
	kill "$app_pid"
fi
app_pid=""

# The README's run command on a fresh machine: no config file, nothing
# downloaded, offline. The app must start on the built-in demo model.
echo "window-test: first start (no config, no model downloaded, offline)"
mkdir -p "$work/fresh-config/fyne/io.qwentune.app"
echo '{"windowWidth":1440,"windowHeight":900}' >"$work/fresh-config/fyne/io.qwentune.app/preferences.json"
(cd "$work" && XDG_CONFIG_HOME="$work/fresh-config" XDG_CACHE_HOME="$work/fresh-cache" HF_HOME="$work/fresh-hf" \
	HF_HUB_OFFLINE=1 LANG=en_US.UTF-8 "$OLDPWD/bin/qwentune-desktop" >"$work/first.log" 2>&1) &
app_pid=$!
for _ in $(seq 150); do
	kill -0 "$app_pid" 2>/dev/null || fail "the app exited on first start: $(tail -5 "$work/first.log")"
	grep -q 'starting on the built-in demo model' "$work/first.log" && break
	sleep 0.2
done
grep -q 'starting on the built-in demo model' "$work/first.log" || fail "the app did not start on the demo model"
sleep 5
kill -0 "$app_pid" 2>/dev/null || fail "the app crashed on first start: $(tail -5 "$work/first.log")"
shot "0-first-start"
# Before anything has run, the plots say what will appear in them, and
# the Evaluate screen lists the plugins as it opens.
xdotool mousemove 228 21 click 1
sleep 1.5
shot "0-first-start-train"
xdotool mousemove 297 21 click 1
sleep 4
shot "0-first-start-evaluate"
kill -0 "$app_pid" 2>/dev/null || fail "the app crashed on first start: $(tail -5 "$work/first.log")"
kill "$app_pid"
app_pid=""
echo "window-test: OK, $(ls "$shots" | wc -l) screenshots in $shots"
