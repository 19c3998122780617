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
	// bf16 computes the products with Weight in bfloat16 (SetComputeBF16).
	bf16 bool
	// wp and bp expose Weight.F32 and Bias as trainable Params in
	// full-parameter mode (TrainAll); nil otherwise.
	wp, bp *Param
}

// RMSNorm is a Qwen2RMSNorm: y = Weight ⊙ x / sqrt(mean(x²) + eps).
type RMSNorm struct {
	Weight []float32 // [hidden]
	p      *Param
}

// Attention is Qwen2Attention or Qwen3Attention (self_attn): the q/k/v
// projections (biased in Qwen2), the output projection, RoPE and
// grouped-query attention. Qwen3 normalises every query and key head with
// QNorm and KNorm (weights [head_dim]) between the projections and RoPE;
// their weights are nil for Qwen2.
type Attention struct {
	QProj, KProj, VProj, OProj Linear
	QNorm, KNorm               RMSNorm
}

// MLP is Qwen2MLP: down(silu(gate(x)) ⊙ up(x)), no biases.
type MLP struct {
	GateProj, UpProj, DownProj Linear
}

// Layer is one Qwen2DecoderLayer or Qwen3DecoderLayer (model.layers.{i}).
type Layer struct {
	InputLayernorm         RMSNorm
	SelfAttn               Attention
	PostAttentionLayernorm RMSNorm
	MLP                    MLP
}

// Model is Qwen2ForCausalLM or Qwen3ForCausalLM. The field names follow the safetensors keys:
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

	dtype string
	// keptBF16 names the weights of a q8_0 model stored as bfloat16
	// because their rows are not whole Q8_0 blocks.
	keptBF16 []string
	d        dims
	// headBF16 computes the LM head's products with many rows in bfloat16
	// (SetComputeBF16).
	headBF16 bool
	adapter  *Adapter
	rope     ropeTable
	// full-parameter training (TrainAll).
	full   bool
	embedP *Param
	headP  *Param
	params []*Param
	ws     *workspace
}

// dims are the sizes derived from the config, in the engine's types, and
// the config itself for the architecture table's shape rules.
type dims struct {
	cfg              model.Config
	V, H, I, nLayers int
	nh, nkv, hd      int
	Q, KV            int // nh·hd and nkv·hd
	eps              float32
	theta            float64
	// qkNorm is Qwen3's per-head RMSNorm of q and k before RoPE.
	qkNorm bool
}

// DType is "float32", "bfloat16" or "q8_0", the storage of the projection
// and embedding weights; norms and biases are always float32. In a q8_0
// model a weight whose rows are not whole Q8_0 blocks is bfloat16 (see
// KeptBF16).
func (m *Model) DType() string { return m.dtype }

