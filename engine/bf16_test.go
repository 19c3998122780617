package engine

import (
	"context"
	"math"
	"slices"
	"testing"

	"qwentune/engine/generate"
)

// Greedy generation on the demo model in bfloat16 compute gives the tokens
// of float32 compute: prefill takes the bfloat16 products, decode reads the
// bfloat16-stored weights, and the demo model's top two logits are far
// enough apart at every step that the rounding does not swap them.
func TestDemoGreedyBF16MatchesF32(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	var got [2][]int
	for k, compute := range []string{"float32", "bfloat16"} {
		s, err := Open(context.Background(), DemoName, "", "float32", nil)
		if err != nil {
			t.Fatal(err)
		}
		if d, err := s.SetComputeDtype(compute); err != nil || d != compute {
			t.Fatalf("SetComputeDtype(%s) = %q, %v", compute, d, err)
		}
		c, err := s.Generate(context.Background(), nil, s.Tokenizer.Encode("In the beginning God created the heaven and the earth. And the earth was"),
			generate.Options{MaxNewTokens: 16}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got[k] = c.IDs
	}
	if len(got[0]) < 16 || !slices.Equal(got[0], got[1]) {
		t.Fatalf("greedy tokens: float32 %v, bfloat16 %v", got[0], got[1])
	}
}

func TestResolveComputeDtype(t *testing.T) {
	for in, want := range map[string]string{"": "float32", "float32": "float32", "bfloat16": "bfloat16"} {
		if got, err := ResolveComputeDtype(in); err != nil || got != want {
			t.Fatalf("ResolveComputeDtype(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got, err := ResolveComputeDtype("auto"); err != nil || got != "float32" && got != "bfloat16" {
		t.Fatalf("ResolveComputeDtype(auto) = %q, %v", got, err)
	}
	if _, err := ResolveComputeDtype("fp16"); err == nil {
		t.Fatal("ResolveComputeDtype accepted fp16")
	}
}

// A 50-step LoRA run on data/train.jsonl with the demo model in bfloat16
// compute ends within 2% of the float32 run's loss (mean of the last five
// logged steps, as one step's loss is noisy).
func TestDemoTrainBF16MatchesF32(t *testing.T) {
	if testing.Short() {
		t.Skip("NOT TESTED in -short: 100 training steps")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	var end [2]float64
	for k, compute := range []string{"float32", "bfloat16"} {
		s, err := Open(context.Background(), DemoName, "", "float32", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetComputeDtype(compute); err != nil {
			t.Fatal(err)
		}
		end[k] = demoEndLoss(t, s, compute)
	}
	if rel := math.Abs(end[1]-end[0]) / end[0]; rel > 0.02 {
		t.Fatalf("final loss float32 %.4f, bfloat16 %.4f: %.2f%% apart, want ≤ 2%%", end[0], end[1], 100*rel)
	}
}

// demoEndLoss trains LoRA on all linear layers of s for 50 steps of the demo
// data and returns the mean of the last five logged losses (one step's loss
// is noisy); name labels the run in the log and in failures.
func demoEndLoss(t *testing.T, s *Session, name string) float64 {
	t.Helper()
	cfg := testConfig(t, s.Dir, "training.max_steps=50", "training.batch_size=2",
		"training.gradient_accumulation_steps=1", "training.learning_rate=0.001", "lora.target_modules=all-linear")
	if _, err := s.Train(context.Background(), cfg, inspected(t, s, cfg), TrainOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	l := readLogLosses(t, cfg.Training.OutputDir)
	if len(l) < 50 {
		t.Fatalf("%s: %d logged losses, want 50", name, len(l))
	}
	var end float64
	for _, v := range l[len(l)-5:] {
		end += v / 5
	}
	t.Logf("%s: first loss %.4f, last five %.4f", name, l[0], end)
	return end
}
