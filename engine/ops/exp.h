// exp.h: e^x in float32 for the kernels of softmax.c and swiglu.c, scalar
// (exp1), AVX2 (exp8) and AVX-512 (exp16), all with the same polynomial.

#ifndef OPS_EXP_H
#define OPS_EXP_H

#include "kernels.h"

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

#endif
