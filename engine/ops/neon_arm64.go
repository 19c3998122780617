//go:build cgo && !purego && arm64

package ops

// The NEON kernels of neon.c: on arm64 the decode products (MulT and Mul
// with at most GEMVMaxN inputs) run on them instead of the Go loops of
// gemv_go.go, for float32 and bfloat16 weights. NEON (ASIMD) is part of
// every ARMv8-A core, so the baseline family (Scalar) is NEON here.

/*
#cgo CFLAGS: -O3 -std=gnu11
#include <stdint.h>
void ops_neon_gemv_f32(const float *w, long cols, long lo, long hi, const float *x, long n, float *y, long ldy, int acc);
void ops_neon_gemv_bf16(const uint16_t *w, long cols, long lo, long hi, const float *x, long n, float *y, long ldy, int acc);
void ops_neon_axpy_f32(const float *w, long cols, long lo, long hi, const float *dy, long ldy, long n, float *dx, int acc);
void ops_neon_axpy_bf16(const uint16_t *w, long cols, long lo, long hi, const float *dy, long ldy, long n, float *dx, int acc);
*/
import "C"

import "unsafe"

// neonBuilt says that this build has the NEON kernels.
const neonBuilt = true

// baseFamily is the name of the Scalar family in this build: its decode
// products are the NEON kernels.
const baseFamily = "neon"

func nf32p(s []float32) *C.float { return (*C.float)(unsafe.Pointer(unsafe.SliceData(s))) }

func nu16p(s []uint16) *C.uint16_t { return (*C.uint16_t)(unsafe.Pointer(unsafe.SliceData(s))) }

func nbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func neonGEMVF32(w []float32, cols, lo, hi int, x []float32, n int, y []float32, ldy int, acc bool) {
	C.ops_neon_gemv_f32(nf32p(w), C.long(cols), C.long(lo), C.long(hi), nf32p(x), C.long(n), nf32p(y), C.long(ldy), nbool(acc))
}

func neonGEMVBF16(w []uint16, cols, lo, hi int, x []float32, n int, y []float32, ldy int, acc bool) {
	C.ops_neon_gemv_bf16(nu16p(w), C.long(cols), C.long(lo), C.long(hi), nf32p(x), C.long(n), nf32p(y), C.long(ldy), nbool(acc))
}

func neonAXPYF32(w []float32, cols, lo, hi int, dy []float32, ldy, n int, dx []float32, acc bool) {
	C.ops_neon_axpy_f32(nf32p(w), C.long(cols), C.long(lo), C.long(hi), nf32p(dy), C.long(ldy), C.long(n), nf32p(dx), nbool(acc))
}

func neonAXPYBF16(w []uint16, cols, lo, hi int, dy []float32, ldy, n int, dx []float32, acc bool) {
	C.ops_neon_axpy_bf16(nu16p(w), C.long(cols), C.long(lo), C.long(hi), nf32p(dy), C.long(ldy), C.long(n), nf32p(dx), nbool(acc))
}

// useNEON makes gemv_go.go's functions call the NEON kernels; a test turns
// it off to compare them with the Go loops.
var useNEON = true
