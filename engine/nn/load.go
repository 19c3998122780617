package nn

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"qwentune/engine/ops"
	"qwentune/model"
	"qwentune/model/safetensors"
)

// LoadOptions chooses how a checkpoint is held in memory.
type LoadOptions struct {
	// DType is the storage of the projection and embedding weights:
	// "float32" (the default when empty), "bfloat16" or "q8_0" (GGUF's
	// 8-bit blocks, quantised here tensor by tensor; a weight whose rows
	// are not whole blocks stays bfloat16, Model.KeptBF16). Norms and
	// biases are always float32; activations are always float32.
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
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	defer set.Close()
	// The sizes in config.json are checked against the tensors present
	// before anything is allocated from them.
	if err := checkSizes(cfg, set); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, model.ConfigName), err)
	}
	m, err := newEmpty(cfg, opts.DType)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	// The weight matrices go into one arena in huge pages (see ops.Arena),
	// sized from the shapes checkSizes has just checked against the file.
	ts := m.tensors()
	size := 0
	for _, t := range ts {
		if t.w != nil {
			size += arenaBytes(t.Shape[0], t.Shape[1], opts.DType)
		}
	}
	arena := ops.NewArena(size)
	want := map[string]bool{}
	for _, t := range ts {
		want[t.Name] = true
		st, ok := set.Tensor(t.Name)
		if !ok {
			return nil, fmt.Errorf("%s: tensor %q is missing", dir, t.Name)
		}
		if err := loadTensor(t, st, opts.DType, arena); err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		if opts.DType == "q8_0" && t.w != nil && t.w.BF16 != nil {
			m.keptBF16 = append(m.keptBF16, t.Name)
		}
		set.Release(t.Name)
	}
	arena.Settle()
	for _, name := range set.Names() {
		if want[name] || strings.HasSuffix(name, ".rotary_emb.inv_freq") || (name == cfg.Arch().Head.Path+".weight" && cfg.TieWordEmbeddings) {
			continue
		}
		return nil, fmt.Errorf("%s: unexpected tensor %q: not part of a %s model", dir, name, cfg.ModelType)
	}
	return m, nil
}

// checkSizes compares config.json's sizes with the tensors of the
// checkpoint: the embedding gives vocab_size and hidden_size, the first
// layer's MLP intermediate_size, and the layers present num_hidden_layers.
// It reads only headers, so a config.json claiming a billion layers or a
// hidden size of 1e12 is refused before any memory is taken for it.
func checkSizes(cfg model.Config, set *safetensors.Set) error {
	a := cfg.Arch()
	emb := a.Embed.Path + ".weight"
	if st, ok := set.Tensor(emb); ok && len(st.Shape) == 2 {
		if st.Shape[0] != cfg.VocabSize {
			return fmt.Errorf("\"vocab_size\" is %d, but tensor %s is %v", cfg.VocabSize, emb, st.Shape)
		}
		if st.Shape[1] != cfg.HiddenSize {
			return fmt.Errorf("\"hidden_size\" is %d, but tensor %s is %v", cfg.HiddenSize, emb, st.Shape)
		}
	}
	layers := 0
	for _, name := range set.Names() {
		rest, ok := strings.CutPrefix(name, model.LayerPrefix)
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, ".")
		if i, err := strconv.Atoi(num); err == nil && i+1 > layers {
			layers = i + 1
		}
	}
	if cfg.NumHiddenLayers > layers {
		return fmt.Errorf("\"num_hidden_layers\" is %d, but the checkpoint holds %d layers", cfg.NumHiddenLayers, layers)
	}
	gate := model.LayerPrefix + "0.mlp.gate_proj.weight"
	if st, ok := set.Tensor(gate); ok && len(st.Shape) == 2 && st.Shape[0] != cfg.IntermediateSize {
		return fmt.Errorf("\"intermediate_size\" is %d, but tensor %s is %v", cfg.IntermediateSize, gate, st.Shape)
	}
	return nil
}

// weightSize is the bytes of one weight stored as dtype.
func weightSize(dtype string) int {
	if dtype == "float32" {
		return 4
	}
	return 2
}

// arenaBytes is the room a rows×cols weight loaded as dtype takes in the
// arena: Q8_0 blocks when dtype is q8_0 and the rows are whole blocks
// (loadTensor keeps other rows in bfloat16), else weightSize per value.
func arenaBytes(rows, cols int, dtype string) int {
	if dtype == "q8_0" && cols%ops.Q8Block == 0 {
		return ops.ArenaBytes(ops.Q8Bytes(rows, cols), 1)
	}
	return ops.ArenaBytes(rows*cols, weightSize(dtype))
}

