//go:build cgo && !purego && amd64

package ops

// #include "kernels.h"
import "C"

// SwiGLU sets h[i] = silu(gate[i])·up[i] = gate[i]·σ(gate[i])·up[i] for every
// i < len(h), σ(g) = 1/(1+e^−g) in float32: σ is 0 for g below about −88.7
// and 1 for large g, never NaN for finite g (g = −Inf gives −Inf·0 = NaN, as
// the formula does in any precision).
func SwiGLU(h, gate, up []float32) {
	n := len(h)
	if n == 0 {
		return
	}
	gate, up = gate[:n], up[:n]
	C.ops_swiglu(f32p(h), f32p(gate), f32p(up), C.long(n))
}

// SwiGLUBackward is the backward of SwiGLU for i < len(dh): with s = σ(g),
// dup = dh·g·s and dgate = dh·up·s·(1 + g·(1−s)). dgate may be gate and dup
// may be up (the same slices, not partly overlapping ones): each element is
// read before it is written.
func SwiGLUBackward(dgate, dup, dh, gate, up []float32) {
	n := len(dh)
	if n == 0 {
		return
	}
	dgate, dup, gate, up = dgate[:n], dup[:n], gate[:n], up[:n]
	C.ops_swiglu_bwd(f32p(dgate), f32p(dup), f32p(dh), f32p(gate), f32p(up), C.long(n))
}
