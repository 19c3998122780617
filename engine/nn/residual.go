package nn

import "qwentune/engine/ops"

// residualForward computes out[n] = x[n] + y[n] (out may alias x or y). Its
// backward is the identity into both inputs, so the layer code passes the
// residual gradient on unchanged and adds the branch gradient to it.
func residualForward(out, x, y []float32, n int) {
	if small(n) {
		addRange(out, x, y, 0, n)
		return
	}
	ops.Parallel(n, func(lo, hi int) { addRange(out, x, y, lo, hi) })
}

func addRange(out, x, y []float32, lo, hi int) {
	for i := lo; i < hi; i++ {
		out[i] = x[i] + y[i]
	}
}

// addBias adds b[w] to every row of y[n,w].
func addBias(y, b []float32, n, w int) {
	if small(n * w) {
		biasRows(y, b, w, 0, n)
		return
	}
	ops.Parallel(n, func(lo, hi int) { biasRows(y, b, w, lo, hi) })
}

func biasRows(y, b []float32, w, lo, hi int) {
	for i := lo; i < hi; i++ {
		r := y[i*w : (i+1)*w]
		for j, v := range b {
			r[j] += v
		}
	}
}

// parallelMin is the number of elements below which an elementwise op runs
// on the calling goroutine: smaller jobs cost less than a hand-off to the
// pool, and skipping the closure keeps single-token decoding free of
// allocations.
const parallelMin = 1 << 14

// small reports whether an op over n elements should run inline.
func small(n int) bool { return n < parallelMin }

// biasBackward adds the column sums of dy[n,w] to db[w].
func biasBackward(db, dy []float32, n, w int) {
	for i := 0; i < n; i++ {
		for j, v := range dy[i*w : (i+1)*w] {
			db[j] += v
		}
	}
}
