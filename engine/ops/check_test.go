package ops

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Checks shared by the kernel tests: lengths that reach every vector tail,
// errors in float32 ulps, guards past the end of an output, inputs with the
// special values mixed in.

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

// vecInput is n values with the specials mixed in.
func vecInput(rng *rand.Rand, n int) []float32 {
	specials := []float32{0, float32(math.Copysign(0, -1)), 1e-45, -3e-39, math.MaxFloat32,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	x := make([]float32, n)
	for i := range x {
		if rng.IntN(8) == 0 {
			x[i] = specials[rng.IntN(len(specials))]
		} else {
			x[i] = float32(rng.NormFloat64())
		}
	}
	return x
}