// checkConfig derives dims and refuses configurations the engine does not
// implement.
func checkConfig(cfg model.Config) (dims, error) {
	if err := cfg.Validate(); err != nil {
		return dims{}, fmt.Errorf("config: %w", err)
	}
	d := dims{cfg: cfg,
		V: cfg.VocabSize, H: cfg.HiddenSize, I: cfg.IntermediateSize, nLayers: cfg.NumHiddenLayers,
		nh: cfg.NumAttentionHeads, nkv: cfg.NumKeyValueHeads, hd: cfg.HeadDim,
		eps: float32(cfg.RMSNormEps), theta: float64(cfg.RopeTheta),
		qkNorm: cfg.Arch().HasQKNorm(),
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

// linear returns the projection t of a layer.
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

// norm returns the layer's RMSNorm called name in the architecture table.
func (l *Layer) norm(name string) *RMSNorm {
	switch name {
	case "input_layernorm":
		return &l.InputLayernorm
	case "q_norm":
		return &l.SelfAttn.QNorm
	case "k_norm":
		return &l.SelfAttn.KNorm
	case "post_attention_layernorm":
		return &l.PostAttentionLayernorm
	}
	panic("nn: no layer norm called " + name)
}

// target is one of the seven LoRA-targetable projections of a layer, by its
// position in the architecture table's linears (model.Arch.Linears).
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

// targetModules are the table's rows of the targets, in target order.
var targetModules = func() [numTargets]model.Module {
	ls := model.Qwen2.Linears()
	if len(ls) != int(numTargets) {
		panic(fmt.Sprintf("nn: the architecture table has %d linears per layer, the engine %d", len(ls), numTargets))
	}
	return [numTargets]model.Module(ls)
}()

// name is the target's module name ("q_proj", …).
func (t target) name() string { return targetModules[t].Name }

// shape returns [out, in] of a target projection.
func (d dims) shape(t target) (out, in int) {
	s := targetModules[t].Shape(d.cfg)
	return s[0], s[1]
}

// tensor is one named tensor of the model: a matrix (w) or a float32 vector
// (vec), with its row of the architecture table (name, shape the checkpoint
// must have) and where its Param goes in full-parameter training.
type tensor struct {
	model.Weight
	w   *ops.Weight
	vec *[]float32
	p   **Param
}

// tensors lists every tensor the model holds, in checkpoint order, each
// bound to its field: the table says what exists, this says where it lives.
// lm_head is listed only when the embeddings are not tied.
func (m *Model) tensors() []tensor {
	ws := m.Config.Weights()
	ts := make([]tensor, len(ws))
	for i, w := range ws {
		t := tensor{Weight: w}
		switch {
		case w.Layer >= 0 && w.Module.Kind == model.NormKind:
			n := m.Layers[w.Layer].norm(w.Module.Name)
			t.vec, t.p = &n.Weight, &n.p
		case w.Layer >= 0 && w.Bias:
			lin := m.Layers[w.Layer].linear(target(w.Slot))
			t.vec, t.p = &lin.Bias, &lin.bp
		case w.Layer >= 0:
			lin := m.Layers[w.Layer].linear(target(w.Slot))
			t.w, t.p = &lin.Weight, &lin.wp
		case w.Module.Path == m.Config.Arch().Norm.Path:
			t.vec, t.p = &m.Norm.Weight, &m.Norm.p
		case w.Module.Path == m.Config.Arch().Head.Path:
			t.w, t.p = m.LMHead, &m.headP
		default:
			t.w, t.p = &m.EmbedTokens, &m.embedP
		}
		ts[i] = t
	}
	return ts
}

// newEmpty builds the model skeleton for cfg without weights.
func newEmpty(cfg model.Config, dtype string) (*Model, error) {
	if dtype != "float32" && dtype != "bfloat16" && dtype != "q8_0" {
		return nil, fmt.Errorf("dtype %q: want float32, bfloat16 or q8_0", dtype)
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
// norm weights 1. dtype is "float32", "bfloat16" or "q8_0". It is meant for tests,
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
		n := t.Numel()
		if t.vec != nil {
			v := make([]float32, n)
			if t.Module.Kind == model.NormKind {
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
		*t.w = makeWeight(t.Shape[0], t.Shape[1], f, dtype)
		if t.w.BF16 != nil && dtype == "q8_0" {
			m.keptBF16 = append(m.keptBF16, t.Name)
		}
	}
	return m, nil
}

// makeWeight stores f (finite values) as a Weight of the given dtype; a
// q8_0 weight whose rows are not whole Q8_0 blocks is stored as bfloat16.
func makeWeight(rows, cols int, f []float32, dtype string) ops.Weight {
	if dtype == "float32" {
		return ops.Weight{Rows: rows, Cols: cols, F32: f}
	}
	if dtype == "q8_0" && cols%ops.Q8Block == 0 {
		q := make([]byte, ops.Q8_0Size(len(f)))
		if err := ops.QuantizeQ8_0(q, f); err != nil {
			panic(fmt.Sprintf("nn: makeWeight: %v", err)) // callers pass finite values
		}
		return ops.Q8Weight(rows, cols, q)
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
		n += int64(t.Numel())
	}
	return n
}

// invSqrt is 1/sqrt(x) in float64, rounded to float32.
func invSqrt(x float64) float32 { return float32(1 / math.Sqrt(x)) }

// KeptBF16 names the weights a q8_0 model stores as bfloat16 because their
// rows are not whole Q8_0 blocks of 32 values (none for Qwen2's and Qwen3's
// released shapes).
func (m *Model) KeptBF16() []string { return m.keptBF16 }
