package ops

import (
	"fmt"
	"sync"

	"gonum.org/v1/gonum/blas"
)

// GEMVMaxN is the largest number of input rows n for which MulT and Mul use
// the streaming matrix-vector kernels; above it they go through sgemm.
const GEMVMaxN = 8

// scratchElems sizes the float32 scratch block a bfloat16 weight is widened
// into before sgemm: 16 MiB, small enough to stay in a 32 MiB last-level
// cache, large enough that each sgemm gets hundreds of weight rows even for
// the widest layers (sgemm slows down on thin operands).
var scratchElems = 1 << 22

// Weight is a frozen matrix of Rows×Cols stored as float32 (F32), as
// bfloat16 bit patterns (BF16) or as GGUF Q8_0 blocks (Q8, see q8.go; Cols
// a multiple of Q8Block); exactly one of the three is non-nil. Q8Packed
// says that Q8 holds the blocks in the packed layout of q8p.go (16 rows
// interleaved for the VNNI decode kernel) instead of GGUF's row order.
type Weight struct {
	Rows, Cols int
	F32        []float32
	BF16       []uint16
	Q8         []byte
	Q8Packed   bool
}

// check panics unless the weight's storage matches its shape and the
// operand of n rows of in values and the result of n rows of out values fit.
func (w *Weight) check(op string, res []float32, out int, arg []float32, in, n int) {
	size := w.Rows * w.Cols
	switch {
	case w.Rows < 0 || w.Cols < 0 || n < 0:
		panic(fmt.Sprintf("ops: %s: negative size %dx%d, n=%d", op, w.Rows, w.Cols, n))
	case w.stores() != 1 && size > 0:
		panic(fmt.Sprintf("ops: %s: weight %dx%d needs exactly one of F32, BF16, Q8", op, w.Rows, w.Cols))
	case w.F32 != nil && len(w.F32) != size, w.BF16 != nil && len(w.BF16) != size:
		panic(fmt.Sprintf("ops: %s: weight storage has %d values, want %dx%d", op, max(len(w.F32), len(w.BF16)), w.Rows, w.Cols))
	case w.Q8 != nil && (w.Cols%Q8Block != 0 || len(w.Q8) != w.q8Size()):
		panic(fmt.Sprintf("ops: %s: Q8_0 weight %dx%d has %d bytes (Cols must be a multiple of %d)", op, w.Rows, w.Cols, len(w.Q8), Q8Block))
	case len(arg) < n*in:
		panic(fmt.Sprintf("ops: %s: input has %d values, want %dx%d", op, len(arg), n, in))
	case len(res) < n*out:
		panic(fmt.Sprintf("ops: %s: output has %d values, want %dx%d", op, len(res), n, out))
	}
}

// MulT computes y[n, Rows] = x[n, Cols]·Wᵀ, adding to y when accumulate is set.
func (w *Weight) MulT(y, x []float32, n int, accumulate bool) {
	w.check("MulT", y, w.Rows, x, w.Cols, n)
	switch {
	case n == 0 || w.Rows == 0:
	case w.Q8 != nil:
		w.q8MulT(y, x, n, accumulate, false)
	case w.Cols == 0:
		if !accumulate {
			clear(y[:n*w.Rows])
		}
	case useTiled(n):
		w.tiled(y, x, n, accumulate, true)
	case n <= GEMVMaxN:
		w.gemv(y, x, n, accumulate)
	case w.F32 != nil:
		blas32.Sgemm(blas.NoTrans, blas.Trans, n, w.Rows, w.Cols, 1, x, w.Cols, w.F32, w.Cols, beta(accumulate), y, w.Rows)
	default:
		w.blocked(y, x, n, accumulate, true)
	}
}

// Mul computes dx[n, Cols] = dy[n, Rows]·W, adding to dx when accumulate is
// set. It is the input gradient of MulT.
func (w *Weight) Mul(dx, dy []float32, n int, accumulate bool) {
	w.check("Mul", dx, w.Cols, dy, w.Rows, n)
	switch {
	case n == 0 || w.Cols == 0:
	case w.Q8 != nil:
		w.q8Mul(dx, dy, n, accumulate, false)
	case w.Rows == 0:
		if !accumulate {
			clear(dx[:n*w.Cols])
		}
	case n <= GEMVMaxN:
		w.axpy(dx, dy, n, accumulate)
	case useTiled(n):
		w.tiled(dx, dy, n, accumulate, false)
	case w.F32 != nil:
		blas32.Sgemm(blas.NoTrans, blas.NoTrans, n, w.Cols, w.Rows, 1, dy, w.Rows, w.F32, w.Cols, beta(accumulate), dx, w.Cols)
	default:
		w.blocked(dx, dy, n, accumulate, false)
	}
}

