package trainer

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"qwentune/engine/nn"
	"qwentune/engine/progress"
	"qwentune/internal/atomicfile"
	"qwentune/model/safetensors"
)

// resumeOpts: 11 rows in micro-batches of 2 (6 per epoch), accumulation 2
// → 3 updates per epoch, 9 steps; dropout on, logs every 2 steps so a
// checkpoint between logs must carry the pending loss.
func resumeOpts(t *testing.T, m *bigram) Options {
	o := runOpts(t, m, 11, 2)
	o.LoggingSteps, o.SaveSteps = 2, 4
	return o
}

func sameParams(t *testing.T, what string, a, b []*nn.Param) {
	t.Helper()
	for i := range a {
		for j := range a[i].Data {
			if math.Float32bits(a[i].Data[j]) != math.Float32bits(b[i].Data[j]) {
				t.Fatalf("%s: %s[%d] = %v, want %v (bitwise)", what, a[i].Name, j, a[i].Data[j], b[i].Data[j])
			}
		}
	}
}

// sameHistory compares log histories, ignoring the summary's timing fields.
func sameHistory(t *testing.T, got, want []LogEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d log entries, want %d", len(got), len(want))
	}
	for i := range got {
		for k, v := range want[i] {
			switch k {
			case "train_runtime", "train_samples_per_second", "train_steps_per_second":
				continue
			}
			if got[i][k] != v {
				t.Fatalf("log entry %d %s = %v, want %v (bitwise)", i, k, got[i][k], v)
			}
		}
	}
}

