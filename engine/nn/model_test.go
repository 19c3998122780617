package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"qwentune/engine/ops"
)

// relErr is max|a−b| / max|b| over two vectors.
func relErr(a []float32, b []float64) float64 {
	var num, den float64
	for i := range b {
		num = math.Max(num, math.Abs(float64(a[i])-b[i]))
		den = math.Max(den, math.Abs(b[i]))
	}
	return num / den
}

func randomIDs(rng *rand.Rand, n, v int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = rng.IntN(v)
	}
	return ids
}

// allTargets is a LoRA config on all seven projections with a rank pattern.
func allTargets(dropout float64) LoRAConfig {
	return LoRAConfig{R: 4, Alpha: 8, Dropout: dropout, TargetModules: []string{"all-linear"},
		RankPattern: map[string]int{"down_proj": 3}, AlphaPattern: map[string]float64{`layers\.1\.self_attn\.q_proj`: 5}}
}

func TestLogitsMatchReference(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tied  bool
		lora  bool
		dtype string
		tol   float64
	}{
		{"tied", true, false, "float32", 1e-4},
		{"untied", false, false, "float32", 1e-4},
		{"lora", true, true, "float32", 1e-4},
		{"bfloat16", false, true, "bfloat16", 1e-4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestModel(t, tinyConfig(tc.tied), 1)
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
				if e := relErr(got[i], want[i*m.d.V:(i+1)*m.d.V]); e > tc.tol {
					t.Fatalf("position %d: relative error %.3g > %g", i, e, tc.tol)
				}
			}
		})
	}
}

func TestStepMatchesLogits(t *testing.T) {
	m := newTestModel(t, tinyConfig(true), 5)
	a, err := m.NewAdapter(allTargets(0), 6)
	if err != nil {
		t.Fatal(err)
	}
	randomizeB(a, 7)
	m.SetAdapter(a)
	ids := randomIDs(rand.New(rand.NewPCG(8, 8)), 12, m.d.V)
	full := m.Logits(ids)
	c := m.NewCache(len(ids))
	// prefill 5, then one at a time
	check := func(pos int, got []float32) {
		want := f64(full[pos])
		if e := relErr(got, want); e > 1e-5 {
			t.Fatalf("position %d: cached logits differ by %.3g", pos, e)
		}
	}
	check(4, m.Step(c, ids[:5]))
	for i := 5; i < len(ids); i++ {
		check(i, m.Step(c, ids[i:i+1]))
	}
	if c.Len() != len(ids) {
		t.Fatalf("cache length %d, want %d", c.Len(), len(ids))
	}
	// one at a time from the first token, with no prefill
	c1 := m.NewCache(len(ids))
	for i := range ids {
		check(i, m.Step(c1, ids[i:i+1]))
	}
}

func TestAdapterZeroBEqualsBase(t *testing.T) {
	m := newTestModel(t, tinyConfig(false), 9)
	ids := randomIDs(rand.New(rand.NewPCG(10, 10)), 7, m.d.V)
	base := m.Logits(ids)
	a, err := m.NewAdapter(allTargets(0), 11)
	if err != nil {
		t.Fatal(err)
	}
	m.SetAdapter(a)
	same := m.Logits(ids)
	randomizeB(a, 12)
	changed := m.Logits(ids)
	m.SetAdapter(nil)
	restored := m.Logits(ids)
	for i := range base {
		for j := range base[i] {
			if same[i][j] != base[i][j] || restored[i][j] != base[i][j] {
				t.Fatalf("logit [%d][%d]: base %v, B=0 adapter %v, restored %v", i, j, base[i][j], same[i][j], restored[i][j])
			}
		}
	}
	if relErr(changed[0], f64(base[0])) < 1e-3 {
		t.Fatal("a non-zero adapter did not change the logits")
	}
}

