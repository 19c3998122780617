package ops

import (
	"os"
	"sync"
	"sync/atomic"
)

// Products with a Q8_0 weight. Decoding (at most GEMVMaxN inputs, float32
// compute) streams the blocks once through a Q8_0 decode kernel (q8.c):
// MulT's widens each block to float32 in registers; MulTInfer's quantises
// the inputs to 8 bits and multiplies bytes (VPDPBUSD with AVX512_VNNI, on
// the packed layout of q8p.go that such CPUs store their weights in;
// VPMADDUBSW with AVX2). A packed weight also works without the VNNI
// kernel: its MulT goes through the blocked products below, and MulTInfer
// in another family (a test forcing one) unpacks its rows to GGUF blocks
// for that family's kernel. Everything else (prefill,
// training, bfloat16 compute) goes one block of weight rows at a time: the
// rows are dequantised into a scratch block small enough to stay in the
// last-level cache, float32 in float32 compute and bfloat16 (q·d rounded to
// nearest even, the operand VDPBF16PS takes) in bfloat16 compute, and the
// block goes through the same kernels as a float32 or bfloat16 weight. The
// dequantisation reads each weight value once per product, against
// 2·n flops of arithmetic on it.

// q8ScratchBytes bounds the dequantised block of weight rows: 4 MiB, in
// the last-level cache while the product's kernels read it, and hundreds
// of rows for all but the widest layers.
var q8ScratchBytes = 4 << 20

// q8Scratch holds a product's dequantised rows, its partial outputs and its
// packed inputs.
type q8Scratch struct {
	f32  []float32
	b16  []uint16
	out  []float32
	in   []float32
	pack []uint16
}

var q8Scratches = sync.Pool{New: func() any { return new(q8Scratch) }}

// grow returns s[:n], reallocated if its capacity is short.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// q8MulT computes y[n, Rows] (+)= x·Wᵀ for a Q8_0 weight; with bf16 set, in
// bfloat16 compute (x and the dequantised weight rounded to bfloat16).
func (w *Weight) q8MulT(y, x []float32, n int, acc, bf16 bool) {
	if n <= GEMVMaxN && !bf16 && !w.Q8Packed {
		w.q8gemv(y, x, n, acc, false)
		return
	}
	w.q8Blocked(y, x, n, acc, bf16, true)
}

// MulTInfer is MulT for inference (generation, chat, evaluation's
// decoding), where nothing differentiates the result: with a Q8_0 weight
// and at most GEMVMaxN inputs, on a CPU with AVX2 (useQ8Int8), it
// quantises each input to 8-bit blocks as llama.cpp does for its Q8_0
// products and multiplies bytes: VPDPBUSD where the AVX-512 family is in
// force and the CPU has AVX512_VNNI (about 1.6 times the speed of
// widening the weight to float32 there), ggml's AVX2 VPMADDUBSW product
// otherwise (about 3 times on an AVX2-only CPU, where widening cannot keep
// up with the memory). The error is at most half a step max|x|/127 per
// input block. Otherwise it is MulT. Each input row's result does not
// depend on the others.
func (w *Weight) MulTInfer(y, x []float32, n int, accumulate bool) {
	if w.Q8 == nil || n > GEMVMaxN || !useQ8Int8() {
		w.MulT(y, x, n, accumulate)
		return
	}
	w.check("MulTInfer", y, w.Rows, x, w.Cols, n)
	if n > 0 && w.Rows > 0 {
		w.q8gemv(y, x, n, accumulate, true)
	}
}

// q8Mul computes dx[n, Cols] (+)= dy·W for a Q8_0 weight; with bf16 set, in
// bfloat16 compute.
func (w *Weight) q8Mul(dx, dy []float32, n int, acc, bf16 bool) {
	w.q8Blocked(dx, dy, n, acc, bf16, false)
}

// q8RowStep is the number of weight rows q8Blocked dequantises at a time:
// even (VDPBF16PS's Mul pairs rows), at least 16; for a packed weight,
// whole groups of 16 rows.
func (w *Weight) q8RowStep(elem int) int {
	align := 2
	if w.Q8Packed {
		align = q8PackRows
	}
	return min(max(16, q8ScratchBytes/(elem*w.Cols))&^(align-1), w.Rows)
}

