//go:build cgo && !purego && amd64

// swiglu.c: the gated activation of Qwen2's MLP, h = silu(gate)·up, and its
// backward.

#include "exp.h"

// SwiGLU: σ(g) = 1/(1+e^−g) with a true division (a reciprocal estimate
// would cost the accuracy the exp keeps), and silu(g) = g/(1+e^−g) in one.
// e^−g overflows to +Inf for g < −88.7, giving σ = 0, and underflows to 0
// for large g, giving σ = 1.
//
// The backward needs 1 − σ. For g ≥ 0 it is e^−g·σ, which unlike 1 − σ does
// not cancel as σ approaches 1 (at g ≈ 16 the subtraction leaves about one
// significant bit, an error of ~1e-6 in dgate); for g < 0, σ < ½ and 1 − σ
// is exact enough, while e^−g·σ would be Inf·0 once e^−g overflows.
// The products go through silu(g) = g·σ and silu'(g) = σ·(1 + g·(1−σ)),
// which stay small, so a huge |g| cannot overflow dh·g before σ = 0 zeroes it.

static void swiglu_scalar(float *h, const float *gate, const float *up, long n) {
	for (long k = 0; k < n; k++) {
		float g = gate[k];
		h[k] = g / (1.0f + exp1(-g)) * up[k];
	}
}

static void swiglu_bwd_scalar(float *dgate, float *dup, const float *dh, const float *gate, const float *up, long n) {
	for (long k = 0; k < n; k++) {
		float g = gate[k], u = up[k], d = dh[k];
		float e = exp1(-g), s = 1.0f / (1.0f + e);
		float oms = g >= 0 ? e * s : 1.0f - s;
		dup[k] = d * (g * s);
		dgate[k] = d * u * (s * (1.0f + g * oms));
	}
}

INLINE AVX2 __m256 silu8(__m256 g) {
	__m256 e = exp8(_mm256_xor_ps(g, _mm256_set1_ps(-0.0f)));
	return _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

static AVX2 void swiglu_avx2(float *h, const float *gate, const float *up, long n) {
	long k = 0;
	for (; k + 16 <= n; k += 16) {
		__m256 h0 = _mm256_mul_ps(silu8(_mm256_loadu_ps(gate + k)), _mm256_loadu_ps(up + k));
		__m256 h1 = _mm256_mul_ps(silu8(_mm256_loadu_ps(gate + k + 8)), _mm256_loadu_ps(up + k + 8));
		_mm256_storeu_ps(h + k, h0);
		_mm256_storeu_ps(h + k + 8, h1);
	}
	for (; k + 8 <= n; k += 8)
		_mm256_storeu_ps(h + k, _mm256_mul_ps(silu8(_mm256_loadu_ps(gate + k)), _mm256_loadu_ps(up + k)));
	if (k < n) {
		__m256i m = tail_mask8(n - k);
		__m256 v = _mm256_mul_ps(silu8(_mm256_maskload_ps(gate + k, m)), _mm256_maskload_ps(up + k, m));
		_mm256_maskstore_ps(h + k, m, v);
	}
}

// swiglu_bwd8 loads all inputs of eight elements before storing, so dgate
// may alias gate and dup may alias up.
INLINE AVX2 void swiglu_bwd8(float *dgate, float *dup, const float *dh, const float *gate, const float *up, __m256i m, int masked) {
	const __m256 one = _mm256_set1_ps(1.0f);
	__m256 g, u, d;
	if (masked) {
		g = _mm256_maskload_ps(gate, m), u = _mm256_maskload_ps(up, m), d = _mm256_maskload_ps(dh, m);
	} else {
		g = _mm256_loadu_ps(gate), u = _mm256_loadu_ps(up), d = _mm256_loadu_ps(dh);
	}
	__m256 e = exp8(_mm256_xor_ps(g, _mm256_set1_ps(-0.0f)));
	__m256 s = _mm256_div_ps(one, _mm256_add_ps(one, e));
	__m256 pos = _mm256_cmp_ps(g, _mm256_setzero_ps(), _CMP_GE_OQ);
	__m256 oms = _mm256_blendv_ps(_mm256_sub_ps(one, s), _mm256_mul_ps(e, s), pos);
	__m256 vdup = _mm256_mul_ps(d, _mm256_mul_ps(g, s));
	__m256 vdg = _mm256_mul_ps(_mm256_mul_ps(d, u), _mm256_mul_ps(s, _mm256_fmadd_ps(g, oms, one)));
	if (masked) {
		_mm256_maskstore_ps(dup, m, vdup);
		_mm256_maskstore_ps(dgate, m, vdg);
	} else {
		_mm256_storeu_ps(dup, vdup);
		_mm256_storeu_ps(dgate, vdg);
	}
}

static AVX2 void swiglu_bwd_avx2(float *dgate, float *dup, const float *dh, const float *gate, const float *up, long n) {
	long k = 0;
	__m256i none = _mm256_setzero_si256();
	for (; k + 8 <= n; k += 8) swiglu_bwd8(dgate + k, dup + k, dh + k, gate + k, up + k, none, 0);
	if (k < n) swiglu_bwd8(dgate + k, dup + k, dh + k, gate + k, up + k, tail_mask8(n - k), 1);
}

INLINE AVX512 __m512 silu16(__m512 g) {
	__m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), g));
	return _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

