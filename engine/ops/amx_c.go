//go:build cgo && !purego && amd64

package ops

/*
#include <stdint.h>
int ops_amx_enable(void);
void ops_amx_pack_x(const float *x, long n, long cols, long ldx, uint32_t *xp, long kp, long b0, long b1);
int ops_amx_mult(const uint16_t *w, const uint8_t *q8, long cols, long rows, long lo, long hi, const uint32_t *xp, long kp, long n, float *y, long ldy, int acc);
int ops_amx_mul(const uint16_t *w, const uint8_t *q8, long cols, long rows, long lo, long hi, const uint16_t *dy, long ldd, long n, float *dx, int acc);
float ops_amx_peak(long iters);
extern long ops_amx_l2;
*/
import "C"

import "unsafe"

// amxOK says that this CPU has AMX-TILE and AMX-BF16 and that the operating
// system granted this process the tile state (amx.c), asked once at start-up.
var amxOK = C.ops_amx_enable() == 1

// amxPackX packs n rows of x (cols values each) into xp for ops_amx_mult:
// bfloat16 pairs, 16 rows to a block, kp pairs a row (a multiple of 16),
// over the pool by blocks of 16 rows; nb blocks (rows past n are zero).
func amxPackX(xp []uint16, x []float32, n, cols, kp, nb int) {
	p := (*C.uint32_t)(unsafe.Pointer(unsafe.SliceData(xp)))
	Parallel(nb, func(lo, hi int) {
		C.ops_amx_pack_x(f32p(x), C.long(n), C.long(cols), C.long(cols), p, C.long(kp), C.long(lo), C.long(hi))
	})
}

// amxMulTRows runs ops_amx_mult (amx.c) over weight rows [lo, hi).
func (w *Weight) amxMulTRows(lo, hi int, xp []uint16, kp, n int, y []float32, acc bool) {
	if C.ops_amx_mult(u16p(w.BF16), w.amxQ8(), C.long(w.Cols), C.long(w.Rows), C.long(lo), C.long(hi),
		(*C.uint32_t)(unsafe.Pointer(unsafe.SliceData(xp))), C.long(kp), C.long(n), f32p(y), C.long(w.Rows), cbool(acc)) == 0 {
		panic("ops: out of memory for the AMX sums")
	}
}

// amxMulCols runs ops_amx_mul (amx.c) over columns [lo, hi).
func (w *Weight) amxMulCols(lo, hi int, db []uint16, ld, n int, dx []float32, acc bool) {
	if C.ops_amx_mul(u16p(w.BF16), w.amxQ8(), C.long(w.Cols), C.long(w.Rows), C.long(lo), C.long(hi), u16p(db), C.long(ld), C.long(n), f32p(dx), cbool(acc)) == 0 {
		panic("ops: out of memory for an AMX panel")
	}
}

// setAMXL2 sets the bytes of packed activations up to which the AMX kernels
// leave them whole (1 MiB, in L2), returning the previous value: tests make
// it small so that small products cross MulT's row groups and Mul's parts
// of the reduction.
func setAMXL2(b int) int {
	old := int(C.ops_amx_l2)
	C.ops_amx_l2 = C.long(b)
	return old
}

// amxPeakRun runs iters steps of 4 TDPBF16PS (amx.c), 65,536 flops a step.
func amxPeakRun(iters int) float32 { return float32(C.ops_amx_peak(C.long(iters))) }

// amxQ8 is the packed Q8_0 weight the AMX kernels dequantise as they go,
// or NULL for a bfloat16 weight.
func (w *Weight) amxQ8() *C.uint8_t {
	if w.Q8Packed {
		return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(w.Q8)))
	}
	return nil
}