// stores is the number of storages the weight has set.
func (w *Weight) stores() int {
	n := 0
	if w.F32 != nil {
		n++
	}
	if w.BF16 != nil {
		n++
	}
	if w.Q8 != nil {
		n++
	}
	return n
}

func beta(accumulate bool) float32 {
	if accumulate {
		return 1
	}
	return 0
}

// tasks are the kernels' work descriptions, reused under pool.mu so that a
// call does not allocate.
var tasks struct {
	gemv  gemvTask
	axpy  axpyTask
	conv  convTask
	tiled tiledTask
	gemm  gemmTask
	group groupTask
}

// gemvTask computes output rows [lo, hi) of MulT for n ≤ GEMVMaxN.
type gemvTask struct {
	w        *Weight
	y, x, eo []float32 // eo: each input split for the bfloat16 AVX-512 kernel, or nil
	n        int
	acc      bool
}

func (t *gemvTask) run(_, lo, hi int) {
	w := t.w
	if avx512Products() {
		w.gemv512(lo, hi, t.x, t.n, t.eo, t.y, w.Rows, t.acc)
		return
	}
	if w.BF16 != nil {
		gemvBF16(w.BF16, w.Cols, lo, hi, t.x, t.n, t.y, w.Rows, t.acc)
	} else {
		gemvF32(w.F32, w.Cols, lo, hi, t.x, t.n, t.y, w.Rows, t.acc)
	}
}

// eoBuf holds gemv's even/odd copy of its input for a bfloat16 weight; it is
// used under the pool lock.
var eoBuf []float32

// gemvChunkBytes is how much of the weight a thread streams per chunk of
// rows it takes in gemv: enough that a chunk is one long sequential read
// (the hardware prefetcher ramps up at its start), small enough that the
// threads finish within a few microseconds of each other.
const gemvChunkBytes = 256 << 10

// gemv streams the weight once, its output rows handed out over the pool in
// chunks (runDynamic). A fixed half per thread left one thread waiting for
// the other at the end of every product: on a shared 2-vCPU host, reading
// all of Qwen2-1.5B's weights that way took 217 ms against 198 ms with
// chunks (BenchmarkDecode reports decoding against such a read).
func (w *Weight) gemv(y, x []float32, n int, acc bool) {
	if !acquirePool() {
		t := gemvTask{w: w, y: y, x: x, n: n, acc: acc}
		t.run(0, 0, w.Rows)
		return
	}
	tasks.gemv = gemvTask{w: w, y: y, x: x, n: n, acc: acc}
	if w.BF16 != nil && avx512Products() {
		// Split x once for all the chunks (the kernel would redo it per
		// chunk: for down_proj's 8-row chunks, 35 KiB per 140 KiB of weight).
		e := eoLen(w.Cols)
		if cap(eoBuf) < n*e {
			eoBuf = make([]float32, n*e) // grows to the widest product once
		}
		tasks.gemv.eo = eoBuf[:n*e]
		for i := range n {
			splitEO(x[i*w.Cols:], w.Cols, tasks.gemv.eo[i*e:])
		}
	}
	// Chunks are whole multiples of 8 rows, which the kernels for long rows
	// read together.
	rowBytes := max(int(w.Bytes())/w.Rows, 1)
	runDynamic(&tasks.gemv, w.Rows, max(gemvChunkBytes/rowBytes/8*8, 8))
	tasks.gemv = gemvTask{}
	pool.mu.Unlock()
}

// axpyTask computes the contribution of weight rows [lo, hi) to Mul for
// n ≤ GEMVMaxN. Chunk 0 accumulates into dx, chunk p > 0 into partial[p-1],
// which axpy then adds to dx: splitting by rows keeps each thread on one
// sequential stream of the weight.
type axpyTask struct {
	w       *Weight
	dx, dy  []float32
	n       int
	acc     bool
	partial [][]float32
}