static AVX512 void swiglu_avx512(float *h, const float *gate, const float *up, long n) {
	long k = 0;
	for (; k + 32 <= n; k += 32) {
		__m512 h0 = _mm512_mul_ps(silu16(_mm512_loadu_ps(gate + k)), _mm512_loadu_ps(up + k));
		__m512 h1 = _mm512_mul_ps(silu16(_mm512_loadu_ps(gate + k + 16)), _mm512_loadu_ps(up + k + 16));
		_mm512_storeu_ps(h + k, h0);
		_mm512_storeu_ps(h + k + 16, h1);
	}
	for (; k < n; k += 16) {
		__mmask16 m = n - k >= 16 ? 0xffff : tail_mask16(n - k);
		__m512 v = _mm512_mul_ps(silu16(_mm512_maskz_loadu_ps(m, gate + k)), _mm512_maskz_loadu_ps(m, up + k));
		_mm512_mask_storeu_ps(h + k, m, v);
	}
}

static AVX512 void swiglu_bwd_avx512(float *dgate, float *dup, const float *dh, const float *gate, const float *up, long n) {
	const __m512 one = _mm512_set1_ps(1.0f);
	for (long k = 0; k < n; k += 16) {
		// All loads of a vector come before its stores: dgate may alias gate
		// and dup may alias up.
		__mmask16 m = n - k >= 16 ? 0xffff : tail_mask16(n - k);
		__m512 g = _mm512_maskz_loadu_ps(m, gate + k);
		__m512 u = _mm512_maskz_loadu_ps(m, up + k);
		__m512 d = _mm512_maskz_loadu_ps(m, dh + k);
		__m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), g));
		__m512 s = _mm512_div_ps(one, _mm512_add_ps(one, e));
		__mmask16 pos = _mm512_cmp_ps_mask(g, _mm512_setzero_ps(), _CMP_GE_OQ);
		__m512 oms = _mm512_mask_blend_ps(pos, _mm512_sub_ps(one, s), _mm512_mul_ps(e, s));
		_mm512_mask_storeu_ps(dup + k, m, _mm512_mul_ps(d, _mm512_mul_ps(g, s)));
		_mm512_mask_storeu_ps(dgate + k, m, _mm512_mul_ps(_mm512_mul_ps(d, u), _mm512_mul_ps(s, _mm512_fmadd_ps(g, oms, one))));
	}
}

void ops_swiglu(float *h, const float *gate, const float *up, long n) {
	switch (ops_family) {
	case OPS_AVX512:
		OPS_RAN(OPS_K_SWIGLU, OPS_AVX512);
		swiglu_avx512(h, gate, up, n);
		break;
	case OPS_AVX2:
		OPS_RAN(OPS_K_SWIGLU, OPS_AVX2);
		swiglu_avx2(h, gate, up, n);
		break;
	default:
		OPS_RAN(OPS_K_SWIGLU, OPS_SCALAR);
		swiglu_scalar(h, gate, up, n);
	}
}

void ops_swiglu_bwd(float *dgate, float *dup, const float *dh, const float *gate, const float *up, long n) {
	switch (ops_family) {
	case OPS_AVX512:
		OPS_RAN(OPS_K_SWIGLU_BWD, OPS_AVX512);
		swiglu_bwd_avx512(dgate, dup, dh, gate, up, n);
		break;
	case OPS_AVX2:
		OPS_RAN(OPS_K_SWIGLU_BWD, OPS_AVX2);
		swiglu_bwd_avx2(dgate, dup, dh, gate, up, n);
		break;
	default:
		OPS_RAN(OPS_K_SWIGLU_BWD, OPS_SCALAR);
		swiglu_bwd_scalar(dgate, dup, dh, gate, up, n);
	}
}
