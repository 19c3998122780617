//go:build cgo && !purego && amd64

package ops

// #include "kernels.h"
import "C"

// gemvBF16 computes y[i*ldy+o] (+)= Σ_c x[i*cols+c]·w[o*cols+c] for rows o
// in [lo, hi) and i < n, with the AVX2 or scalar kernel (gemv.c).
func gemvBF16(w []uint16, cols, lo, hi int, x []float32, n int, y []float32, ldy int, acc bool) {
	C.ops_gemv_bf16(u16p(w), C.long(cols), C.long(lo), C.long(hi), f32p(x), C.long(n), f32p(y), C.long(ldy), cbool(acc))
}

// gemvF32 is gemvBF16 for float32 weights.
func gemvF32(w []float32, cols, lo, hi int, x []float32, n int, y []float32, ldy int, acc bool) {
	C.ops_gemv_f32(f32p(w), C.long(cols), C.long(lo), C.long(hi), f32p(x), C.long(n), f32p(y), C.long(ldy), cbool(acc))
}

// axpyBF16 computes dx[i*cols+c] (+)= Σ_o dy[i*ldy+o]·w[o*cols+c] over rows
// o in [lo, hi), for all columns c and i < n.
func axpyBF16(w []uint16, cols, lo, hi int, dy []float32, ldy, n int, dx []float32, acc bool) {
	C.ops_axpy_bf16(u16p(w), C.long(cols), C.long(lo), C.long(hi), f32p(dy), C.long(ldy), C.long(n), f32p(dx), cbool(acc))
}

// axpyF32 is axpyBF16 for float32 weights.
func axpyF32(w []float32, cols, lo, hi int, dy []float32, ldy, n int, dx []float32, acc bool) {
	C.ops_axpy_f32(f32p(w), C.long(cols), C.long(lo), C.long(hi), f32p(dy), C.long(ldy), C.long(n), f32p(dx), cbool(acc))
}

// gemv512 computes y[i*ldy+o] (+)= Σ_c x[i*Cols+c]·W[o, c] for rows o in
// [lo, hi) and n inputs with the AVX-512 decode kernels (avx512Products
// must hold), each input as if it were alone. For a bfloat16 weight eo is
// x split by splitEO (eoLen(Cols) values per input), or nil to have the
// kernel split it itself.
func (w *Weight) gemv512(lo, hi int, x []float32, n int, eo, y []float32, ldy int, acc bool) {
	if w.BF16 != nil {
		var e *C.float
		if eo != nil {
			e = f32p(eo)
		}
		C.ops_gemv512_bf16(u16p(w.BF16), C.long(w.Cols), C.long(lo), C.long(hi), f32p(x), e, C.long(eoLen(w.Cols)), C.long(n), f32p(y), C.long(ldy), cbool(acc))
	} else {
		C.ops_gemv512_f32(f32p(w.F32), C.long(w.Cols), C.long(lo), C.long(hi), f32p(x), C.long(n), f32p(y), C.long(ldy), cbool(acc))
	}
}

// The batched decode kernels hold the accumulators of up to GEMVN_MAX
// inputs, and MulT gives them up to GEMVMaxN: this fails to compile if
// GEMVN_MAX is the smaller.
var _ [C.GEMVN_MAX - GEMVMaxN]struct{}

// eoLen is the length of the even/odd copy of an input of cols values.
func eoLen(cols int) int { return cols &^ 31 }

// splitEO writes the even/odd copy of x (cols values) that the bfloat16
// decode kernel reads into eo (eoLen(cols) values).
func splitEO(x []float32, cols int, eo []float32) {
	if eoLen(cols) > 0 {
		C.ops_split_eo(f32p(x), C.long(cols), f32p(eo))
	}
}
