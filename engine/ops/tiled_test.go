package ops

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// eachTiledFamily runs fn in a subtest per family that has tiled kernels
// (AVX512, AVX2; NEON on arm64), with that family and the tiled kernels in force; a family
// this CPU cannot run is reported as NOT TESTED (TestMulTAndMul covers the
// sgemm path of the Scalar family).
func eachTiledFamily(t *testing.T, fn func(t *testing.T)) {
	eachFamily(t, func(t *testing.T, fam Family) {
		if fam < AVX2 && !useNEON { // on arm64 the Scalar family is NEON, with tiled kernels
			t.Skipf("the %s family has no tiled kernels (sgemm runs instead)", fam)
		}
		if !useTiled(GEMVMaxN + 1) {
			t.Fatalf("the tiled kernels are not in force in the %s family", fam)
		}
		fn(t)
	})
}

// TestTiled runs the tiled kernels of each family on shapes that cover
// every tile remainder (weight rows mod 6, inputs mod 16 and 64, columns
// mod 8, 16 and 64) and, with small cache budgets, several k blocks of
// MulT and o blocks of Mul, against the float64 reference.
func TestTiled(t *testing.T) {
	defer func(l2, oc int) { tiledL2, tiledOC = l2, oc }(tiledL2, tiledOC)
	rng := rand.New(rand.NewPCG(21, 22))
	shapes := []struct{ rows, cols int }{{1, 9}, {6, 16}, {7, 71}, {13, 64}, {64, 200}, {130, 67}, {11, 1031}, {5, 600}, {9, 23}}
	eachTiledFamily(t, func(t *testing.T) {
		for _, small := range []bool{false, true} {
			tiledL2, tiledOC = 512<<10, 512
			if small {
				tiledL2, tiledOC = 64*4*40, 5 // kc = 40 for n ≤ 64, o blocks of 5 rows
			}
			for _, sh := range shapes {
				for _, bf16 := range []bool{false, true} {
					w := randWeight(rng, sh.rows, sh.cols, bf16)
					for _, n := range []int{9, 16, 17, 63, 64, 65, 110, 130} {
						for _, acc := range []bool{false, true} {
							for _, trans := range []bool{true, false} {
								name := fmt.Sprintf("small=%v/%dx%d/bf16=%v/n=%d/acc=%v/mulT=%v", small, sh.rows, sh.cols, bf16, n, acc, trans)
								checkMul(t, name, rng, w, n, acc, trans)
							}
						}
					}
				}
			}
		}
	})
}

// TestTiledMatchesSgemm checks that switching the tiled kernels off (the
// sgemm path other CPUs take) gives the same products within rounding.
func TestTiledMatchesSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	w := randWeight(rng, 97, 300, false)
	const n = 70
	x := randSlice(rng, n*w.Cols)
	dy := randSlice(rng, n*w.Rows)
	eachTiledFamily(t, func(t *testing.T) {
		var ys, dxs [2][]float32
		for k, off := range []bool{false, true} {
			forceNoTiled(off)
			ys[k], dxs[k] = make([]float32, n*w.Rows), make([]float32, n*w.Cols)
			w.MulT(ys[k], x, n, false)
			w.Mul(dxs[k], dy, n, false)
		}
		forceNoTiled(false)
		for _, p := range [][2][]float32{ys, dxs} {
			for i := range p[0] {
				if d := p[0][i] - p[1][i]; d > 1e-4 || d < -1e-4 {
					t.Fatalf("element %d: tiled %g, sgemm %g", i, p[0][i], p[1][i])
				}
			}
		}
	})
}

// TestTiledNested runs tiled products from inside a Parallel chunk, where
// the pool is busy and they must run on the caller with their own buffers,
// and compares them with the same products made with the pool free.
func TestTiledNested(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	w := randWeight(rng, 45, 130, false)
	const n = 70
	x, dy := randSlice(rng, n*w.Cols), randSlice(rng, n*w.Rows)
	eachTiledFamily(t, func(t *testing.T) {
		y, dx := make([]float32, n*w.Rows), make([]float32, n*w.Cols)
		w.MulT(y, x, n, false)
		w.Mul(dx, dy, n, false)
		ny, ndx := make([]float32, n*w.Rows), make([]float32, n*w.Cols)
		Parallel(2, func(lo, hi int) {
			if lo == 0 {
				w.MulT(ny, x, n, false)
				w.Mul(ndx, dy, n, false)
			}
		})
		for _, p := range [][2][]float32{{y, ny}, {dx, ndx}} {
			for i := range p[0] {
				if p[0][i] != p[1][i] {
					t.Fatalf("element %d: pool free %g, nested %g", i, p[0][i], p[1][i])
				}
			}
		}
	})
}
