//go:build cgo && !purego && amd64

// q8.c: products with a Q8_0 weight (GGUF's 8-bit blocks, q8.go): each
// block of 32 values is a float16 scale d and 32 int8 quants q, 34 bytes,
// and stands for q·d. The decode MulT widens each block in registers
// (int8 → int32 → float32, times d, exact in float32) and meets it with
// every input by FMA; the dequantisation kernels feed the blocked products
// of q8mul.go (float32, or bfloat16 rounded to nearest even).

#include "kernels.h"

#define QK 32
#define QB 34

// f16f widens an IEEE half exactly (subnormals included; d is never NaN or
// Inf in a block QuantizeQ8_0 wrote, but a loaded file may hold anything).
INLINE float f16f(const uint8_t *p) {
	uint32_t h = (uint32_t)p[0] | (uint32_t)p[1] << 8;
	uint32_t s = (h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, u;
	if (e == 0x1f) {
		u = s | 0x7f800000 | m << 13;
	} else if (e) {
		u = s | (e + 112) << 23 | m << 13;
	} else {
		float f = (float)m * 0x1p-24f;
		return s ? -f : f;
	}
	float f;
	memcpy(&f, &u, 4);
	return f;
}

INLINE uint16_t round_bf16(float f) {
	uint32_t u;
	memcpy(&u, &f, 4);
	u += 0x7fff + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

// Dequantisation: dst[k] = q·d for blocks whole blocks.

static void dequant_scalar(const uint8_t *q, long blocks, float *dst) {
	for (long b = 0; b < blocks; b++, q += QB, dst += QK) {
		float d = f16f(q);
		for (int j = 0; j < QK; j++) dst[j] = (float)(int8_t)q[2 + j] * d;
	}
}

static AVX2 void dequant_avx2(const uint8_t *q, long blocks, float *dst) {
	for (long b = 0; b < blocks; b++, q += QB, dst += QK) {
		__m256 d = _mm256_set1_ps(f16f(q));
		for (int j = 0; j < QK; j += 8) {
			__m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + 2 + j)));
			_mm256_storeu_ps(dst + j, _mm256_mul_ps(_mm256_cvtepi32_ps(v), d));
		}
	}
}

// q8_widen512 loads block q as two vectors of 16 float32 values q·d.
INLINE AVX512 void q8_widen512(const uint8_t *q, __m512 *lo, __m512 *hi) {
	__m512 d = _mm512_cvtph_ps(_mm256_set1_epi16((short)((uint16_t)q[0] | (uint16_t)q[1] << 8)));
	__m512i a = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(q + 2)));
	__m512i b = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(q + 18)));
	*lo = _mm512_mul_ps(_mm512_cvtepi32_ps(a), d);
	*hi = _mm512_mul_ps(_mm512_cvtepi32_ps(b), d);
}

static AVX512 void dequant_avx512(const uint8_t *q, long blocks, float *dst) {
	for (long b = 0; b < blocks; b++, q += QB, dst += QK) {
		__m512 lo, hi;
		q8_widen512(q, &lo, &hi);
		_mm512_storeu_ps(dst, lo);
		_mm512_storeu_ps(dst + 16, hi);
	}
}

void ops_q8_dequant(const uint8_t *q, long blocks, float *dst) {
	switch (ops_family) {
	case OPS_AVX512:
		OPS_RAN(OPS_K_Q8_DEQUANT, OPS_AVX512);
		dequant_avx512(q, blocks, dst);
		return;
	case OPS_AVX2:
		OPS_RAN(OPS_K_Q8_DEQUANT, OPS_AVX2);
		dequant_avx2(q, blocks, dst);
		return;
	}
	OPS_RAN(OPS_K_Q8_DEQUANT, OPS_SCALAR);
	dequant_scalar(q, blocks, dst);
}

// bfloat16 dequantisation: q·d (exact in float32) rounded to nearest even.

static void dequant_bf16_scalar(const uint8_t *q, long blocks, uint16_t *dst) {
	for (long b = 0; b < blocks; b++, q += QB, dst += QK) {
		float d = f16f(q);
		for (int j = 0; j < QK; j++) dst[j] = round_bf16((float)(int8_t)q[2 + j] * d);
	}
}

