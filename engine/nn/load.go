package nn

import (
	"fmt"
	"slices"
	"strings"

	"qwentune/engine/ops"
	"qwentune/model"
	"qwentune/model/safetensors"
)

// LoadOptions chooses how a checkpoint is held in memory.
type LoadOptions struct {
	// DType is the storage of the projection and embedding weights:
	// "float32" (the default when empty) or "bfloat16". Norms and biases are
	// always float32; activations are always float32.
	DType string
}

// Load reads a Hugging Face Qwen2 or Qwen3 folder: config.json and the safetensors
// weights (single file or shards; F32, BF16 or F16 on disk). Each tensor is
// converted straight from the memory-mapped file into its final storage, so
// the checkpoint is never held twice. With tied embeddings lm_head is the
// embedding; otherwise lm_head.weight must be present.
func Load(dir string, opts LoadOptions) (*Model, error) {
	if opts.DType == "" {
		opts.DType = "float32"
	}
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	m, err := newEmpty(cfg, opts.DType)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	defer set.Close()
	want := map[string]bool{}
	for _, t := range m.tensors() {
		want[t.Name] = true
		st, ok := set.Tensor(t.Name)
		if !ok {
			return nil, fmt.Errorf("%s: tensor %q is missing", dir, t.Name)
		}
		if err := loadTensor(t, st, opts.DType); err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		set.Release(t.Name)
	}
	for _, name := range set.Names() {
		if want[name] || strings.HasSuffix(name, ".rotary_emb.inv_freq") || (name == cfg.Arch().Head.Path+".weight" && cfg.TieWordEmbeddings) {
			continue
		}
		return nil, fmt.Errorf("%s: unexpected tensor %q: not part of a %s model", dir, name, cfg.ModelType)
	}
	return m, nil
}

// loadTensor checks a checkpoint tensor against the expected shape and
// converts it into the model's storage.
func loadTensor(t tensor, st safetensors.Tensor, dtype string) error {
	if !slices.Equal(st.Shape, t.Shape) {
		return fmt.Errorf("tensor %q has shape %v, the config implies %v", t.Name, st.Shape, t.Shape)
	}
	switch st.DType {
	case "F32", "BF16", "F16":
	default:
		return fmt.Errorf("tensor %q: dtype %s is not supported (want F32, BF16 or F16)", t.Name, st.DType)
	}
	if t.vec != nil {
		f, err := st.Float32()
		if err != nil {
			return err
		}
		*t.vec = f
		return nil
	}
	w := ops.Weight{Rows: t.Shape[0], Cols: t.Shape[1]}
	var err error
	if dtype == "float32" {
		w.F32, err = st.Float32()
	} else {
		w.BF16, err = st.BF16()
	}
	if err != nil {
		return err
	}
	*t.w = w
	return nil
}

// Tensor is one named weight of a model for export: a matrix (Weight) or a
// float32 vector (Vector), with its Hugging Face key and shape.
type Tensor struct {
	Name   string
	Shape  []int
	Weight *ops.Weight
	Vector []float32
	// Spec is the tensor's entry in the architecture table (module, layer,
	// bias), which the exporters name it by; zero for a tensor that is not
	// a model weight (an adapter matrix).
	Spec model.Weight
}

// Tensors lists the model's weights under their safetensors keys, in
// checkpoint order; lm_head is absent when it is tied to the embedding.
func (m *Model) Tensors() []Tensor {
	var out []Tensor
	for _, t := range m.tensors() {
		e := Tensor{Name: t.Name, Shape: t.Shape, Weight: t.w, Spec: t.Weight}
		if t.vec != nil {
			e.Vector = *t.vec
		}
		out = append(out, e)
	}
	return out
}
