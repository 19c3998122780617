//go:build cgo && !purego && amd64

package ops

// #include "kernels.h"
import "C"

// multRows computes y[i*ldy+o] (+)= Σ_c x[i, c]·W[o, c] for weight rows o
// in [lo, hi) and i < n from xt, x transposed into np columns, blocking k
// by kc (tiled.c).
func (w *Weight) multRows(lo, hi int, xt []float32, np, n int, y []float32, ldy int, acc bool, kc int) {
	if w.BF16 != nil {
		C.ops_mult_bf16(u16p(w.BF16), C.long(w.Cols), C.long(lo), C.long(hi), f32p(xt), C.long(np), C.long(n), f32p(y), C.long(ldy), cbool(acc), C.long(kc))
	} else {
		C.ops_mult_f32(f32p(w.F32), C.long(w.Cols), C.long(lo), C.long(hi), f32p(xt), C.long(np), C.long(n), f32p(y), C.long(ldy), cbool(acc), C.long(kc))
	}
}

// transposeCols writes xt[c*np+i] = x[i*cols+c] for columns c in [lo, hi)
// and i < n, and zeros for n ≤ i < np.
func transposeCols(x []float32, n, cols, lo, hi int, xt []float32, np int) {
	C.ops_transpose(f32p(x), C.long(n), C.long(cols), C.long(lo), C.long(hi), f32p(xt), C.long(np))
}

// mulCols computes dx[i*Cols+c] (+)= Σ_o dy[i*Rows+o]·W[o, c] for columns c
// in [lo, hi) and i < n, blocking o by oc.
func (w *Weight) mulCols(lo, hi int, dy []float32, n int, dx []float32, acc bool, oc int) {
	if w.BF16 != nil {
		C.ops_mul_bf16(u16p(w.BF16), C.long(w.Cols), C.long(w.Rows), C.long(lo), C.long(hi), f32p(dy), C.long(n), f32p(dx), cbool(acc), C.long(oc))
	} else {
		C.ops_mul_f32(f32p(w.F32), C.long(w.Cols), C.long(w.Rows), C.long(lo), C.long(hi), f32p(dy), C.long(n), f32p(dx), cbool(acc), C.long(oc))
	}
}
