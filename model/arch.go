package model

import (
	"strconv"
	"strings"
)

// Kind is what a module with weights computes.
type Kind int

// The kinds of modules with weights.
const (
	// LinearKind is a torch.nn.Linear: weight [out, in], optional bias [out].
	// The per-layer linears are what LoRA can target.
	LinearKind Kind = iota
	// NormKind is an RMSNorm: weight [n].
	NormKind
	// EmbeddingKind is a lookup table (or the output head): weight [vocab, hidden].
	EmbeddingKind
)

// Module is one module of an architecture that holds weights, with every
// name it has: the Hugging Face key, the short name PEFT matches, the
// llama.cpp GGUF name, and its shape as a rule of the config.
type Module struct {
	// Name is the module's own name: "q_proj", "input_layernorm",
	// "embed_tokens". For a per-layer linear it is the name target_modules
	// lists.
	Name string
	// Path is where the module sits: for a per-layer module, its path
	// inside model.layers.{i} ("self_attn.q_proj"); otherwise its full path
	// ("model.embed_tokens", "lm_head").
	Path string
	// GGUF is llama.cpp's name: inside blk.{i} for a per-layer module
	// ("attn_q"), the whole name otherwise ("token_embd").
	GGUF string
	Kind Kind
	// Bias reports a bias next to the weight (Qwen2's q, k and v).
	Bias bool
	// Shape is the weight's shape for a config; a bias is [Shape[0]].
	Shape func(c Config) []int
}

// Parent is the path of the module's parent inside a layer: "self_attn",
// "mlp", or "" for a module of the layer itself.
func (m Module) Parent() string {
	parent, _, ok := strings.Cut(m.Path, ".")
	if !ok {
		return ""
	}
	return parent
}

// Arch is the table of one architecture's modules with weights. It is the
// one place their names and shapes are written: loading, training, making
// models, PEFT keys and every export read them from here.
type Arch struct {
	// Embed, Norm and Head are the modules outside the layers: the token
	// embedding, the final norm and the output head (absent from a
	// checkpoint whose embeddings are tied).
	Embed, Norm, Head Module
	// Layer lists a decoder layer's modules in checkpoint order: the order
	// of the forward pass, and inside one parent the order its __init__
	// declares them.
	Layer []Module
	// Parents are a layer's sub-modules in the order the layer's __init__
	// declares them, "" standing for the layer's own modules; state_dict()
	// lists tensors in this order.
	Parents []string
	// GGUF is llama.cpp's general.architecture, which also prefixes its
	// hyper-parameter keys ("qwen2.block_count").
	GGUF string
}

// LayerPrefix starts the key of every per-layer tensor.
const LayerPrefix = "model.layers."

// GGUFLayerPrefix starts the GGUF name of every per-layer tensor.
const GGUFLayerPrefix = "blk."

// Qwen2 is the Qwen2ForCausalLM architecture.
var Qwen2 = Arch{
	Embed: embedModule,
	Norm:  normModule,
	Head:  headModule,
	Layer: []Module{
		inputNorm,
		{Name: "q_proj", Path: "self_attn.q_proj", GGUF: "attn_q", Kind: LinearKind, Bias: true, Shape: qShape},
		{Name: "k_proj", Path: "self_attn.k_proj", GGUF: "attn_k", Kind: LinearKind, Bias: true, Shape: kvShape},
		{Name: "v_proj", Path: "self_attn.v_proj", GGUF: "attn_v", Kind: LinearKind, Bias: true, Shape: kvShape},
		{Name: "o_proj", Path: "self_attn.o_proj", GGUF: "attn_output", Kind: LinearKind, Shape: oShape},
		postNorm, gateModule, upModule, downModule,
	},
	Parents: []string{"self_attn", "mlp", ""},
	GGUF:    "qwen2",
}

// Qwen3 is the Qwen3ForCausalLM architecture with attention_bias false (every
// released Qwen3): Qwen2's modules without the q/k/v biases, plus the
// per-head RMSNorms q_norm and k_norm [head_dim] that Qwen3Attention
// declares after o_proj and applies to q and k before RoPE.
var Qwen3 = qwen3(false)

// Qwen3Biased is Qwen3ForCausalLM with attention_bias true: q, k, v and o
// all carry biases.
var Qwen3Biased = qwen3(true)