// TestResumeExact interrupts a run mid-accumulation of step 6 and resumes
// from "latest" with freshly initialised weights: losses, seeds, logs and
// final parameters must equal the uninterrupted run's bit for bit.
func TestResumeExact(t *testing.T) {
	ref := newBigram(6, 7, 0.2)
	refRes, err := Run(context.Background(), ref, resumeOpts(t, ref), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.calls) != 18 {
		t.Fatalf("%d calls, want 18", len(ref.calls))
	}

	m := newBigram(6, 7, 0.2)
	o := resumeOpts(t, m)
	ctx, cancel := context.WithCancel(context.Background())
	m.hook = func(call int) {
		if call == 11 {
			cancel()
		}
	}
	events := make(chan progress.Event, 100)
	res, err := Run(ctx, m, o, send(events))
	if !errors.Is(err, ErrStopped) || !res.Stopped {
		t.Fatalf("error %v, result %+v; want ErrStopped", err, res)
	}
	want := filepath.Join(o.OutputDir, "checkpoint-5")
	if res.GlobalStep != 5 || res.Checkpoint != want {
		t.Fatalf("stopped at step %d with checkpoint %q, want 5 and %q", res.GlobalStep, res.Checkpoint, want)
	}
	close(events)
	var kinds []progress.Kind
	for ev := range events {
		if ev.Kind != progress.Step && ev.Kind != progress.Log {
			kinds = append(kinds, ev.Kind)
		}
	}
	if !slices.Equal(kinds, []progress.Kind{"save", "save", "stopped"}) {
		t.Errorf("events %v, want save (step 4), save (step 5), stopped", kinds)
	}

	m2 := newBigram(6, 99, 0.2) // different weights: the checkpoint must restore them
	o.ResumeFrom, o.Params = "latest", m2.params()
	res2, err := Run(context.Background(), m2, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameParams(t, "resumed", m2.params(), ref.params())
	if !slices.Equal(m2.calls, ref.calls[10:]) || !slices.Equal(m2.seeds, ref.seeds[10:]) {
		t.Fatalf("resumed calls %v seeds %v\nwant %v %v", m2.calls, m2.seeds, ref.calls[10:], ref.seeds[10:])
	}
	sameHistory(t, res2.LogHistory, refRes.LogHistory)
	if res2.TrainLoss != refRes.TrainLoss || res2.GlobalStep != 9 {
		t.Fatalf("train_loss %v step %d, want %v and 9", res2.TrainLoss, res2.GlobalStep, refRes.TrainLoss)
	}
	st, err := ReadTrainerState(filepath.Join(o.OutputDir, TrainerStateFile))
	if err != nil {
		t.Fatal(err)
	}
	refSt, err := ReadTrainerState(filepath.Join(resumeOptsDir(refRes), TrainerStateFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.TotalFlos != refSt.TotalFlos || st.NumInputTokensSeen != refSt.NumInputTokensSeen || st.GlobalStep != refSt.GlobalStep {
		t.Errorf("state %+v, want %+v", st, refSt)
	}
}

// resumeOptsDir is the output folder of a finished run (its checkpoint's
// parent).
func resumeOptsDir(r Result) string { return filepath.Dir(r.Checkpoint) }

func TestStopRightAfterSaveDoesNotSaveTwice(t *testing.T) {
	m := newBigram(6, 7, 0)
	o := resumeOpts(t, m)
	o.Control = NewControl()
	m.hook = func(call int) {
		if call == 9 { // first micro-batch of step 5; step 4 was just saved
			o.Control.Stop()
		}
	}
	events := make(chan progress.Event, 100)
	res, err := Run(context.Background(), m, o, send(events))
	if !errors.Is(err, ErrStopped) || res.GlobalStep != 4 || res.Checkpoint != filepath.Join(o.OutputDir, "checkpoint-4") {
		t.Fatalf("%+v %v", res, err)
	}
	close(events)
	saves := 0
	for ev := range events {
		if ev.Kind == progress.Checkpoint {
			saves++
		}
	}
	if saves != 1 {
		t.Errorf("%d saves, want 1", saves)
	}
}

// TestPauseResume pauses from inside step 3, checks that nothing runs while
// paused, resumes, and expects the uninterrupted run's result exactly.
func TestPauseResume(t *testing.T) {
	ref := newBigram(6, 7, 0.2)
	if _, err := Run(context.Background(), ref, resumeOpts(t, ref), nil); err != nil {
		t.Fatal(err)
	}
	m := newBigram(6, 7, 0.2)
	o := resumeOpts(t, m)
	ctl := NewControl()
	o.Control = ctl
	m.hook = func(call int) {
		if call == 5 {
			ctl.Pause()
		}
	}
	events := make(chan progress.Event, 100)
	done := make(chan error, 1)
	go func() { _, err := Run(context.Background(), m, o, send(events)); done <- err }()
	for ev := range events {
		if ev.Kind == progress.Pause {
			if ev.Train.Step != 2 {
				t.Errorf("paused at step %d, want 2", ev.Train.Step)
			}
			break
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(m.callLosses()); n != 5 || !ctl.Paused() {
		t.Fatalf("%d calls while paused (paused=%v), want 5", n, ctl.Paused())
	}
	ctl.Resume()
	go func() {
		for range events {
		}
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(events)
	sameParams(t, "paused run", m.params(), ref.params())
}

func TestStopWhilePaused(t *testing.T) {
	m := newBigram(6, 7, 0)
	o := resumeOpts(t, m)
	ctl := NewControl()
	o.Control = ctl
	m.hook = func(call int) {
		if call == 5 {
			ctl.Pause()
		}
	}
	events := make(chan progress.Event, 100)
	go func() {
		for ev := range events {
			if ev.Kind == progress.Pause {
				ctl.Stop()
			}
		}
	}()
	res, err := Run(context.Background(), m, o, send(events))
	close(events)
	if !errors.Is(err, ErrStopped) || res.GlobalStep != 2 || res.Checkpoint != filepath.Join(o.OutputDir, "checkpoint-2") {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(res.Checkpoint, OptimizerFile)); err != nil {
		t.Fatal(err)
	}
}

// TestAtomicCheckpoint fails the second save half-way: the first checkpoint
// stays complete and usable, no partial folder is left, and a folder left by
// a killed save is ignored by LatestCheckpoint and removed by the next run.
func TestAtomicCheckpoint(t *testing.T) {
	m := newBigram(6, 7, 0)
	o := resumeOpts(t, m)
	o.SaveSteps = 2
	saves := 0
	o.SaveAdapter = func(dir string) error {
		saves++
		if err := SaveParams(filepath.Join(dir, ParamsFile), o.Params); err != nil {
			return err
		}
		if saves == 2 {
			return errors.New("disk full")
		}
		return os.WriteFile(filepath.Join(dir, "adapter_config.json"), []byte("{}"), 0o644)
	}
	_, err := Run(context.Background(), m, o, nil)
	if err == nil || !strings.Contains(err.Error(), "step 4: saving checkpoint") || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("error %v", err)
	}
	entries, _ := os.ReadDir(o.OutputDir)
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if !slices.Equal(names, []string{"checkpoint-2"}) {
		t.Fatalf("folders %v, want only checkpoint-2", names)
	}
	for _, f := range []string{ParamsFile, "adapter_config.json", OptimizerFile, SchedulerFile, RNGStateFile, LoopStateFile, TrainerStateFile, TrainingArgsFile} {
		if _, err := os.Stat(filepath.Join(o.OutputDir, "checkpoint-2", f)); err != nil {
			t.Errorf("checkpoint-2 incomplete: %v", err)
		}
	}

	// A save killed mid-way leaves a temporary folder.
	killed := filepath.Join(o.OutputDir, "checkpoint-6"+tmpMarker+"123")
	if err := os.MkdirAll(killed, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(killed, ParamsFile), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if latest, err := LatestCheckpoint(o.OutputDir); err != nil || latest != filepath.Join(o.OutputDir, "checkpoint-2") {
		t.Fatalf("latest %q, %v", latest, err)
	}
	o.SaveAdapter = nil
	o.ResumeFrom = "latest"
	res, err := Run(context.Background(), m, o, nil)
	if err != nil || res.GlobalStep != 9 {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := os.Stat(killed); !os.IsNotExist(err) {
		t.Errorf("the unfinished checkpoint was not removed: %v", err)
	}
}

func TestCheckpointReplaceAndLimit(t *testing.T) {
	m := newBigram(6, 7, 0)
	o := runOpts(t, m, 4, 1) // 2 updates per epoch, 6 steps
	o.SaveSteps, o.SaveTotalLimit = 1, 2
	o.Overwrite = true // the folder holds an earlier run's checkpoint-6
	stale := filepath.Join(o.OutputDir, "checkpoint-6")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "stale"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), m, o, nil); err != nil {
		t.Fatal(err)
	}
	cks, err := Checkpoints(o.OutputDir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(o.OutputDir, "checkpoint-5"), filepath.Join(o.OutputDir, "checkpoint-6")}
	if !slices.Equal(cks, want) {
		t.Fatalf("checkpoints %v, want %v", cks, want)
	}
	if _, err := os.Stat(filepath.Join(stale, "stale")); !os.IsNotExist(err) {
		t.Error("checkpoint-6 of an earlier run was not replaced")
	}
}

func TestResumeRefusesChangedData(t *testing.T) {
	m := newBigram(6, 7, 0)
	o := resumeOpts(t, m)
	o.MaxSteps = 5
	if _, err := Run(context.Background(), m, o, nil); err != nil {
		t.Fatal(err)
	}
	ids, labels := makeRows(11, m.V, 5)
	o.Batches = shuffled(ids, labels, 1) // 11 micro-batches instead of 6
	o.MaxSteps = 0
	o.ResumeFrom = filepath.Join(o.OutputDir, "checkpoint-5")
	_, err := Run(context.Background(), m, o, nil)
	if err == nil || !strings.Contains(err.Error(), "the data or batching changed") {
		t.Fatalf("error %v", err)
	}
	// An inconsistent checkpoint is refused too (its manifest rewritten to
	// match, so the consistency check itself is what refuses it).
	if err := atomicfile.WriteJSON(filepath.Join(o.ResumeFrom, RNGStateFile), rngState{GlobalStep: 4}); err != nil {
		t.Fatal(err)
	}
	o.Batches = resumeOpts(t, m).Batches
	if _, err := Run(context.Background(), m, o, nil); err == nil || !strings.Contains(err.Error(), RNGStateFile+" has SHA-256") {
		t.Fatalf("edited checkpoint: %v", err)
	}
	if err := os.Remove(filepath.Join(o.ResumeFrom, ManifestFile)); err != nil {
		t.Fatal(err)
	}
	if err := writeManifest(o.ResumeFrom); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), m, o, nil); err == nil || !strings.Contains(err.Error(), "inconsistent") {
		t.Fatalf("inconsistent checkpoint: %v", err)
	}
	o.ResumeFrom = filepath.Join(o.OutputDir, "checkpoint-77")
	if _, err := Run(context.Background(), m, o, nil); err == nil || !strings.Contains(err.Error(), "resume from") {
		t.Fatalf("missing checkpoint: %v", err)
	}
}

func TestParamsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	m := newBigram(5, 3, 0)
	path := filepath.Join(dir, ParamsFile)
	if err := SaveParams(path, m.params()); err != nil {
		t.Fatal(err)
	}
	m2 := newBigram(5, 4, 0)
	if err := LoadParams(path, m2.params()); err != nil {
		t.Fatal(err)
	}
	sameParams(t, "round trip", m2.params(), m.params())

	bad := []struct {
		name    string
		tensors []safetensors.Tensor
		msg     string
	}{
		{"missing", []safetensors.Tensor{{Name: "w.weight", DType: "F32", Shape: []int{25}, Data: make([]byte, 100)}}, `"w.bias" missing`},
		{"dtype", []safetensors.Tensor{{Name: "w.weight", DType: "BF16", Shape: []int{25}, Data: make([]byte, 50)}}, "dtype BF16"},
		{"shape", []safetensors.Tensor{{Name: "w.weight", DType: "F32", Shape: []int{24}, Data: make([]byte, 96)}}, "want 25 values"},
	}
	for _, tc := range bad {
		p := filepath.Join(dir, tc.name+".safetensors")
		if err := safetensors.Write(p, tc.tensors, nil); err != nil {
			t.Fatal(err)
		}
		if err := LoadParams(p, m2.params()); err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want %q with the file name", tc.name, err, tc.msg)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.safetensors"), []byte("junkjunkjunk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := LoadParams(filepath.Join(dir, "junk.safetensors"), m2.params()); err == nil {
		t.Error("junk file loaded")
	}
}

func TestOptimizerStateRoundTrip(t *testing.T) {
	m := newBigram(4, 3, 0)
	a := newAdamW(m.params())
	for i := range a.expAvg {
		for j := range a.expAvg[i] {
			a.expAvg[i][j] = float32(i*100+j) / 7
			a.expSq[i][j] = float32(j) / 3
		}
	}
	a.step = 12
	path := filepath.Join(t.TempDir(), OptimizerFile)
	if err := a.save(path); err != nil {
		t.Fatal(err)
	}
	b := newAdamW(m.params())
	if err := b.load(path, 12); err != nil {
		t.Fatal(err)
	}
	for i := range a.expAvg {
		if !slices.Equal(a.expAvg[i], b.expAvg[i]) || !slices.Equal(a.expSq[i], b.expSq[i]) {
			t.Fatal("moments differ after the round trip")
		}
	}
	if err := b.load(path, 11); err == nil || !strings.Contains(err.Error(), "want 11") {
		t.Errorf("wrong step accepted: %v", err)
	}
}

func TestParseTrainerStateMalformed(t *testing.T) {
	tests := []struct{ name, data, msg string }{
		{"not json", "{", "unexpected end"},
		{"type", `{"global_step": "x"}`, "global_step"},
		{"negative", `{"global_step": -1}`, "negative"},
	}
	for _, tc := range tests {
		if _, err := parseTrainerState([]byte(tc.data), "trainer_state.json"); err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "trainer_state.json") {
			t.Errorf("%s: error %v", tc.name, err)
		}
	}
	st, err := parseTrainerState([]byte(`{"global_step": 3, "log_history": [{"loss": 1.5, "step": 3, "note": "x"}]}`), "s")
	if err != nil || st.GlobalStep != 3 || len(st.LogHistory) != 1 || st.LogHistory[0]["loss"] != 1.5 || len(st.LogHistory[0]) != 2 {
		t.Errorf("%+v %v", st, err)
	}
}

func FuzzParseTrainerState(f *testing.F) {
	f.Add([]byte(`{"global_step": 3, "log_history": [{"loss": 1.5}], "max_steps": 9}`))
	f.Add([]byte(`{"log_history": [null, {"a": [1]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseTrainerState(data, "fuzz")
		if err == nil && st.GlobalStep < 0 {
			t.Fatal("negative step accepted")
		}
	})
}

// TestCheckpointLimitKeepsTheResumed: with save_total_limit 1 a resumed run
// keeps its newest checkpoint and never deletes the one it resumed from.
func TestCheckpointLimitKeepsTheResumed(t *testing.T) {
	m := newBigram(6, 7, 0)
	o := runOpts(t, m, 4, 1) // 2 updates per epoch
	o.SaveSteps, o.MaxSteps = 1, 3
	if _, err := Run(context.Background(), m, o, nil); err != nil {
		t.Fatal(err)
	}
	from := filepath.Join(o.OutputDir, "checkpoint-2")
	o.ResumeFrom, o.MaxSteps, o.SaveTotalLimit = from, 6, 1
	if _, err := Run(context.Background(), m, o, nil); err != nil {
		t.Fatal(err)
	}
	cks, err := Checkpoints(o.OutputDir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{from, filepath.Join(o.OutputDir, "checkpoint-6")}
	if !slices.Equal(cks, want) {
		t.Fatalf("checkpoints %v, want %v", cks, want)
	}
}

// TestOptimizerOption: adamw (or "") selects torch's AdamW, recorded as
// adamw_torch in training_args.json; anything else is refused.
func TestOptimizerOption(t *testing.T) {
	m := newBigram(6, 7, 0)
	o := runOpts(t, m, 4, 1)
	o.Optimizer, o.MaxSteps = "sgd", 1
	if _, err := Run(context.Background(), m, o, nil); err == nil || !strings.Contains(err.Error(), `optimizer "sgd"`) {
		t.Fatalf("sgd: %v", err)
	}
	o.Optimizer = OptimizerAdamW
	if _, err := Run(context.Background(), m, o, nil); err != nil {
		t.Fatal(err)
	}
	var args trainingArgs
	if err := readJSON(filepath.Join(o.OutputDir, TrainingArgsFile), &args); err != nil {
		t.Fatal(err)
	}
	if args.Optim != "adamw_torch" {
		t.Errorf("training_args.json optim %q", args.Optim)
	}
}

// TestResumeVerifiesChecksums flips 4 bytes of a checkpoint's optimizer
// state: resuming from that folder is refused naming the file, and
// --resume without a folder falls back to the newest intact checkpoint and
// says so.
func TestResumeVerifiesChecksums(t *testing.T) {
	m := newBigram(6, 7, 0)
	o := resumeOpts(t, m)
	o.MaxSteps = 8 // checkpoints 4 and 8
	if _, err := Run(context.Background(), m, o, nil); err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(o.OutputDir, "checkpoint-8")
	for _, f := range []string{ManifestFile, OptimizerFile, TrainerStateFile, LoopStateFile, ParamsFile} {
		if _, err := os.Stat(filepath.Join(ck, f)); err != nil {
			t.Fatalf("checkpoint file %s: %v", f, err)
		}
	}
	if err := VerifyCheckpoint(ck); err != nil {
		t.Fatalf("fresh checkpoint: %v", err)
	}
	path := filepath.Join(ck, OptimizerFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(data) - 4; i < len(data); i++ {
		data[i] ^= 0x7f
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	o.MaxSteps = 0
	o.ResumeFrom = ck
	_, err = Run(context.Background(), m, o, nil)
	if err == nil || !strings.Contains(err.Error(), OptimizerFile) || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("resume from a damaged checkpoint: error %v, want one naming %s", err, OptimizerFile)
	}

	m2 := newBigram(6, 7, 0)
	o.Params, o.ResumeFrom = m2.params(), "latest"
	events := make(chan progress.Event, 1000)
	res, err := Run(context.Background(), m2, o, send(events))
	if err != nil {
		t.Fatal(err)
	}
	close(events)
	var said bool
	for ev := range events {
		if ev.Kind == progress.Info && strings.Contains(ev.Message, "checkpoint-4") && strings.Contains(ev.Message, "newest intact") {
			said = true
		}
	}
	if !said {
		t.Error("no message says the run fell back to checkpoint-4")
	}
	if res.GlobalStep != 9 || len(m2.calls) != 10 {
		t.Errorf("resumed to step %d with %d calls, want 9 and 10 (from step 4)", res.GlobalStep, len(m2.calls))
	}
}
