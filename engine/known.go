package engine

import (
	"qwentune/engine/config"
	"qwentune/engine/nn"
	"qwentune/engine/trainer"
	"qwentune/model"
)

// KnownModel is a published model the model screen offers, with what it
// costs on this machine.
type KnownModel struct {
	// ID is the Hugging Face id, e.g. "Qwen/Qwen3-0.6B".
	ID string
	// Shape names its entry in model.Shapes.
	Shape string
	// Params is the parameter count (a tied head once).
	Params int64
	// DownloadBytes is the size of its bfloat16 safetensors weights.
	DownloadBytes int64
	// Memory is the training footprint with the current config per weight
	// dtype (KnownDTypes: "float32", "bfloat16", "q8_0"), from the estimate the pre-flight
	// prints (Session.EstimateMemory).
	Memory map[string]MemoryEstimate
}

// Fits reports whether training in dtype fits the memory available now
// (true when that is unknown).
func (k KnownModel) Fits(dtype string) bool {
	e := k.Memory[dtype]
	return e.Available == 0 || e.Total() <= e.Available
}

// knownModels are the published base and Instruct models up to 7B/8B, by
// the shape they share (Instruct differs only in eos_token_id; Qwen3's
// hybrid-thinking releases are the instruct ones, -Base the others).
var knownModels = []struct{ id, shape string }{
	{"Qwen/Qwen2-0.5B", "qwen2-0.5b"}, {"Qwen/Qwen2-0.5B-Instruct", "qwen2-0.5b"},
	{"Qwen/Qwen2-1.5B", "qwen2-1.5b"}, {"Qwen/Qwen2-1.5B-Instruct", "qwen2-1.5b"},
	{"Qwen/Qwen2-7B", "qwen2-7b"}, {"Qwen/Qwen2-7B-Instruct", "qwen2-7b"},
	{"Qwen/Qwen2.5-0.5B", "qwen2.5-0.5b"}, {"Qwen/Qwen2.5-0.5B-Instruct", "qwen2.5-0.5b"},
	{"Qwen/Qwen2.5-1.5B", "qwen2.5-1.5b"}, {"Qwen/Qwen2.5-1.5B-Instruct", "qwen2.5-1.5b"},
	{"Qwen/Qwen2.5-3B", "qwen2.5-3b"}, {"Qwen/Qwen2.5-3B-Instruct", "qwen2.5-3b"},
	{"Qwen/Qwen2.5-7B", "qwen2.5-7b"}, {"Qwen/Qwen2.5-7B-Instruct", "qwen2.5-7b"},
	{"Qwen/Qwen3-0.6B-Base", "qwen3-0.6b"}, {"Qwen/Qwen3-0.6B", "qwen3-0.6b"},
	{"Qwen/Qwen3-1.7B-Base", "qwen3-1.7b"}, {"Qwen/Qwen3-1.7B", "qwen3-1.7b"},
	{"Qwen/Qwen3-4B-Base", "qwen3-4b"}, {"Qwen/Qwen3-4B", "qwen3-4b"},
	{"Qwen/Qwen3-8B-Base", "qwen3-8b"}, {"Qwen/Qwen3-8B", "qwen3-8b"},
}

// KnownDTypes are the weight storages KnownModel.Memory has an estimate
// for, largest first.
var KnownDTypes = []string{"float32", "bfloat16", "q8_0"}

// KnownModels lists the known models with their download size and the
// memory training them with cfg would take in each dtype.
func KnownModels(cfg config.Config) []KnownModel {
	avail, _ := trainer.MemAvailable()
	out := make([]KnownModel, 0, len(knownModels))
	for _, k := range knownModels {
		shape := model.Shapes[k.shape]
		km := KnownModel{ID: k.id, Shape: k.shape, Params: shape.ParamCount(), DownloadBytes: 2 * shape.ParamCount(),
			Memory: map[string]MemoryEstimate{}}
		for _, dtype := range KnownDTypes {
			e, err := estimateShape(shape, dtype, cfg)
			if err != nil {
				continue
			}
			e.Available = avail
			km.Memory[dtype] = e
		}
		out = append(out, km)
	}
	return out
}

// estimateShape is Session.EstimateMemory for a model not loaded: weights
// from the architecture table in dtype, activations of one micro-batch at
// max_length, the trainable values' state and evaluation's caches.
func estimateShape(shape model.Config, dtype string, cfg config.Config) (MemoryEstimate, error) {
	rows := max(1, cfg.Training.BatchSize)
	lc := LoRAConfig(cfg.LoRA)
	opts := nn.TrainOptions{Recompute: cfg.Training.Recompute}
	weights, _, err := nn.EstimateConfig(shape, dtype, rows, cfg.Dataset.MaxLength, nn.LoRAConfig{}, opts)
	if err != nil {
		return MemoryEstimate{}, err
	}
	_, act, err := nn.EstimateConfig(shape, dtype, rows, cfg.Dataset.MaxLength, lc, opts)
	if err != nil {
		return MemoryEstimate{}, err
	}
	return MemoryEstimate{Weights: weights, Activations: act, Optimizer: optimizerBytes(shape, cfg), Eval: evalBytes(shape, cfg)}, nil
}
