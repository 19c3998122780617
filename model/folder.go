package model

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"qwentune/internal/atomicfile"
	"qwentune/model/safetensors"
)

// Folder is a Hugging Face model folder to write: what save_pretrained (and
// the tokenizer's) would leave.
type Folder struct {
	// Config is written as config.json, its torch_dtype set from DType.
	Config Config
	// Generation, when set, is written as generation_config.json.
	Generation *GenerationConfig
	// Tokenizer, when set, writes its files into the folder.
	Tokenizer interface{ SaveFiles(dir string) error }
	// DType is the safetensors dtype of every weight: "F32", "F16" or "BF16".
	DType string
	// Weights are the tensors in state_dict order, which decides where
	// shards are cut (see Arch.Weights and Arch.StateDictOrder).
	Weights []Weight
	// WriteTensor writes one tensor's DType bytes.
	WriteTensor func(w Weight, out io.Writer) error
	// MaxShardBytes cuts the weights into shards of at most this many bytes
	// (a larger tensor gets a shard of its own); ≤ 0 means one file.
	MaxShardBytes int64
}

// torchDTypes maps the safetensors dtypes a folder stores to torch_dtype.
var torchDTypes = map[string]string{"F32": "float32", "F16": "float16", "BF16": "bfloat16"}

// WriteFolder writes f into dir (created if needed), every file atomically:
// the weights first (model.safetensors, or shards and their index, see
// safetensors.StreamSharded), then config.json, generation_config.json and
// the tokenizer files. It is the one Hugging Face folder writer: exports,
// full-parameter training, random models and GGUF conversion all use it. A
// failure while the weights are written (a cancelled export) leaves no
// file behind.
func WriteFolder(dir string, f Folder) error {
	torch, ok := torchDTypes[f.DType]
	if !ok {
		return fmt.Errorf("model: dtype %q: a Hugging Face folder stores F32, F16 or BF16", f.DType)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	specs := make([]safetensors.Spec, len(f.Weights))
	byName := make(map[string]Weight, len(f.Weights))
	for i, w := range f.Weights {
		specs[i] = safetensors.Spec{Name: w.Name, DType: f.DType, Shape: w.Shape}
		byName[w.Name] = w
	}
	err := safetensors.StreamSharded(dir, specs, f.MaxShardBytes, map[string]string{"format": "pt"},
		func(name string, out io.Writer) error { return f.WriteTensor(byName[name], out) })
	if err != nil {
		return err
	}
	cfg := f.Config
	cfg.TorchDType = torch
	if err := atomicfile.WriteJSON(filepath.Join(dir, ConfigName), cfg); err != nil {
		return err
	}
	if f.Generation != nil {
		if err := atomicfile.WriteJSON(filepath.Join(dir, GenerationConfigName), *f.Generation); err != nil {
			return err
		}
	}
	if f.Tokenizer != nil {
		return f.Tokenizer.SaveFiles(dir)
	}
	return nil
}
