// Package nn is the Qwen2/Qwen3 transformer of the engine: weights loaded from a
// Hugging Face folder, the batched forward pass, the incremental forward with a
// KV cache, LoRA adapters, and the backward pass that yields LoRA (or, in full
// training mode, every) parameter gradient.
package nn

// Param is a trainable tensor with its gradient, named like its PEFT/Hugging
// Face key (e.g. "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").
type Param struct {
	Name  string
	Shape []int
	Data  []float32
	Grad  []float32
	// Decay is false for biases and norm weights (the Trainer's
	// get_decay_parameter_names); LoRA A and B decay.
	Decay bool
}

// Batch is a set of token rows for training. Labels[i][t] is the target for
// position t of row i, before the causal shift (Hugging Face convention: the
// logits at t predict Labels[t+1]); -100 means "not trained on". Rows may have
// different lengths; Mask[i][t] is false on padding positions.
type Batch struct {
	IDs    [][]int
	Labels [][]int
	Mask   [][]bool
}

// IgnoreIndex is the label value that is excluded from the loss.
const IgnoreIndex = -100

// LoRAConfig mirrors PEFT's LoraConfig fields that change the computation.
type LoRAConfig struct {
	R       int
	Alpha   float64
	Dropout float64
	// TargetModules are module names matched as dotted suffixes of the
	// module paths, like PEFT's list form (q_proj k_proj v_proj o_proj
	// gate_proj up_proj down_proj), or exactly ["all-linear"].
	TargetModules []string
	UseRSLoRA     bool
	// RankPattern and AlphaPattern override R and Alpha for the modules
	// whose path (e.g. "model.layers.3.self_attn.q_proj") matches a key, a
	// regular expression anchored at a dot boundary as in PEFT.
	RankPattern  map[string]int
	AlphaPattern map[string]float64
}

// Scale is alpha/r, or alpha/sqrt(r) for rsLoRA.
func (c LoRAConfig) Scale(r int, alpha float64) float64 {
	if c.UseRSLoRA {
		return alpha / sqrt(float64(r))
	}
	return alpha / float64(r)
}
