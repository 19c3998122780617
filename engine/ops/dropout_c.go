//go:build cgo && !purego && amd64

package ops

// #include "kernels.h"
import "C"

// Dropout sets, for i < len(x), y[i] = x[i]·(1/(1−p)) (the scale rounded to
// float32 first) if element e = first+i is kept and 0 otherwise. Element e
// is kept iff u >= p with u = float32(splitmix64(key+e·0xd1b54a32d192ed03)
// >>40)·2^-24, SplitMix64's finaliser: the mask is a pure function of (key,
// e), so chunks of one tensor may be done separately, with first their
// offset, and a backward with the same key masks the same elements. y may be
// x (the same slice, not a partly overlapping one).
func Dropout(y, x []float32, key uint64, first int, p float32) {
	n := len(x)
	if n == 0 {
		return
	}
	y = y[:n]
	s := 1 / (1 - p)
	base := key + splitmixG + uint64(first)*dropoutG
	C.ops_dropout(f32p(y), f32p(x), C.long(n),
		C.uint64_t(base), C.uint32_t(dropoutThreshold(p)), C.float(s))
}
