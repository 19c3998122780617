//go:build cgo && !purego && amd64

// softmax.c: the two passes of a softmax row, its maximum (ops_max) and
// e^(x − max) with the sum of the results (ops_exp_shift_sum).

#include <math.h>

#include "exp.h"

// The exp_shift_sum kernels add the new values in float32 vector
// accumulators for at most a block of elements (a handful of terms per lane)
// and then in double, so the relative error of the sum stays at a few float
// ulps for any row length (a 151,936-word vocabulary) at the cost of a few
// instructions per block.

static double exp_shift_sum_scalar(float *p, long n, float shift) {
	double s = 0;
	for (long k = 0; k < n; k++) {
		p[k] = exp1(p[k] - shift);
		s += p[k];
	}
	return s;
}

INLINE AVX2 __m256d widen_sum8(__m256d t, __m256 s) {
	t = _mm256_add_pd(t, _mm256_cvtps_pd(_mm256_castps256_ps128(s)));
	return _mm256_add_pd(t, _mm256_cvtps_pd(_mm256_extractf128_ps(s, 1)));
}

static AVX2 double exp_shift_sum_avx2(float *p, long n, float shift) {
	const __m256 sh = _mm256_set1_ps(shift);
	__m256d t = _mm256_setzero_pd();
	long k = 0;
	while (k + 32 <= n) {
		__m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
		long end = k + 128 < n ? k + 128 : n;
		for (; k + 32 <= end; k += 32) {
			__m256 e0 = exp8(_mm256_sub_ps(_mm256_loadu_ps(p + k), sh));
			__m256 e1 = exp8(_mm256_sub_ps(_mm256_loadu_ps(p + k + 8), sh));
			__m256 e2 = exp8(_mm256_sub_ps(_mm256_loadu_ps(p + k + 16), sh));
			__m256 e3 = exp8(_mm256_sub_ps(_mm256_loadu_ps(p + k + 24), sh));
			_mm256_storeu_ps(p + k, e0);
			_mm256_storeu_ps(p + k + 8, e1);
			_mm256_storeu_ps(p + k + 16, e2);
			_mm256_storeu_ps(p + k + 24, e3);
			s0 = _mm256_add_ps(s0, e0);
			s1 = _mm256_add_ps(s1, e1);
			s2 = _mm256_add_ps(s2, e2);
			s3 = _mm256_add_ps(s3, e3);
		}
		t = widen_sum8(t, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
	}
	__m256 s = _mm256_setzero_ps();
	for (; k + 8 <= n; k += 8) {
		__m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(p + k), sh));
		_mm256_storeu_ps(p + k, e);
		s = _mm256_add_ps(s, e);
	}
	if (k < n) {
		__m256i m = tail_mask8(n - k);
		__m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_maskload_ps(p + k, m), sh)), _mm256_castsi256_ps(m));
		_mm256_maskstore_ps(p + k, m, e);
		s = _mm256_add_ps(s, e);
	}
	t = widen_sum8(t, s);
	__m128d h = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));
	return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

INLINE AVX512 __m512d widen_sum16(__m512d t, __m512 s) {
	t = _mm512_add_pd(t, _mm512_cvtps_pd(_mm512_castps512_ps256(s)));
	__m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1));
	return _mm512_add_pd(t, _mm512_cvtps_pd(hi));
}

static AVX512 double exp_shift_sum_avx512(float *p, long n, float shift) {
	const __m512 sh = _mm512_set1_ps(shift);
	__m512d t = _mm512_setzero_pd();
	long k = 0;
	while (k + 64 <= n) {
		__m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
		long end = k + 256 < n ? k + 256 : n;
		for (; k + 64 <= end; k += 64) {
			__m512 e0 = exp16(_mm512_sub_ps(_mm512_loadu_ps(p + k), sh));
			__m512 e1 = exp16(_mm512_sub_ps(_mm512_loadu_ps(p + k + 16), sh));
			__m512 e2 = exp16(_mm512_sub_ps(_mm512_loadu_ps(p + k + 32), sh));
			__m512 e3 = exp16(_mm512_sub_ps(_mm512_loadu_ps(p + k + 48), sh));
			_mm512_storeu_ps(p + k, e0);
			_mm512_storeu_ps(p + k + 16, e1);
			_mm512_storeu_ps(p + k + 32, e2);
			_mm512_storeu_ps(p + k + 48, e3);
			s0 = _mm512_add_ps(s0, e0);
			s1 = _mm512_add_ps(s1, e1);
			s2 = _mm512_add_ps(s2, e2);
			s3 = _mm512_add_ps(s3, e3);
		}
		t = widen_sum16(t, _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
	}
	__m512 s = _mm512_setzero_ps();
	for (; k + 16 <= n; k += 16) {
		__m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(p + k), sh));
		_mm512_storeu_ps(p + k, e);
		s = _mm512_add_ps(s, e);
	}
	if (k < n) {
		__mmask16 m = tail_mask16(n - k);
		__m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + k), sh));
		_mm512_mask_storeu_ps(p + k, m, e);
		s = _mm512_mask_add_ps(s, m, s, e);
	}
	return _mm512_reduce_add_pd(widen_sum16(t, s));
}

