//go:build purego || !cgo || !amd64

package ops

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
