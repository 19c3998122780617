//go:build parity

package parity

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"qwentune/engine/tensorboard"
	"qwentune/engine/trainer"
)

// TestTensorBoardRunParity trains the demo model with `qwentune train` and
// logging.report_to: tensorboard (a few steps, a log entry at each), then
// evaluates its adapter with `qwentune eval`, and reads the run's event
// folder with the tensorboard package's EventAccumulator: every value of
// trainer_state.json's log_history is there under the Trainer's tag at its
// step (as the float32 TensorBoard keeps), the evaluation's accuracy,
// precision, recall and F1 are eval/* at the run's last step, and nothing
// else is.
func TestTensorBoardRunParity(t *testing.T) {
	py := tbPython(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "qwentune")
	plugins := filepath.Join(dir, "plugins")
	for _, b := range [][2]string{{bin, "../cmd/qwentune"}, {filepath.Join(plugins, "qwentune-eval-heuristic"), "../plugins/evaluators/heuristic"}} {
		if out, err := exec.Command("go", "build", "-o", b[0], b[1]).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	out := filepath.Join(dir, "run")
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "QWENTUNE_RUNS_DIR="+filepath.Join(dir, "history"))
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("qwentune %v: %v\n%s", args, err, b)
		}
	}
	common := []string{"--config", "../config.yml", "--set", "model.name=demo", "--set", "training.output_dir=" + out,
		"--set", "dataset.max_length=64", "--set", "lora.r=4", "--set", "logging.report_to=tensorboard"}
	run(append([]string{"train", "--set", "training.max_steps=5", "--set", "training.logging_steps=1",
		"--set", "training.gradient_accumulation_steps=1", "--set", "training.warmup_steps=2", "--no-preflight"}, common...)...)
	evalOut := filepath.Join(dir, "eval")
	run(append([]string{"eval", "--adapter", out, "--out", evalOut, "--plugin-dir", plugins, "--dev-plugins",
		"--set", "evaluation.max_new_tokens=4"}, common...)...)

	st, err := trainer.ReadTrainerState(filepath.Join(out, trainer.TrainerStateFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.GlobalStep != 5 || len(st.LogHistory) != 6 {
		t.Fatalf("trainer_state.json: global_step %d, %d log entries; want 5 and 6", st.GlobalStep, len(st.LogHistory))
	}
	var metrics struct {
		Metrics map[string]any `json:"metrics"`
	}
	b, err := os.ReadFile(filepath.Join(evalOut, "metrics.json"))
	if err == nil {
		err = json.Unmarshal(b, &metrics)
	}
	if err != nil {
		t.Fatal(err)
	}

	want := map[string][]point{}
	for _, e := range st.LogHistory {
		step, tags := tensorboard.TrainerTags(e)
		for tag, v := range tags {
			want[tag] = append(want[tag], point{step, v})
		}
	}
	// Every number of metrics.json's metrics is an eval scalar (the
	// per-class tables and the confusion matrix are not).
	for _, k := range []string{"accuracy", "precision", "recall", "f1", "total", "correct"} {
		if _, ok := metrics.Metrics[k].(float64); !ok {
			t.Fatalf("metrics.json lacks %s: %v", k, metrics.Metrics)
		}
	}
	for k, m := range metrics.Metrics {
		if v, ok := m.(float64); ok {
			want["eval/"+k] = append(want["eval/"+k], point{int64(st.GlobalStep), v})
		}
	}
	for _, must := range []string{"train/loss", "train/learning_rate", "train/grad_norm", "train/epoch", "train/train_loss", "eval/accuracy"} {
		if len(want[must]) == 0 {
			t.Fatalf("nothing to check for %s", must)
		}
	}

	script := filepath.Join(t.TempDir(), "read_tb.py")
	if err := os.WriteFile(script, []byte(tbReadScript), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script, filepath.Join(out, "runs"))
	cmd.Stderr = os.Stderr
	pyOut, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v", py, script, err)
	}
	var got struct {
		Files   []string                `json:"files"`
		Scalars map[string][][3]float64 `json:"scalars"`
	}
	if err := json.Unmarshal(pyOut, &got); err != nil {
		t.Fatalf("python output: %v\n%s", err, pyOut)
	}
	if len(got.Files) != 2 {
		t.Errorf("event files %v: want the training run's and the evaluation's", got.Files)
	}
	var tags []string
	for tag := range want {
		tags = append(tags, tag)
	}
	sort.Strings(tags)
	if len(got.Scalars) != len(want) {
		var gotTags []string
		for tag := range got.Scalars {
			gotTags = append(gotTags, tag)
		}
		sort.Strings(gotTags)
		t.Errorf("EventAccumulator has tags %v, want %v", gotTags, tags)
	}
	checked := checkScalars(t, tags, got.Scalars, want)
	t.Logf("%d scalars in %d tags of a real run equal trainer_state.json and metrics.json after the Python round trip", checked, len(tags))
}
