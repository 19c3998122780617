//go:build cgo && !purego && amd64

// q8p.c: Q8_0 weights in the packed layout (q8p.go): the same blocks as
// GGUF's, 16 rows interleaved so that one 64-byte load holds four columns of
// sixteen rows, the operand VPDPBUSD multiplies by one input broadcast to
// every lane. A group of 16 rows is stored block pair by block pair:
//
//	64 bytes   the float16 scales of block 2p of the 16 rows, then of 2p+1
//	512 bytes  block 2p: for each 4 columns 4c..4c+3, 16 rows × 4 bytes
//	512 bytes  block 2p+1, the same
//
// 1088 bytes, 17 cache lines, a pair; an odd last block is its 32 bytes of
// scales, 32 bytes of zeros and its 512 bytes (576). Quant j of row n of a
// block sits at 64·(j/4) + 4·n + j%4 of its 512 bytes, stored as q XOR 0x80
// (q + 128, the unsigned operand of VPDPBUSD). Rows past the last of a
// weight whose rows are not a multiple of 16 are zero blocks (scale 0,
// quants 0x80). Every load of the decode kernel is then one aligned whole
// line, and the sixteen rows' sums come out in the sixteen lanes of one
// register, scaled by the sixteen scales in one multiply, where the GGUF
// layout's 34-byte blocks need a 32-byte load across lines, a broadcast
// scale and a horizontal sum per row.

#include "q8p.h"

// ops_q8p_pack writes one group: rows ≤ 16 GGUF rows of nb blocks at src
// into dst (qp_group_bytes(nb) bytes), zero blocks past them.
void ops_q8p_pack(const uint8_t *src, long rows, long nb, uint8_t *dst) {
	memset(dst, 0, qp_group_bytes(nb));
	for (long b = 0; b < nb; b++) {
		uint8_t *sc = (uint8_t *)qp_scales(dst, b), *qs = (uint8_t *)qp_quants(dst, b);
		for (long n = 0; n < 16; n++) {
			const uint8_t *blk = src + (n * nb + b) * QB;
			for (int j = 0; j < QK; j++) qs[64 * (j / 4) + 4 * n + j % 4] = n < rows ? blk[2 + j] ^ 0x80 : 0x80;
			if (n < rows) {
				sc[2 * n] = blk[0];
				sc[2 * n + 1] = blk[1];
			}
		}
	}
}

// ops_q8p_unpack writes GGUF rows [r0, r1) of the packed weight w (nb
// blocks a row) to dst, one block at a time.
void ops_q8p_unpack(const uint8_t *w, long nb, long r0, long r1, uint8_t *dst) {
	long gb = qp_group_bytes(nb);
	for (long r = r0; r < r1; r++) {
		const uint8_t *grp = w + r / 16 * gb;
		long n = r % 16;
		for (long b = 0; b < nb; b++, dst += QB) {
			const uint8_t *sc = qp_scales(grp, b), *qs = qp_quants(grp, b);
			dst[0] = sc[2 * n];
			dst[1] = sc[2 * n + 1];
			for (int j = 0; j < QK; j++) dst[2 + j] = qs[64 * (j / 4) + 4 * n + j % 4] ^ 0x80;
		}
	}
}

// QP_DEQUANT defines ops_q8p_dequant for one output form, STORE(d, o, lo,
// hi) storing a row's 32 values (lo, hi: float32) at element o of dst:
// each row pair r[p] of a block is four 16-value quarters, widened,
// converted and scaled by its row's scale (the block's 16 scales converted
// once, broadcast from memory). A macro, not an inline function: the
// VCVTNE2PS2BF16 form needs a target the others must not have.
#define QP_DEQUANT(NAME, TARGET, T, STORE) \
	static TARGET void NAME(const uint8_t *w, long nb, long r0, long r1, T *dst) { \
		long gb = qp_group_bytes(nb), cols = nb * QK; \
		for (long g = r0 / 16; g * 16 < r1; g++) { \
			const uint8_t *grp = w + g * gb; \
			long rows = r1 - g * 16 < 16 ? r1 - g * 16 : 16; \
			for (long b = 0; b < nb; b++) { \
				__m512i r[8]; \
				qp_rows512(qp_quants(grp, b), r); \
				float sc[16] __attribute__((aligned(64))); \
				_mm512_store_ps(sc, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)qp_scales(grp, b)))); \
				for (long p = 0; 2 * p < rows; p++) { \
					__m512 f[4]; \
					for (int k = 0; k < 4; k++) \
						f[k] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(r[p], k))), \
							_mm512_set1_ps(sc[2 * p + k / 2])); \
					for (int h = 0; h < 2 && 2 * p + h < rows; h++) \
						STORE(dst, (g * 16 + 2 * p + h - r0) * cols + b * QK, f[2 * h], f[2 * h + 1]); \
				} \
			} \
		} \
	}

