package engine

import (
	"strings"
	"testing"

	"qwentune/engine/config"
	"qwentune/model"
)

// qwen7BConfig is issue 18's 7B run: LoRA r 16 on all linear layers,
// sequences of 512 tokens, one per micro-batch, recompute on.
func qwen7BConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.LoRA.R, cfg.LoRA.Alpha, cfg.LoRA.TargetModules = 16, 32, []string{"all-linear"}
	cfg.Dataset.MaxLength, cfg.Training.BatchSize, cfg.Training.Recompute = 512, 1, true
	return cfg
}

// The pre-flight's estimate for Qwen2.5-7B with a q8_0 base: its parts
// are counted independently here and add up to the total, and the total
// fits a 16 GB machine (12 GB, leaving 4 for the system and the desktop),
// where the bfloat16 base does not.
func TestQwen25_7BQ8Estimate(t *testing.T) {
	shape := model.Shapes["qwen2.5-7b"]
	cfg := qwen7BConfig(t)
	e, err := estimateShape(shape, "q8_0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Weights: every matrix in Q8_0 (Qwen2.5-7B's rows are whole blocks),
	// vectors in float32.
	var weights int64
	for _, w := range shape.Weights() {
		if len(w.Shape) == 2 {
			if w.Shape[1]%32 != 0 {
				t.Fatalf("%s: %v is not whole Q8_0 blocks", w.Name, w.Shape)
			}
			weights += int64(w.Shape[0]) * int64(w.Shape[1]) / 32 * 34
		} else {
			weights += 4 * int64(w.Numel())
		}
	}
	if e.Weights != weights {
		t.Fatalf("weights %d, want %d", e.Weights, weights)
	}
	// LoRA: r·(in+out) per projection: q and o 16·(3584+3584), k and v
	// 16·(3584+512), gate, up and down 16·(3584+18944), over 28 layers;
	// 16 bytes each (value, gradient, two AdamW moments).
	perLayer := int64(16 * (2*(3584+3584) + 2*(3584+512) + 3*(3584+18944)))
	if e.Optimizer != 16*28*perLayer {
		t.Fatalf("optimizer %d, want 16·28·%d", e.Optimizer, perLayer)
	}
	// Activations with recompute: the 29 layer inputs [512, 3584] in
	// float32 are most of them; one layer's activations and the head's
	// chunk the rest, well under the layer inputs' size again.
	inputs := int64(29 * 512 * 3584 * 4)
	if e.Activations < inputs || e.Activations > 3*inputs {
		t.Fatalf("activations %d: want between %d and %d", e.Activations, inputs, 3*inputs)
	}
	if e.Total() != e.Weights+e.Activations+e.Optimizer {
		t.Fatalf("total %d ≠ %d + %d + %d", e.Total(), e.Weights, e.Activations, e.Optimizer)
	}
	const budget = 12_000_000_000
	if e.Total() > budget || e.Weights+e.Optimizer+e.Eval > budget {
		t.Fatalf("training needs %d bytes and evaluation %d: over 12 GB (%s)", e.Total(), e.Weights+e.Optimizer+e.Eval, e)
	}
	k := KnownModel{ID: "Qwen/Qwen2.5-7B", Shape: "qwen2.5-7b", Memory: map[string]MemoryEstimate{"q8_0": e}}
	e.Available = budget
	bf, err := estimateShape(shape, "bfloat16", cfg)
	if err != nil {
		t.Fatal(err)
	}
	bf.Available = budget
	k.Memory["q8_0"], k.Memory["bfloat16"] = e, bf
	if !k.Fits("q8_0") || k.Fits("bfloat16") || strings.Contains(e.String(), "not enough") {
		t.Fatalf("on a 16 GB machine: q8_0 fits %v (%s), bfloat16 fits %v (%s)", k.Fits("q8_0"), e, k.Fits("bfloat16"), bf)
	}
	t.Logf("Qwen2.5-7B q8_0, r 16 all-linear, 512 tokens, recompute: %s", e)
}
