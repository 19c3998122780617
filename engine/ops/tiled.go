package ops

// Products with more than GEMVMaxN input rows run on the tiled kernels
// (gemm_c.go) when the CPU has AVX-512, and on sgemm otherwise. The tiled
// kernels read each weight in place, split over the pool by weight rows
// (MulT) or columns (Mul); sgemm repacks the whole weight on every call,
// which at 64–256 input rows costs about as much as the arithmetic it feeds.
// MulT transposes its (small) input instead, so that each weight value is
// broadcast against 64 inputs at a time.

// tiledL2 is the share of a core's L2 cache a block of MulT's transposed
// input may fill: k is blocked so that kc rows of np values fit.
var tiledL2 = 512 << 10

// tiledOC is the number of weight rows one block of Mul accumulates before
// writing its output tile back.
var tiledOC = 512

// tiledTask runs a tiled product over weight rows (transB) or columns
// [lo, hi), or, with transpose set, transposes input columns [lo, hi).
type tiledTask struct {
	w         *Weight
	out, in   []float32
	xt        []float32
	n, np, kc int
	acc       bool
	transB    bool
	transpose bool
}

func (t *tiledTask) run(_, lo, hi int) {
	switch {
	case t.transpose:
		transposeCols(t.in, t.n, t.w.Cols, lo, hi, t.xt, t.np)
	case t.transB:
		t.w.multRows(lo, hi, t.xt, t.np, t.n, t.out, t.w.Rows, t.acc, t.kc)
	default:
		t.w.mulCols(lo, hi, t.in, t.n, t.out, t.acc, t.kc)
	}
}

// xtBuf holds MulT's transposed block of 64 input rows; it grows to the
// widest weight once and is used under the pool lock.
var xtBuf []float32

// useTiled reports whether a product with n input rows goes to the tiled
// kernels.
func useTiled(n int) bool { return n > GEMVMaxN && tiledAvailable() }

// tiled computes MulT (transB) or Mul with the tiled kernels.
func (w *Weight) tiled(out, in []float32, n int, acc, transB bool) {
	if !transB {
		t := tiledTask{w: w, out: out, in: in, n: n, acc: acc, kc: tiledOC}
		if !acquirePool() {
			t.run(0, 0, w.Cols)
			return
		}
		tasks.tiled = t
		runLocked(&tasks.tiled, w.Cols, 64)
		tasks.tiled = tiledTask{}
		pool.mu.Unlock()
		return
	}
	// Inputs go 64 rows at a time (the width of a tile), so the transposed
	// block stays small and each weight streams once per 64 rows.
	locked := acquirePool()
	size := 64 * w.Cols
	var xt []float32
	if locked {
		if cap(xtBuf) < size {
			xtBuf = make([]float32, size)
		}
		xt = xtBuf[:size]
	} else {
		xt = make([]float32, size) // a nested or concurrent call: xtBuf is the pool holder's
	}
	for i0 := 0; i0 < n; i0 += 64 {
		c := tiledTask{w: w, out: out[i0*w.Rows:], in: in[i0*w.Cols:], xt: xt, n: min(64, n-i0), acc: acc, transB: true}
		c.np = (c.n + 15) &^ 15
		c.kc = max(64, tiledL2/(4*c.np))
		if !locked {
			c.transpose = true
			c.run(0, 0, w.Cols)
			c.transpose = false
			c.run(0, 0, w.Rows)
			continue
		}
		tasks.tiled = c
		tasks.tiled.transpose = true
		runLocked(&tasks.tiled, w.Cols, 8)
		tasks.tiled.transpose = false
		runLocked(&tasks.tiled, w.Rows, 6)
	}
	if locked {
		tasks.tiled = tiledTask{}
		pool.mu.Unlock()
	}
}
