package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"qwentune/engine/trainer"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "runs"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeState writes a trainer_state.json with the given log_history into
// dir, as the trainer does.
func writeState(t *testing.T, dir string, step int, hist []map[string]float64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{"global_step": step, "log_history": hist})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "trainer_state.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func logEntry(step int, loss float64) map[string]float64 {
	return map[string]float64{"loss": loss, "grad_norm": 1, "learning_rate": 1e-4, "epoch": float64(step) / 4, "step": float64(step)}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("QWENTUNE_RUNS_DIR", "/tmp/elsewhere")
	if d, err := DefaultDir(); err != nil || d != "/tmp/elsewhere" {
		t.Errorf("QWENTUNE_RUNS_DIR: %q, %v", d, err)
	}
	t.Setenv("QWENTUNE_RUNS_DIR", "")
	t.Setenv("XDG_DATA_HOME", "/xdg/data")
	if d, err := DefaultDir(); err != nil || d != "/xdg/data/qwentune/runs" {
		t.Errorf("XDG_DATA_HOME: %q, %v", d, err)
	}
	t.Setenv("XDG_DATA_HOME", "relative/ignored")
	t.Setenv("HOME", "/home/someone")
	if d, err := DefaultDir(); err != nil || d != "/home/someone/.local/share/qwentune/runs" {
		t.Errorf("HOME: %q, %v", d, err)
	}
}

func TestLifecycle(t *testing.T) {
	s := newStore(t)
	runDir := filepath.Join(t.TempDir(), "out")
	id, err := s.Start(Record{Kind: Train, Model: "demo", Dir: runDir, DataFile: "data/train.jsonl",
		DataSHA256: "abc123", Config: "training:\n  learning_rate: 0.0002\n", MaxSteps: 8})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(id, "-train-") {
		t.Errorf("id %q", id)
	}
	r, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if r.Status != Running || r.PID != os.Getpid() || r.Host != host || r.Start.IsZero() || !r.Missing || r.Dir != runDir {
		t.Errorf("started record %+v", r)
	}
	// Live observation of log events.
	for _, e := range []map[string]float64{logEntry(2, 2.5), logEntry(4, 1.5), logEntry(6, 1.75)} {
		if err := s.Observe(id, e); err != nil {
			t.Fatal(err)
		}
	}
	r, _ = s.Get(id)
	if *r.FinalLoss != 1.75 || *r.BestLoss != 1.5 || r.Steps != 6 || r.Epoch != 1.5 || len(r.Metrics) != 0 {
		t.Errorf("observed: final %v best %v steps %d epoch %v metrics %v", *r.FinalLoss, *r.BestLoss, r.Steps, r.Epoch, r.Metrics)
	}
	// The run's folder holds the whole history (it resumed from step 2, so
	// the events above lack step 1); Finish takes it from there.
	hist := []map[string]float64{logEntry(1, 3), logEntry(2, 2.5), logEntry(4, 1.5), logEntry(6, 1.75), logEntry(8, 1.25),
		{"train_loss": 2.1, "train_runtime": 9.5, "epoch": 2, "step": 8}}
	writeState(t, runDir, 8, hist)
	if err := s.Finish(id, Finished, nil); err != nil {
		t.Fatal(err)
	}
	r, _ = s.Get(id)
	if r.Status != Finished || r.Missing || r.Duration <= 0 || *r.FinalLoss != 1.25 || *r.BestLoss != 1.25 || r.Steps != 8 ||
		r.Metrics["train_loss"] != 2.1 || r.Metrics["train_runtime"] != 9.5 || r.Error != "" {
		t.Errorf("finished record %+v (final %v best %v)", r, *r.FinalLoss, *r.BestLoss)
	}
	if err := s.Finish(id, Running, nil); err == nil {
		t.Error("Finish with running accepted")
	}
	// A failed evaluation keeps its error and metrics.
	eid, _ := s.Start(Record{Kind: Eval, Model: "demo", Dir: filepath.Join(runDir, "eval"), Adapter: runDir, Evaluator: "heuristic"})
	s.Update(eid, func(r *Record) { r.Metrics = map[string]float64{"accuracy": 0.5} })
	if err := s.Finish(eid, Failed, errors.New("plugin crashed")); err != nil {
		t.Fatal(err)
	}
	r, _ = s.Get(eid)
	if r.Status != Failed || r.Error != "plugin crashed" || r.Metrics["accuracy"] != 0.5 {
		t.Errorf("failed eval %+v", r)
	}
	if err := s.Update("20990101-000000-train-00000000", func(*Record) {}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update of an unknown id: %v", err)
	}
	if err := s.Update("../escape", func(*Record) {}); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Update of a path: %v", err)
	}
}

