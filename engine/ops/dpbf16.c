//go:build cgo && !purego

// dpbf16.c: bfloat16 products with a frozen bfloat16 weight on AVX512_BF16
// (VDPBF16PS, SPEC §9): both operands bfloat16, products and sums float32.
// The activations arrive already rounded to bfloat16 (nearest even) and
// packed row-major, so a pair of adjacent values along the reduction
// dimension is one 32-bit lane.
//
// MulT (y = x·Wᵀ) reduces over in, along which a weight row is contiguous:
// the weight pairs are read as stored, and a tile of 4 weight rows × 4
// input rows keeps 16 accumulators running over 32 values of k per step,
// summed horizontally at the end.
//
// Mul (dx = dy·W) reduces over out, across weight rows: rows o and o+1 are
// loaded (32 columns each) and interleaved in registers (vpunpck{l,h}wd),
// giving the pairs (W[o,c], W[o+1,c]), which meet the broadcast pair
// (dy[i,o], dy[i,o+1]). The interleave leaves columns in the order of the
// unpack, which the store puts back.

#include "kernels.h"

#define BF16 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

INLINE BF16 __m512 dp(__m512 acc, __m512i a, __m512i b) {
	return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}

// ops_dp_mult: y[i*ldy + o] (+)= Σ_k x[i*cols + k]·w[o*cols + k] for weight
// rows o in [lo, hi), i < n; x is bfloat16. Inputs go in blocks of 48 rows
// (their bfloat16 rows stay in L2 while the weight rows pass), each tile 4
// weight rows × 6 inputs: 10 loads feed 24 VDPBF16PS.
BF16 void ops_dp_mult(const uint16_t *w, long cols, long lo, long hi, const uint16_t *x, long n, float *y,
		long ldy, int acc) {
	OPS_RAN(OPS_K_TILED_MULT, OPS_AVX512);
	for (long i0 = 0; i0 < n; i0 += 48) {
		long i1 = n - i0 < 48 ? n : i0 + 48;
		for (long o = lo; o < hi; o += 4) {
			int R = hi - o < 4 ? (int)(hi - o) : 4;
			for (long i = i0; i < i1; i += 6) {
				int I = i1 - i < 6 ? (int)(i1 - i) : 6;
				__m512 s[24];
				_Pragma("GCC unroll 24")
				for (int k = 0; k < 24; k++) s[k] = _mm512_setzero_ps();
				const uint16_t *wr[4], *xr[6];
				for (int r = 0; r < 4; r++) wr[r] = w + (o + (r < R ? r : 0)) * cols;
				for (int j = 0; j < 6; j++) xr[j] = x + (i + (j < I ? j : 0)) * cols;
				long k = 0;
				for (; k + 32 <= cols; k += 32) {
					__m512i wv[4], xv[6];
					_Pragma("GCC unroll 4")
					for (int r = 0; r < 4; r++) wv[r] = _mm512_loadu_si512(wr[r] + k);
					_Pragma("GCC unroll 6")
					for (int j = 0; j < 6; j++) xv[j] = _mm512_loadu_si512(xr[j] + k);
					_Pragma("GCC unroll 4")
					for (int r = 0; r < 4; r++) {
						_Pragma("GCC unroll 6")
						for (int j = 0; j < 6; j++) s[r * 6 + j] = dp(s[r * 6 + j], wv[r], xv[j]);
					}
				}
				if (k < cols) {
					__mmask32 m = (__mmask32)((1u << (cols - k)) - 1);
					__m512i wv[4], xv[6];
					for (int r = 0; r < 4; r++) wv[r] = _mm512_maskz_loadu_epi16(m, wr[r] + k);
					for (int j = 0; j < 6; j++) xv[j] = _mm512_maskz_loadu_epi16(m, xr[j] + k);
					for (int r = 0; r < 4; r++)
						for (int j = 0; j < 6; j++) s[r * 6 + j] = dp(s[r * 6 + j], wv[r], xv[j]);
				}
				for (int j = 0; j < I; j++)
					for (int r = 0; r < R; r++) {
						float v = _mm512_reduce_add_ps(s[r * 6 + j]);
						float *d = y + (i + j) * ldy + o + r;
						*d = acc ? *d + v : v;
					}
			}
		}
	}
}

