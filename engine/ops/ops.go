// Package ops holds the numeric kernels of the engine: the matrix-multiply
// backend (OpenBLAS through gonum/netlib, or gonum's pure-Go BLAS with
// -tags purego) and frozen weights stored in float32 or bfloat16.
//
// Shapes are row-major. A Linear weight has PyTorch's layout [out, in] and
// computes y = x·Wᵀ.
package ops

import (
	"runtime"
	"sync"
)

// Weight is a frozen matrix of Rows×Cols stored either as float32 (F32) or
// as bfloat16 bit patterns (BF16); exactly one of the two is non-nil.
type Weight struct {
	Rows, Cols int
	F32        []float32
	BF16       []uint16
}

// MulT computes y[n, Rows] = x[n, Cols]·Wᵀ, adding to y when accumulate is set.
func (w *Weight) MulT(y, x []float32, n int, accumulate bool) {
	for i := 0; i < n; i++ {
		for o := 0; o < w.Rows; o++ {
			var s float32
			for c := 0; c < w.Cols; c++ {
				s += x[i*w.Cols+c] * w.At(o, c)
			}
			if accumulate {
				y[i*w.Rows+o] += s
			} else {
				y[i*w.Rows+o] = s
			}
		}
	}
}

// Mul computes dx[n, Cols] = dy[n, Rows]·W, adding to dx when accumulate is
// set. It is the input gradient of MulT.
func (w *Weight) Mul(dx, dy []float32, n int, accumulate bool) {
	for i := 0; i < n; i++ {
		for c := 0; c < w.Cols; c++ {
			var s float32
			for o := 0; o < w.Rows; o++ {
				s += dy[i*w.Rows+o] * w.At(o, c)
			}
			if accumulate {
				dx[i*w.Cols+c] += s
			} else {
				dx[i*w.Cols+c] = s
			}
		}
	}
}

// At returns element (r, c) as float32.
func (w *Weight) At(r, c int) float32 {
	if w.F32 != nil {
		return w.F32[r*w.Cols+c]
	}
	return BF16ToF32(w.BF16[r*w.Cols+c])
}

// Row copies row r into dst (len Cols), e.g. an embedding lookup.
func (w *Weight) Row(r int, dst []float32) {
	for c := 0; c < w.Cols; c++ {
		dst[c] = w.At(r, c)
	}
}

// Bytes is the storage size of the weight.
func (w *Weight) Bytes() int64 {
	if w.F32 != nil {
		return int64(len(w.F32)) * 4
	}
	return int64(len(w.BF16)) * 2
}

// BF16ToF32 widens a bfloat16 bit pattern.
func BF16ToF32(b uint16) float32 { return float32frombits(uint32(b) << 16) }

// F32ToBF16 rounds to the nearest bfloat16, ties to even (NaN stays NaN).
func F32ToBF16(f float32) uint16 {
	u := float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C for row-major float32
// matrices, op(X) = Xᵀ when the flag is set; op(A) is m×k, op(B) is k×n.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

// Threads is the number of goroutines elementwise kernels split work into.
func Threads() int { return runtime.GOMAXPROCS(0) }

// Parallel runs fn over [0, n) split into contiguous chunks, one per thread,
// and waits for all of them.
func Parallel(n int, fn func(lo, hi int)) {
	t := Threads()
	if t > n {
		t = n
	}
	if t <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < t; i++ {
		lo, hi := i*n/t, (i+1)*n/t
		wg.Add(1)
		go func() { defer wg.Done(); fn(lo, hi) }()
	}
	wg.Wait()
}

// Backend names the matrix-multiply implementation in use.
func Backend() string { return "naive" }
