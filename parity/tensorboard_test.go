//go:build parity

package parity

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"qwentune/engine/tensorboard"
)

// tbReadScript reads a folder of event files twice with the tensorboard
// package: raw, record by record through its TFRecord reader (which checks
// both CRCs of every record and raises on a mismatch, where
// EventAccumulator would stop silently) and parsed with its own Event proto;
// then with EventAccumulator, the reader TensorBoard's UI uses. It prints
// one JSON object.
const tbReadScript = `
import json, os, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow

d = sys.argv[1]
files = sorted(f for f in os.listdir(d) if "tfevents" in f)
raw = []
for f in files:
    r = pywrap_tensorflow.PyRecordReader_New(os.path.join(d, f))
    while True:
        try:
            r.GetNext()
        except errors.OutOfRangeError:
            break
        e = event_pb2.Event.FromString(r.record())
        raw.append({"file_version": e.file_version, "step": e.step, "wall_time": e.wall_time,
                    "values": [{"tag": v.tag, "value": v.simple_value} for v in e.summary.value]})
ea = EventAccumulator(d, size_guidance={"scalars": 0})
ea.Reload()
scalars = {t: [[s.step, s.wall_time, s.value] for s in ea.Scalars(t)] for t in ea.Tags()["scalars"]}
print(json.dumps({"files": files, "raw": raw, "scalars": scalars}))
`

