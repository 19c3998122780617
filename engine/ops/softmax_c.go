//go:build cgo && !purego && amd64

package ops

// #include "kernels.h"
import "C"

import "math"

// ExpShiftSum replaces each row[j] by e^(row[j]−shift) and returns the sum
// of the new values, accumulated well enough (float32 partial sums of a few
// terms, then float64) that its relative error stays within a few float32
// ulps for vocabulary-sized rows. The exp is a float32 polynomial good to
// about 1 ulp; results below the smallest subnormal round to 0, above
// MaxFloat32 to +Inf, and NaN stays NaN. For a softmax, shift is the row's
// maximum (MaxF32), which keeps every exponent ≤ 0.
func ExpShiftSum(row []float32, shift float32) float64 {
	if len(row) == 0 {
		return 0
	}
	return float64(C.ops_exp_shift_sum(f32p(row), C.long(len(row)), C.float(shift)))
}

// MaxF32 returns the largest element of row, skipping NaNs; −Inf when row is
// empty or all NaN.
func MaxF32(row []float32) float32 {
	if len(row) == 0 {
		return float32(math.Inf(-1))
	}
	return float32(C.ops_max(f32p(row), C.long(len(row))))
}
