package nn

import "qwentune/engine/ops"

// residualForward computes out[n] = x[n] + y[n] (out may alias x or y). Its
// backward is the identity into both inputs, so the layer code passes the
// residual gradient on unchanged and adds the branch gradient to it.
func residualForward(out, x, y []float32, n int) {
	ops.Parallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = x[i] + y[i]
		}
	})
}

// addBias adds b[w] to every row of y[n,w].
func addBias(y, b []float32, n, w int) {
	ops.Parallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := y[i*w : (i+1)*w]
			for j, v := range b {
				r[j] += v
			}
		}
	})
}

// biasBackward adds the column sums of dy[n,w] to db[w].
func biasBackward(db, dy []float32, n, w int) {
	for i := 0; i < n; i++ {
		for j, v := range dy[i*w : (i+1)*w] {
			db[j] += v
		}
	}
}
