package ops

import (
	"os"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/cpu"
)

// Family is a family of kernels, named after the instruction sets its
// vector code needs. Each C kernel has code for some of the families; in
// force, a family runs every kernel's code for that family, or for the best
// family below it that the kernel has (the decode Mul, the bfloat16
// widening and the memory read have AVX2 code only).
type Family int32

// The families, in order: each needs all that the one before it needs.
// The values are those of kernels.h.
const (
	// Scalar is the plain C loops, which run on any x86-64 (with -tags
	// purego, or without cgo, the Go loops). On arm64 with cgo it is the
	// NEON decode products (neon.c, ASIMD being part of every ARMv8-A core)
	// beside the Go loops, and is named "neon".
	Scalar Family = iota
	// AVX2 needs AVX2 and FMA.
	AVX2
	// AVX512 needs AVX2, FMA and AVX-512 F, BW, VL and DQ: the union of what
	// its kernels use, so that one test says whether all of them can run.
	// The AVX-512 decode MulT (ops_gemv512_* in gemv.c) exists only in
	// this family; the tiled weight products (tiled.c) in this and AVX2.
	AVX512
	numFamilies = iota
)

// String is the family's name as the tests and Backend print it: "scalar",
// "avx2" or "avx512".
func (f Family) String() string {
	switch f {
	case Scalar:
		return baseFamily // "scalar", or "neon" on arm64 (neon_arm64.go)
	case AVX2:
		return "avx2"
	case AVX512:
		return "avx512"
	}
	return "family?"
}

// CPUFeatures are the instruction sets of this CPU (as far as the operating
// system enables them) that the kernels use or, for the last two, that the
// kernels to come will use: bfloat16 dot products (AVX512_BF16) and 8-bit
// dot products (AVX512_VNNI). No family needs those two; kernels that use
// them will check them on their own.
type CPUFeatures struct {
	AVX2, FMA                             bool
	AVX512F, AVX512BW, AVX512VL, AVX512DQ bool
	AVX512BF16, AVX512VNNI                bool
	// NEON is arm64's ASIMD (never set on x86-64), which the arm64 decode
	// products use (neon.c).
	NEON bool
}

// feature is one named instruction set of a CPUFeatures.
type feature struct {
	name string
	has  bool
}

func (c CPUFeatures) list() []feature {
	return []feature{
		{"avx2", c.AVX2}, {"fma", c.FMA},
		{"avx512f", c.AVX512F}, {"avx512bw", c.AVX512BW}, {"avx512vl", c.AVX512VL}, {"avx512dq", c.AVX512DQ},
		{"avx512bf16", c.AVX512BF16}, {"avx512vnni", c.AVX512VNNI},
		{"neon", c.NEON},
	}
}

// String lists the features present, e.g. "avx2 fma avx512f avx512bw
// avx512vl avx512dq avx512bf16 avx512vnni"; "none" if none is.
func (c CPUFeatures) String() string {
	var names []string
	for _, f := range c.list() {
		if f.has {
			names = append(names, f.name)
		}
	}
	if names == nil {
		return "none"
	}
	return strings.Join(names, " ")
}

// Missing lists the features family f needs that c lacks (none for
// Scalar): the one definition of each family.
func (c CPUFeatures) Missing(f Family) []string {
	need := 0
	switch f {
	case AVX2:
		need = 2 // avx2, fma
	case AVX512:
		need = 6 // and avx512f, avx512bw, avx512vl, avx512dq
	}
	var missing []string
	for _, f := range c.list()[:need] {
		if !f.has {
			missing = append(missing, f.name)
		}
	}
	return missing
}

// Best is the highest family the CPU can run.
func (c CPUFeatures) Best() Family {
	best := Scalar
	for f := AVX2; f <= AVX512 && len(c.Missing(f)) == 0; f++ {
		best = f
	}
	return best
}

// cpuFeatures is detected once, before any kernel runs.
var cpuFeatures = CPUFeatures{
	AVX2: cpu.X86.HasAVX2, FMA: cpu.X86.HasFMA,
	AVX512F: cpu.X86.HasAVX512F, AVX512BW: cpu.X86.HasAVX512BW,
	AVX512VL: cpu.X86.HasAVX512VL, AVX512DQ: cpu.X86.HasAVX512DQ,
	AVX512BF16: cpu.X86.HasAVX512BF16, AVX512VNNI: cpu.X86.HasAVX512VNNI,
	NEON: cpu.ARM64.HasASIMD,
}

// Features returns the CPU's instruction sets, as detected at start-up.
func Features() CPUFeatures { return cpuFeatures }

// family is the family in force; gemmBLAS is QWENTUNE_GEMM=blas.
var (
	family   atomic.Int32
	gemmBLAS atomic.Bool
)

// ISA returns the kernel family in force: the best this CPU runs, unless a
// test chose a lower one; Scalar with -tags purego or without cgo.
func ISA() Family { return Family(family.Load()) }

// buildBest is the best family this build can run on this CPU.
func buildBest() Family {
	if !cKernels {
		return Scalar
	}
	return cpuFeatures.Best()
}

// QWENTUNE_GEMM=blas turns the engine's own weight products (tiled and
// AVX-512 decode) off, so that a benchmark can compare them with sgemm on
// the same machine.
func init() {
	gemmBLAS.Store(os.Getenv("QWENTUNE_GEMM") == "blas")
	setFamily(buildBest())
}

// setFamily puts family f in force, or the best family below it that this
// build can run on this CPU, and returns the one now in force. It is the
// one place that tells the C kernels which family to run; tests call it
// between kernels, never while one runs.
func setFamily(f Family) Family {
	f = max(Scalar, min(f, buildBest()))
	family.Store(int32(f))
	setCFamily(f)
	assignCores()
	return f
}

// avx512Products reports whether products with a weight run on the AVX-512
// kernels (the tiled ones with more than GEMVMaxN inputs, the batched
// decode MulT with fewer): the AVX512 family is in force and
// QWENTUNE_GEMM=blas is not set.
func avx512Products() bool { return ISA() == AVX512 && !gemmBLAS.Load() }

// tiledProducts reports whether products with a weight and more than
// GEMVMaxN inputs run on the tiled kernels: the AVX2 or AVX512 family is in
// force (on arm64: the NEON kernels are on) and QWENTUNE_GEMM=blas is not
// set.
func tiledProducts() bool { return (ISA() >= AVX2 || useNEON) && !gemmBLAS.Load() }

// setTiled turns the tiled and AVX-512 decode weight products on (where the
// family in force has them) or off, as QWENTUNE_GEMM=blas does.
func setTiled(on bool) {
	gemmBLAS.Store(!on)
	assignCores()
}

// forceNoTiled turns those weight products off (on) or back on (off),
// so that tests cover the sgemm path too.
func forceNoTiled(on bool) { setTiled(!on) }

// assignCores hands the cores to whoever then does the heavy products: with
// the tiled weight products the pool's goroutines run them and OpenBLAS
// runs single-threaded (Gemm splits its work over the pool instead), so
// that no OpenBLAS worker spins on a core the pool needs; without them
// OpenBLAS gets one thread per core.
func assignCores() {
	if tiledProducts() {
		SetBLASThreads(1)
	} else {
		SetBLASThreads(Threads())
	}
}
