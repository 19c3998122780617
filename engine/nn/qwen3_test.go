package nn

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"qwentune/engine/ops"
	"qwentune/model"
)

// tinyQwen3Config is a small Qwen3 shape: GQA (4 query heads, 2 kv heads)
// and a head_dim (12) that is not hidden/heads (8), as in Qwen3-0.6B
// (hidden 1024, 16 heads, head_dim 128). bias sets attention_bias.
func tinyQwen3Config(tied, bias bool) model.Config {
	c := tinyConfig(tied)
	c.Architectures, c.ModelType = []string{model.Qwen3Architecture}, model.Qwen3ModelType
	c.HeadDim = 12
	c.AttentionBias = bias
	return c
}

func TestQwen3Tensors(t *testing.T) {
	m := newTestModel(t, tinyQwen3Config(true, false), 1)
	if !m.d.qkNorm {
		t.Fatal("a Qwen3 model without q/k norms")
	}
	l := m.Layers[1]
	if len(l.SelfAttn.QNorm.Weight) != 12 || len(l.SelfAttn.KNorm.Weight) != 12 {
		t.Fatalf("q_norm %d, k_norm %d values, want head_dim 12", len(l.SelfAttn.QNorm.Weight), len(l.SelfAttn.KNorm.Weight))
	}
	if l.SelfAttn.QProj.Bias != nil || l.SelfAttn.OProj.Bias != nil {
		t.Fatal("attention_bias false, but the projections have biases")
	}
	if w := l.SelfAttn.QProj.Weight; w.Rows != 4*12 || w.Cols != 32 {
		t.Fatalf("q_proj is [%d, %d], want [48, 32]", w.Rows, w.Cols)
	}
	if w := l.SelfAttn.OProj.Weight; w.Rows != 32 || w.Cols != 4*12 {
		t.Fatalf("o_proj is [%d, %d], want [32, 48]", w.Rows, w.Cols)
	}
	b := newTestModel(t, tinyQwen3Config(true, true), 1)
	for _, lin := range []*Linear{&b.Layers[0].SelfAttn.QProj, &b.Layers[0].SelfAttn.KProj, &b.Layers[0].SelfAttn.VProj, &b.Layers[0].SelfAttn.OProj} {
		if len(lin.Bias) != lin.Weight.Rows {
			t.Fatalf("attention_bias true: bias of %d values for %d outputs", len(lin.Bias), lin.Weight.Rows)
		}
	}
	if q2 := newTestModel(t, tinyConfig(true), 1); q2.d.qkNorm || q2.Layers[0].SelfAttn.QNorm.Weight != nil {
		t.Fatal("a Qwen2 model with q/k norms")
	}
}

func TestQwen3LogitsMatchReference(t *testing.T) {
	for _, tc := range []struct {
		name             string
		tied, bias, lora bool
		dtype            string
	}{
		{"tied", true, false, false, "float32"},
		{"untied", false, false, false, "float32"},
		{"bias", true, true, false, "float32"},
		{"lora", true, false, true, "float32"},
		{"bfloat16", false, false, true, "bfloat16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestModel(t, tinyQwen3Config(tc.tied, tc.bias), 1)
			if tc.dtype == "bfloat16" {
				toBF16(m)
			}
			if tc.lora {
				a, err := m.NewAdapter(allTargets(0.1), 2)
				if err != nil {
					t.Fatal(err)
				}
				randomizeB(a, 3)
				m.SetAdapter(a)
			}
			ids := randomIDs(rand.New(rand.NewPCG(4, 4)), 11, m.d.V)
			got := m.Logits(ids)
			want := refRow(m, refFromModel(m), ids, false, 0, 0)
			for i := range got {
				if e := relErr(got[i], want[i*m.d.V:(i+1)*m.d.V]); e > 1e-4 {
					t.Fatalf("position %d: relative error %.3g > 1e-4", i, e)
				}
			}
			// The q/k norms matter: the same weights read as Qwen2 give other logits.
			saved := m.d.qkNorm
			m.d.qkNorm = false
			plain := m.Logits(ids)
			m.d.qkNorm = saved
			if relErr(plain[3], f64(got[3])) < 1e-3 {
				t.Fatal("the q/k norms do not change the logits")
			}
		})
	}
}

