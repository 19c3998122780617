package ops

import (
	"math"
	"math/rand/v2"
	"testing"
)

// expEdges are inputs of e^x at the special cases and range boundaries.
var expEdges = []float32{
	0, float32(math.Copysign(0, -1)), -1e-45, 1e-45, -1e-30, -1e-7, 1e-7, 1,
	-0.34657359, 0.34657359, -0.34657362, 0.34657362, // round(x/ln2) switches n
	-10, -87.3, -87.33654, -87.34, -88, -100, -103.27, -103.28, -103.97, -104, -104.5, -200,
	-1e30, -math.MaxFloat32, float32(math.Inf(-1)),
	float32(math.NaN()), // TestExpShiftSum picks from the ones before this

	10, 88, 88.7, 88.8, 89, 100, 1e30, math.MaxFloat32, float32(math.Inf(1)),
}

// TestExpAccuracy checks the exp inside ExpShiftSum over the whole float32
// range that does not round to 0 or overflow, subnormal results included.
// (An exhaustive run over every float32 in [-104, 89] measured at most
// 1.01 ulp on every path.)
func TestExpAccuracy(t *testing.T) {
	const maxUlps = 1.5
	rng := rand.New(rand.NewPCG(11, 1))
	x := append([]float32(nil), expEdges...)
	for range 1 << 18 {
		x = append(x, float32(rng.Float64()*195-105))
	}
	for range 1 << 14 {
		x = append(x, float32(rng.NormFloat64()*1e-3))
	}
	eachFamily(t, func(t *testing.T, isa Family) {
		row := append([]float32(nil), x...)
		ExpShiftSum(row, 0)
		worst, at := 0.0, float32(0)
		for i, v := range x {
			if e := errUlps(row[i], math.Exp(float64(v))); e > worst {
				worst, at = e, v
			}
		}
		t.Logf("%s: max error %.3f ulp (at x = %v)", isa, worst, at)
		if worst > maxUlps {
			t.Errorf("%s: e^%v = %v, want %v (%.3g ulp > %g)", isa, at, exp1At(at), math.Exp(float64(at)), worst, maxUlps)
		}
	})
}

func exp1At(x float32) float32 {
	r := []float32{x}
	ExpShiftSum(r, 0)
	return r[0]
}

// TestExpShiftSum checks the values and sums of softmax-like rows of every
// length, with the shift subtracted in float32 as the kernels do.
func TestExpShiftSum(t *testing.T) {
	const maxUlps, maxSumErr = 1.5, 1e-6
	rng := rand.New(rand.NewPCG(11, 2))
	eachFamily(t, func(t *testing.T, isa Family) {
		for _, n := range elemLengths {
			src := make([]float32, n)
			for i := range src {
				src[i] = float32(rng.NormFloat64() * 8)
				if rng.IntN(16) == 0 {
					src[i] = expEdges[rng.IntN(len(expEdges)-10)] // the edges before NaN
				}
			}
			shift := MaxF32(src)
			row := guarded(n)
			copy(row, src)
			got := ExpShiftSum(row, shift)
			checkGuard(t, row)
			var want float64
			for i, v := range src {
				w := math.Exp(float64(v - shift))
				want += w
				if e := errUlps(row[i], w); e > maxUlps {
					t.Fatalf("%s n=%d: e^(%v−%v) = %v, want %v (%.3g ulp)", isa, n, v, shift, row[i], w, e)
				}
			}
			if err := math.Abs(got - want); err > maxSumErr*want {
				t.Fatalf("%s n=%d: sum %v, want %v (relative error %.3g)", isa, n, got, want, err/want)
			}
		}
	})
}

// TestExpShiftSumVocab checks the sum over a row as long as Qwen2's
// vocabulary against float64 exp and summation: logits with a wide spread,
// a constant row (every term 1, so any float32 running sum would stall far
// below the total) and one dominant logit over many tiny terms.
func TestExpShiftSumVocab(t *testing.T) {
	const v = 151936
	rng := rand.New(rand.NewPCG(11, 3))
	rows := map[string][]float32{"normal": make([]float32, v), "constant": make([]float32, v), "dominant": make([]float32, v)}
	for i := range v {
		rows["normal"][i] = float32(rng.NormFloat64() * 4)
		rows["constant"][i] = 3
		rows["dominant"][i] = float32(-20 - rng.Float64()*5)
	}
	rows["dominant"][v/2+3] = 0
	eachFamily(t, func(t *testing.T, isa Family) {
		for name, src := range rows {
			shift := MaxF32(src)
			row := append([]float32(nil), src...)
			got := ExpShiftSum(row, shift)
			var want, own float64
			for i, x := range src {
				want += math.Exp(float64(x - shift))
				own += float64(row[i])
			}
			errExact, errOwn := math.Abs(got-want)/want, math.Abs(got-own)/own
			t.Logf("%s %s: relative error %.3g (of the sum of its own terms %.3g)", isa, name, errExact, errOwn)
			if errExact > 1e-6 || errOwn > 5e-7 {
				t.Errorf("%s %s: sum %v, want %v (%.3g), own terms sum to %v (%.3g)", isa, name, got, want, errExact, own, errOwn)
			}
		}
	})
}

func TestMaxF32(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 4))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	eachFamily(t, func(t *testing.T, isa Family) {
		for _, n := range elemLengths {
			row := make([]float32, n)
			for trial := range 8 {
				for i := range row {
					row[i] = float32(rng.NormFloat64()*10 - 50)
				}
				switch {
				case trial == 1:
					for i := range row {
						row[i] = -inf
					}
				case trial == 2:
					for i := range row {
						row[i] = nan
					}
				case trial >= 3 && n > 0:
					row[rng.IntN(n)] = nan
					row[(n-1)*(trial-3)/4] = 7 // the first, middle and last elements
				}
				want := -inf
				for _, x := range row {
					if x > want {
						want = x
					}
				}
				if got := MaxF32(row); got != want {
					t.Fatalf("%s n=%d trial %d: max %v, want %v", isa, n, trial, got, want)
				}
			}
		}
	})
}

// The benchmarks compare each instruction set with the float64 math.Exp
// loops the kernels replace, in the same run. ExpShiftSum runs in place
// over and over: the kernels have no value-dependent branches, and the
// shift of 1 keeps the values in (0, 1].

func BenchmarkExpShiftSum(b *testing.B) {
	const v = 151936 // one row of Qwen2 logits
	src := make([]float32, v)
	for i := range src {
		src[i] = float32(i%61) * -0.25
	}
	run := func(name string, fn func(row []float32) float64) {
		b.Run(name, func(b *testing.B) {
			row := append([]float32(nil), src...)
			for b.Loop() {
				fn(row)
			}
			b.ReportMetric(v*float64(b.N)/b.Elapsed().Seconds(), "elem/s")
		})
	}
	run("math.Exp", func(row []float32) float64 {
		var s float64
		for j, x := range row {
			e := math.Exp(float64(x - 1))
			row[j] = float32(e)
			s += e
		}
		return s
	})
	eachFamilyBench(b, func(isa Family) {
		run(isa.String(), func(row []float32) float64 { return ExpShiftSum(row, 1) })
	})
}