func TestStoppedRunHistoryFromCheckpoint(t *testing.T) {
	s := newStore(t)
	runDir := t.TempDir()
	writeState(t, filepath.Join(runDir, "checkpoint-2"), 2, []map[string]float64{logEntry(1, 3), logEntry(2, 2)})
	writeState(t, filepath.Join(runDir, "checkpoint-10"), 10, []map[string]float64{logEntry(1, 3), logEntry(2, 2), logEntry(10, 0.5)})
	id, _ := s.Start(Record{Kind: Train, Dir: runDir})
	if err := s.Finish(id, Stopped, nil); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Get(id)
	if r.Status != Stopped || r.Steps != 10 || *r.FinalLoss != 0.5 {
		t.Errorf("stopped run: %+v", r)
	}
	// An older top-level state (a run resumed past it) loses to the newer
	// checkpoint.
	writeState(t, runDir, 4, []map[string]float64{logEntry(4, 9)})
	h, err := History(runDir)
	if err != nil || len(h) != 3 {
		t.Errorf("History: %v, %v", h, err)
	}
	if _, err := History(t.TempDir()); err == nil {
		t.Error("History of an empty folder succeeded")
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "trainer_state.json"), []byte("{"), 0o644)
	if _, err := History(bad); err == nil || !strings.Contains(err.Error(), "trainer_state.json") {
		t.Errorf("History of a corrupt state: %v", err)
	}
}

