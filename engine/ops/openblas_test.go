//go:build cgo && !purego && !noopenblas && linux

package ops

import (
	"strings"
	"testing"
)

// TestBLASFallbackRepaired makes OpenBLAS fall back to its Prescott kernels
// as it does on a CPU it does not know, checks that the repair at start-up
// chooses the core of this CPU's kernel family again and that sgemm still
// computes right on it, and puts the core the tests started with back.
func TestBLASFallbackRepaired(t *testing.T) {
	start := CoreName()
	if !setBLASCore("Prescott") {
		t.Fatal("this OpenBLAS cannot choose its kernels again (no gotoblas_dynamic_init): the fallback repair cannot work")
	}
	defer func() {
		if !setBLASCore(start) || CoreName() != start {
			t.Fatalf("could not put core %s back (now %s)", start, CoreName())
		}
	}()
	if !strings.EqualFold(CoreName(), "Prescott") {
		t.Fatalf("core %s after choosing Prescott", CoreName())
	}
	fell := repairBLASFallback()
	want := map[Family]string{AVX512: "SkylakeX", AVX2: "Haswell"}[cpuFeatures.Best()]
	if want == "" {
		if fell != "" || !strings.EqualFold(CoreName(), "Prescott") {
			t.Fatalf("a CPU without AVX2 moved off Prescott to %s", CoreName())
		}
		return
	}
	if fell != "Prescott" || !strings.EqualFold(CoreName(), want) {
		t.Fatalf("after the repair: core %s (fell %q), want %s", CoreName(), fell, want)
	}
	a := []float32{1, 2, 3, 4, 5, 6}
	b := []float32{7, 8, 9, 10, 11, 12}
	c := make([]float32, 4)
	blas32.Sgemm(trans(false), trans(false), 2, 2, 3, 1, a, 3, b, 2, 0, c, 2)
	for i, w := range []float32{58, 64, 139, 154} {
		if c[i] != w {
			t.Fatalf("sgemm on %s: c = %v, want [58 64 139 154]", CoreName(), c)
		}
	}
}