#define QP_STORE_F32(d, o, lo, hi) (_mm512_storeu_ps((d) + (o), lo), _mm512_storeu_ps((d) + (o) + 16, hi))
#define QP_STORE_RNE(d, o, lo, hi) \
	(_mm256_storeu_si256((__m256i *)((d) + (o)), bf16_rne512(lo)), \
		_mm256_storeu_si256((__m256i *)((d) + (o) + 16), bf16_rne512(hi)))
// VCVTNE2PS2BF16 rounds to nearest even too, and flushes subnormal float32
// values, which q·d never is (its smallest non-zero magnitude is 2^-24, a
// subnormal float16 scale times 1).
#define QP_STORE_CVTNE(d, o, lo, hi) _mm512_storeu_si512((d) + (o), (__m512i)_mm512_cvtne2ps_pbh(hi, lo))

#define QP_BF16 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

QP_DEQUANT(qp_dequant_f32, AVX512, float, QP_STORE_F32)
QP_DEQUANT(qp_dequant_rne, AVX512, uint16_t, QP_STORE_RNE)
QP_DEQUANT(qp_dequant_cvtne, QP_BF16, uint16_t, QP_STORE_CVTNE)

// ops_q8p_dequant writes rows [r0, r1) of the packed weight w (nb blocks a
// row, r0 a multiple of 16, r1 one too or the weight's last row), row after
// row, to dst: float32 (form 0) or bfloat16 rounded to nearest even (form
// 1, or 2 on a CPU with AVX512_BF16), the values of ops_q8_dequant and
// ops_q8_dequant_bf16 on the GGUF blocks.
AVX512 void ops_q8p_dequant(const uint8_t *w, long nb, long r0, long r1, void *dst, int form) {
	OPS_RAN(OPS_K_Q8_DEQUANT, OPS_AVX512);
	switch (form) {
	case 0: qp_dequant_f32(w, nb, r0, r1, (float *)dst); break;
	case 1: qp_dequant_rne(w, nb, r0, r1, (uint16_t *)dst); break;
	default: qp_dequant_cvtne(w, nb, r0, r1, (uint16_t *)dst);
	}
}

// The decode MulT on packed weights (AVX512_VNNI, in the AVX-512 family):
// the inputs are quantised as for q8.c's VNNI kernel (ops_q8_quantize_x:
// int8 blocks xq with scales dx, and xs = −128·Σ xq per block). For block b
// of a group and one input, eight VPDPBUSD of the eight weight lines by the
// input's eight 4-byte words (each broadcast to the 16 lanes), started from
// xs, leave the 16 rows' exact Σ q·xq in 16 int32 lanes; converted to
// float32 they are scaled by the 16 scales times dx into the input's
// accumulator. Two chains per block (even and odd lines) and the two
// blocks of a pair apart keep four VPDPBUSD chains in flight.

#define VNNI __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

// Q8P_PF: the kernel asks for each line of the weight this far ahead (a
// pair is 17 lines, all asked for, no branch).
#ifndef Q8P_PF
#define Q8P_PF 4096
#endif
#ifndef Q8P_PF_HINT
#define Q8P_PF_HINT _MM_HINT_T0
#endif

// qp_pair adds blocks b, b+1 (quants at qs, scales at sc) times the inputs
// [i0, i0+I) to their accumulators a0 (block b) and a1 (block b+1).
INLINE VNNI void qp_pair(const uint8_t *p, long nb, long b, const int8_t *xq, const int32_t *xs, const float *dx,
		long i0, const int I, __m512 a0[4], __m512 a1[4]) {
#if Q8P_PF > 0
	for (int l = 0; l < QP_PAIR / 64; l++) _mm_prefetch((const char *)(p + Q8P_PF + 64 * l), Q8P_PF_HINT);
#endif
	__m512 d0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
	__m512 d1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 32)));
	const uint8_t *q0 = p + 64, *q1 = p + 64 + 512;
	for (int i = 0; i < I; i++) {
		long k = (i0 + i) * nb + b;
		const int32_t *x0 = (const int32_t *)(xq + k * QK), *x1 = x0 + 8;
		__m512i s0 = _mm512_set1_epi32(xs[k]), t0 = _mm512_setzero_si512();
		__m512i s1 = _mm512_set1_epi32(xs[k + 1]), t1 = _mm512_setzero_si512();
		for (int c = 0; c < 8; c += 2) {
			s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512(q0 + 64 * c), _mm512_set1_epi32(x0[c]));
			t0 = _mm512_dpbusd_epi32(t0, _mm512_loadu_si512(q0 + 64 * c + 64), _mm512_set1_epi32(x0[c + 1]));
			s1 = _mm512_dpbusd_epi32(s1, _mm512_loadu_si512(q1 + 64 * c), _mm512_set1_epi32(x1[c]));
			t1 = _mm512_dpbusd_epi32(t1, _mm512_loadu_si512(q1 + 64 * c + 64), _mm512_set1_epi32(x1[c + 1]));
		}
		a0[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, t0)), _mm512_mul_ps(d0, _mm512_set1_ps(dx[k])), a0[i]);
		a1[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s1, t1)), _mm512_mul_ps(d1, _mm512_set1_ps(dx[k + 1])), a1[i]);
	}
}