func qwen3(bias bool) Arch {
	return Arch{
		Embed: embedModule,
		Norm:  normModule,
		Head:  headModule,
		Layer: []Module{
			inputNorm,
			{Name: "q_proj", Path: "self_attn.q_proj", GGUF: "attn_q", Kind: LinearKind, Bias: bias, Shape: qShape},
			{Name: "k_proj", Path: "self_attn.k_proj", GGUF: "attn_k", Kind: LinearKind, Bias: bias, Shape: kvShape},
			{Name: "v_proj", Path: "self_attn.v_proj", GGUF: "attn_v", Kind: LinearKind, Bias: bias, Shape: kvShape},
			{Name: "o_proj", Path: "self_attn.o_proj", GGUF: "attn_output", Kind: LinearKind, Bias: bias, Shape: oShape},
			{Name: "q_norm", Path: "self_attn.q_norm", GGUF: "attn_q_norm", Kind: NormKind, Shape: headDim},
			{Name: "k_norm", Path: "self_attn.k_norm", GGUF: "attn_k_norm", Kind: NormKind, Shape: headDim},
			postNorm, gateModule, upModule, downModule,
		},
		Parents: []string{"self_attn", "mlp", ""},
		GGUF:    "qwen3",
	}
}

// The modules Qwen2 and Qwen3 share.
var (
	embedModule = Module{Name: "embed_tokens", Path: "model.embed_tokens", GGUF: "token_embd", Kind: EmbeddingKind, Shape: vocabByHidden}
	normModule  = Module{Name: "norm", Path: "model.norm", GGUF: "output_norm", Kind: NormKind, Shape: hidden}
	headModule  = Module{Name: "lm_head", Path: "lm_head", GGUF: "output", Kind: EmbeddingKind, Shape: vocabByHidden}
	inputNorm   = Module{Name: "input_layernorm", Path: "input_layernorm", GGUF: "attn_norm", Kind: NormKind, Shape: hidden}
	postNorm    = Module{Name: "post_attention_layernorm", Path: "post_attention_layernorm", GGUF: "ffn_norm", Kind: NormKind, Shape: hidden}
	gateModule  = Module{Name: "gate_proj", Path: "mlp.gate_proj", GGUF: "ffn_gate", Kind: LinearKind,
		Shape: func(c Config) []int { return []int{c.IntermediateSize, c.HiddenSize} }}
	upModule = Module{Name: "up_proj", Path: "mlp.up_proj", GGUF: "ffn_up", Kind: LinearKind,
		Shape: func(c Config) []int { return []int{c.IntermediateSize, c.HiddenSize} }}
	downModule = Module{Name: "down_proj", Path: "mlp.down_proj", GGUF: "ffn_down", Kind: LinearKind,
		Shape: func(c Config) []int { return []int{c.HiddenSize, c.IntermediateSize} }}
)

func qShape(c Config) []int        { return []int{c.NumAttentionHeads * c.HeadDim, c.HiddenSize} }
func kvShape(c Config) []int       { return []int{c.NumKeyValueHeads * c.HeadDim, c.HiddenSize} }
func oShape(c Config) []int        { return []int{c.HiddenSize, c.NumAttentionHeads * c.HeadDim} }
func headDim(c Config) []int       { return []int{c.HeadDim} }
func vocabByHidden(c Config) []int { return []int{c.VocabSize, c.HiddenSize} }
func hidden(c Config) []int        { return []int{c.HiddenSize} }

// Arch returns the table of c's architecture: Qwen3 (or Qwen3Biased) for
// model_type qwen3, Qwen2 for everything else (Validate refuses what is
// neither).
func (c Config) Arch() Arch {
	if c.ModelType != Qwen3ModelType {
		return Qwen2
	}
	if c.AttentionBias {
		return Qwen3Biased
	}
	return Qwen3
}

// HasQKNorm reports whether the architecture normalises each query and key
// head before RoPE (Qwen3's q_norm and k_norm).
func (a Arch) HasQKNorm() bool {
	for _, m := range a.Layer {
		if m.Name == "q_norm" {
			return true
		}
	}
	return false
}

// Linears returns the per-layer linear modules in checkpoint order: the
// modules LoRA can target, and the order PEFT lists their parameters in.
func (a Arch) Linears() []Module {
	var out []Module
	for _, m := range a.Layer {
		if m.Kind == LinearKind {
			out = append(out, m)
		}
	}
	return out
}

// LinearNames returns the names of Linears: what all-linear stands for.
func (a Arch) LinearNames() []string {
	var out []string
	for _, m := range a.Linears() {
		out = append(out, m.Name)
	}
	return out
}

// Linear returns the per-layer linear module called name.
func (a Arch) Linear(name string) (Module, bool) {
	for _, m := range a.Linears() {
		if m.Name == name {
			return m, true
		}
	}
	return Module{}, false
}

// LayerPath is the path of a per-layer module of layer i, as PEFT matches
// target_modules against it: "model.layers.3.self_attn.q_proj".
func LayerPath(i int, m Module) string {
	return LayerPrefix + strconv.Itoa(i) + "." + m.Path
}

// Weight is one tensor of a checkpoint: its key and shape, and the module
// it belongs to.
type Weight struct {
	// Name is the safetensors key, e.g. "model.layers.3.self_attn.q_proj.bias".
	Name  string
	Shape []int
	// Module is the table row the tensor belongs to.
	Module Module
	// Layer is the layer index, or -1 for a module outside the layers.
	Layer int
	// Bias tells a linear's bias from its weight.
	Bias bool
	// Slot is the module's position among the modules of its kind in a
	// layer (for a linear: its position in Linears); -1 outside the layers.
	Slot int
}

