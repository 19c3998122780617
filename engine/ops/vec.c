//go:build cgo && !purego && amd64

// vec.c: streaming kernels over one vector: a row scale, the widening of
// bfloat16 to float32, and a pure read of memory (the bandwidth bound the
// decode benchmarks compare with). Widening and reading have AVX2 code
// only, which the AVX-512 family runs too.

#include "kernels.h"

// Scale: p[k] *= c, one rounding per element on every path.

static AVX2 void scale_avx2(float *p, long n, float c) {
	const __m256 vc = _mm256_set1_ps(c);
	long k = 0;
	for (; k + 32 <= n; k += 32) {
		_mm256_storeu_ps(p + k, _mm256_mul_ps(_mm256_loadu_ps(p + k), vc));
		_mm256_storeu_ps(p + k + 8, _mm256_mul_ps(_mm256_loadu_ps(p + k + 8), vc));
		_mm256_storeu_ps(p + k + 16, _mm256_mul_ps(_mm256_loadu_ps(p + k + 16), vc));
		_mm256_storeu_ps(p + k + 24, _mm256_mul_ps(_mm256_loadu_ps(p + k + 24), vc));
	}
	for (; k + 8 <= n; k += 8) _mm256_storeu_ps(p + k, _mm256_mul_ps(_mm256_loadu_ps(p + k), vc));
	if (k < n) {
		__m256i m = tail_mask8(n - k);
		_mm256_maskstore_ps(p + k, m, _mm256_mul_ps(_mm256_maskload_ps(p + k, m), vc));
	}
}

static AVX512 void scale_avx512(float *p, long n, float c) {
	const __m512 vc = _mm512_set1_ps(c);
	long k = 0;
	for (; k + 64 <= n; k += 64) {
		_mm512_storeu_ps(p + k, _mm512_mul_ps(_mm512_loadu_ps(p + k), vc));
		_mm512_storeu_ps(p + k + 16, _mm512_mul_ps(_mm512_loadu_ps(p + k + 16), vc));
		_mm512_storeu_ps(p + k + 32, _mm512_mul_ps(_mm512_loadu_ps(p + k + 32), vc));
		_mm512_storeu_ps(p + k + 48, _mm512_mul_ps(_mm512_loadu_ps(p + k + 48), vc));
	}
	for (; k < n; k += 16) {
		__mmask16 m = n - k >= 16 ? 0xffff : tail_mask16(n - k);
		_mm512_mask_storeu_ps(p + k, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p + k), vc));
	}
}

void ops_scale(float *p, long n, float c) {
	switch (ops_family) {
	case OPS_AVX512:
		OPS_RAN(OPS_K_SCALE, OPS_AVX512);
		scale_avx512(p, n, c);
		return;
	case OPS_AVX2:
		OPS_RAN(OPS_K_SCALE, OPS_AVX2);
		scale_avx2(p, n, c);
		return;
	}
	OPS_RAN(OPS_K_SCALE, OPS_SCALAR);
	for (long k = 0; k < n; k++) p[k] *= c;
}

static AVX2 void to_f32_avx2(const uint16_t *src, float *dst, long count) {
	long k = 0;
	for (; k + 8 <= count; k += 8) _mm256_storeu_ps(dst + k, load_bf16(src + k));
	for (; k < count; k++) dst[k] = bf16f(src[k]);
}

void ops_bf16_to_f32(const uint16_t *src, float *dst, long count) {
	if (ops_family >= OPS_AVX2) {
		OPS_RAN(OPS_K_WIDEN, OPS_AVX2);
		to_f32_avx2(src, dst, count);
		return;
	}
	OPS_RAN(OPS_K_WIDEN, OPS_SCALAR);
	for (long k = 0; k < count; k++) dst[k] = bf16f(src[k]);
}

static AVX2 uint32_t read_avx2(const uint32_t *p, long count) {
	__m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
	long k = 0;
	for (; k + 32 <= count; k += 32) {
		PF_LINE(p + k); // as the decode kernels ask (STREAM_PF, kernels.h)
		PF_LINE(p + k + 16);
		s0 = _mm256_xor_si256(s0, _mm256_loadu_si256((const __m256i *)(p + k)));
		s1 = _mm256_xor_si256(s1, _mm256_loadu_si256((const __m256i *)(p + k + 8)));
		s2 = _mm256_xor_si256(s2, _mm256_loadu_si256((const __m256i *)(p + k + 16)));
		s3 = _mm256_xor_si256(s3, _mm256_loadu_si256((const __m256i *)(p + k + 24)));
	}
	uint32_t t[8];
	_mm256_storeu_si256((__m256i *)t, _mm256_xor_si256(_mm256_xor_si256(s0, s1), _mm256_xor_si256(s2, s3)));
	uint32_t r = t[0] ^ t[1] ^ t[2] ^ t[3] ^ t[4] ^ t[5] ^ t[6] ^ t[7];
	for (; k < count; k++) r ^= p[k];
	return r;
}

// ops_read_words XORs count 32-bit words together: a pure read of memory
// (integer, so that any bit pattern, such as two bfloat16 weights, is fine).
uint32_t ops_read_words(const uint32_t *p, long count) {
	if (ops_family >= OPS_AVX2) {
		OPS_RAN(OPS_K_READ, OPS_AVX2);
		return read_avx2(p, count);
	}
	OPS_RAN(OPS_K_READ, OPS_SCALAR);
	uint32_t r = 0;
	for (long k = 0; k < count; k++) r ^= p[k];
	return r;
}