// q8Blocked runs MulT (transB) or Mul with a Q8_0 weight one block of rows
// at a time (see the top of this file).
func (w *Weight) q8Blocked(out, in []float32, n int, acc, bf16, transB bool) {
	s := q8Scratches.Get().(*q8Scratch)
	defer q8Scratches.Put(s)
	dp := bf16 && useDPBF16()
	amx := dp && useAMX()
	elem := 4
	if bf16 {
		elem = 2
	}
	step := w.q8RowStep(elem)
	rowBytes := Q8_0Size(w.Cols)
	blk := Weight{Cols: w.Cols}
	x := in
	if transB && bf16 {
		// The input is rounded (and for VDPBF16PS packed) once for all
		// the blocks.
		switch {
		case amx:
			kp, nb := (w.Cols+31)/32*16, (n+31)/32*2
			s.pack = grow(s.pack, nb*16*kp*2)
			amxPackX(s.pack, in, n, w.Cols, kp, nb)
		case dp:
			s.pack = grow(s.pack, n*w.Cols)
			packBF16(s.pack, in, n, w.Cols, w.Cols)
		default:
			s.in = grow(s.in, n*w.Cols)
			roundInto(s.in, in[:n*w.Cols])
			x = s.in
		}
	}
	for r0 := 0; r0 < w.Rows; r0 += step {
		rb := min(step, w.Rows-r0)
		blk.Rows = rb
		if bf16 {
			s.b16 = grow(s.b16, rb*w.Cols)
			if w.Q8Packed {
				w.dequantPacked(nil, s.b16, r0, r0+rb)
			} else {
				dequantRowsBF16(s.b16, w.Q8[r0*rowBytes:(r0+rb)*rowBytes])
			}
			blk.BF16, blk.F32 = s.b16, nil
		} else {
			s.f32 = grow(s.f32, rb*w.Cols)
			if w.Q8Packed {
				w.dequantPacked(s.f32, nil, r0, r0+rb)
			} else {
				dequantRows(s.f32, w.Q8[r0*rowBytes:(r0+rb)*rowBytes])
			}
			blk.F32, blk.BF16 = s.f32, nil
		}
		if transB {
			s.out = grow(s.out, n*rb)
			switch {
			case amx:
				blk.dpRun(&dpTask{w: &blk, out: s.out, in: s.pack, ld: (w.Cols + 31) / 32 * 16, n: n, mulT: true, amx: true}, rb)
			case dp:
				blk.dpRun(&dpTask{w: &blk, out: s.out, in: s.pack, ld: w.Cols, n: n, nc: dpNC(n), mulT: true}, rb)
			default:
				blk.MulT(s.out, x, n, false)
			}
			for i := range n {
				dst, src := out[i*w.Rows+r0:i*w.Rows+r0+rb], s.out[i*rb:(i+1)*rb]
				if acc {
					for k, v := range src {
						dst[k] += v
					}
				} else {
					copy(dst, src)
				}
			}
			continue
		}
		// Mul: this block's rows meet columns [r0, r0+rb) of dy.
		a := acc || r0 > 0
		s.in = grow(s.in, n*rb)
		for i := range n {
			copy(s.in[i*rb:(i+1)*rb], in[i*w.Rows+r0:i*w.Rows+r0+rb])
		}
		switch {
		case amx:
			// AMX tiles read whole tiles of dy: rows of 32 values and 32
			// rows at a time, zero past rb and n.
			ld, n32 := (rb+31)&^31, (n+31)&^31
			s.pack = grow(s.pack, n32*ld)
			packBF16(s.pack, s.in, n, rb, ld)
			clear(s.pack[n*ld : n32*ld])
			blk.dpRun(&dpTask{w: &blk, out: out, in: s.pack, ld: ld, n: n, acc: a, nc: dpNC(n), amx: true}, w.Cols)
		case dp:
			ld := (rb + 1) &^ 1
			s.pack = grow(s.pack, n*ld)
			packBF16(s.pack, s.in, n, rb, ld)
			blk.dpRun(&dpTask{w: &blk, out: out, in: s.pack, ld: ld, n: n, acc: a, nc: dpNC(n)}, w.Cols)
		case bf16:
			roundInto(s.in, s.in)
			blk.Mul(out, s.in, n, a)
		default:
			blk.Mul(out, s.in, n, a)
		}
	}
}

// roundInto rounds src to bfloat16 values held as float32 in dst.
func roundInto(dst, src []float32) {
	for i, v := range src {
		dst[i] = BF16ToF32(F32ToBF16(v))
	}
}

// dequantRows dequantises whole Q8_0 rows q into dst, split over the pool.
func dequantRows(dst []float32, q []byte) {
	blocks := len(dst) / Q8Block
	if blocks < 1<<10 {
		dequantQ8(dst, q)
		return
	}
	Parallel(blocks, func(lo, hi int) {
		dequantQ8(dst[lo*Q8Block:hi*Q8Block], q[lo*Q8BlockBytes:hi*Q8BlockBytes])
	})
}

// dequantRowsBF16 is dequantRows into bfloat16 (q·d rounded to nearest
// even).
func dequantRowsBF16(dst []uint16, q []byte) {
	blocks := len(dst) / Q8Block
	if blocks < 1<<10 {
		dequantQ8BF16(dst, q)
		return
	}
	Parallel(blocks, func(lo, hi int) {
		dequantQ8BF16(dst[lo*Q8Block:hi*Q8Block], q[lo*Q8BlockBytes:hi*Q8BlockBytes])
	})
}