static AVX512 void dequant_bf16_avx512(const uint8_t *q, long blocks, uint16_t *dst) {
	for (long b = 0; b < blocks; b++, q += QB, dst += QK) {
		__m512 lo, hi;
		q8_widen512(q, &lo, &hi);
		_mm256_storeu_si256((__m256i *)dst, bf16_rne512(lo));
		_mm256_storeu_si256((__m256i *)(dst + 16), bf16_rne512(hi));
	}
}

void ops_q8_dequant_bf16(const uint8_t *q, long blocks, uint16_t *dst) {
	if (ops_family == OPS_AVX512) {
		OPS_RAN(OPS_K_Q8_DEQUANT, OPS_AVX512);
		dequant_bf16_avx512(q, blocks, dst);
		return;
	}
	// No AVX2 code: the blocked products this feeds are sgemm-bound below
	// AVX512.
	OPS_RAN(OPS_K_Q8_DEQUANT, OPS_SCALAR);
	dequant_bf16_scalar(q, blocks, dst);
}

// Decode MulT: y[i*ldy + o] (+)= Σ_k x[i*cols + k]·W[o, k] for weight rows o
// in [lo, hi) and n ≤ GEMVN_MAX inputs.

static void gemv_scalar(const uint8_t *w, long cols, long lo, long hi, const float *x, long n, float *y, long ldy,
		int acc) {
	long nb = cols / QK;
	for (long o = lo; o < hi; o++) {
		const uint8_t *row = w + o * nb * QB;
		for (long i = 0; i < n; i++) {
			const float *xi = x + i * cols;
			float s = 0;
			for (long b = 0; b < nb; b++) {
				const uint8_t *q = row + b * QB;
				float t = 0;
				for (int j = 0; j < QK; j++) t += (float)(int8_t)q[2 + j] * xi[b * QK + j];
				s += t * f16f(q);
			}
			y[i * ldy + o] = acc ? y[i * ldy + o] + s : s;
		}
	}
}

INLINE AVX2 float hsum256(__m256 v) {
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

// The AVX2 kernel takes one row and up to 4 inputs at a time, two
// accumulators per input (the block's halves) to keep the FMA chains apart.
static AVX2 void gemv_avx2(const uint8_t *w, long cols, long lo, long hi, const float *x, long n, float *y, long ldy,
		int acc) {
	long nb = cols / QK;
	for (long o = lo; o < hi; o++) {
		const uint8_t *row = w + o * nb * QB;
		for (long i0 = 0; i0 < n; i0 += 4) {
			int I = n - i0 < 4 ? (int)(n - i0) : 4;
			__m256 s[4][2];
			for (int i = 0; i < 4; i++) s[i][0] = s[i][1] = _mm256_setzero_ps();
			for (long b = 0; b < nb; b++) {
				const uint8_t *q = row + b * QB;
				__m256 d = _mm256_set1_ps(f16f(q));
				__m256 wv[4];
				for (int j = 0; j < 4; j++)
					wv[j] = _mm256_mul_ps(
						_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + 2 + 8 * j)))), d);
				for (int i = 0; i < I; i++) {
					const float *xi = x + (i0 + i) * cols + b * QK;
					s[i][0] = _mm256_fmadd_ps(wv[0], _mm256_loadu_ps(xi), s[i][0]);
					s[i][1] = _mm256_fmadd_ps(wv[1], _mm256_loadu_ps(xi + 8), s[i][1]);
					s[i][0] = _mm256_fmadd_ps(wv[2], _mm256_loadu_ps(xi + 16), s[i][0]);
					s[i][1] = _mm256_fmadd_ps(wv[3], _mm256_loadu_ps(xi + 24), s[i][1]);
				}
			}
			for (int i = 0; i < I; i++) {
				float v = hsum256(_mm256_add_ps(s[i][0], s[i][1]));
				float *p = y + (i0 + i) * ldy + o;
				*p = acc ? *p + v : v;
			}
		}
	}
}