// Numel is the number of values of the tensor: the product of its shape.
func (w Weight) Numel() int { return int(numel(w.Shape)) }

// numel is the product of shape.
func numel(shape []int) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= int64(d)
	}
	return n
}

// GGUFName is the tensor's llama.cpp name, e.g. "blk.3.attn_q.bias".
func (w Weight) GGUFName() string {
	param := ".weight"
	if w.Bias {
		param = ".bias"
	}
	if w.Layer < 0 {
		return w.Module.GGUF + param
	}
	return GGUFLayerPrefix + strconv.Itoa(w.Layer) + "." + w.Module.GGUF + param
}

// layerWeights appends the tensors of layer i.
func (a Arch) layerWeights(out []Weight, c Config, i int) []Weight {
	slots := map[Kind]int{}
	p := LayerPrefix + strconv.Itoa(i) + "."
	for _, m := range a.Layer {
		shape := m.Shape(c)
		slot := slots[m.Kind]
		slots[m.Kind]++
		out = append(out, Weight{Name: p + m.Path + ".weight", Shape: shape, Module: m, Layer: i, Slot: slot})
		if m.Bias {
			out = append(out, Weight{Name: p + m.Path + ".bias", Shape: shape[:1], Module: m, Layer: i, Bias: true, Slot: slot})
		}
	}
	return out
}

// Weights lists every tensor of a checkpoint with config c in checkpoint
// order: the embedding, each layer's tensors, the final norm, and the head
// unless the embeddings are tied. Linear weights are [out, in].
func (a Arch) Weights(c Config) []Weight {
	global := func(m Module) Weight {
		return Weight{Name: m.Path + ".weight", Shape: m.Shape(c), Module: m, Layer: -1, Slot: -1}
	}
	out := []Weight{global(a.Embed)}
	for i := 0; i < c.NumHiddenLayers; i++ {
		out = a.layerWeights(out, c, i)
	}
	out = append(out, global(a.Norm))
	if !c.TieWordEmbeddings {
		out = append(out, global(a.Head))
	}
	return out
}

// Weights lists every tensor of a checkpoint with this config (see
// Arch.Weights).
func (c Config) Weights() []Weight { return c.Arch().Weights(c) }

// TensorsPerLayer is how many tensors one layer holds (weights and biases).
func (a Arch) TensorsPerLayer() int {
	n := 0
	for _, m := range a.Layer {
		n++
		if m.Bias {
			n++
		}
	}
	return n
}

// ParseKey finds the tensor a checkpoint key names under config c: any key
// of Weights(c) (a layer index must be canonical and below
// num_hidden_layers), and false for anything else, such as the
// rotary_emb.inv_freq buffers some checkpoints carry.
func (a Arch) ParseKey(c Config, key string) (Weight, bool) {
	rest, ok := strings.CutPrefix(key, LayerPrefix)
	if !ok {
		for _, m := range []Module{a.Embed, a.Norm, a.Head} {
			if key == m.Path+".weight" && (m.Path != a.Head.Path || !c.TieWordEmbeddings) {
				return Weight{Name: key, Shape: m.Shape(c), Module: m, Layer: -1, Slot: -1}, true
			}
		}
		return Weight{}, false
	}
	num, tail, ok := strings.Cut(rest, ".")
	if !ok {
		return Weight{}, false
	}
	i, err := strconv.Atoi(num)
	if err != nil || i < 0 || i >= c.NumHiddenLayers || strconv.Itoa(i) != num {
		return Weight{}, false
	}
	for _, w := range a.layerWeights(nil, c, i) {
		if w.Name[len(LayerPrefix)+len(num)+1:] == tail {
			return w, true
		}
	}
	return Weight{}, false
}

// StateDictOrder returns the indices of ws in the order of the model's
// state_dict(), which decides where save_pretrained cuts shards: per layer,
// the parents in Parents order, each with its modules in table order;
// tensors outside the layers keep their place. A layer's tensors must be
// contiguous in ws, as Weights lists them.
func (a Arch) StateDictOrder(ws []Weight) []int {
	rank := func(w Weight) int {
		for i, p := range a.Parents {
			if w.Module.Parent() == p {
				return i
			}
		}
		return len(a.Parents)
	}
	out := make([]int, 0, len(ws))
	for i := 0; i < len(ws); {
		if ws[i].Layer < 0 {
			out = append(out, i)
			i++
			continue
		}
		j := i
		for j < len(ws) && ws[j].Layer == ws[i].Layer {
			j++
		}
		for r := 0; r <= len(a.Parents); r++ {
			for k := i; k < j; k++ {
				if rank(ws[k]) == r {
					out = append(out, k)
				}
			}
		}
		i = j
	}
	return out
}
