//go:build purego || !cgo || !amd64

package ops

import "math"

// exp32 is e^x in float32 after Cephes expf, as in exp.h: x = n·ln2 + r
// with |r| ≤ ln2/2 (ln2 split so that n·c1 is exact), a degree-7 polynomial
// for e^r, and 2^n applied as two normal factors so that subnormal results
// round correctly. The clamp to [-104, 89] covers everything that does not
// round to 0 or overflow to +Inf; NaN passes through.
func exp32(x float32) float32 {
	const (
		lo, hi = -104, 89
		log2e  = 1.44269504088896341
		c1, c2 = 0.693359375, -2.12194440e-4
		magic  = 12582912 // 1.5·2^23: adding it rounds to an integer
	)
	if x != x {
		return x
	}
	x = min(max(x, lo), hi)
	n := float32(x*log2e+magic) - magic
	r := x - n*c1
	r -= n * c2
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*(r*r) + r + 1
	ni := int32(n)
	h := ni >> 1
	return p * math.Float32frombits(uint32(h+127)<<23) * math.Float32frombits(uint32(ni-h+127)<<23)
}
