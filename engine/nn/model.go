package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"qwentune/engine/ops"
	"qwentune/model"
)

// Linear is a torch.nn.Linear: y = x·Wᵀ + b with Weight [out, in] and an
// optional Bias [out] (nil for o_proj and the MLP).
type Linear struct {
	Weight ops.Weight
	Bias   []float32
	// wp and bp expose Weight.F32 and Bias as trainable Params in
	// full-parameter mode (TrainAll); nil otherwise.
	wp, bp *Param
}

// RMSNorm is a Qwen2RMSNorm: y = Weight ⊙ x / sqrt(mean(x²) + eps).
type RMSNorm struct {
	Weight []float32 // [hidden]
	p      *Param
}

// Attention is Qwen2Attention (self_attn): biased q/k/v projections, an
// unbiased output projection, RoPE and grouped-query attention.
type Attention struct {
	QProj, KProj, VProj, OProj Linear
}

// MLP is Qwen2MLP: down(silu(gate(x)) ⊙ up(x)), no biases.
type MLP struct {
	GateProj, UpProj, DownProj Linear
}

// Layer is one Qwen2DecoderLayer (model.layers.{i}).
type Layer struct {
	InputLayernorm         RMSNorm
	SelfAttn               Attention
	PostAttentionLayernorm RMSNorm
	MLP                    MLP
}

// Model is Qwen2ForCausalLM. The field names follow the safetensors keys:
// model.embed_tokens, model.layers.{i}, model.norm and lm_head. When the
// embeddings are tied LMHead points at EmbedTokens.
//
// A Model is not safe for concurrent use: forward passes share scratch
// buffers and the active adapter.
type Model struct {
	Config      model.Config
	EmbedTokens ops.Weight // [vocab, hidden]
	Layers      []Layer
	Norm        RMSNorm
	LMHead      *ops.Weight // [vocab, hidden]
	// TrainOptions controls how ForwardBackward trades memory for time.
	TrainOptions TrainOptions

	dtype   string
	d       dims
	adapter *Adapter
	rope    ropeTable
	// full-parameter training (TrainAll).
	full   bool
	embedP *Param
	headP  *Param
	params []*Param
	ws     *workspace
}

// dims are the sizes derived from the config, in the engine's types.
type dims struct {
	V, H, I, nLayers int
	nh, nkv, hd      int
	Q, KV            int // nh·hd and nkv·hd
	eps              float32
	theta            float64
}

// DType is "float32" or "bfloat16", the storage of the projection and
// embedding weights; norms and biases are always float32.
func (m *Model) DType() string { return m.dtype }

// checkConfig derives dims and refuses configurations the engine does not
// implement.
func checkConfig(cfg model.Config) (dims, error) {
	if err := cfg.Validate(); err != nil {
		return dims{}, fmt.Errorf("config: %w", err)
	}
	d := dims{
		V: cfg.VocabSize, H: cfg.HiddenSize, I: cfg.IntermediateSize, nLayers: cfg.NumHiddenLayers,
		nh: cfg.NumAttentionHeads, nkv: cfg.NumKeyValueHeads, hd: cfg.HeadDim,
		eps: float32(cfg.RMSNormEps), theta: float64(cfg.RopeTheta),
	}
	if d.nkv == 0 {
		d.nkv = d.nh
	}
	if d.hd == 0 && d.nh > 0 {
		d.hd = d.H / d.nh
	}
	if d.theta == 0 {
		d.theta = 10000
	}
	switch {
	case d.V <= 0 || d.H <= 0 || d.I <= 0 || d.nLayers <= 0 || d.nh <= 0 || d.hd <= 0:
		return d, fmt.Errorf("config: vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads and head_dim must be positive (got %d, %d, %d, %d, %d, %d)",
			d.V, d.H, d.I, d.nLayers, d.nh, d.hd)
	case d.nkv <= 0 || d.nh%d.nkv != 0:
		return d, fmt.Errorf("config: num_attention_heads %d is not a multiple of num_key_value_heads %d", d.nh, d.nkv)
	case d.hd%2 != 0:
		return d, fmt.Errorf("config: head_dim %d is odd; rotary embeddings need an even head_dim", d.hd)
	case d.eps <= 0:
		return d, fmt.Errorf("config: rms_norm_eps %g must be positive", cfg.RMSNormEps)
	}
	d.Q, d.KV = d.nh*d.hd, d.nkv*d.hd
	return d, nil
}

// linears lists the seven projections of a layer in target order.
func (l *Layer) linear(t target) *Linear {
	switch t {
	case qProj:
		return &l.SelfAttn.QProj
	case kProj:
		return &l.SelfAttn.KProj
	case vProj:
		return &l.SelfAttn.VProj
	case oProj:
		return &l.SelfAttn.OProj
	case gateProj:
		return &l.MLP.GateProj
	case upProj:
		return &l.MLP.UpProj
	}
	return &l.MLP.DownProj
}

// target names one of the seven LoRA-targetable projections of a layer.
type target int

const (
	qProj target = iota
	kProj
	vProj
	oProj
	gateProj
	upProj
	downProj
	numTargets
)

// targetNames are the PEFT module names; targetPaths the module paths inside
// a layer, as in the safetensors keys.
var (
	targetNames = [numTargets]string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
	targetPaths = [numTargets]string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
		"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}
)

// shape returns [out, in] of a target projection.
func (d dims) shape(t target) (out, in int) {
	switch t {
	case qProj:
		return d.Q, d.H
	case kProj, vProj:
		return d.KV, d.H
	case oProj:
		return d.H, d.Q
	case gateProj, upProj:
		return d.I, d.H
	}
	return d.H, d.I
}

