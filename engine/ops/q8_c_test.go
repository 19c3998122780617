//go:build cgo && !purego && amd64

package ops

import (
	"math/rand/v2"
	"testing"
)

// TestQ8FamilyRuns checks, with the C run counters, that forcing a family
// runs that family's Q8_0 code: the decode MulT (scalar, AVX2, AVX-512),
// the float32 dequantisation of the blocked products and the embedding
// lookup (the same three), and the bfloat16 dequantisation (AVX-512, or
// scalar below it).
func TestQ8FamilyRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(89, 90))
	w := randQ8(t, rng, 40, 64)
	x, y := randSlice(rng, 20*64), make([]float32, 20*64)
	row := make([]float32, 64)
	kernels := []struct {
		name string
		k    kernel
		top  Family
		run  func()
	}{
		{"MulT q8 n=1", kQ8GEMV, AVX512, func() { w.MulT(y, x, 1, false) }},
		{"MulT q8 n=8", kQ8GEMV, AVX512, func() { w.MulT(y, x, 8, true) }},
		{"MulT q8 n=20", kQ8Dequant, AVX512, func() { w.MulT(y, x, 20, false) }},
		{"Mul q8 n=2", kQ8Dequant, AVX512, func() { w.Mul(y, x, 2, false) }},
		{"Row q8", kQ8Dequant, AVX512, func() { w.Row(7, row) }},
		{"MulTBF16 q8 n=20", kQ8Dequant, AVX512, func() { w.MulTBF16(y, x, 20, false) }},
	}
	defer countRuns(false)
	eachFamily(t, func(t *testing.T, fam Family) {
		for _, kn := range kernels {
			countRuns(true)
			kn.run()
			countRuns(false)
			want := min(fam, kn.top)
			if kn.name == "MulTBF16 q8 n=20" && fam < AVX512 {
				want = Scalar // no AVX2 code for the bfloat16 dequantisation
			}
			for f, n := range runsOf(kn.k) {
				switch {
				case Family(f) == want && n == 0:
					t.Errorf("%s: %s kernel never ran its %s code", kn.name, kn.k, want)
				case Family(f) != want && n > 0:
					t.Errorf("%s: %s kernel ran its %s code %d times; want only %s", kn.name, kn.k, Family(f), n, want)
				}
			}
		}
	})
}

// TestQ8Int8Runs checks that MulTInfer runs an int8 kernel in the AVX2
// and AVX-512 families (VPDPBUSD's in the AVX-512 family on a CPU with
// AVX512_VNNI, the AVX2 one otherwise), and the float32 decode kernel in
// the scalar family or with QWENTUNE_Q8_DECODE=widen.
func TestQ8Int8Runs(t *testing.T) {
	rng := rand.New(rand.NewPCG(93, 94))
	w := randQ8(t, rng, 40, 64)
	x, y := randSlice(rng, 8*64), make([]float32, 8*40)
	defer countRuns(false)
	defer q8vnniOff.Store(q8vnniOff.Load())
	eachFamily(t, func(t *testing.T, fam Family) {
		for _, widen := range []bool{false, true} {
			q8vnniOff.Store(widen)
			countRuns(true)
			w.MulTInfer(y, x, 3, false)
			countRuns(false)
			int8s, float := runsOf(kQ8VNNI), runsOf(kQ8GEMV)
			var want Family = -1 // the int8 kernel's family, or none
			switch {
			case widen || fam == Scalar:
			case fam == AVX512 && Features().AVX512VNNI:
				want = AVX512
			default:
				want = AVX2
			}
			switch {
			case want >= 0 && (int8s[want] == 0 || int8s[want] != sum(int8s) || sum(float) != 0):
				t.Errorf("widen=%v: int8 kernels ran %v, the float32 kernel %v; want only the %s int8 kernel", widen, int8s, float, want)
			case want < 0 && (sum(int8s) != 0 || float[fam] == 0):
				t.Errorf("widen=%v: int8 kernels ran %v, the float32 kernel %v; want only the float32 kernel's %s code", widen, int8s, float, fam)
			}
		}
	})
}

func sum(c [numFamilies]int64) (s int64) {
	for _, v := range c {
		s += v
	}
	return s
}
