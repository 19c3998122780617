//go:build cgo && !purego && arm64

package ops

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestNEONDecode checks the NEON decode kernels (neon.c) directly, on row
// ranges [lo, hi) that start and end off the 4-row blocks and rows whose
// length leaves every tail (8, 4 and single columns): each output against
// the float64 reference, the rows outside [lo, hi) untouched, and the Go
// loops they replace within the same tolerance.
func TestNEONDecode(t *testing.T) {
	if !useNEON || !strings.Contains(Backend(), "NEON") || ISA().String() != "neon" {
		t.Fatalf("the NEON kernels are not in force: useNEON %v, Backend %q, ISA %s", useNEON, Backend(), ISA())
	}
	rng := rand.New(rand.NewPCG(71, 72))
	for _, rows := range []int{1, 3, 4, 9, 17} {
		for _, cols := range []int{1, 3, 4, 7, 8, 12, 13, 64, 67, 300} {
			for _, bf16 := range []bool{false, true} {
				w := randWeight(rng, rows, cols, bf16)
				for _, n := range []int{1, 2, GEMVMaxN} {
					for _, acc := range []bool{false, true} {
						lo, hi := min(1, rows-1), rows
						if rows > 4 {
							lo, hi = 1, rows-2
						}
						checkNEON(t, rng, w, lo, hi, n, acc, true)
						checkNEON(t, rng, w, lo, hi, n, acc, false)
					}
				}
			}
		}
	}
}

// checkNEON runs the kernel for MulT (trans) or Mul over weight rows
// [lo, hi) with NEON and with the Go loops, and compares both with the
// float64 sum over those rows.
func checkNEON(t *testing.T, rng *rand.Rand, w *Weight, lo, hi, n int, acc, trans bool) {
	t.Helper()
	in, out := w.Cols, w.Rows // MulT: x is n×Cols, y is n×Rows
	if !trans {
		in, out = w.Rows, w.Cols // Mul: dy is n×Rows, dx is n×Cols
	}
	x := randSlice(rng, n*in)
	y0 := randSlice(rng, n*out)
	run := func(neon bool) []float32 {
		useNEON = neon
		defer func() { useNEON = true }()
		y := append([]float32(nil), y0...)
		switch {
		case trans && w.BF16 != nil:
			gemvBF16(w.BF16, w.Cols, lo, hi, x, n, y, w.Rows, acc)
		case trans:
			gemvF32(w.F32, w.Cols, lo, hi, x, n, y, w.Rows, acc)
		case w.BF16 != nil:
			axpyBF16(w.BF16, w.Cols, lo, hi, x, w.Rows, n, y, acc)
		default:
			axpyF32(w.F32, w.Cols, lo, hi, x, w.Rows, n, y, acc)
		}
		return y
	}
	got, goLoops := run(true), run(false)
	for i := 0; i < n; i++ {
		for k := 0; k < out; k++ {
			j := i*out + k
			inside := !trans || (k >= lo && k < hi)
			if !inside {
				if got[j] != y0[j] {
					t.Fatalf("%s rows [%d,%d) of %dx%d n=%d: wrote output row %d outside the range", kname(w, trans), lo, hi, w.Rows, w.Cols, n, k)
				}
				continue
			}
			var want, scale float64
			if acc {
				want, scale = float64(y0[j]), math.Abs(float64(y0[j]))
			}
			if trans {
				for c := 0; c < w.Cols; c++ {
					tm := float64(x[i*in+c]) * float64(w.At(k, c))
					want += tm
					scale += math.Abs(tm)
				}
			} else {
				for o := lo; o < hi; o++ {
					tm := float64(x[i*in+o]) * float64(w.At(o, k))
					want += tm
					scale += math.Abs(tm)
				}
			}
			tol := 1e-5*scale + 1e-6
			if d := math.Abs(float64(got[j]) - want); d > tol || math.IsNaN(float64(got[j])) {
				t.Fatalf("%s rows [%d,%d) of %dx%d n=%d acc=%v: out[%d] = %g, want %g (scale %g)", kname(w, trans), lo, hi, w.Rows, w.Cols, n, acc, j, got[j], want, scale)
			}
			if d := math.Abs(float64(got[j]) - float64(goLoops[j])); d > 2*tol {
				t.Fatalf("%s rows [%d,%d) of %dx%d n=%d: out[%d] = %g with NEON, %g with the Go loops", kname(w, trans), lo, hi, w.Rows, w.Cols, n, j, got[j], goLoops[j])
			}
		}
	}
}

func kname(w *Weight, trans bool) string {
	s := "axpy"
	if trans {
		s = "gemv"
	}
	if w.BF16 != nil {
		return s + " bf16"
	}
	return s + " f32"
}
