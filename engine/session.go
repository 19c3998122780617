package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"qwentune/engine/config"
	"qwentune/engine/formats"
	"qwentune/engine/nn"
	"qwentune/engine/ops"
	"qwentune/engine/progress"
	"qwentune/model"
	"qwentune/model/peft"
	"qwentune/model/tokenizer"
)

// Session is a loaded base model with its tokenizer, ready for training,
// evaluation and chat. Adapters are applied unmerged, so switching between
// the base model and a fine-tune costs nothing. A Session computes one
// thing at a time: Train, Export and each Generate (so each Chat answer and
// each answer of Evaluate) hold its lock; an evaluation may therefore
// interleave with chat answers, but nothing runs during training.
type Session struct {
	// Name is the model as the user gave it (Hub id, folder or "demo").
	Name string
	// Dir is the folder the model was loaded from.
	Dir string
	// DType is the weight storage: float32, bfloat16 or q8_0.
	DType string
	// ComputeDType is the arithmetic of the frozen-weight products
	// (SetComputeDtype): float32 or bfloat16.
	ComputeDType string
	Config       model.Config
	Gen          model.GenerationConfig
	Model        *nn.Model
	Tokenizer    *tokenizer.Tokenizer

	mu sync.Mutex
}

// Open resolves name (see ResolveModel; on receives the download's events)
// and loads the model with weights stored as dtype ("float32", "bfloat16"
// or "q8_0", quantised at load).
func Open(ctx context.Context, name, revision, dtype string, on progress.Func) (*Session, error) {
	dir, err := ResolveModel(ctx, name, revision, on)
	if err != nil {
		return nil, err
	}
	return OpenDir(dir, name, dtype)
}

// OpenDir loads the model folder dir, or the GGUF model file dir
// (IsGGUFModel).
func OpenDir(dir, name, dtype string) (*Session, error) {
	if dtype == "" {
		dtype = "float32"
	}
	var s *Session
	var err error
	if IsGGUFModel(dir) {
		s, err = openGGUF(dir, name, dtype)
	} else if s, err = openFiles(dir, name); err == nil {
		s.Model, err = nn.Load(dir, nn.LoadOptions{DType: dtype})
	}
	if err != nil {
		return nil, err
	}
	s.DType, s.ComputeDType = dtype, "float32"
	return s, nil
}

// openFiles reads everything of the model folder dir but the weights:
// config.json, generation_config.json and the tokenizer (of a GGUF model
// file: openGGUF without the weights).
func openFiles(dir, name string) (*Session, error) {
	if IsGGUFModel(dir) {
		return openGGUF(dir, name, "")
	}
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	gen, _, err := model.LoadGenerationConfig(dir)
	if err != nil {
		return nil, err
	}
	return &Session{Name: name, Dir: dir, Config: cfg, Gen: gen, Tokenizer: tok}, nil
}

// openGGUF reads the GGUF model file path in one pass: config and tokenizer
// from its metadata, and the weights as dtype unless dtype is "". A GGUF
// has no generation config: generation takes the defaults, stopping on the
// file's end-of-sequence token (StopIDs).
func openGGUF(path, name, dtype string) (*Session, error) {
	cfg, tok, m, err := formats.LoadGGUF(path, dtype, true)
	if err != nil {
		return nil, err
	}
	return &Session{Name: name, Dir: path, Config: cfg, Gen: model.DefaultGenerationConfig(), Tokenizer: tok, Model: m}, nil
}

// LoadAdapter reads a PEFT adapter folder (adapter_model.safetensors or the
// legacy adapter_model.bin) and checks it fits this model.
func (s *Session) LoadAdapter(dir string) (*nn.Adapter, error) {
	_, a, err := s.loadAdapter(dir)
	return a, err
}

// loadAdapter is LoadAdapter that also returns the adapter as read.
func (s *Session) loadAdapter(dir string) (peft.Adapter, *nn.Adapter, error) {
	pa, err := peft.Load(dir)
	if err != nil {
		return pa, nil, err
	}
	a, err := nn.AdapterFromPEFT(pa, s.Config)
	if err != nil {
		return pa, nil, fmt.Errorf("%s: %w", dir, err)
	}
	return pa, a, nil
}

