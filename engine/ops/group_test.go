package ops

import (
	"math/rand/v2"
	"testing"
)

// TestMulTInferGroup checks that multiplying q/k/v- and gate/up-like
// weights as one group gives each output exactly what MulTInfer gives it
// alone, in every kernel family, for float32, bfloat16 and Q8_0 weights
// (with the VNNI kernel on and off), for every decode-shaped n, with
// enough rows that each weight is several chunks, through the pool and on
// a caller whose pool is busy; and that mixed groups fall back to one
// product at a time.
func TestMulTInferGroup(t *testing.T) {
	defer q8vnniOff.Store(q8vnniOff.Load())
	eachFamily(t, func(t *testing.T, fam Family) {
		rng := rand.New(rand.NewPCG(31, 32))
		const cols = 256
		rows := []int{1100, 300, 300}
		for _, kind := range []string{"f32", "bf16", "q8", "q8-widen", "mixed"} {
			q8vnniOff.Store(kind == "q8-widen")
			ws := make([]*Weight, len(rows))
			for i, r := range rows {
				switch {
				case kind == "f32" || (kind == "mixed" && i == 1):
					ws[i] = randWeight(rng, r, cols, false)
				case kind == "bf16" || kind == "mixed":
					ws[i] = randWeight(rng, r, cols, true)
				default:
					ws[i] = randQ8(t, rng, r, cols)
				}
			}
			if kind != "mixed" && !groupable(ws, 1) {
				t.Fatalf("%s: not groupable", kind)
			}
			for n := 1; n <= GEMVMaxN; n++ {
				x := randSlice(rng, n*cols)
				want := make([][]float32, len(ws))
				got := make([][]float32, len(ws))
				nested := make([][]float32, len(ws))
				for i, w := range ws {
					want[i] = make([]float32, n*w.Rows)
					w.MulTInfer(want[i], x, n, false)
					got[i] = randSlice(rng, n*w.Rows) // overwritten, not added to
					nested[i] = make([]float32, n*w.Rows)
				}
				MulTInferGroup(ws, got, x, n)
				Parallel(2, func(lo, hi int) {
					if lo == 0 {
						MulTInferGroup(ws, nested, x, n)
					}
				})
				for i := range ws {
					for k := range want[i] {
						if got[i][k] != want[i][k] || nested[i][k] != want[i][k] {
							t.Fatalf("%s/n=%d: weight %d value %d: group %g, nested %g, alone %g",
								kind, n, i, k, got[i][k], nested[i][k], want[i][k])
						}
					}
				}
			}
		}
	})
}

// TestMulTInferGroupRefuses checks the shapes a group does not take: they
// are multiplied one at a time, with the same results.
func TestMulTInferGroupRefuses(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	a, b := randWeight(rng, 40, 64, false), randWeight(rng, 30, 96, false)
	if groupable([]*Weight{a, b}, 1) {
		t.Error("weights of different widths grouped")
	}
	if groupable([]*Weight{a, a, a, a, a}, 1) {
		t.Errorf("more than %d weights grouped", maxGroup)
	}
	if groupable([]*Weight{a}, GEMVMaxN+1) {
		t.Error("a prefill-shaped product grouped")
	}
	// Different widths: each product on its own input width is refused
	// as a group and multiplied alone.
	x := randSlice(rng, 2*64)
	ya, yb := make([]float32, 2*40), make([]float32, 2*40)
	MulTInferGroup([]*Weight{a, a}, [][]float32{ya, yb}, x, 2)
	want := make([]float32, 2*40)
	a.MulT(want, x, 2, false)
	for k := range want {
		if ya[k] != want[k] || yb[k] != want[k] {
			t.Fatalf("value %d: %g and %g, want %g", k, ya[k], yb[k], want[k])
		}
	}
	defer func() {
		if r := recover(); r == nil {
			t.Error("outputs of the wrong count accepted")
		}
	}()
	MulTInferGroup([]*Weight{a, a}, [][]float32{make([]float32, 40)}, x, 1)
}

// TestMulTInferGroupNoAllocations: a decode step groups its products on
// every token, and decoding does not allocate.
func TestMulTInferGroupNoAllocations(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	q := randQ8(t, rng, 300, 256)
	k := randQ8(t, rng, 64, 256)
	x := randSlice(rng, 256)
	yq, yk := make([]float32, 300), make([]float32, 64)
	MulTInferGroup([]*Weight{q, k}, [][]float32{yq, yk}, x, 1)
	if a := testing.AllocsPerRun(100, func() {
		ws := [2]*Weight{q, k}
		ys := [2][]float32{yq, yk}
		MulTInferGroup(ws[:], ys[:], x, 1)
	}); a != 0 {
		t.Errorf("%g allocations per call, want 0", a)
	}
}