// The AVX-512 kernel takes one row and I ≤ 4 inputs at a time: each block
// is widened once and meets the inputs from registers, with 2·I
// independent accumulators. (R rows at once would share the inputs' loads,
// but read R streams side by side, which the prefetcher follows badly.)
INLINE AVX512 void gemv512_tile(const uint8_t *w, long nb, long o, const float *x, long cols, long i0, float *y,
		long ldy, int acc, const int R, const int I) {
	__m512 s[2][4][2];
	for (int r = 0; r < R; r++)
		for (int i = 0; i < I; i++) s[r][i][0] = s[r][i][1] = _mm512_setzero_ps();
	for (long b = 0; b < nb; b++) {
		__m512 wl[2], wh[2];
		for (int r = 0; r < R; r++) q8_widen512(w + ((o + r) * nb + b) * QB, &wl[r], &wh[r]);
		for (int i = 0; i < I; i++) {
			const float *xi = x + (i0 + i) * cols + b * QK;
			__m512 xl = _mm512_loadu_ps(xi), xh = _mm512_loadu_ps(xi + 16);
			for (int r = 0; r < R; r++) {
				s[r][i][0] = _mm512_fmadd_ps(wl[r], xl, s[r][i][0]);
				s[r][i][1] = _mm512_fmadd_ps(wh[r], xh, s[r][i][1]);
			}
		}
	}
	for (int r = 0; r < R; r++)
		for (int i = 0; i < I; i++) {
			float v = _mm512_reduce_add_ps(_mm512_add_ps(s[r][i][0], s[r][i][1]));
			float *p = y + (i0 + i) * ldy + o + r;
			*p = acc ? *p + v : v;
		}
}

static AVX512 void gemv_avx512(const uint8_t *w, long cols, long lo, long hi, const float *x, long n, float *y,
		long ldy, int acc) {
	long nb = cols / QK;
	// One row at a time: one stream for the prefetcher (see vnni_tile).
	for (long o = lo; o < hi; o++) {
		long i0 = 0;
		for (; i0 + 4 <= n; i0 += 4) gemv512_tile(w, nb, o, x, cols, i0, y, ldy, acc, 1, 4);
		switch (n - i0) {
		case 3: gemv512_tile(w, nb, o, x, cols, i0, y, ldy, acc, 1, 3); break;
		case 2: gemv512_tile(w, nb, o, x, cols, i0, y, ldy, acc, 1, 2); break;
		case 1: gemv512_tile(w, nb, o, x, cols, i0, y, ldy, acc, 1, 1); break;
		}
	}
}

void ops_q8_gemv(const uint8_t *w, long cols, long lo, long hi, const float *x, long n, float *y, long ldy, int acc) {
	switch (ops_family) {
	case OPS_AVX512:
		OPS_RAN(OPS_K_Q8_GEMV, OPS_AVX512);
		gemv_avx512(w, cols, lo, hi, x, n, y, ldy, acc);
		return;
	case OPS_AVX2:
		OPS_RAN(OPS_K_Q8_GEMV, OPS_AVX2);
		gemv_avx2(w, cols, lo, hi, x, n, y, ldy, acc);
		return;
	}
	OPS_RAN(OPS_K_Q8_GEMV, OPS_SCALAR);
	gemv_scalar(w, cols, lo, hi, x, n, y, ldy, acc);
}

// The VNNI decode MulT (AVX512_VNNI, in the AVX-512 family): ggml's way.
// Each input is quantised once per product to int8 blocks of 32 like the
// weight (ops_q8_quantize_x: scale dx = max|x|/127, xq = x/dx rounded to
// nearest), and each block's product is one VPDPBUSD over 32 bytes: it
// takes unsigned times signed bytes, so the weight goes in as w + 128
// (w XOR 0x80) and the accumulator starts at −128·Σxq (four per lane,
// precomputed with the input), which leaves the exact Σ w·xq in int32. The
// block's sum, converted to float32, is scaled by d·dx into the input's
// accumulator. Eight float32 lanes of 256 bits suffice: the kernel is
// bound by reading the weight, and 256-bit operations issue on three ports.
//
// Weights loaded where this kernel would run are stored packed instead
// (q8p.go) and read by q8p.c's kernel, which reads memory 10–15% faster;
// this one serves Q8_0 weights kept in GGUF's layout (made before a change
// of kernel family, or by a caller that built the Weight itself).

