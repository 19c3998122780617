//go:build cgo && !purego && amd64

// dropout.c: counter-based dropout, a mask that is a pure function of the
// key and the element's index (see Dropout in dropout_c.go).

#include "kernels.h"

// Dropout. Element k keeps its value iff the top 24 bits of
// splitmix64(key + e·G), e = first + k, are at least thr (see Dropout in Go,
// which folds key, first and SplitMix64's increment into base, so that the
// mixer input of element k is base + k·G). The last step of SplitMix64,
// h = z ^ (z >> 31), leaves the top 33 bits of z unchanged, so the kernels
// stop at z.

#define DROP_G 0xd1b54a32d192ed03ull
#define DROP_M1 0xbf58476d1ce4e5b9ull
#define DROP_M2 0x94d049bb133111ebull

INLINE uint32_t drop_top24(uint64_t v) {
	v = (v ^ (v >> 30)) * DROP_M1;
	v = (v ^ (v >> 27)) * DROP_M2;
	return (uint32_t)(v >> 40);
}

static void dropout_scalar(float *y, const float *x, long n, uint64_t base, uint32_t thr, float s) {
	for (long k = 0; k < n; k++, base += DROP_G)
		y[k] = drop_top24(base) >= thr ? x[k] * s : 0.0f;
}

// mul64c is the low 64 bits of a·c in each lane from three 32×32→64-bit
// products (AVX2 has no 64-bit multiply); clo and chi hold the halves of c.
INLINE AVX2 __m256i mul64c(__m256i a, __m256i clo, __m256i chi) {
	__m256i ll = _mm256_mul_epu32(a, clo);
	__m256i hl = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), clo);
	__m256i lh = _mm256_mul_epu32(a, chi);
	return _mm256_add_epi64(ll, _mm256_slli_epi64(_mm256_add_epi64(hl, lh), 32));
}

// top24x4 is drop_top24 of four lanes.
INLINE AVX2 __m256i top24x4(__m256i v) {
	const __m256i m1lo = _mm256_set1_epi64x(DROP_M1 & 0xffffffff), m1hi = _mm256_set1_epi64x(DROP_M1 >> 32);
	const __m256i m2lo = _mm256_set1_epi64x(DROP_M2 & 0xffffffff), m2hi = _mm256_set1_epi64x(DROP_M2 >> 32);
	v = mul64c(_mm256_xor_si256(v, _mm256_srli_epi64(v, 30)), m1lo, m1hi);
	v = mul64c(_mm256_xor_si256(v, _mm256_srli_epi64(v, 27)), m2lo, m2hi);
	return _mm256_srli_epi64(v, 40);
}

// drop8 applies dropout to eight elements whose mixer inputs are v0 (the
// first four) and v1.
INLINE AVX2 __m256 drop8(__m256 x, __m256i v0, __m256i v1, __m256i thr, __m256 s) {
	// The top bits are in the low halves of the 64-bit lanes: gather those
	// of v0 and v1 into eight 32-bit lanes (shuffle_ps interleaves them per
	// 128-bit half, the permute restores the order).
	__m256 t = _mm256_shuffle_ps(_mm256_castsi256_ps(top24x4(v0)), _mm256_castsi256_ps(top24x4(v1)), 0x88);
	__m256i u = _mm256_permute4x64_epi64(_mm256_castps_si256(t), 0xd8);
	__m256i drop = _mm256_cmpgt_epi32(thr, u);
	return _mm256_andnot_ps(_mm256_castsi256_ps(drop), _mm256_mul_ps(x, s));
}

