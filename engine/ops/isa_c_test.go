//go:build cgo && !purego && amd64

package ops

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestFamilyRuns checks that forcing a family runs that family's code, so
// that a fallback cannot pass for the family it replaced: with each family
// in force, each kernel is called through the package's API, and the C
// kernels' own run counters must show that it ran the expected family's
// code and that no other kernel ran. The expected family is the one in
// force, or for a kernel without code for it the best below that it has;
// the tiled kernels have none below AVX2 (sgemm runs instead, no C kernel
// at all).
func TestFamilyRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	wf, wb := randWeight(rng, 40, 72, false), randWeight(rng, 40, 72, true)
	x, y := randSlice(rng, 64*72), make([]float32, 1<<15)
	row, out := randSlice(rng, 100), make([]float32, 100)
	bits := make([]uint16, 1<<15)
	// none means that no C kernel may run: below AVX2, sgemm does the
	// tiled products (after widening a bfloat16 weight with kWiden).
	const none = kernel(-1)
	kernels := []struct {
		name  string
		k     kernel
		top   Family // the best family the kernel has code for
		below kernel // what runs instead in a family below low, if not k
		run   func()
		low   Family // the lowest family the kernel runs in (default Scalar)
	}{
		{"MulT f32 n=1", kGEMV, AVX512, kGEMV, func() { wf.MulT(y, x, 1, false) }, Scalar},
		{"MulT bf16 n=3", kGEMV, AVX512, kGEMV, func() { wb.MulT(y, x, 3, true) }, Scalar},
		{"Mul bf16 n=2", kAXPY, AVX2, kAXPY, func() { wb.Mul(y, x, 2, false) }, Scalar},
		{"MulT f32 n=64", kTiledMulT, AVX512, none, func() { wf.MulT(y, x, 64, false) }, AVX2},
		{"MulT bf16 n=9", kTiledMulT, AVX512, kWiden, func() { wb.MulT(y, x, 9, false) }, AVX2},
		{"Mul f32 n=64", kTiledMul, AVX512, none, func() { wf.Mul(y, x, 64, false) }, AVX2},
		{"Mul bf16 n=20", kTiledMul, AVX512, kWiden, func() { wb.Mul(y, x, 20, true) }, AVX2},
		{"ExpShiftSum", kExpSum, AVX512, kExpSum, func() { ExpShiftSum(out, 1) }, Scalar},
		{"MaxF32", kMax, AVX512, kMax, func() { MaxF32(row) }, Scalar},
		{"SwiGLU", kSwiGLU, AVX512, kSwiGLU, func() { SwiGLU(out, row, row) }, Scalar},
		{"SwiGLUBackward", kSwiGLUBwd, AVX512, kSwiGLUBwd, func() { SwiGLUBackward(out, out, row, row, row) }, Scalar},
		{"Dropout", kDropout, AVX512, kDropout, func() { Dropout(out, row, 1, 0, 0.5) }, Scalar},
		{"Scale", kScale, AVX512, kScale, func() { Scale(out, 2) }, Scalar},
		{"WidenBF16", kWiden, AVX2, kWiden, func() { WidenBF16(y[:len(bits)], bits) }, Scalar},
		{"Row bf16", kWiden, AVX2, kWiden, func() { wb.Row(3, out) }, Scalar},
		{"readWords", kRead, AVX2, kRead, func() { readWords(unsafe.Slice((*uint32)(unsafe.Pointer(&row[0])), len(row))) }, Scalar},
	}
	defer countRuns(false)
	eachFamily(t, func(t *testing.T, fam Family) {
		for _, kn := range kernels {
			countRuns(true)
			kn.run()
			countRuns(false)
			wantK, wantF := kn.k, min(fam, kn.top)
			if fam < kn.low {
				wantK, wantF = kn.below, fam
			}
			ran := wantK == none
			for k := range kernel(numKernels) {
				for f, n := range runsOf(k) {
					switch {
					case k == wantK && Family(f) == wantF && n > 0:
						ran = true
					case n > 0:
						t.Errorf("%s: %s kernel ran its %s code %d times; want only %s kernel's %s code", kn.name, k, Family(f), n, wantK, wantF)
					}
				}
			}
			switch {
			case !ran:
				t.Errorf("%s: %s kernel never ran its %s code", kn.name, wantK, wantF)
			case wantK == none:
				t.Logf("%s: sgemm, no C kernel", kn.name)
			case wantK != kn.k:
				t.Logf("%s: sgemm after %s kernel's %s code", kn.name, wantK, wantF)
			default:
				t.Logf("%s: %s code", kn.name, wantF)
			}
		}
	})
}
