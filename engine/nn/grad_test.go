package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// testBatch is two right-padded rows with some ignored labels.
func testBatch(rng *rand.Rand, v int) Batch {
	var b Batch
	for _, n := range []int{7, 5} {
		ids := randomIDs(rng, n, v)
		labels := append([]int(nil), ids...)
		labels[2] = IgnoreIndex
		mask := make([]bool, 7)
		for i := range mask {
			mask[i] = i < n
		}
		for len(ids) < 7 {
			ids, labels = append(ids, 0), append(labels, IgnoreIndex)
		}
		b.IDs, b.Labels, b.Mask = append(b.IDs, ids), append(b.Labels, labels), append(b.Mask, mask)
	}
	return b
}

// checkGradients compares the engine's gradients of params with central
// differences of the float64 reference loss. The reference is exact to
// ~1e-12 with eps 1e-4 (truncation ~eps²·|f”'| and rounding ~1e-16/eps), so
// the tolerance measures the engine's float32 arithmetic: 1e-3 of the
// largest gradient of the tensor plus 1e-3 relative.
func checkGradients(t *testing.T, m *Model, params []*Param, b Batch, seed uint64, lossScale float32, perTensor int) {
	t.Helper()
	for _, p := range params {
		clear(p.Grad)
	}
	loss, tokens, err := m.ForwardBackward(b, lossScale, seed)
	if err != nil {
		t.Fatal(err)
	}
	ref := refFromModel(m)
	if want := refLoss(m, ref, b, true, seed); math.Abs(loss-want) > 1e-5*math.Abs(want) {
		t.Fatalf("loss %v, reference %v", loss, want)
	}
	if tokens != 8 {
		t.Fatalf("tokens %d, want 8", tokens)
	}
	rng := rand.New(rand.NewPCG(99, 1))
	const eps = 1e-4
	for _, p := range params {
		ref := refFromModel(m)
		v := ref[p.Name]
		if v == nil {
			t.Fatalf("reference has no tensor %q", p.Name)
		}
		var gmax float64
		for _, g := range p.Grad {
			gmax = math.Max(gmax, math.Abs(float64(g)))
		}
		for k := 0; k < perTensor; k++ {
			i := rng.IntN(len(v))
			orig := v[i]
			v[i] = orig + eps
			lp := refLoss(m, ref, b, true, seed)
			v[i] = orig - eps
			lm := refLoss(m, ref, b, true, seed)
			v[i] = orig
			want := float64(lossScale) * (lp - lm) / (2 * eps)
			got := float64(p.Grad[i])
			if math.Abs(got-want) > 1e-3*gmax+1e-3*math.Abs(want)+1e-6 {
				t.Errorf("%s[%d]: gradient %.6g, finite difference %.6g", p.Name, i, got, want)
			}
		}
	}
}

func TestGradientLoRAAllTargets(t *testing.T) {
	for _, tc := range []struct {
		name      string
		recompute bool
		dropout   float64
		bf16      bool
	}{
		{"saved", false, 0.25, false},
		{"recompute", true, 0.25, false},
		{"nodropout", false, 0, false},
		{"bfloat16", false, 0.1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestModel(t, tinyConfig(true), 21)
			if tc.bf16 {
				toBF16(m)
			}
			m.TrainOptions.Recompute = tc.recompute
			a, err := m.NewAdapter(allTargets(tc.dropout), 22)
			if err != nil {
				t.Fatal(err)
			}
			randomizeB(a, 23)
			m.SetAdapter(a)
			b := testBatch(rand.New(rand.NewPCG(24, 24)), m.d.V)
			checkGradients(t, m, a.Params(), b, 25, 0.5, 4)
		})
	}
}

func TestGradientFullParameters(t *testing.T) {
	for _, tied := range []bool{true, false} {
		name := "untied"
		if tied {
			name = "tied"
		}
		t.Run(name, func(t *testing.T) {
			m := newTestModel(t, tinyConfig(tied), 31)
			params, err := m.TrainAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(params) != len(m.tensors()) {
				t.Fatalf("%d params for %d tensors", len(params), len(m.tensors()))
			}
			for _, p := range params {
				if p.Decay == (strings.HasSuffix(p.Name, "norm.weight") || p.Shape[0] == len(p.Data) && len(p.Shape) == 1) {
					t.Errorf("%s: Decay %v", p.Name, p.Decay)
				}
			}
			b := testBatch(rand.New(rand.NewPCG(32, 32)), m.d.V)
			checkGradients(t, m, params, b, 33, 1, 3)
		})
	}
}

func TestGradientsAccumulate(t *testing.T) {
	m := newTestModel(t, tinyConfig(true), 41)
	a, err := m.NewAdapter(allTargets(0.1), 42)
	if err != nil {
		t.Fatal(err)
	}
	randomizeB(a, 43)
	m.SetAdapter(a)
	b := testBatch(rand.New(rand.NewPCG(44, 44)), m.d.V)
	if _, _, err := m.ForwardBackward(b, 1, 7); err != nil {
		t.Fatal(err)
	}
	once := append([]float32(nil), a.Params()[0].Grad...)
	if _, _, err := m.ForwardBackward(b, 1, 7); err != nil {
		t.Fatal(err)
	}
	// Not bit for bit: the second step adds its sums into the first's,
	// in another order (and where Go fuses multiply-adds, as on arm64, with
	// other roundings); a lost or doubled accumulation is off by 50-100%.
	for i, g := range a.Params()[0].Grad {
		if math.Abs(float64(g-2*once[i])) > 1e-4*math.Abs(float64(once[i]))+1e-9 {
			t.Fatalf("grad[%d] = %v after two identical steps, want 2·%v", i, g, once[i])
		}
	}
}

// toBF16 converts a float32 test model's weights to bfloat16 storage.
func toBF16(m *Model) {
	for _, ts := range m.tensors() {
		if ts.w != nil {
			*ts.w = makeWeight(ts.w.Rows, ts.w.Cols, ts.w.F32, "bfloat16")
		}
	}
	m.dtype = "bfloat16"
}

func TestTrainAllRefusesBF16(t *testing.T) {
	m := newTestModel(t, tinyConfig(true), 81)
	toBF16(m)
	if _, err := m.TrainAll(); err == nil {
		t.Fatal("full-parameter training accepted bfloat16 weights")
	}
}
