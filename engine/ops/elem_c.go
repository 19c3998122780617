//go:build !purego

package ops

/*
#cgo CFLAGS: -O3 -std=gnu11

// Element-wise kernels built on a float32 e^x: softmax rows and SwiGLU. As in
// kernels_c.go each vector kernel carries its own target attribute, so the
// scalar fallbacks stay runnable on any x86-64; elem_isa picks one at run
// time. This file keeps its own detection because static C symbols are not
// shared between cgo files.

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define AVX512 __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))

enum { ISA_SCALAR, ISA_AVX2, ISA_AVX512 };

// elem_isa is set once from Go's init (and by tests), before any kernel runs.
static int elem_isa;

// elem_detect selects the best instruction set the CPU supports up to limit
// and returns it.
static int elem_detect(int limit) {
	__builtin_cpu_init();
	int isa = ISA_SCALAR;
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) isa = ISA_AVX2;
	if (isa == ISA_AVX2 && __builtin_cpu_supports("avx512f")) isa = ISA_AVX512;
	elem_isa = isa < limit ? isa : limit;
	return elem_isa;
}

// e^x after Cephes expf: x = n·ln2 + r with n = round(x/ln2), so |r| ≤ ln2/2;
// ln2 is split in two (C1 has few enough bits that n·C1 is exact) so that
// r keeps its low bits, and a degree-7 polynomial gives e^r to about 1 ulp.
// x is clamped to [EXP_LO, EXP_HI] first: beyond those e^x rounds to 0 or
// overflows to +Inf anyway, and the clamp keeps n small enough that 2^n fits
// in two normal float factors (or vscalefps), so results that are subnormal
// round correctly instead of being flushed. NaN passes through.
#define EXP_LO -104.0f
#define EXP_HI 89.0f
#define LOG2E 1.44269504088896341f
#define EXP_C1 0.693359375f
#define EXP_C2 -2.12194440e-4f
#define EXP_P0 1.9875691500e-4f
#define EXP_P1 1.3981999507e-3f
#define EXP_P2 8.3334519073e-3f
#define EXP_P3 4.1665795894e-2f
#define EXP_P4 1.6666665459e-1f
#define EXP_P5 5.0000001201e-1f

INLINE float pow2i(int n) {
	uint32_t u = (uint32_t)(n + 127) << 23;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

INLINE float exp1(float x) {
	if (x != x) return x;
	if (x < EXP_LO) x = EXP_LO;
	if (x > EXP_HI) x = EXP_HI;
	// Adding 1.5·2^23 rounds to an integer (to even) without libm.
	const float magic = 12582912.0f;
	float n = (x * LOG2E + magic) - magic;
	float r = x - n * EXP_C1;
	r = r - n * EXP_C2;
	float p = EXP_P0;
	p = p * r + EXP_P1;
	p = p * r + EXP_P2;
	p = p * r + EXP_P3;
	p = p * r + EXP_P4;
	p = p * r + EXP_P5;
	p = p * (r * r) + r + 1.0f;
	int ni = (int)n, h = ni >> 1;
	return p * pow2i(h) * pow2i(ni - h);
}

INLINE AVX2 __m256 exp8(__m256 x) {
	// min/max return their second operand when either is NaN.
	x = _mm256_max_ps(_mm256_set1_ps(EXP_LO), _mm256_min_ps(_mm256_set1_ps(EXP_HI), x));
	__m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(EXP_C1), x);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(EXP_C2), r);
	__m256 p = _mm256_fmadd_ps(_mm256_set1_ps(EXP_P0), r, _mm256_set1_ps(EXP_P1));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P2));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P3));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P4));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P5));
	p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
	__m256i ni = _mm256_cvtps_epi32(n);
	__m256i h = _mm256_srai_epi32(ni, 1);
	const __m256i bias = _mm256_set1_epi32(127);
	__m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
	__m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), bias), 23));
	return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

INLINE AVX512 __m512 exp16(__m512 x) {
	x = _mm512_max_ps(_mm512_set1_ps(EXP_LO), _mm512_min_ps(_mm512_set1_ps(EXP_HI), x));
	__m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(EXP_C1), x);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(EXP_C2), r);
	__m512 p = _mm512_fmadd_ps(_mm512_set1_ps(EXP_P0), r, _mm512_set1_ps(EXP_P1));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P2));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P3));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P4));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P5));
	p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
	return _mm512_scalef_ps(p, n);
}

// avx2_tail[8-m .. 16-m) is a load mask for the first m of 8 lanes.
static const int32_t avx2_tail[16] = {-1, -1, -1, -1, -1, -1, -1, -1};

INLINE AVX2 __m256i tail_mask8(long m) {
	return _mm256_loadu_si256((const __m256i *)(avx2_tail + 8 - m));
}

INLINE __mmask16 tail_mask16(long m) { return (__mmask16)((1u << m) - 1); }

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

static double elem_exp_shift_sum(float *p, long n, float shift) {
	switch (elem_isa) {
	case ISA_AVX512: return exp_shift_sum_avx512(p, n, shift);
	case ISA_AVX2: return exp_shift_sum_avx2(p, n, shift);
	default: return exp_shift_sum_scalar(p, n, shift);
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

static float elem_max(const float *p, long n) {
	switch (elem_isa) {
	case ISA_AVX512: return max_avx512(p, n);
	case ISA_AVX2: return max_avx2(p, n);
	}
	float m = -INFINITY;
	for (long k = 0; k < n; k++)
		if (p[k] > m) m = p[k];
	return m;
}

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

static void elem_swiglu(float *h, const float *gate, const float *up, long n) {
	switch (elem_isa) {
	case ISA_AVX512: swiglu_avx512(h, gate, up, n); break;
	case ISA_AVX2: swiglu_avx2(h, gate, up, n); break;
	default: swiglu_scalar(h, gate, up, n);
	}
}

static void elem_swiglu_bwd(float *dgate, float *dup, const float *dh, const float *gate, const float *up, long n) {
	switch (elem_isa) {
	case ISA_AVX512: swiglu_bwd_avx512(dgate, dup, dh, gate, up, n); break;
	case ISA_AVX2: swiglu_bwd_avx2(dgate, dup, dh, gate, up, n); break;
	default: swiglu_bwd_scalar(dgate, dup, dh, gate, up, n);
	}
}
*/
import "C"

