package ops

// Products with more than GEMVMaxN input rows run on the tiled kernels
// (tiled.c) in the AVX512 and AVX2 families, and on sgemm otherwise. The tiled
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
func useTiled(n int) bool { return n > GEMVMaxN && tiledProducts() }

// tiled computes MulT (transB) or Mul with the tiled kernels.
func (w *Weight) tiled(out, in []float32, n int, acc, transB bool) {
	locked := acquirePool()
	t, xt := &tasks.tiled, xtBuf
	if !locked {
		// A nested or concurrent call: the shared task and buffer are the
		// pool holder's, and the work runs on the caller.
		t, xt = new(tiledTask), nil
	}
	if !transB {
		*t = tiledTask{w: w, out: out, in: in, n: n, acc: acc, kc: tiledOC}
		runOn(locked, t, w.Cols, 64)
	} else {
		// Inputs go 64 rows at a time (the width of a tile), so the
		// transposed block stays small and each weight streams once per 64
		// rows.
		if size := 64 * w.Cols; cap(xt) < size {
			xt = make([]float32, size)
			if locked {
				xtBuf = xt
			}
		}
		for i0 := 0; i0 < n; i0 += 64 {
			nc := min(64, n-i0)
			np := (nc + 15) &^ 15
			*t = tiledTask{w: w, out: out[i0*w.Rows:], in: in[i0*w.Cols:], xt: xt, n: nc, np: np,
				kc: max(64, tiledL2/(4*np)), acc: acc, transB: true, transpose: true}
			runOn(locked, t, w.Cols, 8)
			t.transpose = false
			runOn(locked, t, w.Rows, 6)
		}
	}
	if locked {
		*t = tiledTask{}
		pool.mu.Unlock()
	}
}