func (t *axpyTask) run(part, lo, hi int) {
	w, dx, acc := t.w, t.dx, t.acc
	if part > 0 {
		dx, acc = t.partial[part-1], false
	}
	if w.BF16 != nil {
		axpyBF16(w.BF16, w.Cols, lo, hi, t.dy, w.Rows, t.n, dx, acc)
	} else {
		axpyF32(w.F32, w.Cols, lo, hi, t.dy, w.Rows, t.n, dx, acc)
	}
}

// axpy streams the weight once for Mul with n ≤ GEMVMaxN.
func (w *Weight) axpy(dx, dy []float32, n int, acc bool) {
	if !acquirePool() {
		t := axpyTask{w: w, dx: dx, dy: dy, n: n, acc: acc}
		t.run(0, 0, w.Rows)
		return
	}
	t := &tasks.axpy
	size := n * w.Cols
	for len(t.partial) < pool.threads-1 {
		t.partial = append(t.partial, nil)
	}
	for p, buf := range t.partial {
		if cap(buf) < size {
			buf = make([]float32, size) // grows to the largest layer once
		}
		t.partial[p] = buf[:size]
	}
	t.w, t.dx, t.dy, t.n, t.acc = w, dx, dy, n, acc
	parts := runLocked(t, w.Rows, 8)
	sum := dx[:size]
	for _, part := range t.partial[:parts-1] {
		for k, v := range part {
			sum[k] += v
		}
	}
	t.w, t.dx, t.dy = nil, nil, nil
	pool.mu.Unlock()
}

// convTask widens src[lo:hi] into dst[lo:hi].
type convTask struct {
	dst []float32
	src []uint16
}

func (t *convTask) run(_, lo, hi int) { bf16ToF32(t.dst[lo:hi], t.src[lo:hi]) }

// WidenBF16 converts the bfloat16 values src to float32 in dst, splitting
// long inputs over the pool. It panics if the lengths differ.
func WidenBF16(dst []float32, src []uint16) {
	if len(dst) != len(src) {
		panic(fmt.Sprintf("ops: WidenBF16: len(dst) = %d, len(src) = %d", len(dst), len(src)))
	}
	if len(src) < 1<<14 || !acquirePool() {
		bf16ToF32(dst, src)
		return
	}
	tasks.conv = convTask{dst, src}
	runLocked(&tasks.conv, len(src), 64)
	tasks.conv = convTask{}
	pool.mu.Unlock()
}

// RoundBF16 rounds the float32 values src to bfloat16 in dst (see
// F32ToBF16). It panics if the lengths differ.
func RoundBF16(dst []uint16, src []float32) {
	if len(dst) != len(src) {
		panic(fmt.Sprintf("ops: RoundBF16: len(dst) = %d, len(src) = %d", len(dst), len(src)))
	}
	for i, f := range src {
		dst[i] = F32ToBF16(f)
	}
}

// scratch holds float32 blocks that bfloat16 rows are widened into.
var scratch = sync.Pool{New: func() any { s := make([]float32, scratchElems); return &s }}

// blocked runs a bfloat16 product with many input rows through sgemm, one
// block of weight rows at a time widened into scratch: MulT (y = x·Wᵀ, each
// block fills a strip of y's columns) when transB is set, Mul (dx = dy·W,
// each block adds the contribution of a strip of dy's columns) otherwise.
func (w *Weight) blocked(out, in []float32, n int, acc, transB bool) {
	buf := scratch.Get().(*[]float32)
	step := max(1, scratchElems/w.Cols)
	if step*w.Cols > len(*buf) {
		*buf = make([]float32, step*w.Cols)
	}
	for r0 := 0; r0 < w.Rows; r0 += step {
		r1 := min(r0+step, w.Rows)
		block := (*buf)[:(r1-r0)*w.Cols]
		WidenBF16(block, w.BF16[r0*w.Cols:r1*w.Cols])
		if transB {
			blas32.Sgemm(blas.NoTrans, blas.Trans, n, r1-r0, w.Cols, 1, in, w.Cols, block, w.Cols, beta(acc), out[r0:], w.Rows)
		} else {
			blas32.Sgemm(blas.NoTrans, blas.NoTrans, n, w.Cols, r1-r0, 1, in[r0:], w.Rows, block, w.Cols, beta(acc || r0 > 0), out, w.Cols)
		}
	}
	scratch.Put(buf)
}

