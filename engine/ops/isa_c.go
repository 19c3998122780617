//go:build cgo && !purego && amd64

package ops

// The C kernels live in the .c files of this directory (see doc.go), which
// cgo compiles with these flags. -O3 and no -m flags: each vector kernel
// carries its own target attribute (kernels.h).

/*
#cgo CFLAGS: -O3 -std=gnu11
#include "kernels.h"
*/
import "C"

import "unsafe"

// cKernels says that this build has the C kernels.
const cKernels = true

// The families of kernels.h are those of Family: this fails to compile if
// they disagree.
var (
	_ [C.OPS_SCALAR - int(Scalar)]struct{}
	_ [int(Scalar) - C.OPS_SCALAR]struct{}
	_ [C.OPS_AVX2 - int(AVX2)]struct{}
	_ [int(AVX2) - C.OPS_AVX2]struct{}
	_ [C.OPS_AVX512 - int(AVX512)]struct{}
	_ [int(AVX512) - C.OPS_AVX512]struct{}
	_ [C.OPS_FAMILIES - numFamilies]struct{}
	_ [numFamilies - C.OPS_FAMILIES]struct{}
)

// setCFamily hands the family in force to the C kernels.
func setCFamily(f Family) { C.ops_set_family(C.int(f)) }

// kernel is a C kernel whose runs the family tests count (kernels.h).
type kernel int

// The counted kernels.
const (
	kGEMV      kernel = C.OPS_K_GEMV
	kAXPY      kernel = C.OPS_K_AXPY
	kTiledMulT kernel = C.OPS_K_TILED_MULT
	kTiledMul  kernel = C.OPS_K_TILED_MUL
	kExpSum    kernel = C.OPS_K_EXP_SUM
	kMax       kernel = C.OPS_K_MAX
	kSwiGLU    kernel = C.OPS_K_SWIGLU
	kSwiGLUBwd kernel = C.OPS_K_SWIGLU_BWD
	kDropout   kernel = C.OPS_K_DROPOUT
	kScale     kernel = C.OPS_K_SCALE
	kWiden     kernel = C.OPS_K_WIDEN
	kRead      kernel = C.OPS_K_READ
	kQ8GEMV    kernel = C.OPS_K_Q8_GEMV
	kQ8Dequant kernel = C.OPS_K_Q8_DEQUANT
	kQ8VNNI    kernel = C.OPS_K_Q8_VNNI
	numKernels        = int(C.OPS_KERNELS)
)

func (k kernel) String() string {
	names := [...]string{kGEMV: "gemv", kAXPY: "axpy", kTiledMulT: "tiled MulT", kTiledMul: "tiled Mul",
		kExpSum: "exp_shift_sum", kMax: "max", kSwiGLU: "swiglu", kSwiGLUBwd: "swiglu_bwd",
		kDropout: "dropout", kScale: "scale", kWiden: "widen", kRead: "read_words",
		kQ8GEMV: "q8 gemv", kQ8Dequant: "q8 dequant", kQ8VNNI: "q8 vnni"}
	if k >= 0 && int(k) < len(names) && names[k] != "" {
		return names[k]
	}
	return "kernel?"
}

// countRuns clears the kernels' run counters and starts counting (on), or
// stops (off). Counting costs an atomic add per kernel call: tests only.
func countRuns(on bool) { C.ops_count_runs(cbool(on)) }

// runsOf returns how many times kernel k ran each family's code since
// countRuns(true).
func runsOf(k kernel) [numFamilies]int64 {
	var r [numFamilies]int64
	for f := range r {
		r[f] = int64(C.ops_runs_of(C.int(k), C.int(f)))
	}
	return r
}

func f32p(s []float32) *C.float { return (*C.float)(unsafe.Pointer(unsafe.SliceData(s))) }

func u16p(s []uint16) *C.uint16_t { return (*C.uint16_t)(unsafe.Pointer(unsafe.SliceData(s))) }

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
