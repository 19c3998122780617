package ops

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// families are the kernel families, best first.
var families = []Family{AVX512, AVX2, Scalar}

// cannotRun says why this build on this CPU cannot run family f, or "" if
// it can.
func cannotRun(f Family) string {
	switch {
	case f == Scalar:
		return ""
	case !cKernels:
		return fmt.Sprintf("the %s kernels are C, and this build (purego, no cgo, or not amd64) has none", f)
	case len(Features().Missing(f)) > 0:
		return fmt.Sprintf("the %s kernels need %s, which this CPU lacks", f, strings.Join(Features().Missing(f), ", "))
	}
	return ""
}

// eachFamily runs fn in a subtest per kernel family, named after it, with
// that family in force, and puts the best family back after. A family this
// CPU (or build) cannot run is reported as NOT TESTED, with what it lacks:
// it never falls back to a lower family under its own name.
func eachFamily(t *testing.T, fn func(t *testing.T, fam Family)) {
	t.Helper()
	defer setFamily(buildBest())
	for _, fam := range families {
		t.Run(fam.String(), func(t *testing.T) {
			if why := cannotRun(fam); why != "" {
				t.Skipf("NOT TESTED: %s", why)
			}
			if got := setFamily(fam); got != fam {
				t.Fatalf("forcing the %s kernels put %s in force", fam, got)
			}
			setTiled(true) // even with QWENTUNE_GEMM=blas set
			fn(t, fam)
			if got := ISA(); got != fam {
				t.Fatalf("the family in force changed from %s to %s during the test", fam, got)
			}
			t.Logf("ran the %s kernels", fam)
		})
	}
}

// eachFamilyBench is eachFamily for benchmarks: fn runs with each family in
// force and names its sub-benchmarks after it; a family this CPU cannot
// run gets a sub-benchmark that says so.
func eachFamilyBench(b *testing.B, fn func(fam Family)) {
	defer setFamily(buildBest())
	for _, fam := range families {
		if why := cannotRun(fam); why != "" {
			b.Run(fam.String(), func(b *testing.B) { b.Skipf("NOT TESTED: %s", why) })
			continue
		}
		if got := setFamily(fam); got != fam {
			b.Fatalf("forcing the %s kernels put %s in force", fam, got)
		}
		setTiled(true)
		fn(fam)
	}
}

// TestFamilyDefinitions checks the one definition of each family against
// CPUs with and without each feature it needs, and that the family in force
// at start-up is the best this CPU and build run.
func TestFamilyDefinitions(t *testing.T) {
	all := CPUFeatures{AVX2: true, FMA: true, AVX512F: true, AVX512BW: true, AVX512VL: true, AVX512DQ: true, AVX512BF16: true, AVX512VNNI: true}
	tests := []struct {
		name    string
		cpu     func(c *CPUFeatures)
		best    Family
		missing []string // what AVX512 lacks
	}{
		{"everything", func(*CPUFeatures) {}, AVX512, nil},
		{"no bf16 or vnni", func(c *CPUFeatures) { c.AVX512BF16, c.AVX512VNNI = false, false }, AVX512, nil},
		{"no avx512dq", func(c *CPUFeatures) { c.AVX512DQ = false }, AVX2, []string{"avx512dq"}},
		{"no avx512bw", func(c *CPUFeatures) { c.AVX512BW = false }, AVX2, []string{"avx512bw"}},
		{"no avx512vl", func(c *CPUFeatures) { c.AVX512VL = false }, AVX2, []string{"avx512vl"}},
		{"avx512f only", func(c *CPUFeatures) { c.AVX512BW, c.AVX512VL, c.AVX512DQ = false, false, false }, AVX2, []string{"avx512bw", "avx512vl", "avx512dq"}},
		{"no avx512", func(c *CPUFeatures) { *c = CPUFeatures{AVX2: true, FMA: true} }, AVX2, []string{"avx512f", "avx512bw", "avx512vl", "avx512dq"}},
		{"avx2 without fma", func(c *CPUFeatures) { *c = CPUFeatures{AVX2: true} }, Scalar, []string{"fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"}},
		{"nothing", func(c *CPUFeatures) { *c = CPUFeatures{} }, Scalar, []string{"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"}},
	}
	for _, tt := range tests {
		c := all
		tt.cpu(&c)
		if got := c.Best(); got != tt.best {
			t.Errorf("%s: Best() = %s, want %s", tt.name, got, tt.best)
		}
		if got := c.Missing(AVX512); !slices.Equal(got, tt.missing) {
			t.Errorf("%s: Missing(avx512) = %q, want %q", tt.name, got, tt.missing)
		}
		if got := c.Missing(Scalar); got != nil {
			t.Errorf("%s: Missing(scalar) = %q, want nothing", tt.name, got)
		}
	}
	if s := all.String(); s != "avx2 fma avx512f avx512bw avx512vl avx512dq avx512bf16 avx512vnni" {
		t.Errorf("String() = %q", s)
	}
	t.Logf("this CPU: %s; best family %s; this build runs %s", Features(), Features().Best(), ISA())
	if ISA() != buildBest() {
		t.Errorf("ISA() = %s at start-up, want %s", ISA(), buildBest())
	}
	if !cKernels && ISA() != Scalar {
		t.Errorf("without C kernels ISA() = %s, want scalar", ISA())
	}
	defer setFamily(buildBest())
	for _, f := range families {
		want := min(f, buildBest())
		if got := setFamily(f); got != want || ISA() != want {
			t.Errorf("setFamily(%s) = %s (ISA() %s), want %s", f, got, ISA(), want)
		}
	}
}