func TestBatchedPaddingEqualsUnbatched(t *testing.T) {
	m := newTestModel(t, tinyConfig(true), 13)
	a, err := m.NewAdapter(allTargets(0), 14)
	if err != nil {
		t.Fatal(err)
	}
	randomizeB(a, 15)
	m.SetAdapter(a)
	rng := rand.New(rand.NewPCG(16, 16))
	lens := []int{9, 4, 6}
	var b Batch
	var sep []float64
	var sepTokens int
	for _, n := range lens {
		ids := randomIDs(rng, n, m.d.V)
		labels := append([]int(nil), ids...)
		labels[1] = IgnoreIndex
		mask := make([]bool, n)
		for i := range mask {
			mask[i] = true
		}
		one := Batch{IDs: [][]int{ids}, Labels: [][]int{labels}, Mask: [][]bool{mask}}
		l, k, err := m.Loss(one)
		if err != nil {
			t.Fatal(err)
		}
		sep, sepTokens = append(sep, l), sepTokens+k
		// pad explicitly on the right with masked garbage
		pid, plab, pmask := append([]int(nil), ids...), append([]int(nil), labels...), append([]bool(nil), mask...)
		for len(pid) < 9 {
			pid, plab, pmask = append(pid, rng.IntN(m.d.V)), append(plab, IgnoreIndex), append(pmask, false)
		}
		b.IDs, b.Labels, b.Mask = append(b.IDs, pid), append(b.Labels, plab), append(b.Mask, pmask)
	}
	loss, tokens, err := m.Loss(b)
	if err != nil {
		t.Fatal(err)
	}
	want := sep[0] + sep[1] + sep[2]
	if tokens != sepTokens || math.Abs(loss-want) > 1e-5*math.Abs(want) {
		t.Fatalf("batched loss %v over %d tokens, separate %v over %d", loss, tokens, want, sepTokens)
	}
	if ref := refLoss(m, refFromModel(m), b, false, 0); math.Abs(loss-ref) > 1e-5*math.Abs(ref) {
		t.Fatalf("batched loss %v, reference %v", loss, ref)
	}
}

func TestBatchLogitsEqualsLogits(t *testing.T) {
	m := newTestModel(t, tinyConfig(false), 17)
	a, err := m.NewAdapter(allTargets(0), 18)
	if err != nil {
		t.Fatal(err)
	}
	randomizeB(a, 19)
	m.SetAdapter(a)
	rng := rand.New(rand.NewPCG(20, 20))
	// a larger batch first, so the second call runs in a workspace longer than its rows
	if _, err := m.BatchLogits(Batch{IDs: [][]int{randomIDs(rng, 12, m.d.V), randomIDs(rng, 3, m.d.V)}}); err != nil {
		t.Fatal(err)
	}
	b := Batch{IDs: [][]int{randomIDs(rng, 7, m.d.V), randomIDs(rng, 3, m.d.V), randomIDs(rng, 5, m.d.V)}}
	got, err := m.BatchLogits(b)
	if err != nil {
		t.Fatal(err)
	}
	for i, ids := range b.IDs {
		want := m.Logits(ids)
		if len(got[i]) != len(ids) {
			t.Fatalf("row %d: %d positions of logits, want %d", i, len(got[i]), len(ids))
		}
		for p := range want {
			if e := relErr(got[i][p], f64(want[p])); e > 1e-5 {
				t.Fatalf("row %d position %d: batched logits differ from Logits by %.3g", i, p, e)
			}
		}
	}
	if _, err := m.BatchLogits(Batch{IDs: [][]int{{m.d.V}}}); err == nil {
		t.Fatal("an id outside the vocabulary was accepted")
	}
}

func TestWorkspaceReuseAndEstimate(t *testing.T) {
	for _, recompute := range []bool{false, true} {
		m := newTestModel(t, tinyConfig(true), 17)
		m.TrainOptions.Recompute = recompute
		lora := allTargets(0.1)
		a, err := m.NewAdapter(lora, 18)
		if err != nil {
			t.Fatal(err)
		}
		randomizeB(a, 19)
		m.SetAdapter(a)
		rng := rand.New(rand.NewPCG(20, 20))
		long := testBatch(rng, m.d.V)
		ids := randomIDs(rng, 5, m.d.V)
		short := Batch{IDs: [][]int{ids}, Labels: [][]int{ids}}
		wantShort, _, err := m.Loss(short)
		if err != nil {
			t.Fatal(err)
		}
		m.ReleaseWorkspace()
		if _, _, err := m.ForwardBackward(short, 1, 3); err != nil {
			t.Fatal(err)
		}
		wb, act := m.Estimate(5, lora)
		if act != m.ActivationBytes() || wb != m.WeightBytes()+4*4*a.NumParams() {
			t.Fatalf("recompute %v: Estimate says %d weight and %d activation bytes, have %d+4·4·%d and %d",
				recompute, wb, act, m.WeightBytes(), a.NumParams(), m.ActivationBytes())
		}
		wc, ac, err := EstimateConfig(m.Config, "float32", 1, 5, lora, m.TrainOptions)
		if err != nil || wc != wb || ac != act {
			t.Fatalf("EstimateConfig %d, %d, %v; Estimate %d, %d", wc, ac, err, wb, act)
		}
		if _, _, err := m.ForwardBackward(long, 1, 3); err != nil {
			t.Fatal(err)
		}
		grown := m.ActivationBytes()
		got, _, err := m.Loss(short)
		if err != nil {
			t.Fatal(err)
		}
		if got != wantShort || m.ActivationBytes() != grown {
			t.Fatalf("recompute %v: loss %v after reuse, want %v; workspace %d → %d bytes", recompute, got, wantShort, grown, m.ActivationBytes())
		}
	}
}