static AVX2 void dropout_avx2(float *y, const float *x, long n, uint64_t base, uint32_t thr, float s) {
	const __m256i step = _mm256_set1_epi64x(8 * DROP_G);
	const __m256i vt = _mm256_set1_epi32((int32_t)thr);
	const __m256 vs = _mm256_set1_ps(s);
	__m256i v0 = _mm256_set_epi64x(base + 3 * DROP_G, base + 2 * DROP_G, base + DROP_G, base);
	__m256i v1 = _mm256_add_epi64(v0, _mm256_set1_epi64x(4 * DROP_G));
	long k = 0;
	for (; k + 8 <= n; k += 8) {
		_mm256_storeu_ps(y + k, drop8(_mm256_loadu_ps(x + k), v0, v1, vt, vs));
		v0 = _mm256_add_epi64(v0, step);
		v1 = _mm256_add_epi64(v1, step);
	}
	if (k < n) {
		__m256i m = tail_mask8(n - k);
		_mm256_maskstore_ps(y + k, m, drop8(_mm256_maskload_ps(x + k, m), v0, v1, vt, vs));
	}
}

// keep16 is the keep mask of sixteen elements whose mixer inputs are v0
// (the first eight) and v1.
INLINE AVX512 __mmask16 keep16(__m512i v0, __m512i v1, __m512i thr) {
	const __m512i m1 = _mm512_set1_epi64(DROP_M1), m2 = _mm512_set1_epi64(DROP_M2);
	v0 = _mm512_mullo_epi64(_mm512_xor_si512(v0, _mm512_srli_epi64(v0, 30)), m1);
	v1 = _mm512_mullo_epi64(_mm512_xor_si512(v1, _mm512_srli_epi64(v1, 30)), m1);
	v0 = _mm512_mullo_epi64(_mm512_xor_si512(v0, _mm512_srli_epi64(v0, 27)), m2);
	v1 = _mm512_mullo_epi64(_mm512_xor_si512(v1, _mm512_srli_epi64(v1, 27)), m2);
	__mmask8 k0 = _mm512_cmpge_epu64_mask(_mm512_srli_epi64(v0, 40), thr);
	__mmask8 k1 = _mm512_cmpge_epu64_mask(_mm512_srli_epi64(v1, 40), thr);
	return (__mmask16)(k0 | (unsigned)k1 << 8);
}

static AVX512 void dropout_avx512(float *y, const float *x, long n, uint64_t base, uint32_t thr, float s) {
	const __m512i step = _mm512_set1_epi64(16 * DROP_G);
	const __m512i vt = _mm512_set1_epi64(thr);
	const __m512 vs = _mm512_set1_ps(s);
	__m512i v0 = _mm512_add_epi64(_mm512_set1_epi64(base), _mm512_mullo_epi64(_mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi64(DROP_G)));
	__m512i v1 = _mm512_add_epi64(v0, _mm512_set1_epi64(8 * DROP_G));
	long k = 0;
	for (; k + 16 <= n; k += 16) {
		__mmask16 keep = keep16(v0, v1, vt);
		_mm512_storeu_ps(y + k, _mm512_maskz_mul_ps(keep, _mm512_loadu_ps(x + k), vs));
		v0 = _mm512_add_epi64(v0, step);
		v1 = _mm512_add_epi64(v1, step);
	}
	if (k < n) {
		__mmask16 m = tail_mask16(n - k);
		__mmask16 keep = keep16(v0, v1, vt) & m;
		_mm512_mask_storeu_ps(y + k, m, _mm512_maskz_mul_ps(keep, _mm512_maskz_loadu_ps(m, x + k), vs));
	}
}

void ops_dropout(float *y, const float *x, long n, uint64_t base, uint32_t thr, float s) {
	switch (ops_family) {
	case OPS_AVX512:
		OPS_RAN(OPS_K_DROPOUT, OPS_AVX512);
		dropout_avx512(y, x, n, base, thr, s);
		break;
	case OPS_AVX2:
		OPS_RAN(OPS_K_DROPOUT, OPS_AVX2);
		dropout_avx2(y, x, n, base, thr, s);
		break;
	default:
		OPS_RAN(OPS_K_DROPOUT, OPS_SCALAR);
		dropout_scalar(y, x, n, base, thr, s);
	}
}