// TestQwen3CacheMatchesLogits checks the KV cache (prefill, then one token at
// a time) against the full forward pass, and a batched decoding step against
// single steps bit for bit.
func TestQwen3CacheMatchesLogits(t *testing.T) {
	for _, dtype := range []string{"float32", "bfloat16"} {
		t.Run(dtype, func(t *testing.T) {
			m := newTestModel(t, tinyQwen3Config(false, false), 5)
			if dtype == "bfloat16" {
				toBF16(m)
			}
			a, err := m.NewAdapter(allTargets(0), 6)
			if err != nil {
				t.Fatal(err)
			}
			randomizeB(a, 7)
			m.SetAdapter(a)
			rng := rand.New(rand.NewPCG(8, 8))
			ids := randomIDs(rng, 12, m.d.V)
			full := m.Logits(ids)
			c := m.NewCache(len(ids))
			check := func(pos int, got []float32) {
				if e := relErr(got, f64(full[pos])); e > 1e-5 {
					t.Fatalf("position %d: cached logits differ by %.3g", pos, e)
				}
			}
			check(4, m.Step(c, ids[:5]))
			for i := 5; i < len(ids); i++ {
				check(i, m.Step(c, ids[i:i+1]))
			}
			var batch, single []*Cache
			for j := range ops.GEMVMaxN {
				n := 1 + (5*j)%9
				p := randomIDs(rng, n, m.d.V)
				b, s := m.NewCache(n+3), m.NewCache(n+3)
				m.Step(b, p)
				m.Step(s, p)
				batch, single = append(batch, b), append(single, s)
			}
			for step := range 3 {
				step := randomIDs(rng, ops.GEMVMaxN-step, m.d.V)
				got := m.StepBatch(batch[:len(step)], step)
				for j := range step {
					want := m.Step(single[j], step[j:j+1])
					for k := range want {
						if got[j][k] != want[k] {
							t.Fatalf("row %d: logit %d batched %g, alone %g", j, k, got[j][k], want[k])
						}
					}
				}
			}
		})
	}
}

// TestQwen3Gradients checks every gradient by central differences of the
// float64 reference: LoRA on all seven projections (through the q/k norms'
// backward into q_proj and k_proj), and full-parameter training, whose
// params include q_norm and k_norm themselves.
func TestQwen3Gradients(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		tied, bias, full, bf16 bool
		recompute              bool
	}{
		{"lora", true, false, false, false, false},
		{"lora-recompute", false, false, false, false, true},
		{"lora-bfloat16", true, false, false, true, false},
		{"full-tied", true, false, true, false, false},
		{"full-untied-bias", false, true, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestModel(t, tinyQwen3Config(tc.tied, tc.bias), 61)
			if tc.bf16 {
				toBF16(m)
			}
			m.TrainOptions.Recompute = tc.recompute
			b := testBatch(rand.New(rand.NewPCG(62, 62)), m.d.V)
			if tc.full {
				params, err := m.TrainAll()
				if err != nil {
					t.Fatal(err)
				}
				norms := 0
				for _, p := range params {
					if p.Name == "model.layers.1.self_attn.q_norm.weight" || p.Name == "model.layers.0.self_attn.k_norm.weight" {
						norms++
						if p.Decay {
							t.Errorf("%s decays", p.Name)
						}
					}
				}
				if norms != 2 {
					t.Fatalf("full-parameter params lack the q/k norms")
				}
				checkGradients(t, m, params, b, 63, 1, 4)
				return
			}
			a, err := m.NewAdapter(allTargets(0.2), 64)
			if err != nil {
				t.Fatal(err)
			}
			randomizeB(a, 65)
			m.SetAdapter(a)
			checkGradients(t, m, a.Params(), b, 66, 0.5, 4)
		})
	}
}

// TestQwen3LoadRoundTrip writes a Qwen3 checkpoint with MakeModel (q_norm
// and k_norm included), loads it in both dtypes and checks it matches the
// written tensors.
func TestQwen3LoadRoundTrip(t *testing.T) {
	for _, bias := range []bool{false, true} {
		t.Run(fmt.Sprint("bias=", bias), func(t *testing.T) {
			dir := t.TempDir()
			cfg := tinyQwen3Config(false, bias)
			if err := model.MakeModel(dir, cfg, 71, "f32"); err != nil {
				t.Fatal(err)
			}
			files := readAll(t, dir)
			m, err := Load(dir, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Config.HeadDim != 12 || !m.d.qkNorm || m.Config.AttentionBias != bias {
				t.Fatalf("loaded head_dim %d, qkNorm %v, attention_bias %v", m.Config.HeadDim, m.d.qkNorm, m.Config.AttentionBias)
			}
			byName := map[string][]float32{}
			for _, st := range files {
				f, err := st.Float32()
				if err != nil {
					t.Fatal(err)
				}
				byName[st.Name] = f
			}
			if len(byName) != len(m.Tensors()) {
				t.Fatalf("the file holds %d tensors, the model %d", len(byName), len(m.Tensors()))
			}
			for _, tn := range m.Tensors() {
				want, ok := byName[tn.Name]
				if !ok {
					t.Fatalf("%s not in the file", tn.Name)
				}
				got := tn.Vector
				if tn.Weight != nil {
					got = tn.Weight.F32
				}
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("%s[%d] = %g, file %g", tn.Name, i, got[i], want[i])
					}
				}
			}
			if _, err := Load(filepath.Clean(dir), LoadOptions{DType: "bfloat16"}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