func TestBadBatch(t *testing.T) {
	m := newTestModel(t, tinyConfig(true), 21)
	for _, b := range []Batch{
		{},
		{IDs: [][]int{{1, 2}}, Labels: [][]int{{1}}},
		{IDs: [][]int{{1, 40}}, Labels: [][]int{{1, 2}}},
		{IDs: [][]int{{1, 2}}, Labels: [][]int{{1, -5}}},
		{IDs: [][]int{{1, 2}}, Labels: [][]int{{1, 2}}, Mask: [][]bool{{true}}},
		{IDs: [][]int{{}}, Labels: [][]int{{}}},
	} {
		if _, _, err := m.ForwardBackward(b, 1, 0); err == nil {
			t.Errorf("batch %+v: no error", b)
		}
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	for _, q8 := range []bool{false, true} {
		m := newTestModel(t, tinyConfig(true), 22)
		if q8 {
			toQ8(m)
		}
		a, err := m.NewAdapter(allTargets(0), 23)
		if err != nil {
			t.Fatal(err)
		}
		m.SetAdapter(a)
		c := m.NewCache(200)
		m.Step(c, []int{1, 2, 3})
		next := []int{4}
		if n := testing.AllocsPerRun(50, func() { m.Step(c, next) }); n != 0 {
			t.Fatalf("q8_0=%v: %v allocations per decoded token", q8, n)
		}
	}
}

// TestStepBatchMatchesStep checks that a batched decoding step gives every
// row, bit for bit, the logits a step of that row alone gives, so that a
// sample's output never depends on the batch it is decoded in: float32,
// bfloat16 and Q8_0 weights, with and without an adapter, tied and untied heads,
// rows at different positions, batches of 2 to ops.GEMVMaxN rows.
func TestStepBatchMatchesStep(t *testing.T) {
	for _, dtype := range []string{"float32", "bfloat16", "q8_0"} {
		for _, tied := range []bool{false, true} {
			for _, adapter := range []bool{false, true} {
				name := fmt.Sprintf("%s/tied=%v/adapter=%v", dtype, tied, adapter)
				m := newTestModel(t, tinyConfig(tied), 24)
				switch dtype {
				case "bfloat16":
					toBF16(m)
				case "q8_0":
					toQ8(m)
				}
				if adapter {
					a, err := m.NewAdapter(allTargets(0), 25)
					if err != nil {
						t.Fatal(err)
					}
					randomizeB(a, 26)
					m.SetAdapter(a)
				}
				rng := rand.New(rand.NewPCG(27, 27))
				var batch, single []*Cache
				for j := range ops.GEMVMaxN {
					n := 1 + (5*j)%9
					ids := randomIDs(rng, n, m.d.V)
					b, s := m.NewCache(n+4), m.NewCache(n+4)
					m.Step(b, ids)
					m.Step(s, ids)
					batch, single = append(batch, b), append(single, s)
				}
				for step := 0; step < 4; step++ {
					rows := 2 + (step*3)%(ops.GEMVMaxN-1) // 2, 5, 8, 4 rows
					rows = min(rows, ops.GEMVMaxN)
					ids := randomIDs(rng, rows, m.d.V)
					got := m.StepBatch(batch[:rows], ids)
					for j := range ids {
						want := m.Step(single[j], ids[j:j+1])
						for k := range want {
							if got[j][k] != want[k] {
								t.Fatalf("%s: step %d of %d rows, row %d: logit %d batched %g, alone %g", name, step, rows, j, k, got[j][k], want[k])
							}
						}
					}
				}
			}
		}
	}
}

// TestDecodeWeights checks that the matrices a decoding step streams are
// every weight matrix but an untied embedding (a step reads one row of it),
// each once.
func TestDecodeWeights(t *testing.T) {
	for _, tied := range []bool{true, false} {
		m := newTestModel(t, tinyConfig(tied), 9)
		ws := m.DecodeWeights()
		if len(ws) != len(m.Layers)*int(numTargets)+1 || ws[len(ws)-1] != m.LMHead {
			t.Fatalf("tied=%v: %d weights, want the %d projections and the head last", tied, len(ws), len(m.Layers)*int(numTargets))
		}
		seen := map[*ops.Weight]bool{}
		var got, want int64
		for _, w := range ws {
			if seen[w] {
				t.Fatalf("tied=%v: a weight is listed twice", tied)
			}
			seen[w] = true
			got += w.Bytes()
		}
		for _, tn := range m.tensors() {
			if tn.w != nil && (tn.w != &m.EmbedTokens || tied) {
				want += tn.w.Bytes()
			}
		}
		if got != want {
			t.Fatalf("tied=%v: decode weights hold %d bytes, want %d", tied, got, want)
		}
	}
}
