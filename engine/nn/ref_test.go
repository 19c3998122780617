package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"qwentune/model"
)

// This file holds the naive float64 reference of the whole model that the
// engine is checked against, and helpers to build tiny random models.

// tinyConfig is a small Qwen2 shape with GQA (4 query heads, 2 kv heads).
func tinyConfig(tied bool) model.Config {
	c := model.Shapes["tiny"]
	c.VocabSize, c.HiddenSize, c.IntermediateSize = 40, 32, 48
	c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim = 2, 4, 2, 8
	c.RopeTheta, c.RMSNormEps = 10000, 1e-5
	c.TieWordEmbeddings = tied
	c.BOSTokenID, c.EOSTokenIDs = 1, []int{1}
	c.InitializerRange = 0.3
	return c
}

// newTestModel builds a random float32 model whose biases and norm weights
// are random too, so every parameter matters.
func newTestModel(t testing.TB, cfg model.Config, seed int64) *Model {
	t.Helper()
	m, err := New(cfg, "float32", seed)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	for _, ts := range m.tensors() {
		if ts.vec == nil {
			continue
		}
		for i := range *ts.vec {
			if strings.HasSuffix(ts.Name, "norm.weight") {
				(*ts.vec)[i] = float32(1 + 0.3*rng.NormFloat64())
			} else {
				(*ts.vec)[i] = float32(0.3 * rng.NormFloat64())
			}
		}
	}
	return m
}

// randomizeB fills every LoRA B with noise so gradients reach A.
func randomizeB(a *Adapter, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	for i := range a.mods {
		for _, lo := range a.mods[i] {
			if lo == nil {
				continue
			}
			for j := range lo.B.Data {
				lo.B.Data[j] = float32(0.3 * rng.NormFloat64())
			}
		}
	}
}

// refParams is a float64 copy of every weight (and LoRA matrix) by name.
type refParams map[string][]float64

func refFromModel(m *Model) refParams {
	p := refParams{}
	for _, t := range m.tensors() {
		if t.vec != nil {
			p[t.Name] = f64(*t.vec)
			continue
		}
		v := make([]float64, t.w.Rows*t.w.Cols)
		for r := 0; r < t.w.Rows; r++ {
			for c := 0; c < t.w.Cols; c++ {
				v[r*t.w.Cols+c] = float64(t.w.At(r, c))
			}
		}
		p[t.Name] = v
	}
	if m.adapter != nil {
		for _, q := range m.adapter.Params() {
			p[q.Name] = f64(q.Data)
		}
	}
	return p
}

