package ops

import "math"

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
