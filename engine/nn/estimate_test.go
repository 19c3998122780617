package nn

import (
	"math/rand/v2"
	"testing"

	"qwentune/model"
)

// The estimate before loading must be what a loaded model of each dtype
// holds: weights byte for byte (q8_0 at 34 bytes per 32 values, a weight
// without whole blocks, here down_proj with 48 columns, in bfloat16 as the
// loader keeps it), and the activations the workspace allocates plus, for
// q8_0, the bound on the products' dequantisation scratch.
func TestEstimateConfigPerDType(t *testing.T) {
	cfg := tinyConfig(false)
	lora := allTargets(0.1)
	for _, dtype := range []string{"float32", "bfloat16", "q8_0"} {
		for _, recompute := range []bool{false, true} {
			m, err := New(cfg, dtype, 31)
			if err != nil {
				t.Fatal(err)
			}
			m.TrainOptions.Recompute = recompute
			if dtype == "q8_0" && len(m.KeptBF16()) == 0 {
				t.Fatal("the test config should keep a weight without whole Q8_0 blocks in bfloat16")
			}
			w0, _, err := EstimateConfig(cfg, dtype, 2, 7, LoRAConfig{}, m.TrainOptions)
			if err != nil {
				t.Fatal(err)
			}
			if w0 != m.WeightBytes() {
				t.Fatalf("%s: estimated %d weight bytes, the model holds %d", dtype, w0, m.WeightBytes())
			}
			a, err := m.NewAdapter(lora, 32)
			if err != nil {
				t.Fatal(err)
			}
			m.SetAdapter(a)
			rng := rand.New(rand.NewPCG(33, 33))
			b := Batch{}
			for range 2 {
				ids := randomIDs(rng, 7, m.d.V)
				b.IDs, b.Labels = append(b.IDs, ids), append(b.Labels, ids)
			}
			if _, _, err := m.ForwardBackward(b, 1, 3); err != nil {
				t.Fatal(err)
			}
			w, act, err := EstimateConfig(cfg, dtype, 2, 7, lora, m.TrainOptions)
			if err != nil {
				t.Fatal(err)
			}
			if want := m.WeightBytes() + 4*4*a.NumParams(); w != want {
				t.Fatalf("%s: estimated %d bytes of weights and adapter state, want %d", dtype, w, want)
			}
			scratch := int64(0)
			if dtype == "q8_0" {
				scratch = 4<<20 + 4*14*int64(cfg.IntermediateSize) // down_proj is the widest input
			}
			if act != m.ActivationBytes()+scratch {
				t.Fatalf("%s recompute %v: estimated %d activation bytes, the workspace holds %d (+%d scratch)",
					dtype, recompute, act, m.ActivationBytes(), scratch)
			}
		}
	}
}

// cacheBytes is every buffer a Cache holds.
func cacheBytes(c *Cache) int64 {
	n := len(c.x) + len(c.xn) + len(c.rstd) + len(c.logits) + len(c.batch)
	for i := range c.k {
		n += len(c.k[i]) + len(c.v[i])
	}
	la, s := &c.la, &c.s
	for _, b := range [][]float32{la.rstd1, la.rstd2, la.q, la.k, la.v, la.qpre, la.kpre, la.rstdq, la.rstdk, la.probs, la.att, la.x2, la.gate, la.up,
		s.a, s.y, s.h, s.xd, s.da, s.datt, s.dq, s.dk, s.dv, s.dh, s.du, s.dp, s.dqpre, s.dkpre} {
		n += len(b)
	}
	for _, u := range la.u {
		n += len(u)
	}
	return 4 * int64(n)
}

// EstimateEval must cover what evaluation's caches allocate: each row
// prefilled alone, then batched steps led by the first row's cache; the
// estimate counts every cache as a possible leader, so it exceeds the
// allocation by exactly the other rows' share of the batched logits.
func TestEstimateEval(t *testing.T) {
	for _, cfg := range []model.Config{tinyConfig(false), model.Shapes["tiny-qwen3"]} {
		m, err := New(cfg, "float32", 41)
		if err != nil {
			t.Fatal(err)
		}
		lora := allTargets(0.1)
		a, err := m.NewAdapter(lora, 42)
		if err != nil {
			t.Fatal(err)
		}
		m.SetAdapter(a)
		const rows, prompt, gen = 3, 6, 4
		rng := rand.New(rand.NewPCG(43, 43))
		cs := make([]*Cache, rows)
		for j := range cs {
			cs[j] = m.NewCache(prompt + gen)
			m.Step(cs[j], randomIDs(rng, prompt, m.d.V))
		}
		for range gen {
			m.StepBatch(cs, randomIDs(rng, rows, m.d.V))
		}
		var got int64
		for _, c := range cs {
			got += cacheBytes(c)
		}
		est, err := EstimateEval(cfg, rows, prompt, gen, lora)
		if err != nil {
			t.Fatal(err)
		}
		if slack := int64(rows-1) * 4 * rows * int64(cfg.VocabSize); est != got+slack {
			t.Fatalf("%s: estimated %d bytes of caches, they hold %d (+%d for the other possible leaders)", cfg.ModelType, est, got, slack)
		}
	}
	if _, err := EstimateEval(tinyConfig(true), 0, 5, 5, LoRAConfig{}); err == nil {
		t.Fatal("0 rows accepted")
	}
}