// ops_round_bf16 rounds count float32 values to bfloat16, nearest even
// (VCVTNEPS2BF16; NaN stays a quiet NaN).
BF16 void ops_round_bf16(const float *src, uint16_t *dst, long count) {
	long i = 0;
	for (; i + 16 <= count; i += 16)
		_mm256_storeu_si256((__m256i *)(dst + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
	if (i < count) {
		__mmask16 m = (__mmask16)((1u << (count - i)) - 1);
		__m256i h = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i));
		_mm256_mask_storeu_epi16(dst + i, m, h);
	}
}

// ops_dp_mul: dx[i*cols + c] (+)= Σ_o dy[i*ldd + o]·w[o*cols + c] for
// columns c in [lo, hi), i < n; dy is bfloat16 with ldd even and dy[i*ldd +
// rows] zero when rows is odd.
BF16 void ops_dp_mul(const uint16_t *w, long cols, long rows, long lo, long hi, const uint16_t *dy, long ldd,
		long n, float *dx, int acc) {
	OPS_RAN(OPS_K_TILED_MUL, OPS_AVX512);
	const __m512i p0 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
	const __m512i p1 = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
	for (long c = lo; c < hi; c += 32) {
		long wid = hi - c < 32 ? hi - c : 32;
		__mmask32 m = wid == 32 ? 0xffffffffu : (__mmask32)((1u << wid) - 1);
		__mmask16 m0 = (__mmask16)(wid >= 16 ? 0xffff : (1u << wid) - 1);
		__mmask16 m1 = (__mmask16)(wid <= 16 ? 0 : wid == 32 ? 0xffff : (1u << (wid - 16)) - 1);
		// o goes in blocks of 256 (an even number) rows: 32 columns of them
		// (16 KiB) stay in L1 while every input tile passes.
		for (long o0 = 0; o0 < rows; o0 += 256) {
		long o1 = rows - o0 < 256 ? rows : o0 + 256;
		int ac = acc || o0 > 0;
		for (long i = 0; i < n; i += 6) {
			int I = n - i < 6 ? (int)(n - i) : 6;
			__m512 a[6], b[6];
			for (int j = 0; j < 6; j++) a[j] = b[j] = _mm512_setzero_ps();
			for (long o = o0; o < o1; o += 2) {
				__m512i r0 = _mm512_maskz_loadu_epi16(m, w + o * cols + c);
				__m512i r1 = o + 1 < rows ? _mm512_maskz_loadu_epi16(m, w + (o + 1) * cols + c) : _mm512_setzero_si512();
				__m512i lo16 = _mm512_unpacklo_epi16(r0, r1), hi16 = _mm512_unpackhi_epi16(r0, r1);
				_Pragma("GCC unroll 6")
				for (int j = 0; j < 6; j++) {
					if (j < I) {
						uint32_t pr;
						memcpy(&pr, dy + (i + j) * ldd + o, 4);
						__m512i d = _mm512_set1_epi32((int)pr);
						a[j] = dp(a[j], lo16, d);
						b[j] = dp(b[j], hi16, d);
					}
				}
			}
			for (int j = 0; j < I; j++) {
				float *d = dx + (i + j) * cols + c;
				__m512 v0 = _mm512_permutex2var_ps(a[j], p0, b[j]);
				__m512 v1 = _mm512_permutex2var_ps(a[j], p1, b[j]);
				if (ac) {
					v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, d));
					v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, d + 16));
				}
				_mm512_mask_storeu_ps(d, m0, v0);
				_mm512_mask_storeu_ps(d + 16, m1, v1);
			}
		}
		}
	}
}

// ops_dp_peak runs iters steps of 12 independent VDPBF16PS on registers
// (no memory traffic): the instruction's throughput, 64 flops each (16
// lanes × 2 products and 2 sums). The sum of the accumulators is returned
// so the loop is not optimised away.
BF16 float ops_dp_peak(long iters) {
	__m512 s[12];
	for (int k = 0; k < 12; k++) s[k] = _mm512_setzero_ps();
	__m512i a = _mm512_set1_epi32(0x3f803f80), b = _mm512_set1_epi32(0x3c003c00);
	for (long i = 0; i < iters; i++) {
		_Pragma("GCC unroll 12")
		for (int k = 0; k < 12; k++) s[k] = dp(s[k], a, b);
		__asm__ volatile("" : "+v"(a), "+v"(b));
	}
	__m512 t = s[0];
	for (int k = 1; k < 12; k++) t = _mm512_add_ps(t, s[k]);
	return _mm512_reduce_add_ps(t);
}
