package main

import (
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
)

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
