package nn

import (
	"math"

	"qwentune/engine/ops"
)

// sigmoid is 1/(1+e^−z) in float32.
func sigmoid(z float32) float32 { return float32(1 / (1 + math.Exp(-float64(z)))) }

// swigluForward computes h[n] = silu(gate[n]) ⊙ up[n], silu(z) = z·sigmoid(z),
// over flat [tokens, intermediate] buffers of n elements.
func swigluForward(h, gate, up []float32, n int) {
	if small(n) {
		swigluRange(h, gate, up, 0, n)
		return
	}
	ops.Parallel(n, func(lo, hi int) { swigluRange(h, gate, up, lo, hi) })
}

func swigluRange(h, gate, up []float32, lo, hi int) {
	for i := lo; i < hi; i++ {
		g := gate[i]
		h[i] = g * sigmoid(g) * up[i]
	}
}

// swigluBackward writes dgate[n] and dup[n] from dh[n]:
// dup = dh·silu(g), dgate = dh·up·σ(g)·(1 + g·(1 − σ(g))). dgate may alias
// gate and dup may alias up.
func swigluBackward(dgate, dup, dh, gate, up []float32, n int) {
	ops.Parallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g, u, d := gate[i], up[i], dh[i]
			s := sigmoid(g)
			dup[i] = d * g * s
			dgate[i] = d * u * s * (1 + g*(1-s))
		}
	})
}
