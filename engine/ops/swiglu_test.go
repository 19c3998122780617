package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

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
	eachFamily(t, func(t *testing.T, isa Family) {
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
	eachFamilyBench(b, func(isa Family) {
		run(fmt.Sprintf("fwd/%s", isa), func() { SwiGLU(h, g, u) })
		run(fmt.Sprintf("bwd/%s", isa), func() { SwiGLUBackward(dg, du, d, g, u) })
	})
}
