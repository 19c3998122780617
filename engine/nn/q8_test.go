package nn

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"qwentune/engine/ops"
	"qwentune/model"
	"qwentune/model/safetensors"
)

// toQ8 converts a float32 test model's weights to q8_0 storage as Load
// would (a weight whose rows are not whole blocks to bfloat16).
func toQ8(m *Model) {
	for _, ts := range m.tensors() {
		if ts.w != nil {
			*ts.w = makeWeight(ts.w.Rows, ts.w.Cols, ts.w.F32, "q8_0")
		}
	}
	m.dtype = "q8_0"
}

// q8Config is a small model whose every weight has whole Q8_0 rows.
func q8Config(tied bool) model.Config {
	c := tinyConfig(tied)
	c.VocabSize, c.HiddenSize, c.IntermediateSize = 300, 128, 320
	c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim = 4, 2, 32
	c.InitializerRange = 0.02
	return c
}

// TestLoadQ8 loads checkpoints stored in F32, BF16 and F16 as q8_0: every
// weight with whole rows of 32 must be bit for bit the Q8_0 blocks of the
// file's values, the others (the tiny model's down_proj, 48 columns)
// bfloat16 and named by KeptBF16, the norms and biases exact; and the
// logits must match a float64 reference of the model as stored.
func TestLoadQ8(t *testing.T) {
	for _, disk := range []string{"f32", "bf16", "f16"} {
		t.Run(disk, func(t *testing.T) {
			dir := t.TempDir()
			cfg := tinyConfig(disk == "bf16")
			onDisk := disk
			if disk == "f16" {
				onDisk = "f32" // converted below
			}
			if err := model.MakeModel(dir, cfg, 73, onDisk); err != nil {
				t.Fatal(err)
			}
			files := readAll(t, dir)
			if disk == "f16" {
				for i, st := range files {
					f, _ := st.Float32()
					h := make([]uint16, len(f))
					for j, v := range f {
						h[j] = safetensors.Float32ToF16(v)
					}
					files[i] = safetensors.FromF16(st.Name, st.Shape, h)
				}
				if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), files, nil); err != nil {
					t.Fatal(err)
				}
			}
			m, err := Load(dir, LoadOptions{DType: "q8_0"})
			if err != nil {
				t.Fatal(err)
			}
			if m.DType() != "q8_0" {
				t.Fatalf("dtype %s", m.DType())
			}
			byName := map[string]Tensor{}
			for _, e := range m.Tensors() {
				byName[e.Name] = e
			}
			var kept []string
			for _, st := range files {
				want, err := st.Float32()
				if err != nil {
					t.Fatal(err)
				}
				e := byName[st.Name]
				switch {
				case e.Weight == nil:
					if !slices.Equal(e.Vector, want) {
						t.Fatalf("%s differs from the file", st.Name)
					}
				case e.Weight.Cols%ops.Q8Block != 0:
					kept = append(kept, st.Name)
					if e.Weight.BF16 == nil {
						t.Fatalf("%s: %d columns, want bfloat16 storage", st.Name, e.Weight.Cols)
					}
				default:
					q := make([]byte, ops.Q8_0Size(len(want)))
					if err := ops.QuantizeQ8_0(q, want); err != nil {
						t.Fatal(err)
					}
					if string(q) != string(e.Weight.UnpackQ8(0, e.Weight.Rows)) {
						t.Fatalf("%s: the Q8_0 blocks differ from those of the file's values", st.Name)
					}
				}
			}
			slices.Sort(kept)
			got := slices.Clone(m.KeptBF16())
			slices.Sort(got)
			if len(kept) == 0 || !slices.Equal(got, kept) {
				t.Fatalf("KeptBF16 = %v, want %v", got, kept)
			}
			// More than ops.GEMVMaxN positions: the float32 products, which
			// match the reference of the stored weights to float32 rounding
			// (decoding's 8-bit inputs are TestQ8LogitsNearF32's).
			ids := randomIDs(rand.New(rand.NewPCG(74, 74)), 12, m.d.V)
			logits := m.Logits(ids)
			ref := refRow(m, refFromModel(m), ids, false, 0, 0)
			for i := range logits {
				if e := relErr(logits[i], ref[i*m.d.V:(i+1)*m.d.V]); e > 1e-4 {
					t.Fatalf("position %d: relative error %.3g against the reference", i, e)
				}
			}
		})
	}
}

