//go:build purego

package ops

import "math"

// Instruction sets of the element-wise kernels; purego has only the first.
const (
	elemScalar = iota
	elemAVX2
	elemAVX512
)

// forceElemISA has nothing to switch with purego.
func forceElemISA(int) int { return elemScalar }

// exp32 is e^x in float32 after Cephes expf, as in elem_c.go: x = n·ln2 + r
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

// ExpShiftSum replaces each row[j] by e^(row[j]−shift) and returns the sum
// of the new values, accumulated well enough (float32 partial sums of a few
// terms, then float64) that its relative error stays within a few float32
// ulps for vocabulary-sized rows. The exp is a float32 polynomial good to
// about 1 ulp; results below the smallest subnormal round to 0, above
// MaxFloat32 to +Inf, and NaN stays NaN. For a softmax, shift is the row's
// maximum (MaxF32), which keeps every exponent ≤ 0.
func ExpShiftSum(row []float32, shift float32) float64 {
	var s float64
	for j, x := range row {
		e := exp32(x - shift)
		row[j] = e
		s += float64(e)
	}
	return s
}

// MaxF32 returns the largest element of row, skipping NaNs; −Inf when row is
// empty or all NaN.
func MaxF32(row []float32) float32 {
	m := float32(math.Inf(-1))
	for _, x := range row {
		if x > m {
			m = x
		}
	}
	return m
}

// SwiGLU sets h[i] = silu(gate[i])·up[i] = gate[i]·σ(gate[i])·up[i] for every
// i < len(h), σ(g) = 1/(1+e^−g) in float32: σ is 0 for g below about −88.7
// and 1 for large g, never NaN for finite g (g = −Inf gives −Inf·0 = NaN, as
// the formula does in any precision).
func SwiGLU(h, gate, up []float32) {
	gate, up = gate[:len(h)], up[:len(h)]
	for i, g := range gate {
		h[i] = g / (1 + exp32(-g)) * up[i]
	}
}

// SwiGLUBackward is the backward of SwiGLU for i < len(dh): with s = σ(g),
// dup = dh·g·s and dgate = dh·up·s·(1 + g·(1−s)). dgate may be gate and dup
// may be up (the same slices, not partly overlapping ones): each element is
// read before it is written.
func SwiGLUBackward(dgate, dup, dh, gate, up []float32) {
	n := len(dh)
	dgate, dup, gate, up = dgate[:n], dup[:n], gate[:n], up[:n]
	for i, d := range dh {
		g, u := gate[i], up[i]
		e := exp32(-g)
		s := 1 / (1 + e)
		// 1−s as e·s for g ≥ 0 does not cancel as s → 1; for g < 0 the
		// subtraction is exact enough and e·s could be Inf·0.
		oms := 1 - s
		if g >= 0 {
			oms = e * s
		}
		// through silu(g) and silu'(g), which cannot overflow (elem_c.go)
		dup[i] = d * (g * s)
		dgate[i] = d * u * (s * (1 + g*oms))
	}
}