// qp_last adds the odd last block b (576 bytes at p) times the inputs.
INLINE VNNI void qp_last(const uint8_t *p, long nb, long b, const int8_t *xq, const int32_t *xs, const float *dx,
		long i0, const int I, __m512 a0[4]) {
	__m512 d0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
	const uint8_t *q0 = p + 64;
	for (int i = 0; i < I; i++) {
		long k = (i0 + i) * nb + b;
		const int32_t *x0 = (const int32_t *)(xq + k * QK);
		__m512i s0 = _mm512_set1_epi32(xs[k]), t0 = _mm512_setzero_si512();
		for (int c = 0; c < 8; c += 2) {
			s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512(q0 + 64 * c), _mm512_set1_epi32(x0[c]));
			t0 = _mm512_dpbusd_epi32(t0, _mm512_loadu_si512(q0 + 64 * c + 64), _mm512_set1_epi32(x0[c + 1]));
		}
		a0[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, t0)), _mm512_mul_ps(d0, _mm512_set1_ps(dx[k])), a0[i]);
	}
}

// qp_tile: group grp (rows 16g.., valid of them) against inputs [i0, i0+I).
INLINE VNNI void qp_tile(const uint8_t *grp, long nb, long g, long valid, const int8_t *xq, const int32_t *xs,
		const float *dx, long i0, float *y, long ldy, int acc, const int I) {
	__m512 a0[4], a1[4];
	for (int i = 0; i < I; i++) a0[i] = a1[i] = _mm512_setzero_ps();
	const uint8_t *p = grp;
	long b = 0;
	for (; b + 2 <= nb; b += 2, p += QP_PAIR) qp_pair(p, nb, b, xq, xs, dx, i0, I, a0, a1);
	if (b < nb) qp_last(p, nb, b, xq, xs, dx, i0, I, a0);
	__mmask16 m = valid >= 16 ? 0xffff : (__mmask16)((1u << valid) - 1);
	for (int i = 0; i < I; i++) {
		float *o = y + (i0 + i) * ldy + g * 16;
		__m512 v = _mm512_add_ps(a0[i], a1[i]);
		if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, o));
		_mm512_mask_storeu_ps(o, m, v);
	}
}

// ops_q8p_gemv_vnni: y[i*ldy + o] (+)= Σ_b d_ob·dx_ib·Σ_j q_obj·xq_ibj for
// the rows o of groups [g0, g1) of the packed weight w (rows rows in all)
// and n ≤ GEMVN_MAX inputs quantised by ops_q8_quantize_x.
VNNI void ops_q8p_gemv_vnni(const uint8_t *w, long cols, long g0, long g1, long rows, const int8_t *xq,
		const int32_t *xs, const float *dx, long n, float *y, long ldy, int acc) {
	OPS_RAN(OPS_K_Q8_VNNI, OPS_AVX512);
	long nb = cols / QK, gb = qp_group_bytes(nb);
	for (long g = g0; g < g1; g++) {
		const uint8_t *grp = w + g * gb;
		long valid = rows - g * 16;
		long i0 = 0;
		for (; i0 + 4 <= n; i0 += 4) qp_tile(grp, nb, g, valid, xq, xs, dx, i0, y, ldy, acc, 4);
		switch (n - i0) {
		case 3: qp_tile(grp, nb, g, valid, xq, xs, dx, i0, y, ldy, acc, 3); break;
		case 2: qp_tile(grp, nb, g, valid, xq, xs, dx, i0, y, ldy, acc, 2); break;
		case 1: qp_tile(grp, nb, g, valid, xq, xs, dx, i0, y, ldy, acc, 1); break;
		}
	}
}
