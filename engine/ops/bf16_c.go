//go:build cgo && !purego && amd64

package ops

/*
#include <stdint.h>
void ops_dp_mult(const uint16_t *w, long cols, long lo, long hi, const uint16_t *x, long ldx, long n, float *y, long ldy, int acc, long nc);
float ops_dp_peak(long iters);
void ops_round_bf16(const float *src, uint16_t *dst, long count);
void ops_dp_mul(const uint16_t *w, long cols, long rows, long lo, long hi, const uint16_t *dy, long ldd, long n, float *dx, int acc, long nc);
*/
import "C"

// dpMulTRows runs ops_dp_mult (dpbf16.c) over weight rows [lo, hi).
func (w *Weight) dpMulTRows(lo, hi int, xb []uint16, ld, n int, y []float32, acc bool, nc int) {
	C.ops_dp_mult(u16p(w.BF16), C.long(w.Cols), C.long(lo), C.long(hi), u16p(xb), C.long(ld), C.long(n), f32p(y), C.long(w.Rows), cbool(acc), C.long(nc))
}

// dpMulCols runs ops_dp_mul (dpbf16.c) over columns [lo, hi).
func (w *Weight) dpMulCols(lo, hi int, db []uint16, ld, n int, dx []float32, acc bool, nc int) {
	C.ops_dp_mul(u16p(w.BF16), C.long(w.Cols), C.long(w.Rows), C.long(lo), C.long(hi), u16p(db), C.long(ld), C.long(n), f32p(dx), cbool(acc), C.long(nc))
}

// roundRange rounds src to bfloat16 in dst with VCVTNEPS2BF16 (only called
// where useDPBF16 holds).
func roundRange(dst []uint16, src []float32) {
	if len(src) > 0 {
		C.ops_round_bf16(f32p(src), u16p(dst), C.long(len(src)))
	}
}

// dpPeakRun runs iters steps of 12 VDPBF16PS (dpbf16.c), 768 flops a step.
func dpPeakRun(iters int) float32 { return float32(C.ops_dp_peak(C.long(iters))) }
