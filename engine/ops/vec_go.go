//go:build purego

package ops

import "math"

// Instruction sets of the streaming kernels; purego has only the first.
const (
	vecScalar = iota
	vecAVX2
	vecAVX512
)

// forceVecISA has nothing to switch with purego.
func forceVecISA(int) int { return vecScalar }

// Constants of the dropout hash: element e of stream key is kept iff the top
// 24 bits of splitmix64(key + e·dropoutG) are large enough.
const (
	dropoutG   = 0xd1b54a32d192ed03
	splitmixG  = 0x9e3779b97f4a7c15 // the increment SplitMix64 adds first
	dropoutTop = 1 << 24
)

// dropoutThreshold is the smallest t such that float32(t)·2^-24 >= p, so
// that for every 24-bit h, h >= t ⇔ float32(h)·2^-24 >= p: 0 when every
// element is kept (p ≤ 0), 2^24 when none is (p ≥ 1 or NaN). For p in
// (0, 1), p·2^24 is exact in float64 and so is its ceiling.
func dropoutThreshold(p float32) uint32 {
	switch {
	case p <= 0:
		return 0
	case !(p < 1):
		return dropoutTop
	}
	return uint32(math.Ceil(float64(p) * dropoutTop))
}

// Dropout sets, for i < len(x), y[i] = x[i]·(1/(1−p)) (the scale rounded to
// float32 first) if element e = first+i is kept and 0 otherwise. Element e
// is kept iff u >= p with u = float32(splitmix64(key+e·0xd1b54a32d192ed03)
// >>40)·2^-24, SplitMix64's finaliser: the mask is a pure function of (key,
// e), so chunks of one tensor may be done separately, with first their
// offset, and a backward with the same key masks the same elements. y may be
// x (the same slice, not a partly overlapping one).
func Dropout(y, x []float32, key uint64, first int, p float32) {
	y = y[:len(x)]
	s := 1 / (1 - p)
	thr := uint64(dropoutThreshold(p))
	v := key + splitmixG + uint64(first)*dropoutG
	for i, xi := range x {
		// SplitMix64 up to its last step, z ^ (z >> 31), which leaves the
		// top 33 bits unchanged.
		z := (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		if z>>40 >= thr {
			y[i] = xi * s
		} else {
			y[i] = 0
		}
		v += dropoutG
	}
}

// Scale multiplies every element of row by k.
func Scale(row []float32, k float32) {
	for j := range row {
		row[j] *= k
	}
}
