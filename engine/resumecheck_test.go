package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"qwentune/engine/progress"
)

// TestResumeRefusesChangedDataOrConfig: a checkpoint resumed with another
// learning rate and dropout, or another train file, is refused naming the
// keys; ResumeChanged accepts it with a warning; the run folder's
// dataset.sha256 is left alone by a refused resume.
func TestResumeRefusesChangedDataOrConfig(t *testing.T) {
	s, err := OpenDir(tinyModel(t), "tiny", "float32")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, s.Dir, "training.max_steps=2", "training.save_steps=1")
	if _, err := s.Train(context.Background(), cfg, inspected(t, s, cfg), TrainOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	hashFile := filepath.Join(cfg.Training.OutputDir, DatasetHashFile)
	before, err := os.ReadFile(hashFile)
	if err != nil {
		t.Fatal(err)
	}

	changed := cfg
	changed.Training.MaxSteps = 4 // extending the run is what resume is for
	changed.Training.LearningRate = 1e-3
	changed.LoRA.Dropout = 0.2
	_, err = s.Train(context.Background(), changed, inspected(t, s, changed), TrainOptions{Resume: "latest"}, nil)
	var ce *ChangedError
	if !errors.As(err, &ce) {
		t.Fatalf("resume with another lr and dropout: error %v, want a ChangedError", err)
	}
	if strings.Join(ce.Keys, ",") != "lora.dropout,training.learning_rate" {
		t.Errorf("changed keys %q, want lora.dropout and training.learning_rate", ce.Keys)
	}

	// Another train file (the first 5 rows of the same data).
	data, err := os.ReadFile(cfg.Dataset.TrainFile)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other.jsonl")
	if err := os.WriteFile(other, []byte(strings.Join(strings.SplitAfterN(string(data), "\n", 6)[:5], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	moved := cfg
	moved.Training.MaxSteps = 4
	moved.Dataset.TrainFile = other
	_, err = s.Train(context.Background(), moved, inspected(t, s, moved), TrainOptions{Resume: "latest"}, nil)
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "dataset.train_file (SHA-256)") {
		t.Fatalf("resume with another train file: %v", err)
	}
	if after, _ := os.ReadFile(hashFile); string(after) != string(before) {
		t.Errorf("a refused resume rewrote %s: %q, was %q", DatasetHashFile, after, before)
	}

	var warned bool
	_, err = s.Train(context.Background(), changed, inspected(t, s, changed), TrainOptions{Resume: "latest", ResumeChanged: true}, func(ev progress.Event) {
		if ev.Kind == progress.Info && strings.Contains(ev.Message, "training.learning_rate") {
			warned = true
		}
	})
	if err != nil {
		t.Fatalf("ResumeChanged: %v", err)
	}
	if !warned {
		t.Error("ResumeChanged resumed without a warning naming the changed keys")
	}
}

// TestRankAboveWidthWarns: lora.r above a targeted layer's width trains (as
// PEFT does) but says so, naming lora.r and the layers.
func TestRankAboveWidthWarns(t *testing.T) {
	s, err := OpenDir(tinyModel(t), "tiny", "float32")
	if err != nil {
		t.Fatal(err)
	}
	width := min(s.Config.HiddenSize, s.Config.NumKeyValueHeads*s.Config.HeadDim)
	cfg := testConfig(t, s.Dir, "training.max_steps=1", fmt.Sprintf("lora.r=%d", width+1))
	var warned string
	if _, err := s.Train(context.Background(), cfg, inspected(t, s, cfg), TrainOptions{}, func(ev progress.Event) {
		if ev.Kind == progress.Info && strings.Contains(ev.Message, "lora.r") {
			warned = ev.Message
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(warned, fmt.Sprintf("lora.r %d is above the width", width+1)) || !strings.Contains(warned, "v_proj") {
		t.Errorf("warning %q", warned)
	}
	cfg = testConfig(t, s.Dir, "training.max_steps=1", fmt.Sprintf("lora.r=%d", width))
	warned = ""
	if _, err := s.Train(context.Background(), cfg, inspected(t, s, cfg), TrainOptions{}, func(ev progress.Event) {
		if ev.Kind == progress.Info && strings.Contains(ev.Message, "lora.r") {
			warned = ev.Message
		}
	}); err != nil {
		t.Fatal(err)
	}
	if warned != "" {
		t.Errorf("warning at r = width: %q", warned)
	}
}