func TestNaNLossSurvives(t *testing.T) {
	s := newStore(t)
	id, _ := s.Start(Record{Kind: Train})
	if err := s.Observe(id, map[string]float64{"loss": 2, "step": 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Observe(id, map[string]float64{"loss": math.NaN(), "step": 2, "eval_loss": math.Inf(1)}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(*r.FinalLoss) || *r.BestLoss != 2 || !math.IsInf(r.Metrics["eval_loss"], 1) {
		t.Errorf("final %v best %v metrics %v", *r.FinalLoss, *r.BestLoss, r.Metrics)
	}
	b, _ := os.ReadFile(s.path(id))
	if !strings.Contains(string(b), `"final_loss": "NaN"`) {
		t.Errorf("record file:\n%s", b)
	}
}

func TestListFilterResolve(t *testing.T) {
	s := newStore(t)
	base := time.Date(2026, 5, 17, 14, 0, 0, 0, time.UTC)
	mk := func(min int, kind Kind, model, data, sha string) string {
		id, err := s.Start(Record{Kind: kind, Model: model, DataFile: data, DataSHA256: sha, Start: base.Add(time.Duration(min) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	a := mk(0, Train, "Qwen/Qwen2-0.5B", "data/train.jsonl", "aaaa1111")
	b := mk(1, Train, "demo", "data/other.jsonl", "bbbb2222")
	c := mk(2, Eval, "demo", "data/test.jsonl", "cccc3333")
	s.Finish(b, Finished, nil)
	ids := func(f Filter) string {
		l, skipped, err := s.List(f)
		if err != nil || len(skipped) > 0 {
			t.Fatalf("List: %v %v", skipped, err)
		}
		var out []string
		for _, r := range l {
			out = append(out, r.ID)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		f    Filter
		want string
	}{
		{Filter{}, c + "," + b + "," + a},
		{Filter{Kind: Train}, b + "," + a},
		{Filter{Model: "qwen2"}, a},
		{Filter{Model: "DEMO", Kind: Eval}, c},
		{Filter{Data: "other"}, b},
		{Filter{Data: "CCCC"}, c},
		{Filter{Status: Finished}, b},
		{Filter{Status: Running}, c + "," + a},
		{Filter{Model: "nothing"}, ""},
	} {
		if got := ids(tc.f); got != tc.want {
			t.Errorf("List(%+v) = %s, want %s", tc.f, got, tc.want)
		}
	}
	if id, err := s.Resolve(a[len(a)-8:]); err != nil || id != a {
		t.Errorf("Resolve(random tail) = %q, %v", id, err)
	}
	if id, err := s.Resolve("20260517-1401"); err != nil || id != b {
		t.Errorf("Resolve(prefix) = %q, %v", id, err)
	}
	if _, err := s.Resolve("20260517-14"); err == nil || !strings.Contains(err.Error(), "names 3 runs") {
		t.Errorf("ambiguous: %v", err)
	}
	if _, err := s.Resolve("zzz"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	for _, bad := range []string{"Running", "done"} {
		if _, err := ParseStatus(bad); err == nil {
			t.Errorf("ParseStatus(%q) accepted", bad)
		}
	}
}

func TestMissingFolder(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	runDir := filepath.Join(dir, "run")
	writeState(t, runDir, 2, []map[string]float64{logEntry(2, 1)})
	id, _ := s.Start(Record{Kind: Train, Dir: runDir, Config: "lora:\n  r: 8\n"})
	s.Finish(id, Finished, nil)
	if err := os.Rename(runDir, filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	l, skipped, err := s.List(Filter{})
	if err != nil || len(skipped) != 0 || len(l) != 1 || !l[0].Missing || l[0].Status != Finished || *l[0].FinalLoss != 1 {
		t.Fatalf("List after the folder moved: %+v %v %v", l, skipped, err)
	}
	c, err := s.Compare([]string{id})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Curves) != 1 || c.Curves[0].Points != nil || !strings.Contains(c.Curves[0].Err, "missing") {
		t.Errorf("curve of a missing run: %+v", c.Curves)
	}
	if err := s.Finish(id, Finished, nil); err != nil {
		t.Errorf("Finish with the folder gone: %v", err)
	}
	// Deleting a missing folder is no obstacle to removing the record.
	if err := s.Remove(id, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Remove: %v", err)
	}
}

func TestCorruptRecord(t *testing.T) {
	s := newStore(t)
	good, _ := s.Start(Record{Kind: Train, Model: "demo"})
	cases := map[string]string{
		"20260101-000000-train-00000001": `{"id": "20260101-000000-train-00000001", "kind": "train", "start": `, // cut short
		"20260101-000000-train-00000002": `not json at all`,
		"20260101-000000-train-00000003": `{"id": "someone-else", "kind": "train", "start": "2026-01-01T00:00:00Z"}`,
		"20260101-000000-train-00000004": `{"version": 99, "id": "20260101-000000-train-00000004", "kind": "train", "start": "2026-01-01T00:00:00Z"}`,
		"20260101-000000-train-00000005": `{"id": "20260101-000000-train-00000005", "kind": "train", "start": "2026-01-01T00:00:00Z", "final_loss": "lots"}`,
		"20260101-000000-train-00000006": `{"id": "20260101-000000-train-00000006"}`,
	}
	for id, text := range cases {
		if err := os.WriteFile(s.path(id), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Files that are not records are ignored, not reported.
	os.WriteFile(filepath.Join(s.dir, "notes.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(s.dir, ".x.json.tmp-123"), []byte("{"), 0o644)
	os.Mkdir(filepath.Join(s.dir, "folder.json"), 0o755)
	l, skipped, err := s.List(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 1 || l[0].ID != good {
		t.Errorf("listed %+v, want only the good record", l)
	}
	if len(skipped) != len(cases) {
		t.Fatalf("skipped %v, want %d", skipped, len(cases))
	}
	for _, e := range skipped {
		if !strings.Contains(e.Error(), "corrupt record") || !strings.Contains(e.Error(), s.dir) {
			t.Errorf("skip error %q names neither the problem nor the file", e)
		}
	}
	if !strings.Contains(fmt.Sprint(skipped), "newer than this QwenTune") {
		t.Errorf("the newer-version record is not explained: %v", skipped)
	}
	bad := "20260101-000000-train-00000002"
	if _, err := s.Get(bad); err == nil {
		t.Error("Get of a corrupt record succeeded")
	}
	if err := s.Update(bad, func(*Record) {}); err == nil {
		t.Error("Update of a corrupt record succeeded")
	}
	if err := s.Remove(bad, true); err == nil || !strings.Contains(err.Error(), "folder is unknown") {
		t.Errorf("Remove(corrupt, deleteFolder): %v", err)
	}
	if err := s.Remove(bad, false); err != nil {
		t.Errorf("Remove(corrupt): %v", err)
	}
	if _, err := os.Stat(s.path(bad)); !os.IsNotExist(err) {
		t.Error("the corrupt record is still there")
	}
}

func TestInterrupted(t *testing.T) {
	s := newStore(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	id, _ := s.Start(Record{Kind: Train, PID: dead})
	alive, _ := s.Start(Record{Kind: Train})
	elsewhere, _ := s.Start(Record{Kind: Train, PID: dead, Host: "another-machine"})
	for run, want := range map[string]Status{id: Interrupted, alive: Running, elsewhere: Running} {
		if r, _ := s.Get(run); r.Status != want {
			t.Errorf("%s: status %s, want %s", run, r.Status, want)
		}
	}
	// Interrupted is derived, never stored: a late Finish still works.
	s.Finish(id, Stopped, nil)
	if r, _ := s.Get(id); r.Status != Stopped {
		t.Errorf("after Finish: %s", r.Status)
	}
}

func TestRemoveFolder(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	os.MkdirAll(filepath.Join(run, "checkpoint-4"), 0o755)
	os.WriteFile(filepath.Join(run, "run_config.yml"), []byte("x"), 0o644)
	plain := filepath.Join(dir, "plain")
	os.MkdirAll(plain, 0o755)
	os.WriteFile(filepath.Join(plain, "thesis.tex"), []byte("x"), 0o644)
	ckOnly := filepath.Join(dir, "stopped")
	os.MkdirAll(filepath.Join(ckOnly, "checkpoint-2"), 0o755)

	id, _ := s.Start(Record{Kind: Train, Dir: run})
	if err := s.Remove(id, true); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Errorf("Remove of a live run's folder: %v", err)
	}
	s.Finish(id, Finished, nil)
	if err := s.Remove(id, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(run); !os.IsNotExist(err) {
		t.Error("the run folder survived")
	}
	id, _ = s.Start(Record{Kind: Train, Dir: ckOnly})
	s.Finish(id, Stopped, nil)
	if err := s.Remove(id, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ckOnly); !os.IsNotExist(err) {
		t.Error("the stopped run's folder survived")
	}

	id, _ = s.Start(Record{Kind: Train, Dir: plain})
	s.Finish(id, Failed, nil)
	if err := s.Remove(id, true); err == nil || !strings.Contains(err.Error(), "does not look like a run folder") {
		t.Errorf("Remove of a folder that is no run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(plain, "thesis.tex")); err != nil {
		t.Error("a folder that is no run was deleted")
	}
	if _, err := s.Get(id); err != nil {
		t.Errorf("the record went with a refused delete: %v", err)
	}
	// The working folder (training.output_dir: .) is never deleted, even
	// when a run wrote into it.
	wd, _ := os.Getwd()
	t.Chdir(plain)
	os.WriteFile(filepath.Join(plain, "run_config.yml"), []byte("x"), 0o644)
	id, _ = s.Start(Record{Kind: Train, Dir: "."})
	s.Finish(id, Finished, nil)
	if err := s.Remove(id, true); err == nil || !strings.Contains(err.Error(), "not deleted") {
		t.Errorf("Remove of the working folder: %v", err)
	}
	t.Chdir(wd)
	if _, err := os.Stat(plain); err != nil {
		t.Error("the working folder was deleted")
	}
	if err := s.Remove(id, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(plain); err != nil {
		t.Error("Remove without deleteFolder deleted the folder")
	}
	if err := s.Remove(id, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: %v", err)
	}
}

// bumpCounter increments the record's "n" metric: a read-modify-write that
// loses increments unless the lock serialises writers.
func bumpCounter(s *Store, id string) error {
	return s.Update(id, func(r *Record) {
		if r.Metrics == nil {
			r.Metrics = map[string]float64{}
		}
		r.Metrics["n"]++
	})
}

const helperEnv = "QWENTUNE_RUNS_TEST_HELPER"

// TestHelperProcess is the second process of TestTwoProcesses: it bumps the
// shared counter and starts records of its own while the parent does too.
func TestHelperProcess(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		return // not a helper: nothing to do
	}
	id, n, _ := strings.Cut(spec, ":")
	count, _ := strconv.Atoi(n)
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for i := range count {
		if err := bumpCounter(s, id); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			if _, err := s.Start(Record{Kind: Eval, Model: "child"}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// hammer runs writers goroutines that each bump the shared counter count
// times, start and update runs of their own, while a reader lists.
func hammer(t *testing.T, s *Store, shared string, writers, count int) {
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	stop := make(chan struct{})
	go func() {
		defer close(errs)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, skipped, err := s.List(Filter{}); err != nil || len(skipped) > 0 {
				errs <- fmt.Errorf("List while writing: %v %v", skipped, err)
				return
			}
		}
	}()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own, err := s.Start(Record{Kind: Train, Model: fmt.Sprint("writer", w)})
			if err != nil {
				t.Error(err)
				return
			}
			for i := range count {
				if err := bumpCounter(s, shared); err != nil {
					t.Error(err)
					return
				}
				if err := s.Observe(own, logEntry(i+1, float64(count-i))); err != nil {
					t.Error(err)
					return
				}
			}
			if err := s.Finish(own, Finished, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	for err := range errs {
		t.Error(err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	s := newStore(t)
	shared, _ := s.Start(Record{Kind: Train, Model: "shared"})
	const writers, count = 6, 15
	hammer(t, s, shared, writers, count)
	r, err := s.Get(shared)
	if err != nil {
		t.Fatal(err)
	}
	if r.Metrics["n"] != writers*count {
		t.Errorf("counter %v, want %d: updates were lost", r.Metrics["n"], writers*count)
	}
	l, skipped, _ := s.List(Filter{Kind: Train, Status: Finished})
	if len(l) != writers || len(skipped) != 0 {
		t.Errorf("%d finished runs, %v skipped; want %d", len(l), skipped, writers)
	}
	for _, r := range l {
		if r.Steps != count || *r.FinalLoss != 1 || *r.BestLoss != 1 {
			t.Errorf("%s: steps %d final %v best %v", r.ID, r.Steps, *r.FinalLoss, *r.BestLoss)
		}
	}
	if tmps, _ := filepath.Glob(filepath.Join(s.dir, ".*tmp*")); len(tmps) > 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
}

// TestTwoProcesses runs this test binary a second time as another writer
// (the app and the CLI at once) against the same store.
func TestTwoProcesses(t *testing.T) {
	s := newStore(t)
	shared, _ := s.Start(Record{Kind: Train, Model: "shared"})
	const childCount = 60
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+shared+":"+strconv.Itoa(childCount), "QWENTUNE_RUNS_DIR="+s.dir)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const writers, count = 3, 20
	hammer(t, s, shared, writers, count)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper process: %v\n%s", err, out)
	}
	r, err := s.Get(shared)
	if err != nil {
		t.Fatal(err)
	}
	if want := float64(writers*count + childCount); r.Metrics["n"] != want {
		t.Errorf("counter %v, want %v: updates were lost between processes", r.Metrics["n"], want)
	}
	l, skipped, err := s.List(Filter{Model: "child"})
	if err != nil || len(skipped) != 0 || len(l) != childCount/5 {
		t.Errorf("the helper's runs: %d, %v, %v; want %d", len(l), skipped, err, childCount/5)
	}
}

func TestEndStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Status
	}{
		{nil, Finished},
		{fmt.Errorf("step 7: %w", trainer.ErrStopped), Stopped},
		{fmt.Errorf("generating: %w", context.Canceled), Stopped},
		{errors.New("out of memory"), Failed},
	} {
		if got := EndStatus(tc.err); got != tc.want {
			t.Errorf("EndStatus(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

// TestDefaultStoreFunctions drives a run the way the train job will: the
// package functions on the store QWENTUNE_RUNS_DIR names.
func TestDefaultStoreFunctions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "history")
	t.Setenv("QWENTUNE_RUNS_DIR", dir)
	id, err := Start(Record{Kind: Train, Model: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Observe(id, logEntry(1, 2)); err != nil {
		t.Fatal(err)
	}
	if err := Update(id, func(r *Record) { r.MaxSteps = 9 }); err != nil {
		t.Fatal(err)
	}
	if err := End(id, fmt.Errorf("wrapped: %w", trainer.ErrStopped)); err != nil {
		t.Fatal(err)
	}
	s, _ := Open(dir)
	r, err := s.Get(id)
	if err != nil || r.Status != Stopped || r.Error != "" || r.MaxSteps != 9 || *r.FinalLoss != 2 {
		t.Errorf("%+v, %v", r, err)
	}
	eid, _ := Start(Record{Kind: Eval})
	End(eid, errors.New("plugin exited"))
	if r, _ := s.Get(eid); r.Status != Failed || r.Error != "plugin exited" {
		t.Errorf("failed eval: %+v", r)
	}
	if err := Finish(eid, Finished, nil); err != nil {
		t.Fatal(err)
	}
	if l, skipped, err := List(Filter{Kind: Eval}); err != nil || len(skipped) != 0 || len(l) != 1 || l[0].ID != eid {
		t.Errorf("List: %v %v %v", l, skipped, err)
	}
	if r, err := Get(eid[len(eid)-8:]); err != nil || r.ID != eid {
		t.Errorf("Get: %v %v", r, err)
	}
	if c, err := Compare([]string{id, eid}); err != nil || len(c.Runs) != 2 {
		t.Errorf("Compare: %+v %v", c, err)
	}
	if err := Remove(eid, false); err != nil {
		t.Fatal(err)
	}
	if _, err := Get(eid); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Remove: %v", err)
	}
}

func TestFlatMetrics(t *testing.T) {
	type class struct{ F1 float64 }
	m := struct {
		Total    int     `json:"total"`
		Accuracy float64 `json:"accuracy"`
		F1       float64 `json:"f1"`
		Positive string  `json:"positive"`
		Classes  []class `json:"classes"`
	}{Total: 4, Accuracy: 0.75, F1: 0.5, Positive: "ok", Classes: []class{{1}}}
	got, err := FlatMetrics(m, "base_")
	want := map[string]float64{"base_total": 4, "base_accuracy": 0.75, "base_f1": 0.5}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("FlatMetrics = %v, %v; want %v", got, err, want)
	}
	if _, err := FlatMetrics([]int{1}, ""); err == nil {
		t.Error("a list accepted as metrics")
	}
}

// FuzzRecordFile: whatever bytes a record file holds, List and Get report
// it or skip it, never panic, and a record that reads writes back the same.
func FuzzRecordFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"id":"20260101-000000-train-00000001","kind":"train","status":"running","start":"2026-01-01T00:00:00Z","final_loss":"NaN","metrics":{"a":1}}`))
	f.Add([]byte(`{"id":"20260101-000000-train-00000001","kind":"eval","start":"2026-01-01T00:00:00Z","duration_seconds":1e300,"best_loss":-1e400}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		const id = "20260101-000000-train-00000001"
		os.WriteFile(s.path(id), b, 0o644)
		l, skipped, err := s.List(Filter{})
		if err != nil || len(l)+len(skipped) != 1 {
			t.Fatalf("List: %d listed, %v skipped, %v", len(l), skipped, err)
		}
		if len(l) == 1 {
			if err := s.Update(id, func(*Record) {}); err != nil {
				t.Fatalf("a record that reads does not write back: %v", err)
			}
			if _, err := s.Get(id); err != nil {
				t.Fatalf("a record that was written does not read: %v", err)
			}
		}
	})
}

func FuzzFlattenConfig(f *testing.F) {
	f.Add(baseConfig)
	f.Add("a:\n  b: [1, {c: d}]\n  e: null\n")
	f.Fuzz(func(t *testing.T, yml string) {
		FlattenConfig(yml)
	})
}
