package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"qwentune/model"
	"qwentune/model/peft"
)

func TestNewAdapterInitAndOrder(t *testing.T) {
	m := newTestModel(t, tinyConfig(true), 51)
	a, err := m.NewAdapter(LoRAConfig{R: 4, Alpha: 16, TargetModules: []string{"q_proj", "v_proj", "down_proj"}}, 52)
	if err != nil {
		t.Fatal(err)
	}
	ps := a.Params()
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	want := []string{}
	for i := 0; i < 2; i++ {
		for _, mod := range []string{"self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"} {
			for _, ab := range []string{"A", "B"} {
				want = append(want, "base_model.model.model.layers."+itoa(i)+"."+mod+".lora_"+ab+".weight")
			}
		}
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("params\n%v\nwant\n%v", names, want)
	}
	for _, p := range ps {
		bound := 1 / math.Sqrt(float64(p.Shape[1]))
		isB := strings.Contains(p.Name, "lora_B")
		var mx float64
		for _, v := range p.Data {
			mx = math.Max(mx, math.Abs(float64(v)))
		}
		if isB && mx != 0 || !isB && (mx > bound || mx < bound/2) || !p.Decay {
			t.Fatalf("%s: max |value| %v (bound %v), decay %v", p.Name, mx, bound, p.Decay)
		}
	}
	if lo := a.Module(1, "down_proj"); lo == nil || lo.Scale != 4 || lo.R != 4 {
		t.Fatalf("down_proj LoRA %+v", lo)
	}
	if a.NumParams() != 2*(4*(32+32)+4*(32+16)+4*(48+32)) {
		t.Fatalf("NumParams %d", a.NumParams())
	}
}

func TestNewAdapterRefusesBadTargets(t *testing.T) {
	m := newTestModel(t, tinyConfig(true), 53)
	for _, cfg := range []LoRAConfig{
		{R: 4, Alpha: 8, TargetModules: []string{"lm_head"}},
		{R: 4, Alpha: 8, TargetModules: []string{"nonexistent"}},
		{R: 0, Alpha: 8, TargetModules: []string{"q_proj"}},
		{R: 4, Alpha: 8, Dropout: 1, TargetModules: []string{"q_proj"}},
		{R: 4, Alpha: 8},
	} {
		if _, err := m.NewAdapter(cfg, 1); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

func TestRankAlphaPatterns(t *testing.T) {
	m := newTestModel(t, tinyConfig(true), 54)
	a, err := m.NewAdapter(LoRAConfig{R: 8, Alpha: 16, UseRSLoRA: true, TargetModules: []string{"q_proj", "o_proj"},
		RankPattern: map[string]int{`layers\.1\.self_attn\.q_proj`: 2}, AlphaPattern: map[string]float64{"o_proj": 4}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		layer int
		name  string
		r     int
		scale float64
	}{
		{0, "q_proj", 8, 16 / math.Sqrt(8)},
		{1, "q_proj", 2, 16 / math.Sqrt(2)},
		{1, "o_proj", 8, 4 / math.Sqrt(8)},
	} {
		lo := a.Module(tc.layer, tc.name)
		if lo.R != tc.r || math.Abs(float64(lo.Scale)-tc.scale) > 1e-6 {
			t.Errorf("layer %d %s: r %d scale %v, want %d %v", tc.layer, tc.name, lo.R, lo.Scale, tc.r, tc.scale)
		}
	}
}

func TestPEFTRoundTrip(t *testing.T) {
	m := newTestModel(t, tinyConfig(true), 55)
	a, err := m.NewAdapter(allTargets(0.05), 56)
	if err != nil {
		t.Fatal(err)
	}
	randomizeB(a, 57)
	dir := t.TempDir()
	if err := peft.Save(dir, a.ToPEFT("tiny-base")); err != nil {
		t.Fatal(err)
	}
	pa, err := peft.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if pa.Config.BaseModelNameOrPath != "tiny-base" {
		t.Fatalf("base %q", pa.Config.BaseModelNameOrPath)
	}
	b, err := AdapterFromPEFT(pa, m.Config)
	if err != nil {
		t.Fatal(err)
	}
	pb := b.Params()
	for i, p := range a.Params() {
		if pb[i].Name != p.Name || len(pb[i].Data) != len(p.Data) {
			t.Fatalf("param %d: %s vs %s", i, pb[i].Name, p.Name)
		}
		for j := range p.Data {
			if pb[i].Data[j] != p.Data[j] {
				t.Fatalf("%s[%d] differs", p.Name, j)
			}
		}
	}
	for i := range a.mods {
		for tg, lo := range a.mods[i] {
			if lo2 := b.mods[i][tg]; lo2.Scale != lo.Scale || lo2.R != lo.R || lo2.Dropout != lo.Dropout {
				t.Fatalf("layer %d %s: %+v vs %+v", i, targetModules[tg].Name, lo2, lo)
			}
		}
	}
	// a tensor of the wrong shape is refused
	bad := a.ToPEFT("x")
	k := a.Params()[0].Name
	bad.Tensors[k] = peft.Tensor{Shape: []int{3, 32}, Data: make([]float32, 96)}
	if _, err := AdapterFromPEFT(bad, m.Config); err == nil {
		t.Fatal("wrong-shaped tensor accepted")
	}
}

func TestMerge(t *testing.T) {
	for _, dtype := range []string{"float32", "bfloat16"} {
		t.Run(dtype, func(t *testing.T) {
			m := newTestModel(t, tinyConfig(false), 61)
			if dtype == "bfloat16" {
				toBF16(m)
			}
			a, err := m.NewAdapter(allTargets(0.1), 62)
			if err != nil {
				t.Fatal(err)
			}
			randomizeB(a, 63)
			for _, p := range a.Params() {
				for i := range p.Data {
					p.Data[i] *= 0.1 // keep the update small against bf16 rounding
				}
			}
			before := m.Layers[0].SelfAttn.QProj.Weight.At(1, 2)
			ids := randomIDs(rand.New(rand.NewPCG(64, 64)), 6, m.d.V)
			m.SetAdapter(a)
			want := m.Logits(ids)
			mm, err := a.Merge(m)
			if err != nil {
				t.Fatal(err)
			}
			got := mm.Logits(ids)
			tol := 1e-5
			if dtype == "bfloat16" {
				tol = 2e-2
			}
			for i := range got {
				if e := relErr(got[i], f64(want[i])); e > tol {
					t.Fatalf("position %d: merged logits differ by %.3g", i, e)
				}
			}
			if m.Layers[0].SelfAttn.QProj.Weight.At(1, 2) != before {
				t.Fatal("Merge changed the base model")
			}
			if mm.LMHead == m.LMHead {
				t.Fatal("merged model shares the lm_head pointer")
			}
		})
	}
}

func TestQwen2TrainableCount(t *testing.T) {
	m, err := newEmpty(model.Shapes["qwen2-1.5b"], "bfloat16")
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.NewAdapter(LoRAConfig{R: 64, Alpha: 16, TargetModules: []string{"q_proj", "v_proj"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	// SPEC §4: PEFT prints trainable params: 8,716,288 || all params: 1,552,430,592
	if a.NumParams() != 8716288 || m.NumParams()+a.NumParams() != 1552430592 {
		t.Fatalf("trainable %d, all %d", a.NumParams(), m.NumParams()+a.NumParams())
	}
}