// hasBias reports whether a projection carries a bias (q, k and v do).
func (t target) hasBias() bool { return t == qProj || t == kProj || t == vProj }

// tensor is one named tensor of the model: a matrix (w) or a float32 vector
// (vec), with the shape the checkpoint must have.
type tensor struct {
	name  string
	shape []int
	w     *ops.Weight
	vec   *[]float32
}

// tensors lists every tensor the model loads, named by its safetensors key.
// lm_head is listed only when the embeddings are not tied.
func (m *Model) tensors() []tensor {
	d := m.d
	ts := []tensor{{name: "model.embed_tokens.weight", shape: []int{d.V, d.H}, w: &m.EmbedTokens}}
	for i := range m.Layers {
		l := &m.Layers[i]
		p := fmt.Sprintf("model.layers.%d.", i)
		ts = append(ts, tensor{name: p + "input_layernorm.weight", shape: []int{d.H}, vec: &l.InputLayernorm.Weight})
		for t := range numTargets {
			out, in := d.shape(t)
			lin := l.linear(t)
			ts = append(ts, tensor{name: p + targetPaths[t] + ".weight", shape: []int{out, in}, w: &lin.Weight})
			if t.hasBias() {
				ts = append(ts, tensor{name: p + targetPaths[t] + ".bias", shape: []int{out}, vec: &lin.Bias})
			}
			if t == oProj {
				ts = append(ts, tensor{name: p + "post_attention_layernorm.weight", shape: []int{d.H}, vec: &l.PostAttentionLayernorm.Weight})
			}
		}
	}
	ts = append(ts, tensor{name: "model.norm.weight", shape: []int{d.H}, vec: &m.Norm.Weight})
	if m.LMHead != &m.EmbedTokens {
		ts = append(ts, tensor{name: "lm_head.weight", shape: []int{d.V, d.H}, w: m.LMHead})
	}
	return ts
}

// newEmpty builds the model skeleton for cfg without weights.
func newEmpty(cfg model.Config, dtype string) (*Model, error) {
	if dtype != "float32" && dtype != "bfloat16" {
		return nil, fmt.Errorf("dtype %q: want float32 or bfloat16", dtype)
	}
	d, err := checkConfig(cfg)
	if err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, dtype: dtype, d: d, Layers: make([]Layer, d.nLayers)}
	if cfg.TieWordEmbeddings {
		m.LMHead = &m.EmbedTokens
	} else {
		m.LMHead = new(ops.Weight)
	}
	return m, nil
}

// New builds a randomly initialised model like Hugging Face's
// _init_weights: projection and embedding weights N(0, initializer_range²), biases 0,
// norm weights 1. dtype is "float32" or "bfloat16". It is meant for tests,
// benchmarks and pretraining from scratch.
func New(cfg model.Config, dtype string, seed int64) (*Model, error) {
	m, err := newEmpty(cfg, dtype)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	std := cfg.InitializerRange
	if std <= 0 {
		std = 0.02
	}
	for _, t := range m.tensors() {
		n := 1
		for _, s := range t.shape {
			n *= s
		}
		if t.vec != nil {
			v := make([]float32, n)
			if len(t.shape) == 1 && isNormName(t.name) {
				for i := range v {
					v[i] = 1
				}
			}
			*t.vec = v
			continue
		}
		f := make([]float32, n)
		for i := range f {
			f[i] = float32(rng.NormFloat64() * std)
		}
		*t.w = makeWeight(t.shape[0], t.shape[1], f, dtype)
	}
	return m, nil
}

// isNormName reports whether a tensor key is a norm weight.
func isNormName(name string) bool {
	return len(name) > len("norm.weight") && name[len(name)-len("norm.weight"):] == "norm.weight"
}

// makeWeight stores f as a Weight of the given dtype.
func makeWeight(rows, cols int, f []float32, dtype string) ops.Weight {
	if dtype == "float32" {
		return ops.Weight{Rows: rows, Cols: cols, F32: f}
	}
	b := make([]uint16, len(f))
	for i, v := range f {
		b[i] = ops.F32ToBF16(v)
	}
	return ops.Weight{Rows: rows, Cols: cols, BF16: b}
}

// WeightBytes is the memory held by the model's weights.
func (m *Model) WeightBytes() int64 {
	var n int64
	for _, t := range m.tensors() {
		if t.w != nil {
			n += t.w.Bytes()
		} else {
			n += int64(len(*t.vec)) * 4
		}
	}
	return n
}

// DecodeWeights are the matrices a decoding step multiplies by, each read
// once per token: every layer's seven projections and the LM head (the
// embedding contributes one row). Their bytes are what bounds decoding by
// memory bandwidth (see ops.StreamWeights).
func (m *Model) DecodeWeights() []*ops.Weight {
	ws := make([]*ops.Weight, 0, len(m.Layers)*int(numTargets)+1)
	for i := range m.Layers {
		for t := range numTargets {
			ws = append(ws, &m.Layers[i].linear(t).Weight)
		}
	}
	return append(ws, m.LMHead)
}

// NumParams counts the base model's parameters (tied embeddings once), as
// PEFT's "all params" without the adapter.
func (m *Model) NumParams() int64 {
	var n int64
	for _, t := range m.tensors() {
		k := int64(1)
		for _, s := range t.shape {
			k *= int64(s)
		}
		n += k
	}
	return n
}

// invSqrt is 1/sqrt(x) in float64, rounded to float32.
func invSqrt(x float64) float32 { return float32(1 / math.Sqrt(x)) }