// q8gemvTask computes output rows [lo, hi) of MulT for n ≤ GEMVMaxN, on
// the int8 kernel when xq holds the quantised inputs.
type q8gemvTask struct {
	w    *Weight
	y, x []float32
	n    int
	acc  bool
	xq   q8Inputs
}

// A packed weight's chunks are whole groups of 16 rows (q8Chunk).
func (t *q8gemvTask) run(_, lo, hi int) {
	w := t.w
	if w.Q8Packed {
		if t.xq.xq != nil && q8VNNI() {
			gemvQ8Packed(w.Q8, w.Cols, lo, hi, &t.xq, t.n, t.y, w.Rows, t.acc)
			return
		}
		// Another kernel than the one the weight was packed for (the
		// widening MulT, or a test that changed the kernel family): the
		// rows' GGUF blocks, and that kernel.
		q, y := w.UnpackQ8(lo, hi), t.y[lo:]
		if t.xq.xq != nil {
			gemvQ8Int8(q, w.Cols, 0, hi-lo, &t.xq, t.n, y, w.Rows, t.acc)
		} else {
			gemvQ8(q, w.Cols, 0, hi-lo, t.x, t.n, y, w.Rows, t.acc)
		}
		return
	}
	if t.xq.xq != nil {
		gemvQ8Int8(w.Q8, w.Cols, lo, hi, &t.xq, t.n, t.y, w.Rows, t.acc)
		return
	}
	gemvQ8(w.Q8, w.Cols, lo, hi, t.x, t.n, t.y, w.Rows, t.acc)
}

// q8Chunk is the rows of a decode chunk: about gemvChunkBytes of blocks, a
// multiple of 8 rows, of 16 for a packed weight.
func (w *Weight) q8Chunk() int {
	c := max(gemvChunkBytes/Q8_0Size(w.Cols)/8*8, 8)
	if w.Q8Packed {
		c = max(c&^(q8PackRows-1), q8PackRows)
	}
	return c
}

// q8Inputs are decode inputs quantised for the int8 kernels (q8.c): int8
// blocks xq, −128 times each four quants' sum (corr, for VPDPBUSD), −128
// times each block's sum (xs, for the packed kernel) and the block scales.
type q8Inputs struct {
	xq   []int8
	corr []int32
	xs   []int32
	dx   []float32
}

// quantize fills q with the n inputs x of cols values each, growing its
// buffers as needed.
func (q *q8Inputs) quantize(x []float32, n, cols int) {
	q.xq = grow(q.xq, n*cols)
	q.corr = grow(q.corr, n*cols/4)
	q.xs = grow(q.xs, n*cols/Q8Block)
	q.dx = grow(q.dx, n*cols/Q8Block)
	quantizeInputs(x, cols, n, q)
}

// q8vnniOff turns the int8 decode kernels off: QWENTUNE_Q8_DECODE=widen
// makes MulTInfer widen the weight to float32 like MulT, so that a
// benchmark can compare the kernels on the same machine.
var q8vnniOff atomic.Bool

func init() { q8vnniOff.Store(os.Getenv("QWENTUNE_Q8_DECODE") == "widen") }

// useQ8Int8 reports whether MulTInfer multiplies bytes: the C kernels are
// built, the AVX2 or AVX-512 family is in force and no test turned it off.
func useQ8Int8() bool {
	return cKernels && ISA() >= AVX2 && !q8vnniOff.Load()
}

// q8VNNI reports whether the int8 decode kernel is VPDPBUSD's: the AVX-512
// family is in force and the CPU has AVX512_VNNI.
func q8VNNI() bool { return ISA() == AVX512 && cpuFeatures.AVX512VNNI }

// q8gemvShared and q8xq are q8gemv's task and quantised inputs, reused
// under the pool lock so that a decode step does not allocate.
var (
	q8gemvShared q8gemvTask
	q8xq         q8Inputs
)

// q8gemv streams a Q8_0 weight once for MulT with n ≤ GEMVMaxN, its rows
// handed out over the pool in chunks as gemv does; with vnni set (where
// useQ8Int8 holds) on the int8 kernel.
func (w *Weight) q8gemv(y, x []float32, n int, acc, vnni bool) {
	if !acquirePool() {
		t := q8gemvTask{w: w, y: y, x: x, n: n, acc: acc}
		if vnni {
			t.xq.quantize(x, n, w.Cols)
		}
		t.run(0, 0, w.Rows)
		return
	}
	q8gemvShared = q8gemvTask{w: w, y: y, x: x, n: n, acc: acc}
	if vnni {
		q8xq.quantize(x, n, w.Cols)
		q8gemvShared.xq = q8xq
	}
	runDynamic(&q8gemvShared, w.Rows, w.q8Chunk())
	q8gemvShared = q8gemvTask{}
	pool.mu.Unlock()
}
