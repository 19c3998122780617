package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"qwentune/engine/runs"
)

// runsFixture fills a fresh history (through QWENTUNE_RUNS_DIR) with two
// finished training runs that differ in learning rate and rank, and an
// evaluation of the first one's adapter.
func runsFixture(t *testing.T) (s *runs.Store, a, b, ev string) {
	t.Helper()
	root := t.TempDir()
	t.Setenv("QWENTUNE_RUNS_DIR", filepath.Join(root, "history"))
	s, err := runs.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(lr string, r int) string {
		return "model:\n  name: demo\nlora:\n  r: " + strconv.Itoa(r) + "\ntraining:\n  learning_rate: " + lr + "\n  epochs: 2\n"
	}
	train := func(name, config string, losses ...float64) string {
		dir := filepath.Join(root, name)
		os.MkdirAll(dir, 0o755)
		var hist []map[string]float64
		for i, l := range losses {
			hist = append(hist, map[string]float64{"loss": l, "learning_rate": 1e-4, "grad_norm": 0.5, "epoch": float64(i+1) / 2, "step": float64(i + 1)})
		}
		st, _ := json.Marshal(map[string]any{"global_step": len(losses), "log_history": hist})
		os.WriteFile(filepath.Join(dir, "trainer_state.json"), st, 0o644)
		os.WriteFile(filepath.Join(dir, "run_config.yml"), []byte(config), 0o644)
		id, err := s.Start(runs.Record{Kind: runs.Train, Model: "demo", Dir: dir, Adapter: dir, Config: config,
			DataFile: "data/train.jsonl", DataSHA256: "0123456789abcdef0123"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Finish(id, runs.Finished, nil); err != nil {
			t.Fatal(err)
		}
		return id
	}
	a = train("run-a", cfg("0.0002", 8), 3, 2.5, 2)
	b = train("run-b", cfg("0.0001", 16), 3.2, 2.9, 2.8, 2.6)
	ev, _ = s.Start(runs.Record{Kind: runs.Eval, Model: "demo", Dir: filepath.Join(root, "run-a", "eval"),
		Adapter: filepath.Join(root, "run-a"), Evaluator: "heuristic", DataFile: "data/test.jsonl"})
	s.Update(ev, func(r *runs.Record) { r.Metrics = map[string]float64{"accuracy": 0.75, "f1": 0.8} })
	s.Finish(ev, runs.Finished, nil)
	return s, a, b, ev
}

// runCLI runs qwentune with args and returns the exit code, stdout, stderr.
func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRunsList(t *testing.T) {
	s, a, b, ev := runsFixture(t)
	code, out, errOut := runCLI("runs", "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") || !strings.HasPrefix(lines[1], ev) ||
		!strings.HasPrefix(lines[2], b) || !strings.HasPrefix(lines[3], a) {
		t.Errorf("list, newest first:\n%s", out)
	}
	if !strings.Contains(lines[3], "2.0000") || !strings.Contains(lines[1], "accuracy=0.750") {
		t.Errorf("losses or metrics missing:\n%s", out)
	}

	code, out, _ = runCLI("runs", "list", "--json", "--kind", "train")
	var got []runs.Record
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r runs.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("not a JSON line: %q: %v", l, err)
		}
		got = append(got, r)
	}
	if code != 0 || len(got) != 2 || got[0].ID != b || got[1].ID != a || *got[1].FinalLoss != 2 || *got[0].BestLoss != 2.6 {
		t.Errorf("--json --kind train: %d %+v", code, got)
	}
	if code, out, _ = runCLI("runs", "list", "--status", "finished", "--data", "test.jsonl"); code != 0 || !strings.Contains(out, ev) || strings.Contains(out, a) {
		t.Errorf("--data filter:\n%s", out)
	}

	// A folder deleted by hand shows as missing; a corrupt record is
	// reported and skipped.
	r, _ := s.Get(b)
	os.RemoveAll(r.Dir)
	corrupt := filepath.Join(s.Dir(), "20200101-000000-train-deadbeef.json")
	os.WriteFile(corrupt, []byte(`{"id": "20200101-000000-train-deadbeef", "kind": `), 0o644)
	code, out, errOut = runCLI("runs", "list")
	if code != 0 || !strings.Contains(out, r.Dir+" (missing)") || !strings.Contains(errOut, corrupt) || strings.Contains(out, "deadbeef") {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}

	for _, args := range [][]string{{"list", "--status", "done"}, {"list", "--kind", "chat"}, {"list", "extra"}, {"list", "--nope"}, {}, {"frob"}} {
		if code, _, errOut := runCLI(append([]string{"runs"}, args...)...); code != 2 {
			t.Errorf("runs %v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
}

func TestRunsShow(t *testing.T) {
	_, a, _, ev := runsFixture(t)
	code, out, errOut := runCLI("runs", "show", a[len(a)-8:])
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{a, "finished", "final loss:", "2.0000", "best loss:", "log history:", "learning_rate: 0.0002", "sha256:0123456789ab"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI("runs", "show", "--json", ev)
	var got struct {
		Run        runs.Record          `json:"run"`
		LogHistory []map[string]float64 `json:"log_history"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 || got.Run.ID != ev || got.Run.Metrics["accuracy"] != 0.75 {
		t.Errorf("show --json: %d %v\n%s", code, err, out)
	}
	code, out, _ = runCLI("runs", "show", a, "--json")
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 || len(got.LogHistory) != 3 || got.LogHistory[2]["loss"] != 2 {
		t.Errorf("show RUN --json: %d %v\n%s", code, err, out)
	}
	if code, _, errOut := runCLI("runs", "show", "no-such-run"); code != 1 || !strings.Contains(errOut, "no such run") {
		t.Errorf("unknown run: exit %d, %s", code, errOut)
	}
	if code, _, _ := runCLI("runs", "show"); code != 2 {
		t.Errorf("show without a run: exit %d", code)
	}
}

func TestRunsCompare(t *testing.T) {
	_, a, b, _ := runsFixture(t)
	code, out, errOut := runCLI("runs", "compare", a, b)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	diff := out[strings.Index(out, "config keys that differ:"):strings.Index(out, "metrics:")]
	if !strings.Contains(diff, "lora.r") || !strings.Contains(diff, "training.learning_rate") || strings.Contains(diff, "epochs") ||
		!strings.Contains(diff, "0.0002") || !strings.Contains(diff, "0.0001") {
		t.Errorf("config diff:\n%s", diff)
	}
	for _, want := range []string{"final_loss", "eval/accuracy", "0.7500", "training loss:", "2.6000"} {
		if !strings.Contains(out, want) {
			t.Errorf("compare lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI("runs", "compare", "--json", a, b)
	var c struct {
		ConfigDiff []struct {
			Key    string    `json:"key"`
			Values []*string `json:"values"`
		} `json:"config_diff"`
		Curves []struct {
			Points [][2]float64 `json:"points"`
		} `json:"curves"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil || code != 0 {
		t.Fatalf("compare --json: %d %v\n%s", code, err, out)
	}
	var keys []string
	for _, d := range c.ConfigDiff {
		keys = append(keys, d.Key)
	}
	if strings.Join(keys, ",") != "lora.r,training.learning_rate" || len(c.Curves) != 2 || len(c.Curves[1].Points) != 4 || c.Curves[1].Points[3] != [2]float64{4, 2.6} {
		t.Errorf("compare --json: keys %v curves %+v", keys, c.Curves)
	}
	if code, _, _ := runCLI("runs", "compare", a); code != 2 {
		t.Errorf("compare of one run: exit %d", code)
	}
	if code, _, _ := runCLI("runs", "compare", a, "nope"); code != 1 {
		t.Errorf("compare with an unknown run: exit %d", code)
	}
}

func TestRunsRemove(t *testing.T) {
	s, a, b, ev := runsFixture(t)
	oldIn, oldTerm := runsStdin, runsStdinTerminal
	defer func() { runsStdin, runsStdinTerminal = oldIn, oldTerm }()

	runsStdinTerminal = func() bool { return false }
	if code, _, errOut := runCLI("runs", "rm", a); code != 2 || !strings.Contains(errOut, "--yes") {
		t.Errorf("rm off a terminal without --yes: exit %d, %s", code, errOut)
	}
	runsStdinTerminal = func() bool { return true }
	runsStdin = strings.NewReader("n\n")
	if code, _, errOut := runCLI("runs", "rm", a); code != 1 || !strings.Contains(errOut, "proceed? [y/N]") {
		t.Errorf("rm declined: exit %d, %s", code, errOut)
	}
	if _, err := s.Get(a); err != nil {
		t.Fatalf("a declined rm removed the run: %v", err)
	}
	runsStdin = strings.NewReader("y\n")
	if code, out, errOut := runCLI("runs", "rm", ev); code != 0 || !strings.Contains(out, "removed "+ev) {
		t.Errorf("rm confirmed: exit %d, %s%s", code, out, errOut)
	}
	ra, _ := s.Get(a)
	if code, _, errOut := runCLI("runs", "rm", "--yes", "--delete-folder", a, b); code != 0 {
		t.Errorf("rm --yes --delete-folder: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(ra.Dir); !os.IsNotExist(err) {
		t.Error("--delete-folder left the folder")
	}
	if l, _, _ := s.List(runs.Filter{}); len(l) != 0 {
		t.Errorf("runs left: %+v", l)
	}
	if code, _, _ := runCLI("runs", "rm", "--yes", a); code != 1 {
		t.Errorf("rm of a removed run: exit %d", code)
	}
	if code, _, _ := runCLI("runs", "rm", "--yes"); code != 2 {
		t.Errorf("rm of nothing: exit %d", code)
	}
}