#define VNNI __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

// Q8_PF_VNNI: vnni_block asks for the bytes this far ahead of its block, as
// i8_block does (Q8_PF below); 0 turns it off. It asks once per cache line
// (the block whose prefetch address is the first in its line of 64 bytes),
// not once per 34-byte block, and into L2 (Q8_PF_HINT), not L1. On an Intel
// Xeon (AVX-512, 2 threads) decode went from 8.1 to 10.5 (1 KiB), 12.2
// (2 KiB) and 12.2 (4 KiB) tokens/s, alternated, asking per block into L1
// (bench/README "Session 10"); asking per line 4 KiB ahead then gave 4–17%
// more than per block 2 KiB ahead (Session 11); asking 8 KiB ahead into L2
// then gave 1–14% more again (Session 12: from 14.4, 14.3, 14.3, 15.1 to
// 14.5, 15.2, 16.3, 15.3 tokens/s, from 85% to 90% of the weight-read
// probe). Without any, the kernel read at half the probe's rate: the
// hardware prefetchers alone do not keep up with its 34-byte stride.
#ifndef Q8_PF_VNNI
#define Q8_PF_VNNI 8192
#endif
#ifndef Q8_PF_HINT
#define Q8_PF_HINT _MM_HINT_T1
#endif

// f16_table[h] is the float32 value of the half h: the weight's scale
// costs a load and a broadcast from memory, no arithmetic, where widening
// it in registers took four operations on the ports the products need. A
// real weight's scales span a few exponents: a few cache lines of the
// table.
static float f16_table[65536];

__attribute__((constructor)) static void fill_f16_table(void) {
	for (uint32_t h = 0; h < 65536; h++) {
		uint8_t b[2] = {(uint8_t)h, (uint8_t)(h >> 8)};
		f16_table[h] = f16f(b);
	}
}

