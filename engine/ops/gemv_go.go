//go:build purego || !cgo || !amd64

package ops

// gemvBF16 computes y[i*ldy+o] (+)= Σ_c x[i*cols+c]·w[o*cols+c] for rows o
// in [lo, hi) and i < n.
func gemvBF16(w []uint16, cols, lo, hi int, x []float32, n int, y []float32, ldy int, acc bool) {
	if useNEON {
		neonGEMVBF16(w, cols, lo, hi, x, n, y, ldy, acc)
		return
	}
	for o := lo; o < hi; o++ {
		wr := w[o*cols : (o+1)*cols]
		for i := 0; i < n; i++ {
			xr := x[i*cols : (i+1)*cols]
			var s0, s1, s2, s3 float32
			c := 0
			for ; c+4 <= cols; c += 4 {
				s0 += BF16ToF32(wr[c]) * xr[c]
				s1 += BF16ToF32(wr[c+1]) * xr[c+1]
				s2 += BF16ToF32(wr[c+2]) * xr[c+2]
				s3 += BF16ToF32(wr[c+3]) * xr[c+3]
			}
			for ; c < cols; c++ {
				s0 += BF16ToF32(wr[c]) * xr[c]
			}
			store(y, i*ldy+o, (s0+s1)+(s2+s3), acc)
		}
	}
}

// gemvF32 is gemvBF16 for float32 weights.
func gemvF32(w []float32, cols, lo, hi int, x []float32, n int, y []float32, ldy int, acc bool) {
	if useNEON {
		neonGEMVF32(w, cols, lo, hi, x, n, y, ldy, acc)
		return
	}
	for o := lo; o < hi; o++ {
		wr := w[o*cols : (o+1)*cols]
		for i := 0; i < n; i++ {
			xr := x[i*cols : (i+1)*cols]
			var s0, s1, s2, s3 float32
			c := 0
			for ; c+4 <= cols; c += 4 {
				s0 += wr[c] * xr[c]
				s1 += wr[c+1] * xr[c+1]
				s2 += wr[c+2] * xr[c+2]
				s3 += wr[c+3] * xr[c+3]
			}
			for ; c < cols; c++ {
				s0 += wr[c] * xr[c]
			}
			store(y, i*ldy+o, (s0+s1)+(s2+s3), acc)
		}
	}
}

func store(y []float32, k int, v float32, acc bool) {
	if acc {
		y[k] += v
	} else {
		y[k] = v
	}
}

// axpyBF16 computes dx[i*cols+c] (+)= Σ_o dy[i*ldy+o]·w[o*cols+c] over rows
// o in [lo, hi), for all columns c and i < n.
func axpyBF16(w []uint16, cols, lo, hi int, dy []float32, ldy, n int, dx []float32, acc bool) {
	if useNEON {
		neonAXPYBF16(w, cols, lo, hi, dy, ldy, n, dx, acc)
		return
	}
	if !acc {
		clear(dx[:n*cols])
	}
	for o := lo; o < hi; o++ {
		wr := w[o*cols : (o+1)*cols]
		for i := 0; i < n; i++ {
			g := dy[i*ldy+o]
			d := dx[i*cols : (i+1)*cols]
			for c, b := range wr {
				d[c] += g * BF16ToF32(b)
			}
		}
	}
}

// axpyF32 is axpyBF16 for float32 weights.
func axpyF32(w []float32, cols, lo, hi int, dy []float32, ldy, n int, dx []float32, acc bool) {
	if useNEON {
		neonAXPYF32(w, cols, lo, hi, dy, ldy, n, dx, acc)
		return
	}
	if !acc {
		clear(dx[:n*cols])
	}
	for o := lo; o < hi; o++ {
		wr := w[o*cols : (o+1)*cols]
		for i := 0; i < n; i++ {
			g := dy[i*ldy+o]
			d := dx[i*cols : (i+1)*cols]
			for c, v := range wr {
				d[c] += g * v
			}
		}
	}
}

// gemv512 exists only with the C kernels (avx512Products is false here).
func (w *Weight) gemv512(lo, hi int, x []float32, n int, eo, y []float32, ldy int, acc bool) {
	panic("ops: the AVX-512 decode kernels need cgo")
}

func eoLen(int) int { return 0 }

func splitEO([]float32, int, []float32) {}
