package nn

import (
	"math"

	"qwentune/engine/ops"
)

// rmsnormForward computes y[n,h] = w[h] ⊙ x[n,h] · rstd[n] with
// rstd = 1/sqrt(mean(x²) + eps), saving rstd for the backward pass.
func rmsnormForward(y, rstd, x, w []float32, n, h int, eps float32) {
	if small(n * h) {
		rmsnormRows(y, rstd, x, w, h, eps, 0, n)
		return
	}
	ops.Parallel(n, func(lo, hi int) { rmsnormRows(y, rstd, x, w, h, eps, lo, hi) })
}

func rmsnormRows(y, rstd, x, w []float32, h int, eps float32, lo, hi int) {
	for i := lo; i < hi; i++ {
		xr, yr := x[i*h:(i+1)*h], y[i*h:(i+1)*h]
		var ss float64
		for _, v := range xr {
			ss += float64(v) * float64(v)
		}
		r := float32(1 / math.Sqrt(float64(float32(ss/float64(h))+eps)))
		rstd[i] = r
		for j, v := range xr {
			yr[j] = w[j] * (v * r)
		}
	}
}

// rmsnormNormalize recomputes y[n,h] = w ⊙ x · rstd from the saved rstd[n].
func rmsnormNormalize(y, rstd, x, w []float32, n, h int) {
	ops.Parallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xr, yr, r := x[i*h:(i+1)*h], y[i*h:(i+1)*h], rstd[i]
			for j, v := range xr {
				yr[j] = w[j] * (v * r)
			}
		}
	})
}

// rmsnormBackward adds the input gradient to dx[n,h] given dy[n,h], the
// input x[n,h] and the saved rstd[n]:
//
//	dx += r·(w⊙dy) − r³/h · x · Σ_j(w_j·dy_j·x_j)
//
// and, when dw is not nil, dw[h] += Σ_rows dy ⊙ x·r.
func rmsnormBackward(dx, dw, dy, x, w, rstd []float32, n, h int) {
	ops.Parallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xr, dyr, dxr, r := x[i*h:(i+1)*h], dy[i*h:(i+1)*h], dx[i*h:(i+1)*h], rstd[i]
			var dot float64
			for j, v := range xr {
				dot += float64(w[j] * dyr[j] * v)
			}
			c := float32(dot) * r * r * r / float32(h)
			for j, v := range xr {
				dxr[j] += r*w[j]*dyr[j] - c*v
			}
		}
	})
	if dw == nil {
		return
	}
	for i := 0; i < n; i++ {
		xr, dyr, r := x[i*h:(i+1)*h], dy[i*h:(i+1)*h], rstd[i]
		for j, v := range xr {
			dw[j] += dyr[j] * v * r
		}
	}
}