// loadTensor checks a checkpoint tensor against the expected shape and
// converts it into the model's storage, a weight matrix into arena.
func loadTensor(t tensor, st safetensors.Tensor, dtype string, arena *ops.Arena) error {
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
		if err := CheckFinite(t.Name, f); err != nil {
			return err
		}
		*t.vec = f
		return nil
	}
	w := ops.Weight{Rows: t.Shape[0], Cols: t.Shape[1]}
	var err error
	n := t.Shape[0] * t.Shape[1]
	switch {
	case dtype == "q8_0" && w.Cols%ops.Q8Block == 0:
		w = ops.NewQ8Weight(w.Rows, w.Cols, arena.Bytes(ops.Q8Bytes(w.Rows, w.Cols)))
		err = quantizeTensor(&w, t.Name, st)
	case dtype == "float32":
		w.F32 = arena.F32(n)
		if err = st.Float32Into(w.F32); err == nil {
			err = CheckFinite(t.Name, w.F32)
		}
	default:
		w.BF16 = arena.U16(n)
		if err = st.BF16Into(w.BF16); err == nil {
			err = checkFiniteBF16(t.Name, w.BF16)
		}
	}
	if err != nil {
		return err
	}
	*t.w = w
	return nil
}

// CheckFinite refuses a tensor holding NaN or ±Inf, naming it and the
// first bad element: such a weight poisons every output (and training would
// go on from it).
func CheckFinite(name string, v []float32) error { return checkFiniteAt(name, v, 0) }

// checkFiniteAt is CheckFinite for the part of a tensor that starts at
// element offset.
func checkFiniteAt(name string, v []float32, offset int) error {
	for i, x := range v {
		if x-x != 0 { // NaN or ±Inf
			return fmt.Errorf("tensor %q: element %d is %v: a weight must be a finite number", name, offset+i, x)
		}
	}
	return nil
}

// quantizeTensor quantises the checkpoint tensor st to Q8_0 into the empty
// Q8_0 weight w (ops.NewQ8Weight), a few rows at a time straight from the
// mapped file, split over the cores in whole groups of 16 rows (the packed
// layout's): no float32 copy of the tensor is made. A NaN or ±Inf is
// refused with the tensor's name and the element.
func quantizeTensor(w *ops.Weight, name string, st safetensors.Tensor) error {
	rows, cols := w.Rows, w.Cols
	size, _ := safetensors.ItemSize(st.DType)
	if len(st.Data) != rows*cols*size {
		return fmt.Errorf("tensor %q: %d bytes for shape [%d %d] of %s", name, len(st.Data), rows, cols, st.DType)
	}
	rowBytes := ops.Q8_0Size(cols)
	// Rows decoded at a time: about 256 KiB of float32, whole groups of 16.
	step := max(16, (1<<16)/cols) &^ 15
	var (
		mu    sync.Mutex
		first error
	)
	ops.Parallel((rows+15)/16, func(glo, ghi int) {
		lo, hi := glo*16, min(ghi*16, rows)
		buf := make([]float32, min(step, hi-lo)*cols)
		q := make([]byte, min(step, hi-lo)*rowBytes)
		for r0 := lo; r0 < hi; r0 += step {
			r1 := min(r0+step, hi)
			f := buf[:(r1-r0)*cols]
			err := safetensors.DecodeFloats(f, st.Data[r0*cols*size:r1*cols*size], st.DType)
			if err == nil {
				err = checkFiniteAt(name, f, r0*cols)
			}
			if err == nil {
				err = ops.QuantizeQ8_0(q[:(r1-r0)*rowBytes], f)
			}
			if err == nil {
				w.SetQ8Rows(r0, q[:(r1-r0)*rowBytes])
			}
			if err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("tensor %q: %w", name, err)
				}
				mu.Unlock()
				return
			}
		}
	})
	return first
}

// checkFiniteBF16 is CheckFinite on bfloat16 bits (exponent all ones).
func checkFiniteBF16(name string, v []uint16) error {
	for i, b := range v {
		if b&0x7f80 == 0x7f80 {
			return fmt.Errorf("tensor %q: element %d is %v: a weight must be a finite number", name, i, math.Float32frombits(uint32(b)<<16))
		}
	}
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
