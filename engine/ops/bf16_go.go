//go:build purego || !cgo || !amd64

package ops

// Without cgo there are no VDPBF16PS kernels (useDPBF16 is false).

func (w *Weight) dpMulTRows(lo, hi int, xb []uint16, ld, n int, y []float32, acc bool, nc int) {
	panic("ops: bfloat16 dot-product kernels need cgo")
}

func (w *Weight) dpMulCols(lo, hi int, db []uint16, ld, n int, dx []float32, acc bool, nc int) {
	panic("ops: bfloat16 dot-product kernels need cgo")
}

func roundRange(dst []uint16, src []float32) { RoundBF16(dst, src) }

func dpPeakRun(iters int) float32 { panic("ops: bfloat16 dot-product kernels need cgo") }

// Nor AMX kernels.
const amxOK = false

func amxPackX(xp []uint16, x []float32, n, cols, kp, nb int) { panic("ops: AMX kernels need cgo") }

func (w *Weight) amxMulTRows(lo, hi int, xp []uint16, kp, n int, y []float32, acc bool) {
	panic("ops: AMX kernels need cgo")
}

func (w *Weight) amxMulCols(lo, hi int, db []uint16, ld, n int, dx []float32, acc bool) {
	panic("ops: AMX kernels need cgo")
}

// setAMXL2 has no kernels to set without cgo; the deferred restore of the
// tests sets nothing either.
func setAMXL2(b int) int { return b }

func amxPeakRun(iters int) float32 { panic("ops: AMX kernels need cgo") }