// At returns element (r, c) as float32.
func (w *Weight) At(r, c int) float32 {
	if w.Q8Packed {
		return w.packedAt(r, c)
	}
	if w.Q8 != nil {
		k := r*w.Cols + c
		blk := w.Q8[k/Q8Block*Q8BlockBytes:]
		return float32(int8(blk[2+k%Q8Block])) * q8Scale(blk)
	}
	if w.F32 != nil {
		return w.F32[r*w.Cols+c]
	}
	return BF16ToF32(w.BF16[r*w.Cols+c])
}

// Row copies row r into dst (len Cols), e.g. an embedding lookup.
func (w *Weight) Row(r int, dst []float32) {
	if w.Q8Packed {
		w.packedRow(r, dst[:w.Cols])
		return
	}
	if w.Q8 != nil {
		b := Q8_0Size(w.Cols)
		dequantQ8(dst[:w.Cols], w.Q8[r*b:(r+1)*b])
		return
	}
	if w.F32 != nil {
		copy(dst[:w.Cols], w.F32[r*w.Cols:(r+1)*w.Cols])
		return
	}
	bf16ToF32(dst[:w.Cols], w.BF16[r*w.Cols:(r+1)*w.Cols])
}

// Bytes is the storage size of the weight.
func (w *Weight) Bytes() int64 {
	if w.Q8 != nil {
		return int64(len(w.Q8))
	}
	if w.F32 != nil {
		return int64(len(w.F32)) * 4
	}
	return int64(len(w.BF16)) * 2
}

// BF16ToF32 widens a bfloat16 bit pattern: the float32 whose upper 16 bits
// are b and lower 16 bits are zero.
func BF16ToF32(b uint16) float32 { return float32frombits(uint32(b) << 16) }

// F32ToBF16 rounds to the nearest bfloat16, ties to even. NaN stays NaN (made
// quiet, sign kept), finite values beyond the largest bfloat16 round to ±Inf.
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
// Leading dimensions are row strides; bad sizes panic as in gonum's blas.
//
// When the pool owns the cores (the tiled kernels are on, OpenBLAS runs
// single-threaded), a large product is split over the pool along the longer
// of m and n, each chunk one single-threaded sgemm.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !tiledProducts() || m*n*k < gemmSplitFlops || m < 2 && n < 2 || !acquirePool() {
		blas32.Sgemm(trans(transA), trans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	tasks.gemm = gemmTask{transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, m < n}
	if tasks.gemm.splitN {
		runLocked(&tasks.gemm, n, 16)
	} else {
		runLocked(&tasks.gemm, m, 8)
	}
	tasks.gemm = gemmTask{}
	pool.mu.Unlock()
}

// gemmSplitFlops is the smallest m·n·k that Gemm splits over the pool.
const gemmSplitFlops = 1 << 18

// gemmTask is one Gemm split by rows (or, with splitN, columns) of C.
type gemmTask struct {
	transA, transB bool
	m, n, k        int
	alpha          float32
	a              []float32
	lda            int
	b              []float32
	ldb            int
	beta           float32
	c              []float32
	ldc            int
	splitN         bool
}

func (t *gemmTask) run(_, lo, hi int) {
	a, b, c, m, n := t.a, t.b, t.c, t.m, t.n
	if t.splitN {
		// Columns [lo, hi) of op(B) and C.
		if t.transB {
			b = b[lo*t.ldb:]
		} else {
			b = b[lo:]
		}
		c, n = c[lo:], hi-lo
	} else {
		// Rows [lo, hi) of op(A) and C.
		if t.transA {
			a = a[lo:]
		} else {
			a = a[lo*t.lda:]
		}
		c, m = c[lo*t.ldc:], hi-lo
	}
	blas32.Sgemm(trans(t.transA), trans(t.transB), m, n, t.k, t.alpha, a, t.lda, b, t.ldb, t.beta, c, t.ldc)
}

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}
