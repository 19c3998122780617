package engine

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"qwentune/engine/progress"
	"qwentune/engine/runs"
	"qwentune/engine/tensorboard"
	"qwentune/engine/trainer"
)

// A training run stopped and resumed, then an evaluation of its adapter:
// each call is one record with its status, data hash, config and figures,
// and the event files hold every log_history value (the resumed call
// starting with a START event at the checkpoint's step + 1) and the
// evaluation's metrics at the run's last step.
func TestTrainAndEvaluateAreRecorded(t *testing.T) {
	t.Setenv("QWENTUNE_RUNS_DIR", filepath.Join(t.TempDir(), "history"))
	s, err := OpenDir(tinyModel(t), "tiny", "float32")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, s.Dir, "training.max_steps=30", "logging.report_to=tensorboard", "evaluation.max_new_tokens=4")
	out := cfg.Training.OutputDir
	data := inspected(t, s, cfg)
	ctl := trainer.NewControl()
	first, err := s.Train(context.Background(), cfg, data, TrainOptions{Control: ctl}, func(ev progress.Event) {
		if ev.Kind == progress.Step && ev.Train.Step >= 3 {
			ctl.Stop()
		}
	})
	if !errors.Is(err, trainer.ErrStopped) || first.Checkpoint == "" {
		t.Fatalf("stop: %v, checkpoint %q", err, first.Checkpoint)
	}
	k := first.GlobalStep
	res, err := s.Train(context.Background(), cfg, data, TrainOptions{Resume: "latest"}, nil)
	if err != nil {
		t.Fatal(err)
	}

	list, skipped, err := runs.List(runs.Filter{Kind: runs.Train})
	if err != nil || len(skipped) > 0 || len(list) != 2 {
		t.Fatalf("history: %d train runs, skipped %v, err %v", len(list), skipped, err)
	}
	resumed, stopped := list[0], list[1] // newest first
	if stopped.Status != runs.Stopped || resumed.Status != runs.Finished {
		t.Fatalf("statuses %s, %s; want stopped, finished", stopped.Status, resumed.Status)
	}
	if want := first.Checkpoint; resumed.Resumed != want || stopped.Resumed != "" {
		t.Errorf("resumed from %q and %q, want %q and none", resumed.Resumed, stopped.Resumed, want)
	}
	for _, r := range list {
		if r.Model != s.Dir || r.Dir != out || r.Adapter != out || r.DataSHA256 != data.SHA256 ||
			r.DataFile != absPath(data.File) || !strings.Contains(r.Config, "report_to: tensorboard") {
			t.Errorf("record: model %q dir %q adapter %q data %q %q, config has report_to: %v", r.Model, r.Dir, r.Adapter,
				r.DataFile, r.DataSHA256, strings.Contains(r.Config, "report_to: tensorboard"))
		}
	}
	st, err := trainer.ReadTrainerState(filepath.Join(out, trainer.TrainerStateFile))
	if err != nil {
		t.Fatal(err)
	}
	var lastLoss float64
	for _, e := range st.LogHistory {
		if l, ok := e["loss"]; ok {
			lastLoss = l
		}
	}
	if resumed.Steps != 30 || resumed.FinalLoss == nil || *resumed.FinalLoss != lastLoss || resumed.Metrics["train_loss"] != res.TrainLoss {
		t.Errorf("figures: steps %d final loss %v (want %v) train_loss %v (want %v)", resumed.Steps, resumed.FinalLoss,
			lastLoss, resumed.Metrics["train_loss"], res.TrainLoss)
	}

	// The event files: steps 1-k from the stopped call, a START at step
	// k+1, then the rest and the summary from the resumed one.
	tbDir := filepath.Join(out, TensorBoardDir)
	files, err := tensorboard.EventFiles(tbDir)
	if err != nil || len(files) != 2 {
		t.Fatalf("event files %v (%v), want 2", files, err)
	}
	evs, err := tensorboard.ReadFile(files[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) < 2 || evs[1].SessionStatus != tensorboard.SessionStart || evs[1].Step != int64(k+1) {
		t.Errorf("the resumed call's file does not start with START at step %d: %+v", k+1, evs[:min(2, len(evs))])
	}
	checkScalars(t, tbDir, st.LogHistory, nil)

	// Evaluating the run's adapter records the metrics and adds them to the
	// event files at step 30.
	a, err := s.LoadAdapter(out)
	if err != nil {
		t.Fatal(err)
	}
	evalOut := filepath.Join(t.TempDir(), "eval")
	er, err := s.Evaluate(context.Background(), cfg, EvalOptions{Adapter: a, AdapterDir: out, OutDir: evalOut,
		PluginDirs: []string{pluginDir}, DevPlugins: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	evals, _, _ := runs.List(runs.Filter{Kind: runs.Eval})
	if len(evals) != 1 {
		t.Fatalf("%d eval runs recorded, want 1", len(evals))
	}
	e := evals[0]
	m := er.Tuned.Metrics
	if e.Status != runs.Finished || e.Adapter != out || e.Dir != evalOut || e.Evaluator != "heuristic" ||
		e.Metrics["accuracy"] != m.Accuracy || e.Metrics["f1"] != m.F1 || e.Metrics["total"] != float64(m.Total) {
		t.Errorf("eval record %+v, metrics %+v", e, m)
	}
	if want, _ := fileSHA256(cfg.Dataset.TestFile); e.DataSHA256 != want || want == "" {
		t.Errorf("test file hash %q, want %q", e.DataSHA256, want)
	}
	checkScalars(t, tbDir, st.LogHistory, map[string]float64{"eval/accuracy": m.Accuracy, "eval/precision": m.Precision,
		"eval/recall": m.Recall, "eval/f1": m.F1, "eval/total": float64(m.Total), "eval/correct": float64(m.Correct),
		"eval/judged": float64(m.Judged), "eval/unjudged": float64(m.Unjudged)})
	cmp, err := runs.Compare([]string{resumed.ID})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, row := range cmp.Metrics {
		if row.Name == "eval/accuracy" && row.Values[0] != nil && *row.Values[0] == m.Accuracy {
			found = true
		}
	}
	if !found {
		t.Errorf("runs.Compare does not show the run's eval/accuracy: %+v", cmp.Metrics)
	}
}

// checkScalars reads every event file of dir and wants exactly the values
// of hist (mapped to the Trainer's tags) at their steps, plus extra at the
// last step, each as the float32 TensorBoard keeps.
func checkScalars(t *testing.T, dir string, hist []trainer.LogEntry, extra map[string]float64) {
	t.Helper()
	got, err := tensorboard.ReadScalars(dir)
	if err != nil {
		t.Fatal(err)
	}
	type point struct {
		step  int64
		value float32
	}
	want := map[string][]point{}
	var last int64
	for _, e := range hist {
		step, tags := tensorboard.TrainerTags(e)
		for tag, v := range tags {
			want[tag] = append(want[tag], point{step, float32(v)})
		}
		last = step
	}
	for tag, v := range extra {
		want[tag] = append(want[tag], point{last, float32(v)})
	}
	if len(got) != len(want) {
		t.Errorf("%d tags in the event files, want %d", len(got), len(want))
	}
	for tag, ps := range want {
		g := got[tag]
		if len(g) != len(ps) {
			t.Errorf("%s: %d values, want %d", tag, len(g), len(ps))
			continue
		}
		for i, p := range ps {
			if g[i].Step != p.step || g[i].Value != p.value && !(math.IsNaN(float64(p.value)) && math.IsNaN(float64(g[i].Value))) {
				t.Errorf("%s[%d]: step %d value %v, want step %d value %v", tag, i, g[i].Step, g[i].Value, p.step, p.value)
			}
		}
	}
}

// With report_to none no event file is written.
func TestReportToNoneWritesNoEvents(t *testing.T) {
	s, err := OpenDir(tinyModel(t), "tiny", "float32")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, s.Dir, "training.max_steps=2")
	if _, err := s.Train(context.Background(), cfg, inspected(t, s, cfg), TrainOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Training.OutputDir, TensorBoardDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("report_to none wrote %s: %v", TensorBoardDir, err)
	}
}

// A history that cannot be written is a warning, said once, and the run
// goes on; a run that fails is recorded as failed with its error.
func TestHistoryProblemsNeverFailTheRun(t *testing.T) {
	s, err := OpenDir(tinyModel(t), "tiny", "float32")
	if err != nil {
		t.Fatal(err)
	}
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("QWENTUNE_RUNS_DIR", filepath.Join(notADir, "history"))
	cfg := testConfig(t, s.Dir, "training.max_steps=2")
	var warnings []string
	if _, err := s.Train(context.Background(), cfg, inspected(t, s, cfg), TrainOptions{}, func(ev progress.Event) {
		if ev.Kind == progress.Info && strings.Contains(ev.Message, "run history") {
			warnings = append(warnings, ev.Message)
		}
	}); err != nil {
		t.Fatalf("the history's problem failed the run: %v", err)
	}
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "warning: run history:") {
		t.Errorf("warnings %q, want one", warnings)
	}

	t.Setenv("QWENTUNE_RUNS_DIR", filepath.Join(t.TempDir(), "history"))
	fresh := testConfig(t, s.Dir, "training.max_steps=2")
	_, err = s.Train(context.Background(), fresh, inspected(t, s, fresh), TrainOptions{Resume: "latest"}, nil)
	if err == nil {
		t.Fatal("resuming a folder without checkpoints succeeded")
	}
	list, _, _ := runs.List(runs.Filter{})
	if len(list) != 1 || list[0].Status != runs.Failed || list[0].Error != err.Error() {
		t.Fatalf("failed run recorded as %+v, want failed with %q", list, err)
	}
}