// tbPython is the reference venv's interpreter: $QWENTUNE_PYTHON, else what
// scripts/pyenv.sh prints (it installs the venv when missing). No python
// fails the test: the reference is part of the test.
func tbPython(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("QWENTUNE_PYTHON"); p != "" {
		return p
	}
	out, err := exec.Command("../scripts/pyenv.sh").Output()
	if err != nil {
		t.Fatalf("no reference python: set QWENTUNE_PYTHON or make scripts/pyenv.sh work: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// tbSyntheticLog is a log_history like the Trainer's for 3 epochs of 8
// steps, logging every 2: loss rounded to 4 decimals, grad_norm,
// learning_rate on a cosine, fractional epochs; an eval entry at every epoch
// end; and the final summary entry.
func tbSyntheticLog() []map[string]float64 {
	var h []map[string]float64
	const steps, perEpoch = 24, 8
	for s := 2; s <= steps; s += 2 {
		h = append(h, map[string]float64{
			"loss":          math.Round(2.9*math.Exp(-0.07*float64(s))*1e4) / 1e4,
			"grad_norm":     0.5 + 1.7/float64(s) + 0.013*float64(s%5),
			"learning_rate": 2e-4 * 0.5 * (1 + math.Cos(math.Pi*float64(s-1)/steps)),
			"epoch":         float64(s) / perEpoch,
			"step":          float64(s),
		})
		if s%perEpoch == 0 {
			h = append(h, map[string]float64{"eval_loss": 1 + 1/float64(s), "eval_accuracy": float64(s) / 30,
				"eval_runtime": 0.37 * float64(s), "epoch": float64(s) / perEpoch, "step": float64(s)})
		}
	}
	return append(h, map[string]float64{"train_runtime": 81.4632, "train_samples_per_second": 0.884,
		"train_steps_per_second": 0.295, "total_flos": 1.2345678e13, "train_loss": 1.8765432, "epoch": 3, "step": steps})
}

// TestTensorBoardParity writes a trainer_state.json log through our event
// writer and checks that the tensorboard package reads back every tag, step
// and value (as float32, TensorBoard's simple_value), nothing more, with
// valid CRCs and the file_version event first.
func TestTensorBoardParity(t *testing.T) {
	py := tbPython(t)
	dir := t.TempDir()
	// The log goes through JSON as trainer_state.json holds it.
	state, err := json.Marshal(map[string]any{"log_history": tbSyntheticLog()})
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		LogHistory []map[string]float64 `json:"log_history"`
	}
	if err := json.Unmarshal(state, &parsed); err != nil {
		t.Fatal(err)
	}
	w, err := tensorboard.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]point{}
	for _, entry := range parsed.LogHistory {
		if err := w.Log(entry); err != nil {
			t.Fatal(err)
		}
		step, tags := tensorboard.TrainerTags(entry)
		for tag, v := range tags {
			want[tag] = append(want[tag], point{step, v})
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ours, err := tensorboard.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}

	script := filepath.Join(t.TempDir(), "read_tb.py")
	if err := os.WriteFile(script, []byte(tbReadScript), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script, dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v", py, script, err)
	}
	var got struct {
		Files []string `json:"files"`
		Raw   []struct {
			FileVersion string  `json:"file_version"`
			Step        int64   `json:"step"`
			WallTime    float64 `json:"wall_time"`
			Values      []struct {
				Tag   string  `json:"tag"`
				Value float64 `json:"value"`
			} `json:"values"`
		} `json:"raw"`
		Scalars map[string][][3]float64 `json:"scalars"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("python output: %v\n%s", err, out)
	}

	if len(got.Files) != 1 || got.Files[0] != filepath.Base(w.Path()) {
		t.Errorf("python found files %v, want [%s]", got.Files, filepath.Base(w.Path()))
	}
	// Raw records: the same events as our reader decodes, file_version first.
	if len(got.Raw) != len(ours) {
		t.Fatalf("python read %d records, we wrote %d", len(got.Raw), len(ours))
	}
	if got.Raw[0].FileVersion != tensorboard.FileVersion || len(got.Raw[0].Values) != 0 {
		t.Errorf("first event %+v, want file_version %q", got.Raw[0], tensorboard.FileVersion)
	}
	for i, r := range got.Raw {
		e := ours[i]
		if r.Step != e.Step || r.WallTime != e.WallTime || r.FileVersion != e.FileVersion || len(r.Values) != len(e.Values) {
			t.Errorf("record %d: python %+v, ours %+v", i, r, e)
			continue
		}
		for j, v := range r.Values {
			if v.Tag != e.Values[j].Tag || v.Value != float64(e.Values[j].Simple) {
				t.Errorf("record %d value %d: python %v, ours %+v", i, j, v, e.Values[j])
			}
		}
	}
	// EventAccumulator: every logged value at its step, and nothing else.
	var tags []string
	for tag := range want {
		tags = append(tags, tag)
	}
	sort.Strings(tags)
	for _, must := range []string{"train/loss", "train/learning_rate", "train/grad_norm", "train/epoch", "eval/loss", "eval/accuracy", "train/train_loss"} {
		if _, ok := want[must]; !ok {
			t.Fatalf("the synthetic log lacks %s", must)
		}
	}
	if len(got.Scalars) != len(want) {
		t.Errorf("EventAccumulator tags %d, want %d (%v)", len(got.Scalars), len(want), tags)
	}
	checked := checkScalars(t, tags, got.Scalars, want)
	t.Logf("%d scalars in %d tags equal after the Python round trip", checked, len(tags))
}

// TestTensorBoardResumeParity: a run logs to step 8, stops, and resumes
// from its checkpoint at step 4 into a second event file. TensorBoard must
// show steps 2 and 4 from the first file and 6, 8, 10 from the resumed run,
// not both versions of steps 6 and 8.
func TestTensorBoardResumeParity(t *testing.T) {
	py := tbPython(t)
	dir := t.TempDir()
	first, err := tensorboard.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []float64{2, 4, 6, 8} {
		if err := first.Log(map[string]float64{"loss": 10 + s, "step": s}); err != nil {
			t.Fatal(err)
		}
	}
	first.Close()
	second, err := tensorboard.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Resumed(4); err != nil {
		t.Fatal(err)
	}
	for _, s := range []float64{6, 8, 10} {
		if err := second.Log(map[string]float64{"loss": 20 + s, "step": s}); err != nil {
			t.Fatal(err)
		}
	}
	second.Close()

	script := filepath.Join(t.TempDir(), "read_tb.py")
	if err := os.WriteFile(script, []byte(tbReadScript), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script, dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v", py, script, err)
	}
	var got struct {
		Files   []string                `json:"files"`
		Scalars map[string][][3]float64 `json:"scalars"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("python output: %v\n%s", err, out)
	}
	want := [][2]float64{{2, 12}, {4, 14}, {6, 26}, {8, 28}, {10, 30}}
	loss := got.Scalars["train/loss"]
	if len(got.Files) != 2 || len(loss) != len(want) {
		t.Fatalf("files %v, train/loss %v; want %v", got.Files, loss, want)
	}
	for i, w := range want {
		if loss[i][0] != w[0] || loss[i][2] != w[1] {
			t.Errorf("train/loss[%d] = step %v value %v, want %v", i, loss[i][0], loss[i][2], w)
		}
	}
}

// point is one scalar the event files must hold: its step and value.
type point struct {
	step  int64
	value float64
}

// checkScalars compares the scalars EventAccumulator read ([wall_time,
// step, value] per tag) with want, tag by tag in the order of tags; the
// files hold float32, so a value must equal want's rounded to float32. It
// returns how many scalars it checked.
func checkScalars(t *testing.T, tags []string, got map[string][][3]float64, want map[string][]point) int {
	t.Helper()
	checked := 0
	for _, tag := range tags {
		g := got[tag]
		if len(g) != len(want[tag]) {
			t.Errorf("%s: %d scalars, want %d", tag, len(g), len(want[tag]))
			continue
		}
		for i, p := range want[tag] {
			step, value := int64(g[i][0]), g[i][2]
			if step != p.step || value != float64(float32(p.value)) {
				t.Errorf("%s[%d]: step %d value %v, want step %d value %v (float32 of %v)", tag, i, step, value,
					p.step, float64(float32(p.value)), p.value)
			}
			checked++
		}
	}
	return checked
}