// TestLoadQ8RefusesNaN: a NaN or Inf in a weight loaded as q8_0 is an
// error naming the tensor and the element.
func TestLoadQ8RefusesNaN(t *testing.T) {
	dir := t.TempDir()
	if err := model.MakeModel(dir, tinyConfig(true), 1, "f32"); err != nil {
		t.Fatal(err)
	}
	const name = "model.layers.1.self_attn.q_proj.weight"
	files := readAll(t, dir)
	for i, f := range files {
		if f.Name == name {
			binary.LittleEndian.PutUint32(files[i].Data[4*70:], math.Float32bits(float32(math.Inf(1))))
		}
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), files, nil); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir, LoadOptions{DType: "q8_0"})
	if err == nil || !strings.Contains(err.Error(), `tensor "`+name+`": element 70 is +Inf`) {
		t.Fatalf("error %v", err)
	}
}

// TestQ8LogitsNearF32: the logits of a random model with its weights in
// Q8_0 are within 2e-2 of the float32 model's (max |Δ| / max |logit|), in
// float32 and bfloat16 compute, for prefill (many rows) and decoding.
func TestQ8LogitsNearF32(t *testing.T) {
	for _, tied := range []bool{true, false} {
		f := newTestModel(t, q8Config(tied), 75)
		ids := randomIDs(rand.New(rand.NewPCG(76, 76)), 24, f.d.V)
		want := f.Logits(ids)
		q := newTestModel(t, q8Config(tied), 75)
		toQ8(q)
		if len(q.KeptBF16()) != 0 || q.Layers[0].MLP.DownProj.Weight.Q8 == nil || q.LMHead.Q8 == nil {
			t.Fatal("q8Config left weights out of Q8_0")
		}
		for _, bf16 := range []bool{false, true} {
			worst := 0.0
			if err := q.SetComputeBF16(bf16); err != nil {
				t.Fatal(err)
			}
			if q.EmbedTokens.Q8 == nil || q.LMHead.Q8 == nil {
				t.Fatal("SetComputeBF16 changed the Q8_0 embedding or head")
			}
			got := q.Logits(ids)
			c := q.NewCache(len(ids))
			for i, id := range ids {
				step := q.Step(c, []int{id})
				var num, den float64
				for k := range want[i] {
					num = max(num, math.Abs(float64(got[i][k]-want[i][k])), math.Abs(float64(step[k]-want[i][k])))
					den = max(den, math.Abs(float64(want[i][k])))
				}
				if num/den > 2e-2 {
					t.Fatalf("tied=%v bf16=%v position %d: max|Δ|/max|logit| = %.3g, want ≤ 2e-2", tied, bf16, i, num/den)
				}
				worst = max(worst, num/den)
			}
			t.Logf("tied=%v bf16=%v: worst max|Δ|/max|logit| %.6g", tied, bf16, worst)
		}
	}
}

// TestQ8Gradients checks the LoRA gradients of a model with a Q8_0 base
// (and a bfloat16 down_proj) against finite differences of the float64
// reference of that model: the backward's dX runs through the Q8_0
// products.
func TestQ8Gradients(t *testing.T) {
	m := newTestModel(t, tinyConfig(false), 77)
	toQ8(m)
	a, err := m.NewAdapter(allTargets(0), 78)
	if err != nil {
		t.Fatal(err)
	}
	randomizeB(a, 79)
	m.SetAdapter(a)
	b := testBatch(rand.New(rand.NewPCG(80, 80)), m.d.V)
	checkGradients(t, m, a.Params(), b, 81, 0.5, 4)
}

func TestTrainAllRefusesQ8(t *testing.T) {
	m := newTestModel(t, tinyConfig(true), 82)
	toQ8(m)
	if _, err := m.TrainAll(); err == nil {
		t.Fatal("full-parameter training accepted q8_0 weights")
	}
}

// TestMergeQ8 checks that merging an adapter into a q8_0 model gives
// float32 weights W + s·B·A with W the dequantised base.
func TestMergeQ8(t *testing.T) {
	m := newTestModel(t, q8Config(true), 83)
	toQ8(m)
	a, err := m.NewAdapter(allTargets(0), 84)
	if err != nil {
		t.Fatal(err)
	}
	randomizeB(a, 85)
	mm, err := a.Merge(m)
	if err != nil {
		t.Fatal(err)
	}
	base, merged := &m.Layers[1].SelfAttn.QProj.Weight, &mm.Layers[1].SelfAttn.QProj.Weight
	if merged.F32 == nil {
		t.Fatal("merged q8_0 weight is not float32")
	}
	lo := a.mods[1][qProj]
	for o := 0; o < base.Rows; o += 7 {
		for c := 0; c < base.Cols; c += 5 {
			want := float64(base.At(o, c))
			for k := range lo.R {
				want += float64(lo.Scale) * float64(lo.B.Data[o*lo.R+k]) * float64(lo.A.Data[k*base.Cols+c])
			}
			if d := math.Abs(float64(merged.At(o, c)) - want); d > 1e-5*(math.Abs(want)+1) {
				t.Fatalf("merged[%d,%d] = %g, want %g", o, c, merged.At(o, c), want)
			}
		}
	}
}
