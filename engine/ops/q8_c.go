//go:build cgo && !purego && amd64

package ops

// #include "kernels.h"
import "C"

import "unsafe"

func u8p(s []byte) *C.uint8_t { return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(s))) }

// dequantQ8 writes the values of the Q8_0 blocks q into dst (len a
// multiple of Q8Block, q holding as many blocks), q8.c.
func dequantQ8(dst []float32, q []byte) {
	if len(dst) > 0 {
		C.ops_q8_dequant(u8p(q), C.long(len(dst)/Q8Block), f32p(dst))
	}
}

// dequantQ8BF16 is dequantQ8 into bfloat16, q·d rounded to nearest even.
func dequantQ8BF16(dst []uint16, q []byte) {
	if len(dst) > 0 {
		C.ops_q8_dequant_bf16(u8p(q), C.long(len(dst)/Q8Block), u16p(dst))
	}
}

// gemvQ8 computes y[i*ldy+o] (+)= Σ_c x[i*cols+c]·W[o, c] for rows o in
// [lo, hi) of the Q8_0 weight q (cols values a row) and i < n ≤ GEMVMaxN.
func gemvQ8(q []byte, cols, lo, hi int, x []float32, n int, y []float32, ldy int, acc bool) {
	C.ops_q8_gemv(u8p(q), C.long(cols), C.long(lo), C.long(hi), f32p(x), C.long(n), f32p(y), C.long(ldy), cbool(acc))
}

// quantizeInputs quantises n inputs of cols values for the int8 decode
// kernels (ops_q8_quantize_x in the AVX-512 family, its AVX2 twin
// otherwise: the same quants; only called where useQ8Int8 holds).
func quantizeInputs(x []float32, cols, n int, q *q8Inputs) {
	xq, corr := (*C.int8_t)(unsafe.Pointer(unsafe.SliceData(q.xq))), (*C.int32_t)(unsafe.Pointer(unsafe.SliceData(q.corr)))
	xs := (*C.int32_t)(unsafe.Pointer(unsafe.SliceData(q.xs)))
	if ISA() == AVX512 {
		C.ops_q8_quantize_x(f32p(x), C.long(cols), C.long(n), xq, corr, xs, f32p(q.dx))
	} else {
		C.ops_q8_quantize_x_avx2(f32p(x), C.long(cols), C.long(n), xq, corr, xs, f32p(q.dx))
	}
}

// gemvQ8Int8 is gemvQ8 on the inputs quantised in q: VPDPBUSD where the
// AVX-512 family is in force and the CPU has AVX512_VNNI, ggml's AVX2
// VPMADDUBSW product otherwise.
func gemvQ8Int8(w []byte, cols, lo, hi int, q *q8Inputs, n int, y []float32, ldy int, acc bool) {
	xq := (*C.int8_t)(unsafe.Pointer(unsafe.SliceData(q.xq)))
	if q8VNNI() {
		C.ops_q8_gemv_vnni(u8p(w), C.long(cols), C.long(lo), C.long(hi), xq,
			(*C.int32_t)(unsafe.Pointer(unsafe.SliceData(q.corr))), f32p(q.dx), C.long(n), f32p(y), C.long(ldy), cbool(acc))
		return
	}
	C.ops_q8_gemv_i8(u8p(w), C.long(cols), C.long(lo), C.long(hi), xq, f32p(q.dx), C.long(n), f32p(y), C.long(ldy), cbool(acc))
}

// quantizeQ8Fast is QuantizeQ8_0's AVX-512 kernel (ops_q8_quantize): it
// returns the index of the first non-finite value, or -1; ok is false
// where the kernel cannot run (the caller then quantises in Go).
func quantizeQ8Fast(dst []byte, src []float32) (bad int, ok bool) {
	if ISA() != AVX512 {
		return 0, false
	}
	if len(src) == 0 {
		return -1, true
	}
	return int(C.ops_q8_quantize(f32p(src), C.long(len(src)/Q8Block), u8p(dst))), true
}

// q8PackBuilt: the packed layout's kernels (q8p.c) are built.
const q8PackBuilt = true

// packQ8Group packs rows ≤ 16 GGUF rows of nb blocks (src) into one group
// of the packed layout (dst, q8GroupBytes bytes), q8p.c.
func packQ8Group(src []byte, rows, nb int, dst []byte) {
	C.ops_q8p_pack(u8p(src), C.long(rows), C.long(nb), u8p(dst))
}

// unpackQ8 writes the GGUF blocks of rows [r0, r1) of the packed weight w
// (nb blocks a row) into dst.
func unpackQ8(w []byte, nb, r0, r1 int, dst []byte) {
	if r1 > r0 {
		C.ops_q8p_unpack(u8p(w), C.long(nb), C.long(r0), C.long(r1), u8p(dst))
	}
}

// q8pRNE makes dequantQ8Packed round to bfloat16 in integer operations
// even where VCVTNE2PS2BF16 runs, so that the tests see both forms.
var q8pRNE bool

// dequantQ8Packed writes rows [r0, r1) of the packed weight w (nb blocks a
// row, r0 a multiple of 16) into dst as float32, or into dst16 as
// bfloat16: in the AVX-512 family straight from the packed blocks,
// otherwise through GGUF blocks and the family's dequantisation.
func dequantQ8Packed(w []byte, nb, r0, r1 int, dst []float32, dst16 []uint16) {
	if r1 <= r0 {
		return
	}
	if n := (r1 - r0) * nb * Q8Block; len(dst) < n && len(dst16) < n {
		panic("ops: dequantQ8Packed: the output is too short")
	}
	if ISA() == AVX512 {
		if dst16 != nil {
			form := 1
			if cpuFeatures.AVX512BF16 && !q8pRNE {
				form = 2
			}
			C.ops_q8p_dequant(u8p(w), C.long(nb), C.long(r0), C.long(r1), unsafe.Pointer(u16p(dst16)), C.int(form))
		} else {
			C.ops_q8p_dequant(u8p(w), C.long(nb), C.long(r0), C.long(r1), unsafe.Pointer(f32p(dst)), 0)
		}
		return
	}
	q := make([]byte, (r1-r0)*nb*Q8BlockBytes)
	unpackQ8(w, nb, r0, r1, q)
	if dst16 != nil {
		dequantQ8BF16(dst16[:(r1-r0)*nb*Q8Block], q)
	} else {
		dequantQ8(dst[:(r1-r0)*nb*Q8Block], q)
	}
}

// gemvQ8Packed is gemvQ8Int8 for rows [lo, hi) of a packed weight (lo a
// multiple of 16, hi one too or the weight's last row), on VPDPBUSD.
func gemvQ8Packed(w []byte, cols, lo, hi int, q *q8Inputs, n int, y []float32, ldy int, acc bool) {
	C.ops_q8p_gemv_vnni(u8p(w), C.long(cols), C.long(lo/q8PackRows), C.long((hi+q8PackRows-1)/q8PackRows), C.long(hi),
		(*C.int8_t)(unsafe.Pointer(unsafe.SliceData(q.xq))), (*C.int32_t)(unsafe.Pointer(unsafe.SliceData(q.xs))),
		f32p(q.dx), C.long(n), f32p(y), C.long(ldy), cbool(acc))
}
