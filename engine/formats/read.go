package formats

import (
	"fmt"
	"io"
	"slices"
	"strconv"

	"qwentune/engine/nn"
	"qwentune/model"
	"qwentune/model/gguf"
	"qwentune/model/safetensors"
	"qwentune/model/tokenizer"
)

// ConfigFromGGUF rebuilds the config.json of a qwen2 or qwen3 GGUF model
// from its metadata and tensor shapes (vocab_size from token_embd, head_dim
// from attention.key_length or else attn_q, tied embeddings when there is
// no output.weight, Qwen3's attention_bias when attn_q has a bias).
func ConfigFromGGUF(f *gguf.File) (model.Config, error) {
	var c model.Config
	str := func(key string) string {
		v, _ := f.KV(key)
		s, _ := v.(string)
		return s
	}
	arch, archName, modelType := model.Qwen2, model.Qwen2Architecture, model.Qwen2ModelType
	switch a := str("general.architecture"); a {
	case model.Qwen2.GGUF:
	case model.Qwen3.GGUF:
		arch, archName, modelType = model.Qwen3, model.Qwen3Architecture, model.Qwen3ModelType
	default:
		return c, fmt.Errorf("general.architecture is %q, want %q or %q", a, model.Qwen2.GGUF, model.Qwen3.GGUF)
	}
	if t := str("general.type"); t != "" && t != "model" {
		return c, fmt.Errorf("general.type is %q: not a model (a LoRA adapter is applied to a model, not loaded as one)", t)
	}
	var errs []error
	num := func(key string) float64 {
		v, ok := f.KV(key)
		if !ok {
			errs = append(errs, fmt.Errorf("metadata %s is missing", key))
			return 0
		}
		switch x := v.(type) {
		case uint32:
			return float64(x)
		case int32:
			return float64(x)
		case uint64:
			return float64(x)
		case int64:
			return float64(x)
		case float32:
			// The shortest decimal that rounds to x, so 1e-6 stays 1e-6.
			d, _ := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
			return d
		case float64:
			return x
		}
		errs = append(errs, fmt.Errorf("metadata %s has type %T, want a number", key, v))
		return 0
	}
	c = model.Config{
		Architectures:         []string{archName},
		ModelType:             modelType,
		HiddenSize:            int(num(arch.GGUF + ".embedding_length")),
		IntermediateSize:      int(num(arch.GGUF + ".feed_forward_length")),
		NumHiddenLayers:       int(num(arch.GGUF + ".block_count")),
		NumAttentionHeads:     int(num(arch.GGUF + ".attention.head_count")),
		NumKeyValueHeads:      int(num(arch.GGUF + ".attention.head_count_kv")),
		HiddenAct:             "silu",
		MaxPositionEmbeddings: int(num(arch.GGUF + ".context_length")),
		RMSNormEps:            num(arch.GGUF + ".attention.layer_norm_rms_epsilon"),
		RopeTheta:             num(arch.GGUF + ".rope.freq_base"),
		BOSTokenID:            -1,
		TorchDType:            "float32",
		InitializerRange:      0.02,
	}
	if len(errs) > 0 {
		return c, errs[0]
	}
	c.SlidingWindow, c.MaxWindowLayers = c.MaxPositionEmbeddings, c.NumHiddenLayers
	embName := model.Weight{Module: arch.Embed, Layer: -1}.GGUFName()
	emb, ok := f.Tensor(embName)
	if !ok || len(emb.Dims) != 2 {
		return c, fmt.Errorf("tensor %s is missing or not a matrix", embName)
	}
	c.VocabSize = int(emb.Dims[1])
	qm, _ := arch.Linear("q_proj")
	qName := model.Weight{Module: qm, Layer: 0}.GGUFName()
	q, ok := f.Tensor(qName)
	if !ok || len(q.Dims) != 2 || c.NumAttentionHeads <= 0 {
		return c, fmt.Errorf("tensor %s is missing or not a matrix", qName)
	}
	c.HeadDim = int(q.Dims[1]) / c.NumAttentionHeads
	if _, ok := f.KV(arch.GGUF + ".attention.key_length"); ok {
		c.HeadDim = int(num(arch.GGUF + ".attention.key_length"))
		if len(errs) > 0 {
			return c, errs[0]
		}
	}
	if modelType == model.Qwen3ModelType {
		_, c.AttentionBias = f.Tensor(model.Weight{Module: qm, Layer: 0, Bias: true}.GGUFName())
	}
	_, hasOutput := f.Tensor(model.Weight{Module: arch.Head, Layer: -1}.GGUFName())
	c.TieWordEmbeddings = !hasOutput
	if v, ok := f.KV("tokenizer.ggml.bos_token_id"); ok {
		if id, ok := v.(uint32); ok {
			c.BOSTokenID = int(id)
		}
	}
	if v, ok := f.KV("tokenizer.ggml.eos_token_id"); ok {
		if id, ok := v.(uint32); ok {
			c.EOSTokenIDs = []int{int(id)}
		}
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// GGUFToHF converts a qwen2 or qwen3 GGUF model into a Hugging Face folder dir
// holding config.json and model.safetensors (model.WriteFolder) (F32: F16, BF16 and Q8_0
// tensors are decoded exactly to float32). Every tensor of the model must be
// present with the shape the metadata implies, and nothing else.
func GGUFToHF(path, dir string) (model.Config, error) {
	f, c, err := openGGUFModel(path)
	if err != nil {
		return c, err
	}
	defer f.Close()
	err = model.WriteFolder(dir, model.Folder{Config: c, DType: "F32", Weights: c.Weights(),
		WriteTensor: func(w model.Weight, out io.Writer) error {
			v, err := f.TensorFloat32(w.GGUFName())
			if err != nil {
				return err
			}
			_, err = out.Write(safetensors.FromFloat32(w.Name, []int{len(v)}, v).Data)
			return err
		}})
	return c, err
}

// openGGUFModel opens a qwen2 or qwen3 GGUF model and checks that it holds
// every tensor of the model its metadata describes, with the implied
// shape, and nothing else.
func openGGUFModel(path string) (*gguf.File, model.Config, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, model.Config{}, err
	}
	c, err := checkGGUFModel(f)
	if err != nil {
		f.Close()
		return nil, c, fmt.Errorf("%s: %w", path, err)
	}
	return f, c, nil
}

func checkGGUFModel(f *gguf.File) (model.Config, error) {
	c, err := ConfigFromGGUF(f)
	if err != nil {
		return c, err
	}
	// Check the counts before listing the weights, so a corrupt block_count
	// cannot make us enumerate billions of names.
	want := 2 + int64(c.Arch().TensorsPerLayer())*int64(c.NumHiddenLayers)
	if !c.TieWordEmbeddings {
		want++
	}
	if n := int64(len(f.Tensors())); n != want {
		return c, fmt.Errorf("%d tensors, a %d-layer %s model has %d", n, c.NumHiddenLayers, c.ModelType, want)
	}
	known := map[string]bool{}
	for _, w := range c.Weights() {
		g := w.GGUFName()
		t, ok := f.Tensor(g)
		if !ok {
			return c, fmt.Errorf("tensor %s is missing", g)
		}
		if !slices.Equal(t.Dims, reversed(w.Shape)) {
			return c, fmt.Errorf("tensor %s has dims %v, the metadata implies %v", g, t.Dims, reversed(w.Shape))
		}
		known[g] = true
	}
	for _, t := range f.Tensors() {
		if !known[t.Name] {
			return c, fmt.Errorf("unexpected tensor %s: not part of a qwen2 model", t.Name)
		}
	}
	return c, nil
}

// ReadGGUF loads a qwen2 or qwen3 GGUF model written by WriteGGUF (or
// llama.cpp's converter, for the F32, F16, BF16 and Q8_0 types) as an
// nn.Model with weights stored as dtype ("float32", "bfloat16" or "q8_0"),
// one tensor at a time. With dtype q8_0 the file's Q8_0 matrices become the
// model's weights byte for byte, never requantised, so a model exported as
// Q8_0 and read back computes what the exporting model's q8_0 weights did;
// its other matrices are quantised as the safetensors loader does.
func ReadGGUF(path, dtype string) (*nn.Model, error) {
	_, _, m, err := LoadGGUF(path, dtype, false)
	return m, err
}

// OpenGGUFFiles reads what a Session needs of a qwen2 or qwen3 GGUF model
// but its weights: the config its metadata and tensors imply, checked as
// ReadGGUF checks it, and the tokenizer it carries.
func OpenGGUFFiles(path string) (model.Config, *tokenizer.Tokenizer, error) {
	c, tok, _, err := LoadGGUF(path, "", true)
	return c, tok, err
}

// LoadGGUF opens a GGUF model once for what a Session needs: its config,
// its tokenizer when withTokenizer, and its weights as ReadGGUF reads them
// unless dtype is "".
func LoadGGUF(path, dtype string, withTokenizer bool) (model.Config, *tokenizer.Tokenizer, *nn.Model, error) {
	f, c, err := openGGUFModel(path)
	if err != nil {
		return c, nil, nil, err
	}
	defer f.Close()
	var tok *tokenizer.Tokenizer
	if withTokenizer {
		if tok, err = GGUFTokenizer(f, path); err != nil {
			return c, nil, nil, err
		}
		if n := tok.VocabSize(); n > c.VocabSize {
			return c, nil, nil, fmt.Errorf("%s: the tokenizer has %d ids but token_embd has %d rows", path, n, c.VocabSize)
		}
	}
	if dtype == "" {
		return c, tok, nil, nil
	}
	// Before anything is allocated: a k-quant (Q4_K_M, the usual Ollama
	// download) is refused by name rather than at its first tensor.
	for _, t := range f.Tensors() {
		switch t.Type {
		case gguf.F32, gguf.F16, gguf.BF16, gguf.Q8_0:
		default:
			return c, nil, nil, fmt.Errorf("%s: tensor %s is stored as %s: QwenTune reads GGUF models in F32, F16, BF16 or Q8_0 "+
				"(llama.cpp's llama-quantize writes Q8_0 from an F16 or BF16 GGUF; or load the Hugging Face model instead)", path, t.Name, t.Type)
		}
	}
	m, err := nn.FromTensors(c, dtype, func(w model.Weight) (nn.TensorData, error) {
		g := w.GGUFName()
		t, _ := f.Tensor(g)
		if t.Type == gguf.Q8_0 && len(w.Shape) == 2 {
			q, err := f.TensorData(g)
			return nn.TensorData{Q8: q}, err
		}
		v, err := f.TensorFloat32(g)
		return nn.TensorData{F32: v}, err
	})
	if err != nil {
		return c, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, tok, m, nil
}

// GGUFTokenizer builds the tokenizer of f's tokenizer.* metadata
// (tokenizer.FromGGUF); name prefixes errors.
func GGUFTokenizer(f *gguf.File, name string) (*tokenizer.Tokenizer, error) {
	v := tokenizer.GGUFVocab{EOS: -1, Pad: -1}
	var errs []error
	get := func(key string, out any) {
		x, ok := f.KV(key)
		if !ok {
			return
		}
		var good bool
		switch o := out.(type) {
		case *string:
			*o, good = x.(string)
		case *[]string:
			*o, good = x.([]string)
		case *[]int32:
			*o, good = x.([]int32)
		case *int:
			var id uint32
			id, good = x.(uint32)
			*o = int(id)
		}
		if !good {
			errs = append(errs, fmt.Errorf("%s: metadata %s has type %T", name, key, x))
		}
	}
	get("tokenizer.ggml.model", &v.Model)
	get("tokenizer.ggml.pre", &v.Pre)
	get("tokenizer.ggml.tokens", &v.Tokens)
	get("tokenizer.ggml.token_type", &v.Types)
	get("tokenizer.ggml.merges", &v.Merges)
	get("tokenizer.ggml.eos_token_id", &v.EOS)
	get("tokenizer.ggml.padding_token_id", &v.Pad)
	get("tokenizer.chat_template", &v.ChatTemplate)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return tokenizer.FromGGUF(v, name)
}
