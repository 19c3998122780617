//go:build purego || !cgo || !amd64

package ops

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
		// through silu(g) and silu'(g), which cannot overflow (swiglu.c)
		dup[i] = d * (g * s)
		dgate[i] = d * u * (s * (1 + g*oms))
	}
}
