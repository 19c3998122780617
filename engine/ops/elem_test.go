package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// elemISANames names the instruction sets forceElemISA takes.
var elemISANames = []string{elemScalar: "scalar", elemAVX2: "avx2", elemAVX512: "avx512"}

// eachElemISA runs fn once per instruction set the CPU (or purego) has.
func eachElemISA(t testing.TB, fn func(name string)) {
	t.Helper()
	defer forceElemISA(elemAVX512)
	for isa := elemAVX512; isa >= elemScalar; isa-- {
		if forceElemISA(isa) == isa {
			fn(elemISANames[isa])
		}
	}
}

// elemLengths are not all multiples of the vector widths (8 and 16) and
// reach past the 32- and 64-element unrolled loops and the blocks of the
// sums.
var elemLengths = []int{0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 127, 128, 129, 255, 256, 257, 300, 1000, 4099}

// ulp32 is the spacing of float32 values at |v| (2^-149 for subnormals).
func ulp32(v float64) float64 {
	v = math.Abs(v)
	if v < 0x1p-126 {
		return 0x1p-149
	}
	_, e := math.Frexp(v)
	return math.Ldexp(1, e-24)
}

// errUlps is the error of got against the exact want in float32 ulps of
// want. NaN must match NaN and a want that overflows float32 an infinity of
// the same sign; either way round is reported as +Inf.
func errUlps(got float32, want float64) float64 {
	g := float64(got)
	switch w32 := float32(want); {
	case math.IsNaN(want) || math.IsNaN(g):
		if math.IsNaN(want) && math.IsNaN(g) {
			return 0
		}
		return math.Inf(1)
	case math.IsInf(float64(w32), 0) || math.IsInf(g, 0):
		if float64(w32) == g {
			return 0
		}
		return math.Inf(1)
	}
	return math.Abs(g-want) / ulp32(want)
}

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
	eachElemISA(t, func(isa string) {
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
	eachElemISA(t, func(isa string) {
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
	eachElemISA(t, func(isa string) {
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
	eachElemISA(t, func(isa string) {
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

// swigluEdges are gate values at the special cases: σ underflowing to 0,
// reaching 1, and the infinities.
var swigluEdges = []float64{
	0, math.Copysign(0, -1), 1e-40, -1e-40, 1e-20, -1e-20, 1e-3, -1e-3, 1.2785, -1.2785, // dgate crosses 0 near g ≈ −1.28
	16, 16.6, 17, 20, -16.6, -20, 80, -80, 87, -87, 88.5, -88.5, 88.8, -88.8, 89, -89, 100, -100, 104, -104,
	1e30, -1e30, math.MaxFloat32, -math.MaxFloat32, math.Inf(1), math.Inf(-1), math.NaN(),
}

// refSwiGLU is SwiGLU and its backward in float64, with the magnitude of the
// terms of 1 + g·(1−σ), which cancel near g ≈ −1.28.
func refSwiGLU(g, u, d float64) (h, dgate, dup, dgScale float64) {
	s := 1 / (1 + math.Exp(-g))
	oms := 1 - s
	if g >= 0 {
		oms = math.Exp(-g) * s
	}
	return g * s * u, d * u * s * (1 + g*oms), d * g * s, math.Abs(d*u*s) * (1 + math.Abs(g*oms))
}

// TestSwiGLU checks SwiGLU and SwiGLUBackward against float64, separately
// and in place as the layer calls the backward. Results carry a rounding
// per operation on top of e^x's: h and dup are within 4 ulp, dgate within
// 5 ulp of the magnitude of its terms (4M random inputs measured at most
// 3.0 and 3.97). Where σ is below the smallest normal float32 (g < −87.3) it
// may be off by 2^-126 absolute.
func TestSwiGLU(t *testing.T) {
	const maxUlps, maxUlpsDgate, sigmaAbs = 4, 5, 0x1p-126
	rng := rand.New(rand.NewPCG(11, 5))
	eachElemISA(t, func(isa string) {
		for _, n := range append(elemLengths, 1<<14) {
			g, u, d := make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range g {
				g[i] = float32(rng.NormFloat64() * 4)
				if rng.IntN(8) == 0 {
					g[i] = float32(rng.Float64()*220 - 110)
				}
				if rng.IntN(8) == 0 {
					g[i] = float32(swigluEdges[rng.IntN(len(swigluEdges))])
				}
				u[i] = float32(rng.NormFloat64())
				d[i] = float32(rng.NormFloat64())
			}
			if n == 1<<14 {
				for i, e := range swigluEdges {
					g[i] = float32(e)
				}
			}
			h, dg, du := guarded(n), guarded(n), guarded(n)
			SwiGLU(h, g, u)
			SwiGLUBackward(dg, du, d, g, u)
			checkGuard(t, h)
			checkGuard(t, dg)
			checkGuard(t, du)
			var worstH, worstDup, worstDgate float64
			for i := range g {
				gi, ui, di := float64(g[i]), float64(u[i]), float64(d[i])
				wh, wdg, wdu, scale := refSwiGLU(gi, ui, di)
				// check measures the error in ulps of mag (≥ |want|) after
				// allowing abs for σ's underflow.
				check := func(what string, got float32, want, mag, abs, limit float64, worst *float64) {
					e := errUlps(got, want)
					if finite32(got) && finite32(float32(want)) {
						e = math.Max(0, math.Abs(float64(got)-want)-abs) / ulp32(mag)
					}
					*worst = max(*worst, e)
					if e > limit {
						t.Fatalf("%s n=%d g=%v u=%v d=%v: %s = %v, want %v (%.3g ulp)", isa, n, gi, ui, di, what, got, want, e)
					}
				}
				check("h", h[i], wh, wh, math.Abs(gi*ui)*sigmaAbs, maxUlps, &worstH)
				check("dup", du[i], wdu, wdu, math.Abs(di*gi)*sigmaAbs, maxUlps, &worstDup)
				// dgate in ulps of its terms, which cancel near the root
				check("dgate", dg[i], wdg, scale, math.Abs(di*ui)*(1+math.Abs(gi))*sigmaAbs, maxUlpsDgate, &worstDgate)
			}
			if n == 1<<14 {
				t.Logf("%s: max error h %.3f, dup %.3f, dgate %.3f ulp", isa, worstH, worstDup, worstDgate)
			}
			g2, u2 := append([]float32(nil), g...), append([]float32(nil), u...)
			SwiGLUBackward(g2, u2, d, g2, u2)
			for i := range g2 {
				if !sameF32(g2[i], dg[i]) || !sameF32(u2[i], du[i]) {
					t.Fatalf("%s n=%d: in-place backward differs at %d", isa, n, i)
				}
			}
		}
	})
}

// guarded returns n elements followed, up to the capacity, by a sentinel
// that checkGuard expects unchanged: the vector tails must not store past
// the end.
func guarded(n int) []float32 {
	s := make([]float32, n+16)
	for i := range s[n:] {
		s[n+i] = guardValue
	}
	return s[:n]
}

const guardValue = -12345

func checkGuard(t *testing.T, s []float32) {
	t.Helper()
	for i, v := range s[len(s):cap(s)] {
		if v != guardValue {
			t.Fatalf("n=%d: element %d past the end was overwritten with %v", len(s), i, v)
		}
	}
}

func finite32(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

func sameF32(a, b float32) bool { return a == b || a != a && b != b }

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
	eachElemISA(b, func(isa string) {
		run(isa, func(row []float32) float64 { return ExpShiftSum(row, 1) })
	})
}

func BenchmarkSwiGLU(b *testing.B) {
	const n = 1 << 16 // the three buffers fit in L2
	g, u, d, h, dg, du := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range g {
		g[i] = float32(i%97-48) / 8
		u[i] = float32(i%13-6) / 8
		d[i] = float32(i%7-3) / 8
	}
	run := func(name string, fn func()) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				fn()
			}
			b.ReportMetric(n*float64(b.N)/b.Elapsed().Seconds(), "elem/s")
		})
	}
	sigmoid := func(z float32) float32 { return float32(1 / (1 + math.Exp(-float64(z)))) }
	run("fwd/math.Exp", func() {
		for i, x := range g {
			h[i] = x * sigmoid(x) * u[i]
		}
	})
	run("bwd/math.Exp", func() {
		for i, x := range g {
			s := sigmoid(x)
			du[i] = d[i] * x * s
			dg[i] = d[i] * u[i] * s * (1 + x*(1-s))
		}
	})
	eachElemISA(b, func(isa string) {
		run(fmt.Sprintf("fwd/%s", isa), func() { SwiGLU(h, g, u) })
		run(fmt.Sprintf("bwd/%s", isa), func() { SwiGLUBackward(dg, du, d, g, u) })
	})
}
