package formats

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"qwentune/engine/nn"
	"qwentune/model"
	"qwentune/model/gguf"
	"qwentune/model/peft"
	"qwentune/model/tokenizer"
)

// quantizationVersion is ggml's GGML_QNT_VERSION, written by every converter.
const quantizationVersion uint32 = 2

// fileType maps an encoding to general.file_type (llama_ftype).
func fileType(e Encoding) uint32 {
	switch e {
	case F16:
		return gguf.FileTypeF16
	case BF16:
		return gguf.FileTypeBF16
	case Q8_0:
		return gguf.FileTypeQ8_0
	}
	return gguf.FileTypeF32
}

// ggmlType maps an encoding to the tensor type.
func ggmlType(e Encoding) gguf.GGMLType {
	return [...]gguf.GGMLType{gguf.F32, gguf.F16, gguf.BF16, gguf.Q8_0}[e]
}

// tensorType picks the ggml type of one tensor in a file of encoding e, as
// llama.cpp's convert_hf_to_gguf.py does: vectors and norm weights stay F32;
// a Q8_0 matrix whose rows are not whole 32-value blocks falls back to F16.
func tensorType(name string, dims []uint64, e Encoding) gguf.GGMLType {
	if len(dims) == 1 || strings.HasSuffix(name, "_norm.weight") {
		return gguf.F32
	}
	if e == Q8_0 && dims[0]%uint64(gguf.Q8_0.BlockSize()) != 0 {
		return gguf.F16
	}
	return ggmlType(e)
}

// reversed returns a PyTorch shape as GGUF dims, innermost first.
func reversed(shape []int) []uint64 {
	d := make([]uint64, len(shape))
	for i, s := range shape {
		d[len(shape)-1-i] = uint64(s)
	}
	return d
}

// GGUFOptions are the choices of WriteGGUF.
type GGUFOptions struct {
	// DType is the encoding of the matrices: F32, F16, BF16 or Q8_0.
	DType Encoding
	// Name is general.name (default "qwen2").
	Name string
	// Adapter, when set, is merged into the weights as they are written
	// (W' = W + scale·B·A).
	Adapter *nn.Adapter
}

// plannedTensor is one tensor of a GGUF file to be written.
type plannedTensor struct {
	name string
	dims []uint64
	typ  gguf.GGMLType
	size int64
	src  nn.Tensor
}

