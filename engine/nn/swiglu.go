package nn

import "qwentune/engine/ops"

// swigluForward computes h[n] = silu(gate[n]) ⊙ up[n], silu(z) = z·sigmoid(z),
// over flat [tokens, intermediate] buffers of n elements.
func swigluForward(h, gate, up []float32, n int) {
	if small(n) {
		ops.SwiGLU(h[:n], gate, up)
		return
	}
	ops.Parallel(n, func(lo, hi int) { ops.SwiGLU(h[lo:hi], gate[lo:hi], up[lo:hi]) })
}

// swigluBackward writes dgate[n] and dup[n] from dh[n]:
// dup = dh·silu(g), dgate = dh·up·σ(g)·(1 + g·(1 − σ(g))). dgate may alias
// gate and dup may alias up.
func swigluBackward(dgate, dup, dh, gate, up []float32, n int) {
	ops.Parallel(n, func(lo, hi int) {
		ops.SwiGLUBackward(dgate[lo:hi], dup[lo:hi], dh[lo:hi], gate[lo:hi], up[lo:hi])
	})
}