import (
	"math"
	"unsafe"
)

// Instruction sets of the element-wise kernels, in the order of the C enum.
const (
	elemScalar = iota
	elemAVX2
	elemAVX512
)

func init() { C.elem_detect(elemAVX512) }

// forceElemISA limits the element-wise kernels to an instruction set (as far
// as the CPU has it) so that tests cover every path, and returns the one now
// in use.
func forceElemISA(limit int) int { return int(C.elem_detect(C.int(limit))) }

// cf32 points C at s[0]; s must not be empty.
func cf32(s []float32) *C.float { return (*C.float)(unsafe.Pointer(&s[0])) }

// ExpShiftSum replaces each row[j] by e^(row[j]−shift) and returns the sum
// of the new values, accumulated well enough (float32 partial sums of a few
// terms, then float64) that its relative error stays within a few float32
// ulps for vocabulary-sized rows. The exp is a float32 polynomial good to
// about 1 ulp; results below the smallest subnormal round to 0, above
// MaxFloat32 to +Inf, and NaN stays NaN. For a softmax, shift is the row's
// maximum (MaxF32), which keeps every exponent ≤ 0.
func ExpShiftSum(row []float32, shift float32) float64 {
	if len(row) == 0 {
		return 0
	}
	return float64(C.elem_exp_shift_sum(cf32(row), C.long(len(row)), C.float(shift)))
}

// MaxF32 returns the largest element of row, skipping NaNs; −Inf when row is
// empty or all NaN.
func MaxF32(row []float32) float32 {
	if len(row) == 0 {
		return float32(math.Inf(-1))
	}
	return float32(C.elem_max(cf32(row), C.long(len(row))))
}

// SwiGLU sets h[i] = silu(gate[i])·up[i] = gate[i]·σ(gate[i])·up[i] for every
// i < len(h), σ(g) = 1/(1+e^−g) in float32: σ is 0 for g below about −88.7
// and 1 for large g, never NaN for finite g (g = −Inf gives −Inf·0 = NaN, as
// the formula does in any precision).
func SwiGLU(h, gate, up []float32) {
	n := len(h)
	if n == 0 {
		return
	}
	gate, up = gate[:n], up[:n]
	C.elem_swiglu(cf32(h), cf32(gate), cf32(up), C.long(n))
}

// SwiGLUBackward is the backward of SwiGLU for i < len(dh): with s = σ(g),
// dup = dh·g·s and dgate = dh·up·s·(1 + g·(1−s)). dgate may be gate and dup
// may be up (the same slices, not partly overlapping ones): each element is
// read before it is written.
func SwiGLUBackward(dgate, dup, dh, gate, up []float32) {
	n := len(dh)
	if n == 0 {
		return
	}
	dgate, dup, gate, up = dgate[:n], dup[:n], gate[:n], up[:n]
	C.elem_swiglu_bwd(cf32(dgate), cf32(dup), cf32(dh), cf32(gate), cf32(up), C.long(n))
}