// ops_q8_quantize_x quantises n inputs of cols values (cols % 32 == 0) into
// xq (n·cols bytes), corr (n·cols/4 int32: −128 times the sum of each lane's
// four quants), xs (n·cols/32 int32: −128 times each block's sum, for the
// packed layout's kernel, q8p.c) and dx (n·cols/32 scales).
AVX512 void ops_q8_quantize_x(const float *x, long cols, long n, int8_t *xq, int32_t *corr, int32_t *xs, float *dx) {
	long nb = cols / QK;
	for (long i = 0; i < n; i++) {
		for (long b = 0; b < nb; b++) {
			const float *p = x + i * cols + b * QK;
			__m512 lo = _mm512_loadu_ps(p), hi = _mm512_loadu_ps(p + 16);
			float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi)));
			float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
			__m512 vid = _mm512_set1_ps(id);
			__m512i ql = _mm512_cvtps_epi32(_mm512_roundscale_ps(_mm512_mul_ps(lo, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
			__m512i qh = _mm512_cvtps_epi32(_mm512_roundscale_ps(_mm512_mul_ps(hi, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
			int8_t *o = xq + (i * nb + b) * QK;
			_mm_storeu_si128((__m128i *)o, _mm512_cvtepi32_epi8(ql));
			_mm_storeu_si128((__m128i *)(o + 16), _mm512_cvtepi32_epi8(qh));
			dx[i * nb + b] = d;
			int32_t *c = corr + (i * nb + b) * 8, t = 0;
			for (int l = 0; l < 8; l++) t += c[l] = -128 * (o[4 * l] + o[4 * l + 1] + o[4 * l + 2] + o[4 * l + 3]);
			xs[i * nb + b] = t;
		}
	}
}

INLINE VNNI float hsum8(__m256 v) {
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

// vnni_block adds block b of a row times the inputs [i0, i0+I) to their
// accumulators s[i][h].
INLINE VNNI void vnni_block(const uint8_t *row, long nb, long b, const int8_t *xq, const int32_t *corr,
		const float *dx, long i0, const int I, __m256 s[4][2], const int h) {
	const uint8_t *q = row + b * QB;
#if Q8_PF_VNNI > 0
	if ((((uintptr_t)q + Q8_PF_VNNI) & 63) < QB)
		_mm_prefetch((const char *)(q + Q8_PF_VNNI), Q8_PF_HINT);
#endif
	__m256i wu = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(q + 2)), _mm256_set1_epi8((char)0x80));
	uint16_t hb;
	memcpy(&hb, q, 2);
	__m256 d = _mm256_set1_ps(f16_table[hb]);
	for (int i = 0; i < I; i++) {
		long k = (i0 + i) * nb + b;
		__m256i xv = _mm256_loadu_si256((const __m256i *)(xq + k * QK));
		__m256i c = _mm256_loadu_si256((const __m256i *)(corr + k * 8));
		__m256 f = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(c, wu, xv));
		s[i][h] = _mm256_fmadd_ps(f, _mm256_mul_ps(d, _mm256_set1_ps(dx[k])), s[i][h]);
	}
}

// vnni_tile: one row o against inputs [i0, i0+I), reading the row once,
// front to back (the hardware prefetcher follows one stream per thread
// best: two rows read side by side ran at a third of the memory's speed),
// with two accumulators per input (even and odd blocks) to keep the FMA
// chains apart.
INLINE VNNI void vnni_tile(const uint8_t *w, long nb, long o, const int8_t *xq, const int32_t *corr, const float *dx,
		long i0, float *y, long ldy, int acc, const int I) {
	__m256 s[4][2];
	for (int i = 0; i < I; i++) s[i][0] = s[i][1] = _mm256_setzero_ps();
	const uint8_t *row = w + o * nb * QB;
	long b = 0;
	// Blocks go in pairs so that each accumulator has a fixed register (an
	// index like b & 1 put them on the stack, a store and a load per block).
	for (; b + 2 <= nb; b += 2) {
		vnni_block(row, nb, b, xq, corr, dx, i0, I, s, 0);
		vnni_block(row, nb, b + 1, xq, corr, dx, i0, I, s, 1);
	}
	if (b < nb) vnni_block(row, nb, b, xq, corr, dx, i0, I, s, 0);
	for (int i = 0; i < I; i++) {
		float v = hsum8(_mm256_add_ps(s[i][0], s[i][1]));
		float *p = y + (i0 + i) * ldy + o;
		*p = acc ? *p + v : v;
	}
}

// ops_q8_gemv_vnni: y[i*ldy + o] (+)= Σ_b d_ob·dx_ib·Σ_j w_obj·xq_ibj for
// rows o in [lo, hi) and n ≤ GEMVN_MAX inputs quantised by
// ops_q8_quantize_x.
VNNI void ops_q8_gemv_vnni(const uint8_t *w, long cols, long lo, long hi, const int8_t *xq, const int32_t *corr,
		const float *dx, long n, float *y, long ldy, int acc) {
	OPS_RAN(OPS_K_Q8_VNNI, OPS_AVX512);
	long nb = cols / QK;
	for (long o = lo; o < hi; o++) {
		long i0 = 0;
		for (; i0 + 4 <= n; i0 += 4) vnni_tile(w, nb, o, xq, corr, dx, i0, y, ldy, acc, 4);
		switch (n - i0) {
		case 3: vnni_tile(w, nb, o, xq, corr, dx, i0, y, ldy, acc, 3); break;
		case 2: vnni_tile(w, nb, o, xq, corr, dx, i0, y, ldy, acc, 2); break;
		case 1: vnni_tile(w, nb, o, xq, corr, dx, i0, y, ldy, acc, 1); break;
		}
	}
}

// The AVX2 int8 decode MulT: ggml's AVX2 Q8_0·Q8_0 dot product. The inputs
// are quantised as for the VNNI kernel (ops_q8_quantize_x_avx2 gives the
// same quants and scales as ops_q8_quantize_x), and each block's Σ w·xq is
// VPMADDUBSW on |w| and xq·sign(w) (unsigned times signed bytes, pairs
// summed to int16: at most 2·128·127, no saturation) then VPMADDWD with
// ones to int32: exact, as VPDPBUSD's. The block's sum goes to float32 and
// is scaled by d·dx into the input's accumulator. Where the widening
// kernel spends five operations per eight weights on the ports the FMAs
// need, this spends four per 32, so it keeps up with the memory.

// ops_q8_quantize_x_avx2 is ops_q8_quantize_x in AVX2: dx = amax/127 in
// float32, xq = x·(1/dx) rounded to nearest even (VCVTPS2DQ in the default
// rounding mode), the −128·Σ lane corrections for the VNNI kernel too.
AVX2 void ops_q8_quantize_x_avx2(const float *x, long cols, long n, int8_t *xq, int32_t *corr, int32_t *xs, float *dx) {
	long nb = cols / QK;
	const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	for (long i = 0; i < n; i++) {
		for (long b = 0; b < nb; b++) {
			const float *p = x + i * cols + b * QK;
			__m256 v[4];
			__m256 m = _mm256_setzero_ps();
			for (int j = 0; j < 4; j++) {
				v[j] = _mm256_loadu_ps(p + 8 * j);
				m = _mm256_max_ps(m, _mm256_and_ps(v[j], absmask));
			}
			__m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
			h = _mm_max_ps(h, _mm_movehl_ps(h, h));
			h = _mm_max_ss(h, _mm_movehdup_ps(h));
			float amax = _mm_cvtss_f32(h);
			float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
			__m256 vid = _mm256_set1_ps(id);
			__m256i q[4];
			for (int j = 0; j < 4; j++) q[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], vid));
			// Pack 32 int32 to 32 int8 in order: the packs work per 128-bit
			// lane, the permutation puts the lanes back.
			__m256i q01 = _mm256_packs_epi32(q[0], q[1]), q23 = _mm256_packs_epi32(q[2], q[3]);
			__m256i q8 = _mm256_packs_epi16(q01, q23);
			q8 = _mm256_permutevar8x32_epi32(q8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
			int8_t *o = xq + (i * nb + b) * QK;
			_mm256_storeu_si256((__m256i *)o, q8);
			dx[i * nb + b] = d;
			int32_t *c = corr + (i * nb + b) * 8, t = 0;
			for (int l = 0; l < 8; l++) t += c[l] = -128 * (o[4 * l] + o[4 * l + 1] + o[4 * l + 2] + o[4 * l + 3]);
			xs[i * nb + b] = t;
		}
	}
}