func f64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// refLinear computes y[n,out] = x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ naively.
func refLinear(m *Model, p refParams, li int, t target, x []float64, n int, train bool, seed uint64, rowBase int) []float64 {
	d := m.d
	out, in := d.shape(t)
	pre := "model.layers." + itoa(li) + "." + targetModules[t].Path
	w, b := p[pre+".weight"], p[pre+".bias"]
	y := make([]float64, n*out)
	for i := 0; i < n; i++ {
		for o := 0; o < out; o++ {
			s := 0.0
			if b != nil {
				s = b[o]
			}
			for c := 0; c < in; c++ {
				s += x[i*in+c] * w[o*in+c]
			}
			y[i*out+o] = s
		}
	}
	var lo *LoRA
	if m.adapter != nil {
		lo = m.adapter.mods[li][t]
	}
	if lo == nil {
		return y
	}
	A, B := p[lo.A.Name], p[lo.B.Name]
	key := dropoutKey(seed, li, t)
	for i := 0; i < n; i++ {
		xd := make([]float64, in)
		for c := 0; c < in; c++ {
			xd[c] = x[i*in+c]
			if train && lo.Dropout > 0 {
				if dropoutKeep(key, (rowBase+i)*in+c, lo.Dropout) {
					xd[c] *= float64(1 / (1 - lo.Dropout))
				} else {
					xd[c] = 0
				}
			}
		}
		u := make([]float64, lo.R)
		for r := range u {
			for c := 0; c < in; c++ {
				u[r] += A[r*in+c] * xd[c]
			}
		}
		for o := 0; o < out; o++ {
			s := 0.0
			for r := range u {
				s += B[o*lo.R+r] * u[r]
			}
			y[i*out+o] += float64(lo.Scale) * s
		}
	}
	return y
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func refRMSNorm(x, w []float64, n, h int, eps float64) []float64 {
	y := make([]float64, n*h)
	for i := 0; i < n; i++ {
		ss := 0.0
		for j := 0; j < h; j++ {
			ss += x[i*h+j] * x[i*h+j]
		}
		r := 1 / math.Sqrt(ss/float64(h)+eps)
		for j := 0; j < h; j++ {
			y[i*h+j] = w[j] * x[i*h+j] * r
		}
	}
	return y
}

func refRoPE(x []float64, n, heads, hd int, theta float64) {
	half := hd / 2
	for i := 0; i < n; i++ {
		for h := 0; h < heads; h++ {
			v := x[i*heads*hd+h*hd:]
			for j := 0; j < half; j++ {
				a := float64(i) * math.Pow(theta, -2*float64(j)/float64(hd))
				c, s := math.Cos(a), math.Sin(a)
				x0, x1 := v[j], v[j+half]
				v[j], v[j+half] = x0*c-x1*s, x1*c+x0*s
			}
		}
	}
}

// refAttention is causal GQA attention for one sequence of n tokens.
func refAttention(q, k, v []float64, n int, d dims) []float64 {
	out := make([]float64, n*d.Q)
	group := d.nh / d.nkv
	for h := 0; h < d.nh; h++ {
		g := h / group
		for i := 0; i < n; i++ {
			s := make([]float64, i+1)
			mx := math.Inf(-1)
			for j := 0; j <= i; j++ {
				for c := 0; c < d.hd; c++ {
					s[j] += q[i*d.Q+h*d.hd+c] * k[j*d.KV+g*d.hd+c]
				}
				s[j] /= math.Sqrt(float64(d.hd))
				mx = math.Max(mx, s[j])
			}
			sum := 0.0
			for j := range s {
				s[j] = math.Exp(s[j] - mx)
				sum += s[j]
			}
			for j := range s {
				for c := 0; c < d.hd; c++ {
					out[i*d.Q+h*d.hd+c] += s[j] / sum * v[j*d.KV+g*d.hd+c]
				}
			}
		}
	}
	return out
}

// refRow runs one unpadded sequence and returns the logits [n, V]. rowBase
// is the flat token index of its first token in the batch (for dropout).
func refRow(m *Model, p refParams, ids []int, train bool, seed uint64, rowBase int) []float64 {
	d := m.d
	n := len(ids)
	eps := float64(d.eps)
	x := make([]float64, n*d.H)
	emb := p["model.embed_tokens.weight"]
	for i, id := range ids {
		copy(x[i*d.H:(i+1)*d.H], emb[id*d.H:(id+1)*d.H])
	}
	for li := 0; li < d.nLayers; li++ {
		pre := "model.layers." + itoa(li) + "."
		a := refRMSNorm(x, p[pre+"input_layernorm.weight"], n, d.H, eps)
		q := refLinear(m, p, li, qProj, a, n, train, seed, rowBase)
		k := refLinear(m, p, li, kProj, a, n, train, seed, rowBase)
		v := refLinear(m, p, li, vProj, a, n, train, seed, rowBase)
		if d.qkNorm {
			q = refRMSNorm(q, p[pre+"self_attn.q_norm.weight"], n*d.nh, d.hd, eps)
			k = refRMSNorm(k, p[pre+"self_attn.k_norm.weight"], n*d.nkv, d.hd, eps)
		}
		refRoPE(q, n, d.nh, d.hd, d.theta)
		refRoPE(k, n, d.nkv, d.hd, d.theta)
		att := refAttention(q, k, v, n, d)
		o := refLinear(m, p, li, oProj, att, n, train, seed, rowBase)
		for i := range x {
			x[i] += o[i]
		}
		a = refRMSNorm(x, p[pre+"post_attention_layernorm.weight"], n, d.H, eps)
		g := refLinear(m, p, li, gateProj, a, n, train, seed, rowBase)
		u := refLinear(m, p, li, upProj, a, n, train, seed, rowBase)
		for i := range g {
			g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
		}
		dn := refLinear(m, p, li, downProj, g, n, train, seed, rowBase)
		for i := range x {
			x[i] += dn[i]
		}
	}
	xn := refRMSNorm(x, p["model.norm.weight"], n, d.H, eps)
	head := p["lm_head.weight"]
	if head == nil {
		head = emb
	}
	logits := make([]float64, n*d.V)
	for i := 0; i < n; i++ {
		for o := 0; o < d.V; o++ {
			for c := 0; c < d.H; c++ {
				logits[i*d.V+o] += xn[i*d.H+c] * head[o*d.H+c]
			}
		}
	}
	return logits
}

// refLoss is the summed shifted cross-entropy of a right-padded batch.
func refLoss(m *Model, p refParams, b Batch, train bool, seed uint64) float64 {
	L := 0
	for _, r := range b.IDs {
		L = max(L, len(r))
	}
	total := 0.0
	for i, ids := range b.IDs {
		logits := refRow(m, p, ids, train, seed, i*L)
		V := m.d.V
		for t := 0; t+1 < len(ids); t++ {
			y := b.Labels[i][t+1]
			if y == IgnoreIndex {
				continue
			}
			row := logits[t*V : (t+1)*V]
			mx := math.Inf(-1)
			for _, z := range row {
				mx = math.Max(mx, z)
			}
			s := 0.0
			for _, z := range row {
				s += math.Exp(z - mx)
			}
			total += math.Log(s) + mx - row[y]
		}
	}
	return total
}
