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
	if ISA() == AVX512 {
		C.ops_q8_quantize_x(f32p(x), C.long(cols), C.long(n), xq, corr, f32p(q.dx))
	} else {
		C.ops_q8_quantize_x_avx2(f32p(x), C.long(cols), C.long(n), xq, corr, f32p(q.dx))
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