// Q8_PF: i8_block asks for the bytes this far ahead of its block (34 bytes
// a block, so about two requests a line): on an AVX2 host whole-model Q8_0
// decoding went from 81% to 91% of the weight-read probe (bench/README.md,
// session 9), the hardware prefetcher alone falling behind a stream of
// blocks that is consumed faster than float32 rows.
#ifndef Q8_PF
#define Q8_PF 1024
#endif
// i8_block adds block b of a row times the inputs [i0, i0+I) to their
// accumulators s[i][h].
INLINE AVX2 void i8_block(const uint8_t *row, long nb, long b, const int8_t *xq, const float *dx, long i0,
		const int I, __m256 s[4][2], const int h) {
	const uint8_t *q = row + b * QB;
	_mm_prefetch((const char *)(q + Q8_PF), _MM_HINT_T0);
	__m256i wv = _mm256_loadu_si256((const __m256i *)(q + 2));
	__m256i aw = _mm256_sign_epi8(wv, wv);
	uint16_t hb;
	memcpy(&hb, q, 2);
	__m256 d = _mm256_set1_ps(f16_table[hb]);
	const __m256i ones = _mm256_set1_epi16(1);
	for (int i = 0; i < I; i++) {
		long k = (i0 + i) * nb + b;
		__m256i xv = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(xq + k * QK)), wv);
		__m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, xv), ones);
		s[i][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(d, _mm256_set1_ps(dx[k])), s[i][h]);
	}
}