double ops_exp_shift_sum(float *p, long n, float shift) {
	switch (ops_family) {
	case OPS_AVX512:
		OPS_RAN(OPS_K_EXP_SUM, OPS_AVX512);
		return exp_shift_sum_avx512(p, n, shift);
	case OPS_AVX2:
		OPS_RAN(OPS_K_EXP_SUM, OPS_AVX2);
		return exp_shift_sum_avx2(p, n, shift);
	default:
		OPS_RAN(OPS_K_EXP_SUM, OPS_SCALAR);
		return exp_shift_sum_scalar(p, n, shift);
	}
}

// The max kernels keep the running maximum as max(x, acc), which returns
// acc when x is NaN, so NaNs are skipped as in the scalar x > m.

static AVX2 float max_avx2(const float *p, long n) {
	const __m256 ninf = _mm256_set1_ps(-INFINITY);
	__m256 m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf;
	long k = 0;
	for (; k + 32 <= n; k += 32) {
		m0 = _mm256_max_ps(_mm256_loadu_ps(p + k), m0);
		m1 = _mm256_max_ps(_mm256_loadu_ps(p + k + 8), m1);
		m2 = _mm256_max_ps(_mm256_loadu_ps(p + k + 16), m2);
		m3 = _mm256_max_ps(_mm256_loadu_ps(p + k + 24), m3);
	}
	for (; k + 8 <= n; k += 8) m0 = _mm256_max_ps(_mm256_loadu_ps(p + k), m0);
	if (k < n) {
		__m256i msk = tail_mask8(n - k);
		__m256 x = _mm256_blendv_ps(ninf, _mm256_maskload_ps(p + k, msk), _mm256_castsi256_ps(msk));
		m1 = _mm256_max_ps(x, m1);
	}
	__m256 m = _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3));
	__m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
	h = _mm_max_ps(h, _mm_movehl_ps(h, h));
	h = _mm_max_ss(h, _mm_movehdup_ps(h));
	return _mm_cvtss_f32(h);
}

static AVX512 float max_avx512(const float *p, long n) {
	const __m512 ninf = _mm512_set1_ps(-INFINITY);
	__m512 m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf;
	long k = 0;
	for (; k + 64 <= n; k += 64) {
		m0 = _mm512_max_ps(_mm512_loadu_ps(p + k), m0);
		m1 = _mm512_max_ps(_mm512_loadu_ps(p + k + 16), m1);
		m2 = _mm512_max_ps(_mm512_loadu_ps(p + k + 32), m2);
		m3 = _mm512_max_ps(_mm512_loadu_ps(p + k + 48), m3);
	}
	for (; k + 16 <= n; k += 16) m0 = _mm512_max_ps(_mm512_loadu_ps(p + k), m0);
	if (k < n) m1 = _mm512_max_ps(_mm512_mask_loadu_ps(ninf, tail_mask16(n - k), p + k), m1);
	return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
}

float ops_max(const float *p, long n) {
	switch (ops_family) {
	case OPS_AVX512:
		OPS_RAN(OPS_K_MAX, OPS_AVX512);
		return max_avx512(p, n);
	case OPS_AVX2:
		OPS_RAN(OPS_K_MAX, OPS_AVX2);
		return max_avx2(p, n);
	}
	OPS_RAN(OPS_K_MAX, OPS_SCALAR);
	float m = -INFINITY;
	for (long k = 0; k < n; k++)
		if (p[k] > m) m = p[k];
	return m;
}
