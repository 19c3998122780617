package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	// Commands that train or evaluate record their runs: never in the
	// user's history.
	dir, err := os.MkdirTemp("", "qwentune-cli-runs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("QWENTUNE_RUNS_DIR", filepath.Join(dir, "history"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Two `qwentune train` runs with different learning rates are recorded:
// `runs list` shows both, finished, and `runs compare` names the keys that
// differ.
func TestTrainIsRecordedAndCompared(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("QWENTUNE_RUNS_DIR", filepath.Join(dir, "history"))
	base := filepath.Join(dir, "tiny")
	if code, _, errOut := runCLI("make-model", "--shape", "tiny", "--out", base); code != 0 {
		t.Fatalf("make-model: %d\n%s", code, errOut)
	}
	for _, lr := range []string{"0.001", "0.003"} {
		code, _, errOut := runCLI("train", "--config", "../../config.yml", "--set", "model.name="+base,
			"--set", "training.output_dir="+filepath.Join(dir, "run-"+lr), "--set", "training.learning_rate="+lr,
			"--set", "dataset.train_file=data/train.jsonl", "--set", "dataset.max_length=64", "--set", "lora.r=4",
			"--set", "training.max_steps=2", "--set", "training.logging_steps=1", "--no-preflight")
		if code != 0 {
			t.Fatalf("train lr %s: exit %d\n%s", lr, code, errOut)
		}
	}
	code, out, errOut := runCLI("runs", "list", "--kind", "train")
	if code != 0 || strings.Count(out, " finished ") != 2 || !strings.Contains(out, "run-0.001") || !strings.Contains(out, "run-0.003") {
		t.Fatalf("runs list: exit %d\n%s%s", code, out, errOut)
	}
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		ids = append(ids, strings.Fields(line)[0])
	}
	code, out, errOut = runCLI(append([]string{"runs", "compare"}, ids...)...)
	if code != 0 {
		t.Fatalf("runs compare: exit %d\n%s", code, errOut)
	}
	diff := out[strings.Index(out, "config keys that differ:"):strings.Index(out, "metrics:")]
	if !strings.Contains(diff, "training.learning_rate") || !strings.Contains(diff, "training.output_dir") ||
		strings.Contains(diff, "lora.r") {
		t.Errorf("config diff:\n%s", diff)
	}
}

// reorder lets flags follow the positional argument ("download ID --revision R").
func TestReorder(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("revision", "", "")
	fs.Bool("json", false, "")
	for _, c := range []struct {
		in, want []string
	}{
		{[]string{"Qwen/Qwen2-0.5B", "--revision", "v1"}, []string{"--revision", "v1", "Qwen/Qwen2-0.5B"}},
		{[]string{"id", "--json", "--revision=v2"}, []string{"--json", "--revision=v2", "id"}},
		{[]string{"--json", "a", "b"}, []string{"--json", "a", "b"}},
	} {
		if got := reorder(fs, c.in); !slices.Equal(got, c.want) {
			t.Errorf("reorder(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// --preset applies between the config file and --set, so --set wins.
func TestPresetFlag(t *testing.T) {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	load := configFlags(fs)
	presetFlag(fs)
	if err := fs.Parse([]string{"--config", "../../config.yml", "--preset", "quick", "--set", "lora.r=4"}); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := load()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LoRA.R != 4 || cfg.Training.LearningRate != 3e-3 || cfg.Training.MaxSteps != 300 || cfg.LoRA.TargetModules[0] != "all-linear" {
		t.Errorf("quick then --set lora.r=4 gave %+v %+v", cfg.LoRA, cfg.Training)
	}
	fs = flag.NewFlagSet("train", flag.ContinueOnError)
	load = configFlags(fs)
	presetFlag(fs)
	if err := fs.Parse([]string{"--preset", "fast"}); err != nil {
		t.Fatal(err)
	}
	var usage usageError
	if _, _, err := load(); !errors.As(err, &usage) || !strings.Contains(err.Error(), `unknown preset "fast"`) {
		t.Errorf("--preset fast: %v, want a usage error", err)
	}
}