// i8_tile is vnni_tile on the AVX2 block product.
INLINE AVX2 void i8_tile(const uint8_t *w, long nb, long o, const int8_t *xq, const float *dx, long i0, float *y,
		long ldy, int acc, const int I) {
	__m256 s[4][2];
	for (int i = 0; i < I; i++) s[i][0] = s[i][1] = _mm256_setzero_ps();
	const uint8_t *row = w + o * nb * QB;
	long b = 0;
	for (; b + 2 <= nb; b += 2) {
		i8_block(row, nb, b, xq, dx, i0, I, s, 0);
		i8_block(row, nb, b + 1, xq, dx, i0, I, s, 1);
	}
	if (b < nb) i8_block(row, nb, b, xq, dx, i0, I, s, 0);
	for (int i = 0; i < I; i++) {
		float v = hsum256(_mm256_add_ps(s[i][0], s[i][1]));
		float *p = y + (i0 + i) * ldy + o;
		*p = acc ? *p + v : v;
	}
}

// ops_q8_gemv_i8 is ops_q8_gemv_vnni in AVX2.
AVX2 void ops_q8_gemv_i8(const uint8_t *w, long cols, long lo, long hi, const int8_t *xq, const float *dx, long n,
		float *y, long ldy, int acc) {
	OPS_RAN(OPS_K_Q8_VNNI, OPS_AVX2);
	long nb = cols / QK;
	for (long o = lo; o < hi; o++) {
		long i0 = 0;
		for (; i0 + 4 <= n; i0 += 4) i8_tile(w, nb, o, xq, dx, i0, y, ldy, acc, 4);
		switch (n - i0) {
		case 3: i8_tile(w, nb, o, xq, dx, i0, y, ldy, acc, 3); break;
		case 2: i8_tile(w, nb, o, xq, dx, i0, y, ldy, acc, 2); break;
		case 1: i8_tile(w, nb, o, xq, dx, i0, y, ldy, acc, 1); break;
		}
	}
}

// ops_q8_quantize: QuantizeQ8_0 (q8.go) for blocks whole blocks of src, bit
// for bit: amax and d = amax/127 in float32, d stored by VCVTPS2PH (round
// to nearest even, as ggml's x86 build converts), id = 1/d (0 for d = 0),
// q = roundf(x·id): the product rounded to float32, then truncated and
// moved one away from zero where the dropped fraction is at least 1/2 (the
// fraction is exact), which is roundf without the error of adding 0.5. A
// product that is not finite (1/d overflowed) converts to 0x80000000, whose
// low byte is the 0 that ggml's conversion stores too. It returns the index
// of the first value that is NaN or ±Inf (nothing is written for its
// block or after it), or −1.
AVX512 long ops_q8_quantize(const float *src, long blocks, uint8_t *dst) {
	const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
	const __m512 inf = _mm512_set1_ps(__builtin_inff());
	for (long b = 0; b < blocks; b++, src += QK, dst += QB) {
		__m512 lo = _mm512_loadu_ps(src), hi = _mm512_loadu_ps(src + 16);
		__m512 alo = _mm512_and_ps(lo, absmask), ahi = _mm512_and_ps(hi, absmask);
		__mmask16 bad = _mm512_cmp_ps_mask(alo, inf, _CMP_NLT_UQ) | _mm512_cmp_ps_mask(ahi, inf, _CMP_NLT_UQ);
		if (bad) {
			for (int j = 0; j < QK; j++)
				if (!__builtin_isfinite(src[j])) return b * QK + j;
		}
		float amax = _mm512_reduce_max_ps(_mm512_max_ps(alo, ahi));
		float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
		__m256i h = _mm512_cvtps_ph(_mm512_set1_ps(d), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
		uint16_t hb = (uint16_t)_mm256_extract_epi16(h, 0);
		dst[0] = (uint8_t)hb;
		dst[1] = (uint8_t)(hb >> 8);
		__m512 vid = _mm512_set1_ps(id);
		for (int half = 0; half < 2; half++) {
			__m512 t = _mm512_mul_ps(half ? hi : lo, vid);
			__m512 r = _mm512_roundscale_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
			__m512 frac = _mm512_and_ps(_mm512_sub_ps(t, r), absmask);
			__mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
			__m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_andnot_ps(absmask, t));
			r = _mm512_mask_add_ps(r, up, r, one);
			_mm_storeu_si128((__m128i *)(dst + 2 + 16 * half), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(r)));
		}
	}
	return -1;
}
