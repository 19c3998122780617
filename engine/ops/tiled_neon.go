//go:build cgo && !purego && arm64

package ops

/*
#include <stdint.h>
void ops_neon_mult_f32(const float *w, long cols, long lo, long hi, const float *xt, long np, long n, float *y, long ldy, int acc, long kc);
void ops_neon_mult_bf16(const uint16_t *w, long cols, long lo, long hi, const float *xt, long np, long n, float *y, long ldy, int acc, long kc);
void ops_neon_mul_f32(const float *w, long cols, long rows, long lo, long hi, const float *dy, long n, float *dx, int acc, long oc);
void ops_neon_mul_bf16(const uint16_t *w, long cols, long rows, long lo, long hi, const float *dy, long n, float *dx, int acc, long oc);
void ops_neon_transpose(const float *x, long n, long cols, long lo, long hi, float *xt, long np);
*/
import "C"

// The tiled products on arm64 run on the NEON kernels of neon.c (tiled.go
// says how they are split; tiled_c.go is the amd64 twin).

// multRows computes y[i*ldy+o] (+)= Σ_c x[i, c]·W[o, c] for weight rows o
// in [lo, hi) and i < n from xt, x transposed into np columns, blocking k
// by kc.
func (w *Weight) multRows(lo, hi int, xt []float32, np, n int, y []float32, ldy int, acc bool, kc int) {
	if w.BF16 != nil {
		C.ops_neon_mult_bf16(nu16p(w.BF16), C.long(w.Cols), C.long(lo), C.long(hi), nf32p(xt), C.long(np), C.long(n), nf32p(y), C.long(ldy), nbool(acc), C.long(kc))
	} else {
		C.ops_neon_mult_f32(nf32p(w.F32), C.long(w.Cols), C.long(lo), C.long(hi), nf32p(xt), C.long(np), C.long(n), nf32p(y), C.long(ldy), nbool(acc), C.long(kc))
	}
}

// transposeCols writes xt[c*np+i] = x[i*cols+c] for columns c in [lo, hi)
// and i < n, and zeros for n ≤ i < np.
func transposeCols(x []float32, n, cols, lo, hi int, xt []float32, np int) {
	C.ops_neon_transpose(nf32p(x), C.long(n), C.long(cols), C.long(lo), C.long(hi), nf32p(xt), C.long(np))
}

// mulCols computes dx[i*Cols+c] (+)= Σ_o dy[i*Rows+o]·W[o, c] for columns c
// in [lo, hi) and i < n, blocking o by oc.
func (w *Weight) mulCols(lo, hi int, dy []float32, n int, dx []float32, acc bool, oc int) {
	if w.BF16 != nil {
		C.ops_neon_mul_bf16(nu16p(w.BF16), C.long(w.Cols), C.long(w.Rows), C.long(lo), C.long(hi), nf32p(dy), C.long(n), nf32p(dx), nbool(acc), C.long(oc))
	} else {
		C.ops_neon_mul_f32(nf32p(w.F32), C.long(w.Cols), C.long(w.Rows), C.long(lo), C.long(hi), nf32p(dy), C.long(n), nf32p(dx), nbool(acc), C.long(oc))
	}
}