// HasAdapter reports whether dir holds a PEFT adapter.
func HasAdapter(dir string) bool {
	if dir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, "adapter_config.json"))
	return err == nil
}

// AdapterDir is the adapter that evaluation, chat and export apply on top
// of cfg's model: model.adapter when it is set (whether or not it holds an
// adapter yet: the user named it), else training.output_dir when a run has
// left an adapter there, else "" for the base model alone.
func AdapterDir(cfg config.Config) string {
	if cfg.Model.Adapter != "" {
		return cfg.Model.Adapter
	}
	if HasAdapter(cfg.Training.OutputDir) {
		return cfg.Training.OutputDir
	}
	return ""
}

// StopIDs are the token ids generation stops on: the model's eos ids from
// config.json and generation_config.json, the tokenizer's eos and, for chat,
// <|im_end|>.
func (s *Session) StopIDs(chat bool) []int {
	seen := map[int]bool{}
	var ids []int
	add := func(id int) {
		if id >= 0 && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, id := range s.Config.EOSTokenIDs {
		add(id)
	}
	for _, id := range s.Gen.EOSTokenIDs {
		add(id)
	}
	add(s.Tokenizer.EOS())
	if chat {
		if id, ok := s.Tokenizer.TokenID("<|im_end|>"); ok {
			add(id)
		}
	}
	return ids
}

// Summary describes the loaded model for the model screen and `inspect`.
type Summary struct {
	Name, Dir, DType string
	// ComputeDType is the arithmetic of the weight products in force, and
	// ComputeKernels what runs them (ComputeKernels).
	ComputeDType, ComputeKernels          string
	Params                                int64
	WeightBytes                           int64
	Layers, Hidden, Heads, KVHeads, Vocab int
	ContextLength                         int
	Tied                                  bool
}

// Summary returns the model's size and shape.
func (s *Session) Summary() Summary {
	c := s.Config
	return Summary{Name: s.Name, Dir: s.Dir, DType: s.DType, ComputeDType: s.ComputeDType, ComputeKernels: ComputeKernels(s.ComputeDType), Params: s.Model.NumParams(), WeightBytes: s.Model.WeightBytes(),
		Layers: c.NumHiddenLayers, Hidden: c.HiddenSize, Heads: c.NumAttentionHeads, KVHeads: c.NumKeyValueHeads,
		Vocab: c.VocabSize, ContextLength: c.MaxPositionEmbeddings, Tied: c.TieWordEmbeddings}
}

// ComputeKernels names what runs the weight products of a training step
// or a prefill in compute dtype d on this machine: for bfloat16 "AMX tiles",
// "AVX512_BF16 dot products" or "float32 products of bfloat16 values"; for
// float32 the kernel family's float32 products.
func ComputeKernels(d string) string {
	if d != "bfloat16" {
		return ops.ISA().String() + " float32 products"
	}
	switch ops.BF16Products() {
	case "amx":
		return "AMX tiles"
	case "vdpbf16ps":
		return "AVX512_BF16 dot products"
	}
	return "float32 products of bfloat16 values"
}

// ResolveComputeDtype returns the compute dtype that model.compute_dtype
// (float32, bfloat16 or auto; empty means float32) puts in force on this
// CPU: auto is bfloat16 where the CPU has AVX512_BF16, float32 elsewhere.
func ResolveComputeDtype(s string) (string, error) {
	switch s {
	case "", "float32":
		return "float32", nil
	case "bfloat16":
		return "bfloat16", nil
	case "auto":
		if ops.Features().AVX512BF16 {
			return "bfloat16", nil
		}
		return "float32", nil
	}
	return "", fmt.Errorf("model.compute_dtype: must be one of float32, bfloat16, auto, got %q", s)
}

// SetComputeDtype puts model.compute_dtype s in force for every product
// with a frozen weight (training, evaluation, prefill) and returns the
// dtype it resolved to. bfloat16 stores float32 projection weights as
// bfloat16 once.
func (s *Session) SetComputeDtype(dtype string) (string, error) {
	d, err := ResolveComputeDtype(dtype)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.Model.SetComputeBF16(d == "bfloat16"); err != nil {
		return "", err
	}
	s.ComputeDType = d
	return d, nil
}