// WriteGGUF writes m, with its tokenizer, as one GGUF v3 file for llama.cpp
// and Ollama: the qwen2 metadata keys, the tokenizer (tokens padded to
// vocab_size with [PAD{id}] of type 5; added tokens that are special or look
// special (<|…|>) → 3 control, other added tokens → 4 user-defined; merges;
// bos, eos and padding ids; no BOS added) and the chat template, then every
// tensor under its llama.cpp name with its dims innermost first and its
// bytes unchanged (nothing is transposed). Tensor data is encoded while the
// file is written. Progress counts tensor bytes; cancelling ctx stops the
// write and leaves no file.
func WriteGGUF(ctx context.Context, path string, m *nn.Model, tok *tokenizer.Tokenizer, o GGUFOptions, progress Progress) error {
	if err := checkAdapter(m, o.Adapter); err != nil {
		return err
	}
	c := m.Config
	arch := c.Arch().GGUF
	w := gguf.NewWriter()
	name := o.Name
	if name == "" {
		name = arch
	}
	kvh := c.NumKeyValueHeads
	if kvh == 0 {
		kvh = c.NumAttentionHeads
	}
	w.AddKV("general.architecture", arch)
	w.AddKV("general.type", "model")
	w.AddKV("general.name", name)
	w.AddKV("general.file_type", fileType(o.DType))
	w.AddKV("general.quantization_version", quantizationVersion)
	w.AddKV(arch+".context_length", uint32(c.MaxPositionEmbeddings))
	w.AddKV(arch+".embedding_length", uint32(c.HiddenSize))
	w.AddKV(arch+".block_count", uint32(c.NumHiddenLayers))
	w.AddKV(arch+".feed_forward_length", uint32(c.IntermediateSize))
	w.AddKV(arch+".attention.head_count", uint32(c.NumAttentionHeads))
	w.AddKV(arch+".attention.head_count_kv", uint32(kvh))
	w.AddKV(arch+".rope.freq_base", float32(c.RopeTheta))
	w.AddKV(arch+".attention.layer_norm_rms_epsilon", float32(c.RMSNormEps))
	// convert_hf_to_gguf.py writes the lengths whenever config.json sets
	// head_dim, which Qwen3's always does.
	if hd := c.HeadDim; hd != 0 && (hd*c.NumAttentionHeads != c.HiddenSize || c.ModelType == model.Qwen3ModelType) {
		w.AddKV(arch+".attention.key_length", uint32(hd))
		w.AddKV(arch+".attention.value_length", uint32(hd))
	}
	if err := addTokenizer(w, tok, c); err != nil {
		return err
	}
	var plan []plannedTensor
	var total int64
	for _, t := range m.Tensors() {
		gname := t.Spec.GGUFName()
		dims := reversed(t.Shape)
		typ := tensorType(gname, dims, o.DType)
		size, err := gguf.TensorSize(dims, typ)
		if err != nil {
			return fmt.Errorf("export: %s: %w", gname, err)
		}
		total += size
		plan = append(plan, plannedTensor{gname, dims, typ, size, t})
	}
	mt := newMeter(ctx, total, progress)
	for _, p := range plan {
		if err := w.AddTensorFunc(p.name, p.dims, p.typ, p.size, func(out io.Writer) error {
			return writeGGUFData(out, p.src, o.Adapter, p.typ, mt, p.name)
		}); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	return w.WriteFile(path)
}

// looksSpecial is convert_hf_to_gguf.py's does_token_look_special: added
// tokens written like <|…|>, <｜…｜> or <unused…> are control tokens even
// when not marked special.
func looksSpecial(s string) bool {
	switch s {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return strings.HasPrefix(s, "<|") && strings.HasSuffix(s, "|>") ||
		strings.HasPrefix(s, "<｜") && strings.HasSuffix(s, "｜>") ||
		strings.HasPrefix(s, "<unused") && strings.HasSuffix(s, ">")
}

// addTokenizer writes the tokenizer.* keys.
func addTokenizer(w *gguf.Writer, tok *tokenizer.Tokenizer, c model.Config) error {
	vocab := tok.Vocab()
	n := c.VocabSize
	if len(vocab) > n {
		return fmt.Errorf("export: the tokenizer has %d ids but the model's vocab_size is %d", len(vocab), n)
	}
	added := map[int]tokenizer.AddedToken{}
	for _, a := range tok.AddedTokens() {
		added[a.ID] = a
	}
	tokens := make([]string, n)
	types := make([]int32, n)
	for i := range n {
		if i >= len(vocab) || vocab[i] == "" {
			tokens[i], types[i] = fmt.Sprintf("[PAD%d]", i), tokenizer.GGUFUnused
			continue
		}
		tokens[i], types[i] = vocab[i], tokenizer.GGUFNormal
		if a, ok := added[i]; ok {
			types[i] = tokenizer.GGUFUserDefined
			if a.Special || looksSpecial(a.Content) {
				types[i] = tokenizer.GGUFControl
			}
		}
	}
	w.AddKV("tokenizer.ggml.model", "gpt2")
	w.AddKV("tokenizer.ggml.pre", "qwen2")
	w.AddKV("tokenizer.ggml.tokens", tokens)
	w.AddKV("tokenizer.ggml.token_type", types)
	w.AddKV("tokenizer.ggml.merges", tok.Merges())
	if c.BOSTokenID >= 0 {
		w.AddKV("tokenizer.ggml.bos_token_id", uint32(c.BOSTokenID))
	}
	if id := tok.EOS(); id >= 0 {
		w.AddKV("tokenizer.ggml.eos_token_id", uint32(id))
	}
	if id := tok.Pad(); id >= 0 {
		w.AddKV("tokenizer.ggml.padding_token_id", uint32(id))
	}
	w.AddKV("tokenizer.ggml.add_bos_token", false)
	return w.AddKV("tokenizer.chat_template", tok.ChatTemplate())
}

// writeGGUFData streams one tensor encoded as typ.
func writeGGUFData(w io.Writer, t nn.Tensor, a *nn.Adapter, typ gguf.GGMLType, m *meter, what string) error {
	e := F32
	for _, c := range []Encoding{F16, BF16, Q8_0} {
		if ggmlType(c) == typ {
			e = c
		}
	}
	return writeRows(w, t, a, e, m, what)
}

// AdapterOptions are the choices of WriteGGUFAdapter.
type AdapterOptions struct {
	// DType is F32, F16 or BF16.
	DType Encoding
	// Name is general.name (default "qwen2-lora").
	Name string
}

// adapterAlpha returns the adapter.lora.alpha that makes llama.cpp's scale
// alpha/r (r read from each lora_b) equal PEFT's scale for every module:
// scale·r, i.e. lora_alpha, or lora_alpha·√r with rsLoRA. It refuses
// adapters whose modules need different values (alpha_pattern, or
// rank_pattern with rsLoRA), which one file-wide alpha cannot express.
func adapterAlpha(pc peft.Config, base model.Config) (float32, error) {
	alpha, first := 0.0, ""
	for layer := range base.NumHiddenLayers {
		for _, mod := range base.Arch().Linears() {
			path := model.LayerPath(layer, mod)
			if !pc.Targets(path) {
				continue
			}
			a := pc.ScaleFor(path) * float64(pc.RankFor(path))
			if first == "" {
				alpha, first = a, path
				continue
			}
			if math.Abs(a-alpha) > 1e-6*math.Abs(alpha) {
				return 0, fmt.Errorf("export: a llama.cpp LoRA GGUF has one adapter.lora.alpha for every module, but this adapter scales %s by %g/%d and %s by %g/%d (rank_pattern/alpha_pattern%s); merge it instead (--format gguf)",
					first, alpha, pc.RankFor(first), path, a, pc.RankFor(path), map[bool]string{true: " with rsLoRA", false: ""}[pc.UseRSLoRA])
			}
		}
	}
	if first == "" {
		return 0, fmt.Errorf("export: the adapter targets no module")
	}
	return float32(alpha), nil
}

// WriteGGUFAdapter writes a PEFT LoRA adapter as a llama.cpp LoRA GGUF:
// general.type "adapter", adapter.type "lora", adapter.lora.alpha (FLOAT32;
// alpha·√r for rsLoRA, since llama.cpp scales by alpha/r),
// general.architecture "qwen2", and per adapted module
// blk.N.<name>.weight.lora_a (PEFT A [r, in], dims [in, r]) and .lora_b
// (PEFT B [out, r], dims [r, out]) with their bytes unchanged.
func WriteGGUFAdapter(ctx context.Context, path string, a peft.Adapter, base model.Config, o AdapterOptions, progress Progress) error {
	if o.DType == Q8_0 {
		return fmt.Errorf("export: a LoRA GGUF is stored as f32, f16 or bf16, not q8_0")
	}
	if err := a.Validate(base); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	alpha, err := adapterAlpha(a.Config, base)
	if err != nil {
		return err
	}
	arch := base.Arch().GGUF
	name := o.Name
	if name == "" {
		name = arch + "-lora"
	}
	w := gguf.NewWriter()
	w.AddKV("general.architecture", arch)
	w.AddKV("general.type", "adapter")
	w.AddKV("general.name", name)
	w.AddKV("general.file_type", fileType(o.DType))
	w.AddKV("general.quantization_version", quantizationVersion)
	w.AddKV("adapter.type", "lora")
	w.AddKV("adapter.lora.alpha", alpha)
	var plan []plannedTensor
	var total int64
	for layer := range base.NumHiddenLayers {
		for _, mod := range base.Arch().Linears() {
			gbase := model.Weight{Module: mod, Layer: layer}.GGUFName()
			for _, ab := range []string{"A", "B"} {
				key := peft.Key(layer, mod.Name, "lora_"+ab)
				t, ok := a.Tensors[key]
				if !ok {
					continue
				}
				dims := reversed(t.Shape)
				typ := ggmlType(o.DType)
				size, err := gguf.TensorSize(dims, typ)
				if err != nil {
					return fmt.Errorf("export: %s: %w", key, err)
				}
				total += size
				plan = append(plan, plannedTensor{gbase + ".lora_" + strings.ToLower(ab), dims, typ, size,
					nn.Tensor{Name: key, Shape: slices.Clone(t.Shape), Vector: t.Data}})
			}
		}
	}
	mt := newMeter(ctx, total, progress)
	for _, p := range plan {
		if err := w.AddTensorFunc(p.name, p.dims, p.typ, p.size, func(out io.Writer) error {
			return writeGGUFData(out, p.src, nil, p.typ, mt, p.name)
		}); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	return w.WriteFile(path)
}
