package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"qwentune/engine/generate"
)

// The built-in demo model is embedded and loads like any Hugging Face folder.
func TestDemoModelLoads(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	s, err := Open(context.Background(), DemoName, "", "float32", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Config.HiddenSize, DemoShape.HiddenSize; got != want {
		t.Fatalf("demo hidden size %d, want %d", got, want)
	}
	// It was pretrained: it continues a familiar verse with English words.
	c, err := s.Generate(context.Background(), nil, s.Tokenizer.Encode("In the beginning God created"),
		generate.Options{MaxNewTokens: 8, StopIDs: s.StopIDs(false)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Text, "the") {
		t.Fatalf("the demo model continues %q with %q", "In the beginning God created", c.Text)
	}
}

// LoRA on the demo model learns to answer and to stop: after training on
// prompt/completion rows with an appended eos, greedy generation from the
// prompt gives the completion and ends at eos.
func TestDemoLoRAStopsAtEOS(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	s, err := Open(context.Background(), DemoName, "", "float32", nil)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "train.jsonl")
	row := `{"prompt": "Question: what colour is the sky?\nAnswer:", "completion": " Blue."}` + "\n"
	if err := os.WriteFile(data, []byte(strings.Repeat(row, 4)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, s.Dir, "dataset.train_file="+data, "training.learning_rate=0.005", "training.epochs=30",
		"training.gradient_accumulation_steps=1", "training.batch_size=4", "lora.r=8", "lora.alpha=16",
		"lora.target_modules=all-linear", "training.lr_scheduler=constant", "dataset.padding=longest")
	if _, err := s.Train(context.Background(), cfg, inspected(t, s, cfg), TrainOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	a, err := s.LoadAdapter(cfg.Training.OutputDir)
	if err != nil {
		t.Fatal(err)
	}
	prompt := s.Tokenizer.Encode("Question: what colour is the sky?\nAnswer:")
	base, err := s.Generate(context.Background(), nil, prompt, generate.Options{MaxNewTokens: 20, StopIDs: s.StopIDs(false)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tuned, err := s.Generate(context.Background(), a, prompt, generate.Options{MaxNewTokens: 20, StopIDs: s.StopIDs(false)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tuned.Stopped != "eos" || tuned.Text != " Blue." {
		t.Fatalf("fine-tuned demo generated %q (stopped: %s), want \" Blue.\" ending at eos; base said %q; losses %v",
			tuned.Text, tuned.Stopped, base.Text, readLogLosses(t, cfg.Training.OutputDir))
	}
	if base.Text == tuned.Text {
		t.Fatalf("the base model already answers %q", base.Text)
	}
}
