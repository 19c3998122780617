package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"qwentune/engine/trainer"
	"qwentune/model/peft"
	"qwentune/model/tokenizer"
)

// TestTrainRefusesStaleData: Train trains on the inspected Dataset as it is,
// and refuses one that no longer describes what the config names: a file
// changed on disk since, other dataset settings, another file, another
// tokenizer, or bad lines. A file merely touched (same bytes) is fine.
func TestTrainRefusesStaleData(t *testing.T) {
	s, err := OpenDir(tinyModel(t), "tiny", "float32")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "train.jsonl")
	rows := strings.Repeat(`{"prompt": "Is the sky blue?", "completion": " Yes."}`+"\n", 4)
	if err := os.WriteFile(file, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, s.Dir, "dataset.train_file="+file, "training.max_steps=1", "training.save_steps=0")
	d := inspected(t, s, cfg)
	if err := d.Check(cfg.Dataset, s.Tokenizer); err != nil {
		t.Fatalf("fresh data refused: %v", err)
	}

	// The same bytes with a new time: still the inspected data.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(file, later, later); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Train(context.Background(), cfg, d, TrainOptions{}, nil); err != nil {
		t.Fatalf("touched but unchanged file refused: %v", err)
	}

	other := cfg
	other.Dataset.MaxLength = 64
	if err := d.Check(other.Dataset, s.Tokenizer); err == nil || !strings.Contains(err.Error(), "other dataset settings") {
		t.Errorf("other settings: %v", err)
	}
	other = cfg
	other.Dataset.TrainFile = filepath.Join(dir, "other.jsonl")
	if err := d.Check(other.Dataset, s.Tokenizer); err == nil || !strings.Contains(err.Error(), "inspect it first") {
		t.Errorf("other file: %v", err)
	}
	if err := d.Check(cfg.Dataset, tokenizer.Builtin()); err == nil || !strings.Contains(err.Error(), "another model's tokenizer") {
		t.Errorf("other tokenizer: %v", err)
	}

	if err := os.WriteFile(file, []byte(rows+`{"prompt": "And grass?", "completion": " Green."}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = s.Train(context.Background(), cfg, d, TrainOptions{}, nil)
	if err == nil || !strings.Contains(err.Error(), "changed on disk since it was inspected") {
		t.Fatalf("changed file: %v", err)
	}

	if err := os.WriteFile(file, []byte(rows+`{"prompt": 3}`+"\n"+`{"prompt": 4}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := inspected(t, s, cfg)
	if bad.Ready() {
		t.Error("data with bad lines is ready")
	}
	_, err = s.Train(context.Background(), cfg, bad, TrainOptions{}, nil)
	if err == nil || !strings.Contains(err.Error(), "train.jsonl:5") || !strings.Contains(err.Error(), "(and 1 more bad row)") {
		t.Fatalf("bad lines: %v", err)
	}
}

// TestAdapterDir: model.adapter when set, else training.output_dir when a
// run left an adapter there, else none.
func TestAdapterDir(t *testing.T) {
	out, named := t.TempDir(), t.TempDir()
	cfg := testConfig(t, "tiny")
	cfg.Training.OutputDir = out
	if got := AdapterDir(cfg); got != "" {
		t.Errorf("empty output_dir: %q, want the base model", got)
	}
	if err := os.WriteFile(filepath.Join(out, "adapter_config.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := AdapterDir(cfg); got != out {
		t.Errorf("output_dir with an adapter: %q, want %q", got, out)
	}
	cfg.Model.Adapter = named
	if got := AdapterDir(cfg); got != named {
		t.Errorf("model.adapter set: %q, want %q", got, named)
	}
}

// TestAllLinearExpandedOnce: config.yml's all-linear stays as written up to
// the model, whose PEFT config lists all seven linear modules, as PEFT saves
// it in adapter_config.json.
func TestAllLinearExpandedOnce(t *testing.T) {
	cfg := testConfig(t, "tiny", "lora.target_modules=all-linear")
	lc := LoRAConfig(cfg.LoRA)
	if !slices.Equal(lc.TargetModules, []string{"all-linear"}) {
		t.Errorf("the model is given %v", lc.TargetModules)
	}
	pc := lc.PEFT()
	if pc.TargetModules.IsRegex || !slices.Equal(pc.TargetModules.List, peft.LinearModules) || len(pc.TargetModules.List) != 7 {
		t.Errorf("adapter_config.json targets %+v, want all seven linear modules", pc.TargetModules)
	}
}

// TestConfigKeysReachTheRun: training.save_total_limit, training.optimizer
// and logging.level change what a run leaves on disk.
func TestConfigKeysReachTheRun(t *testing.T) {
	s, err := OpenDir(tinyModel(t), "tiny", "float32")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, s.Dir, "training.max_steps=3", "training.save_steps=1", "training.save_total_limit=1",
		"logging.level=DEBUG", "training.optimizer=adamw")
	if _, err := s.Train(context.Background(), cfg, inspected(t, s, cfg), TrainOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	cks, err := trainer.Checkpoints(cfg.Training.OutputDir)
	if err != nil || !slices.Equal(cks, []string{filepath.Join(cfg.Training.OutputDir, "checkpoint-3")}) {
		t.Errorf("save_total_limit 1 left %v (%v)", cks, err)
	}
	log, err := os.ReadFile(filepath.Join(cfg.Training.OutputDir, "training.log"))
	if err != nil || !strings.Contains(string(log), " - DEBUG - step 3: loss ") {
		t.Errorf("logging.level DEBUG: no step line in %q (%v)", log, err)
	}
	args, err := os.ReadFile(filepath.Join(cfg.Training.OutputDir, trainer.TrainingArgsFile))
	if err != nil || !strings.Contains(string(args), `"optim": "adamw_torch"`) {
		t.Errorf("training_args.json %s (%v)", args, err)
	}

	quiet := testConfig(t, s.Dir, "training.max_steps=1", "logging.level=ERROR")
	if _, err := s.Train(context.Background(), quiet, inspected(t, s, quiet), TrainOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	if log, err := os.ReadFile(filepath.Join(quiet.Training.OutputDir, "training.log")); err != nil || len(log) != 0 {
		t.Errorf("logging.level ERROR on a good run wrote %q (%v)", log, err)
	}
}
