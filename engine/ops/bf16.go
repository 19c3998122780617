package ops

import (
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// bfloat16 compute (issue 17, SPEC §9): the products of a frozen weight with
// activations rounded to bfloat16 (nearest even), products and sums in
// float32, as torch.autocast("cpu", dtype=torch.bfloat16) computes a Linear.
// On a CPU with AVX512_BF16 (and the AVX-512 family in force) they run on
// VDPBF16PS kernels (dpbf16.c) that read a bfloat16 weight as stored and
// the activations packed once per product. Elsewhere the activations are
// rounded the same way and go through MulT and Mul (the AVX-512 or AVX2
// widening kernels, or sgemm), so every path computes the same products of
// the same bfloat16 operands and differs only in the order of the float32
// sums.

// dpbf16Off turns the VDPBF16PS kernels off (tests force the fallbacks).
var dpbf16Off atomic.Bool

// useDPBF16 reports whether bfloat16 products run on VDPBF16PS.
func useDPBF16() bool {
	return cKernels && cpuFeatures.AVX512BF16 && ISA() == AVX512 && !dpbf16Off.Load()
}

// HasBF16Dot reports whether the bfloat16 products run on the CPU's
// bfloat16 dot-product instruction (AVX512_BF16) or its tile unit (AMX)
// rather than widening.
func HasBF16Dot() bool { return useDPBF16() }

// amxOff turns the AMX kernels off (tests and benchmarks force the
// VDPBF16PS ones; QWENTUNE_AMX=off does it for a whole run).
var amxOff atomic.Bool

func init() { amxOff.Store(os.Getenv("QWENTUNE_AMX") == "off") }

// useAMX reports whether bfloat16 products run on AMX tiles (amx.c): the
// CPU has AMX-BF16, the operating system granted the tile state, and the
// VDPBF16PS kernels would otherwise run.
func useAMX() bool { return amxOK && useDPBF16() && !amxOff.Load() }

// HasAMX reports whether the bfloat16 products run on AMX tiles.
func HasAMX() bool { return useAMX() }

// SetAMX turns the AMX kernels on (where the CPU has them) or off, as
// QWENTUNE_AMX=off does, so that a benchmark can compare them with the
// VDPBF16PS kernels in the same process.
func SetAMX(on bool) { amxOff.Store(!on) }

// MulTBF16 computes y[n, Rows] = bf16(x)·Wᵀ, x rounded to bfloat16, adding
// to y when accumulate is set. A float32 weight is used as stored (its
// products are then exact products of bfloat16 activations and float32
// weights); callers in bfloat16 compute store their weights as bfloat16.
func (w *Weight) MulTBF16(y, x []float32, n int, accumulate bool) {
	w.check("MulTBF16", y, w.Rows, x, w.Cols, n)
	if n == 0 || w.Rows == 0 {
		return
	}
	// A packed Q8_0 weight goes to the AMX tiles as it is: the kernels
	// dequantise it on the way in (amx.c).
	amxQ8 := w.Q8Packed && useAMX()
	if w.Q8 != nil && !amxQ8 {
		w.q8MulT(y, x, n, accumulate, true)
		return
	}
	if (w.BF16 != nil || amxQ8) && w.Cols > 0 && useAMX() {
		// yᵀ = W·xᵀ on tiles: x packed in pairs, 16 rows to a block.
		kp := (w.Cols + 31) / 32 * 16
		nb := (n + 31) / 32 * 2
		buf, xp := packBuf(nb * 16 * kp * 2)
		amxPackX(xp, x, n, w.Cols, kp, nb)
		w.dpRun(&dpTask{w: w, out: y, in: xp, ld: kp, n: n, acc: accumulate, mulT: true, amx: true}, w.Rows)
		buf.release()
		return
	}
	if w.BF16 != nil && w.Cols > 0 && useDPBF16() {
		ld := (w.Cols + 1) &^ 1
		buf, xb := packBuf(n * ld)
		packBF16(xb, x, n, w.Cols, ld)
		w.dpRun(&dpTask{w: w, out: y, in: xb, ld: ld, n: n, acc: accumulate, nc: dpNC(n), mulT: true}, w.Rows)
		buf.release()
		return
	}
	w.MulT(y, roundedF32(x[:n*w.Cols]), n, accumulate)
}

// MulBF16 computes dx[n, Cols] = bf16(dy)·W, dy rounded to bfloat16, adding
// to dx when accumulate is set: the input gradient of MulTBF16 as autocast
// computes it. A tall weight (the LM head) goes in chunks of dpMulRows
// rows, so that the packed dy of a chunk stays in cache while every column
// block passes, and the packing buffer stays small.
func (w *Weight) MulBF16(dx, dy []float32, n int, accumulate bool) {
	w.check("MulBF16", dx, w.Cols, dy, w.Rows, n)
	if n == 0 || w.Cols == 0 {
		return
	}
	amxQ8 := w.Q8Packed && useAMX()
	if w.Q8 != nil && !amxQ8 {
		w.q8Mul(dx, dy, n, accumulate, true)
		return
	}
	if (w.BF16 != nil || amxQ8) && w.Rows > 0 && useDPBF16() {
		// AMX tiles read dy in whole tiles: rows of 32 values (zero past
		// the chunk's columns) and 32 rows at a time (zero past n).
		amx, align, n32 := useAMX(), 1, n
		if amx {
			align, n32 = 31, (n+31)&^31
		}
		step := min(w.Rows, dpMulRows)
		if amxQ8 {
			step = min(w.Rows, (step+q8PackRows-1)&^(q8PackRows-1)) // whole groups
		}
		ld := (step + align) &^ align
		buf, db := packBuf(n32 * ld)
		nc := dpNC(n)
		for o := 0; o < w.Rows; o += step {
			rows := min(step, w.Rows-o)
			part := w.rowsView(o, rows)
			pld := (rows + align) &^ align
			packBF16Cols(db, dy, n, w.Rows, o, rows, pld)
			clear(db[n*pld : n32*pld])
			part.dpRun(&dpTask{w: &part, out: dx, in: db, ld: pld, n: n, acc: accumulate || o > 0, nc: nc, amx: amx}, w.Cols)
		}
		buf.release()
		return
	}
	w.Mul(dx, roundedF32(dy[:n*w.Rows]), n, accumulate)
}

// rowsView is rows [o, o+rows) of a bfloat16 weight, or of a packed Q8_0
// one (o a multiple of 16), sharing its storage.
func (w *Weight) rowsView(o, rows int) Weight {
	if w.Q8Packed {
		gb := q8GroupBytes(w.Cols)
		g := o / q8PackRows
		return Weight{Rows: rows, Cols: w.Cols, Q8: w.Q8[g*gb : (g+(rows+q8PackRows-1)/q8PackRows)*gb], Q8Packed: true}
	}
	return Weight{Rows: rows, Cols: w.Cols, BF16: w.BF16[o*w.Cols : (o+rows)*w.Cols]}
}

// dpMulRows is the chunk of weight rows MulBF16 packs dy for at once (even;
// tests lower it).
var dpMulRows = 2048

// dpBlockBytes bounds the float32 outputs a column block of the VDPBF16PS
// kernels keeps in cache (n rows × nc columns); tests lower it to run
// several blocks on small shapes.
var dpBlockBytes = 512 << 10

// dpNC is the column block for n rows: a multiple of 32.
func dpNC(n int) int { return max(32, dpBlockBytes/(4*n)&^31) }

// roundedF32 returns a copy of x with every value rounded to bfloat16.
func roundedF32(x []float32) []float32 {
	r := make([]float32, len(x))
	for i, v := range x {
		r[i] = BF16ToF32(F32ToBF16(v))
	}
	return r
}

// dpTask runs a VDPBF16PS product over weight rows (mulT) or columns.
type dpTask struct {
	w         *Weight
	out       []float32
	in        []uint16
	ld, n, nc int
	acc       bool
	mulT      bool
	amx       bool // on AMX tiles (amx.c; for mulT, in is x packed by amxPackX and ld its pairs)
}

func (t *dpTask) run(_, lo, hi int) {
	switch {
	case t.amx && t.mulT:
		t.w.amxMulTRows(lo, hi, t.in, t.ld, t.n, t.out, t.acc)
		return
	case t.amx:
		t.w.amxMulCols(lo, hi, t.in, t.ld, t.n, t.out, t.acc)
		return
	}
	if t.mulT {
		t.w.dpMulTRows(lo, hi, t.in, t.ld, t.n, t.out, t.acc, t.nc)
	} else {
		t.w.dpMulCols(lo, hi, t.in, t.ld, t.n, t.out, t.acc, t.nc)
	}
}

// dpRun runs t over [0, size) outputs on the pool, split at multiples of 32.
func (w *Weight) dpRun(t *dpTask, size int) {
	locked := acquirePool()
	runOn(locked, t, size, 32)
	if locked {
		pool.mu.Unlock()
	}
}

// dpBuf is the packing buffer of the bfloat16 activations, grown once and
// kept: a product takes it (or, when another holds it, allocates its own).
type dpBuf struct {
	mu sync.Mutex
	b  []uint16
}

var dpShared dpBuf

// packBuf returns a buffer of at least size values and the lock to release.
func packBuf(size int) (*dpBuf, []uint16) {
	if !dpShared.mu.TryLock() {
		return &dpBuf{}, make([]uint16, size)
	}
	if len(dpShared.b) < size {
		dpShared.b = make([]uint16, size)
	}
	return &dpShared, dpShared.b[:size]
}

func (b *dpBuf) release() {
	if b == &dpShared {
		b.mu.Unlock()
	}
}

// packBF16 rounds n rows of cols values of x to bfloat16 rows of stride ld
// in dst, zeroing the padding, split over the pool by rows.
func packBF16(dst []uint16, x []float32, n, cols, ld int) {
	packBF16Cols(dst, x, n, cols, 0, cols, ld)
}

// packBF16Cols rounds columns [c0, c0+w) of n rows of cols values of x to
// bfloat16 rows of stride ld ≥ w in dst, zeroing the padding.
func packBF16Cols(dst []uint16, x []float32, n, cols, c0, w, ld int) {
	Parallel(n, func(lo, hi int) {
		if ld == cols && w == cols {
			roundRange(dst[lo*ld:hi*ld], x[lo*cols:hi*cols])
			return
		}
		for i := lo; i < hi; i++ {
			roundRange(dst[i*ld:i*ld+w], x[i*cols+c0:i*cols+c0+w])
			clear(dst[i*ld+w : (i+1)*ld])
		}
	})
}

// MeasureBF16PeakGFLOPS measures the bfloat16 dot-product peak: a tight
// loop of independent VDPBF16PS on registers on every core of the pool at
// once, for at least d (fastest of at least three runs after a warm-up), in
// GFLOP/s (64 flops an instruction). It returns 0 where the CPU has no
// AVX512_BF16.
func MeasureBF16PeakGFLOPS(d time.Duration) float64 {
	if !cKernels || !cpuFeatures.AVX512BF16 {
		return 0
	}
	const iters = 1 << 20
	threads := Threads()
	run := func() {
		Parallel(threads, func(lo, hi int) {
			for range hi - lo {
				dpPeakRun(iters)
			}
		})
	}
	return float64(threads) * iters * 768 / fastest(d, run).Seconds() / 1e9
}

// MeasureAMXPeakGFLOPS measures the AMX tile unit's bfloat16 peak as
// MeasureBF16PeakGFLOPS does the VDPBF16PS one: four independent
// TDPBF16PS on tiles (16,384 flops each) on every core of the pool, in
// GFLOP/s. It returns 0 where this process cannot use AMX.
func MeasureAMXPeakGFLOPS(d time.Duration) float64 {
	if !amxOK {
		return 0
	}
	const iters = 1 << 17
	threads := Threads()
	run := func() {
		Parallel(threads, func(lo, hi int) {
			for range hi - lo {
				amxPeakRun(iters)
			}
		})
	}
	return float64(threads) * iters * 65536 / fastest(d, run).Seconds() / 1e9
}

// BF16Products names the kernels the bfloat16 products run on: "amx"
// (tiles), "vdpbf16ps" (AVX512_BF16) or "widen" (bfloat16 operands widened
// to float32 products).
func BF16Products() string {
	switch {
	case useAMX():
		return "amx"
	case useDPBF16():
		return "vdpbf16ps"
	}
	return "widen"
}
