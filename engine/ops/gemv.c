//go:build cgo && !purego && amd64

// gemv.c: products of a weight with at most GEMVN_MAX inputs, decoding's
// matrix-vector products, which are bound by how fast the weight streams
// from memory: MulT, y = x·Wᵀ (gemv), and its input gradient Mul, dx = dy·W
// (axpy over the weight's rows).
//
//   - ops_gemv_* and ops_axpy_*: AVX2 kernels and their scalar fallbacks;
//   - ops_gemv512_*: the AVX-512 MulT kernels, batched so that each input's
//     result is bit for bit what it gives alone; ops_split_eo prepares the
//     input of the bfloat16 one.
//
// Mul has no AVX-512 kernel: its AVX2 one streams as fast.

#include <stdlib.h>

#include "kernels.h"

// ---- AVX2 and scalar: MulT and Mul ----

INLINE AVX2 float hsum(__m256 v) {
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

// GEMV_BLOCK defines name(R, U, PF, ...): rows o..o+R-1 of w times x,
// stepping U chunks of 8 columns so that R*U ≤ 8 independent accumulators
// hide the FMA latency while the weight streams from memory once. PF > 0
// prefetches each row that many bytes ahead.
#define GEMV_BLOCK(name, T, LOAD, CVT)                                              \
INLINE AVX2 void name(const int R, const int U, const int PF,                       \
		const T *w, long cols, long o, const float *x, float *y, int acc) {          \
	__m256 s[8];                                                                    \
	_Pragma("GCC unroll 8")                                                         \
	for (int k = 0; k < R * U; k++) s[k] = _mm256_setzero_ps();                     \
	long c = 0;                                                                     \
	for (; c + 8 * U <= cols; c += 8 * U) {                                         \
		_Pragma("GCC unroll 8")                                                     \
		for (int r = 0; r < R; r++) {                                               \
			const T *p = w + (o + r) * cols + c;                                    \
			if (PF) _mm_prefetch((const char *)p + PF, _MM_HINT_T0);                \
			_Pragma("GCC unroll 8")                                                 \
			for (int u = 0; u < U; u++)                                             \
				s[r * U + u] = _mm256_fmadd_ps(LOAD(p + 8 * u), _mm256_loadu_ps(x + c + 8 * u), s[r * U + u]); \
		}                                                                           \
	}                                                                               \
	for (; c + 8 <= cols; c += 8) {                                                 \
		_Pragma("GCC unroll 8")                                                     \
		for (int r = 0; r < R; r++)                                                 \
			s[r * U] = _mm256_fmadd_ps(LOAD(w + (o + r) * cols + c), _mm256_loadu_ps(x + c), s[r * U]); \
	}                                                                               \
	_Pragma("GCC unroll 8")                                                         \
	for (int r = 0; r < R; r++) {                                                   \
		__m256 v = s[r * U];                                                        \
		_Pragma("GCC unroll 8")                                                     \
		for (int u = 1; u < U; u++) v = _mm256_add_ps(v, s[r * U + u]);             \
		float t = hsum(v);                                                          \
		for (long k = c; k < cols; k++) t += CVT(w[(o + r) * cols + k]) * x[k];      \
		y[o + r] = acc ? y[o + r] + t : t;                                          \
	}                                                                               \
}

GEMV_BLOCK(gemv_block_bf16, uint16_t, load_bf16, bf16f)
GEMV_BLOCK(gemv_block_f32, float, load_f32, f32f)

// GEMV_PF is how far ahead (bytes) a bfloat16 row streaming alone is
// prefetched: each step of 32 columns is one 64-byte line, and asking for
// the line 1 KiB ahead raised whole-model decoding on an AVX2 host (2 vCPUs)
// from 83% to 93% of the weight-read probe (bench/README.md, session 9).
// A float32 step spans two lines, and measured no gain: not prefetched.
#ifndef GEMV_PF
#define GEMV_PF 1024
#endif

// GEMV_AVX2 defines name(...): y[o] (+)= sum_c x[c]*w[o*cols + c] for rows o
// in [lo, hi) and one input x. Short rows (x fits in L1) stream one row at a
// time (prefetched GEMV_PF ahead for bfloat16): a single sequential stream
// is what the prefetchers follow best when rows are only a few KiB. Long
// rows go four at a time (the rest one at a time), which saves reloading x
// from L2 for every row, with software prefetch to keep the streams ahead.
#define GEMV_AVX2(name, block, T, SPF)                                              \
static AVX2 void name(const T *w, long cols, long lo, long hi, const float *x,       \
		float *y, int acc) {                                                        \
	long o = lo;                                                                    \
	if (cols < 4096) {                                                              \
		for (; o < hi; o++) block(1, 4, SPF, w, cols, o, x, y, acc);                \
		return;                                                                     \
	}                                                                               \
	for (; o + 4 <= hi; o += 4) block(4, 2, 2048, w, cols, o, x, y, acc);           \
	for (; o < hi; o++) block(1, 1, 0, w, cols, o, x, y, acc);                      \
}

GEMV_AVX2(gemv_bf16_avx2, gemv_block_bf16, uint16_t, GEMV_PF)
GEMV_AVX2(gemv_f32_avx2, gemv_block_f32, float, 0)

// GEMV defines the entry point name(...): y[i*ldy + o] (+)= sum_c
// x[i*cols + c]*w[o*cols + c] for rows o in [lo, hi) and inputs i < n, with
// GEMV_AVX2 or its scalar fallback. Each input is computed as if it were
// alone (batched decoding gives every row what decoding it alone gives),
// over blocks of rows small enough to stay in cache for the inputs after
// the first: 16 KiB, or 8 long rows (a multiple of GEMV_AVX2's groups of 4,
// which lo, a multiple of 8, starts in step with).
#define GEMV(name, avx2, T, CVT)                                                    \
void name(const T *w, long cols, long lo, long hi, const float *x, long n,          \
		float *y, long ldy, int acc) {                                              \
	if (ops_family >= OPS_AVX2) {                                                   \
		OPS_RAN(OPS_K_GEMV, OPS_AVX2);                                              \
		long step = n == 1 ? hi - lo : cols >= 4096 ? 8 : 16384 / (cols * (long)sizeof(T)); \
		if (step < 1) step = 1;                                                     \
		for (long o = lo; o < hi; o += step) {                                      \
			long e = o + step < hi ? o + step : hi;                                 \
			for (long i = 0; i < n; i++) avx2(w, cols, o, e, x + i * cols, y + i * ldy, acc); \
		}                                                                           \
		return;                                                                     \
	}                                                                               \
	OPS_RAN(OPS_K_GEMV, OPS_SCALAR);                                                \
	for (long i = 0; i < n; i++)                                                    \
		for (long o = lo; o < hi; o++) {                                            \
			float t = 0;                                                            \
			for (long c = 0; c < cols; c++) t += CVT(w[o * cols + c]) * x[i * cols + c]; \
			float *d = y + i * ldy + o;                                             \
			*d = acc ? *d + t : t;                                                  \
		}                                                                           \
}

GEMV(ops_gemv_bf16, gemv_bf16_avx2, uint16_t, bf16f)
GEMV(ops_gemv_f32, gemv_f32_avx2, float, f32f)

// AXPY_AVX2 defines name(...): dx[i*cols + c] += sum_o dy[i*ldy + o]*w[o*cols + c]
// over rows o in [lo, hi), all columns c and inputs i < n. Like GEMV_AVX2,
// short rows stream one at a time; long rows go four at a time with
// software prefetch, so each dx vector is loaded and stored once per four
// rows.
#define AXPY_AVX2(name, T, LOAD, CVT)                                               \
static AVX2 void name(const T *w, long cols, long lo, long hi, const float *dy,      \
		long ldy, long n, float *dx) {                                              \
	const int pf = 2048;                                                            \
	long o = lo;                                                                    \
	if (cols >= 4096) {                                                             \
		for (; o + 4 <= hi; o += 4) {                                               \
			const T *w0 = w + o * cols, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols; \
			long c = 0;                                                             \
			for (; c + 8 <= cols; c += 8) {                                         \
				if (((c * sizeof(T)) & 63) == 0) {                                  \
					_mm_prefetch((const char *)(w0 + c) + pf, _MM_HINT_T0);         \
					_mm_prefetch((const char *)(w1 + c) + pf, _MM_HINT_T0);         \
					_mm_prefetch((const char *)(w2 + c) + pf, _MM_HINT_T0);         \
					_mm_prefetch((const char *)(w3 + c) + pf, _MM_HINT_T0);         \
				}                                                                   \
				__m256 a0 = LOAD(w0 + c), a1 = LOAD(w1 + c);                        \
				__m256 a2 = LOAD(w2 + c), a3 = LOAD(w3 + c);                        \
				for (long i = 0; i < n; i++) {                                      \
					const float *d = dy + i * ldy + o;                              \
					float *p = dx + i * cols + c;                                   \
					__m256 u = _mm256_fmadd_ps(a1, _mm256_broadcast_ss(d + 1), _mm256_mul_ps(a0, _mm256_broadcast_ss(d))); \
					__m256 v = _mm256_fmadd_ps(a3, _mm256_broadcast_ss(d + 3), _mm256_mul_ps(a2, _mm256_broadcast_ss(d + 2))); \
					_mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), _mm256_add_ps(u, v))); \
				}                                                                   \
			}                                                                       \
			for (; c < cols; c++) {                                                 \
				for (long i = 0; i < n; i++) {                                      \
					const float *d = dy + i * ldy + o;                              \
					dx[i * cols + c] += d[0] * CVT(w0[c]) + d[1] * CVT(w1[c]) +     \
						d[2] * CVT(w2[c]) + d[3] * CVT(w3[c]);                      \
				}                                                                   \
			}                                                                       \
		}                                                                           \
	}                                                                               \
	for (; o < hi; o++) {                                                           \
		const T *wr = w + o * cols;                                                 \
		long c = 0;                                                                 \
		if (n == 1) {                                                               \
			__m256 d = _mm256_broadcast_ss(dy + o);                                 \
			for (; c + 16 <= cols; c += 16) {                                       \
				__m256 p0 = _mm256_fmadd_ps(LOAD(wr + c), d, _mm256_loadu_ps(dx + c)); \
				__m256 p1 = _mm256_fmadd_ps(LOAD(wr + c + 8), d, _mm256_loadu_ps(dx + c + 8)); \
				_mm256_storeu_ps(dx + c, p0);                                       \
				_mm256_storeu_ps(dx + c + 8, p1);                                   \
			}                                                                       \
		}                                                                           \
		for (; c + 8 <= cols; c += 8) {                                             \
			__m256 a = LOAD(wr + c);                                                \
			for (long i = 0; i < n; i++) {                                          \
				float *p = dx + i * cols + c;                                       \
				_mm256_storeu_ps(p, _mm256_fmadd_ps(a, _mm256_broadcast_ss(dy + i * ldy + o), _mm256_loadu_ps(p))); \
			}                                                                       \
		}                                                                           \
		for (; c < cols; c++)                                                       \
			for (long i = 0; i < n; i++) dx[i * cols + c] += dy[i * ldy + o] * CVT(wr[c]); \
	}                                                                               \
}

AXPY_AVX2(axpy_bf16_avx2, uint16_t, load_bf16, bf16f)
AXPY_AVX2(axpy_f32_avx2, float, load_f32, f32f)

// AXPY defines the entry point name(...): dx[i*cols + c] (+)= the sum over
// rows [lo, hi) of AXPY_AVX2, or its scalar fallback.
#define AXPY(name, avx2, T, CVT)                                                    \
void name(const T *w, long cols, long lo, long hi, const float *dy, long ldy,        \
		long n, float *dx, int acc) {                                               \
	if (!acc) memset(dx, 0, n * cols * sizeof(float));                              \
	if (ops_family >= OPS_AVX2) {                                                   \
		OPS_RAN(OPS_K_AXPY, OPS_AVX2);                                              \
		avx2(w, cols, lo, hi, dy, ldy, n, dx);                                      \
		return;                                                                     \
	}                                                                               \
	OPS_RAN(OPS_K_AXPY, OPS_SCALAR);                                                \
	for (long o = lo; o < hi; o++)                                                  \
		for (long i = 0; i < n; i++) {                                              \
			float d = dy[i * ldy + o];                                              \
			for (long c = 0; c < cols; c++) dx[i * cols + c] += d * CVT(w[o * cols + c]); \
		}                                                                           \
}

AXPY(ops_axpy_bf16, axpy_bf16_avx2, uint16_t, bf16f)
AXPY(ops_axpy_f32, axpy_f32_avx2, float, f32f)

// ---- AVX-512: MulT ----

// GEMV_LONG is the row length (in columns) above which the decode kernels
// read 8 weight rows at a time: the input then no longer fits in half the
// 32 KiB L1 cache, and reading it from L2 once per row slowed the stream
// by 25-35% (down_proj, 8960 columns); 8 rows share each input load.
#define GEMV_LONG 4096

// ROWS8_MASKED adds to the accumulators a[r] the products of columns [from,
// to) of the 8 rows at w0 (cols apart) with x, 16 at a time (the last of the
// row masked), loading the weights with LDM (ld_f32 or ld_bf16) and asking
// for each row's line STREAM_PF ahead (kernels.h; every other step for
// bfloat16, whose 16 weights are half a line; from is then a multiple of 32).
#define ROWS8_MASKED(LDM, w0, cols, from, to, x, a)                                \
	for (long c = (from); c < (to); c += 16) {                                      \
		long left = (cols) - c;                                                     \
		__mmask16 m = (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1);          \
		__m512 xv = _mm512_maskz_loadu_ps(m, (x) + c);                              \
		_Pragma("GCC unroll 8")                                                     \
		for (int r = 0; r < 8; r++) {                                               \
			if (sizeof *(w0) == 4 || (c & 31) == 0) PF_LINE((w0) + r * (cols) + c); \
			(a)[r] = _mm512_fmadd_ps(LDM((w0) + r * (cols) + c, m), xv, (a)[r]);    \
		}                                                                           \
	}

// store_rows8 writes the sums of the 8 row accumulators a to y[0..7], adding
// to what is there when acc is set.
INLINE AVX512 void store_rows8(const __m512 *a, float *y, int acc) {
	_Pragma("GCC unroll 8")
	for (int r = 0; r < 8; r++) {
		float t = _mm512_reduce_add_ps(a[r]);
		y[r] = acc ? y[r] + t : t;
	}
}

// gemv1_f32 computes y[o] (+)= Σ_c x[c]·w[o*cols + c] for rows o in
// [lo, hi): decoding one token, bound by how fast the weight streams in.
// Rows up to GEMV_LONG columns are read one at a time, as one sequential
// stream (interleaving 2 or 4 such rows streamed 10-25% slower here), with
// 256-bit loads (512-bit ones streamed about 10% slower on this AMD Zen 4,
// which splits them in two). Longer rows go 8 at a time.
static AVX512 void gemv1_f32(const float *w, long cols, long lo, long hi, const float *x,
		float *y, int acc) {
	long o = lo;
	if (cols > GEMV_LONG) {
		for (; o + 8 <= hi; o += 8) {
			const float *w0 = w + o * cols;
			__m512 a[8];
			_Pragma("GCC unroll 8")
			for (int r = 0; r < 8; r++) a[r] = _mm512_setzero_ps();
			ROWS8_MASKED(ld_f32, w0, cols, 0, cols, x, a);
			store_rows8(a, y + o, acc);
		}
	}
	for (; o < hi; o++) {
		const float *wr = w + o * cols;
		__m256 a[8];
		_Pragma("GCC unroll 8")
		for (int k = 0; k < 8; k++) a[k] = _mm256_setzero_ps();
		long c = 0;
		for (; c + 64 <= cols; c += 64) {
			_Pragma("GCC unroll 4")
			for (int l = 0; l < 4; l++) PF_LINE(wr + c + 16 * l);
			_Pragma("GCC unroll 8")
			for (int k = 0; k < 8; k++)
				a[k] = _mm256_fmadd_ps(_mm256_loadu_ps(wr + c + 8 * k), _mm256_loadu_ps(x + c + 8 * k), a[k]);
		}
		for (; c + 8 <= cols; c += 8) a[0] = _mm256_fmadd_ps(_mm256_loadu_ps(wr + c), _mm256_loadu_ps(x + c), a[0]);
		if (c < cols) {
			__mmask8 m = (__mmask8)((1u << (cols - c)) - 1);
			a[1] = _mm256_fmadd_ps(_mm256_maskz_loadu_ps(m, wr + c), _mm256_maskz_loadu_ps(m, x + c), a[1]);
		}
		__m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])),
			_mm256_add_ps(_mm256_add_ps(a[4], a[5]), _mm256_add_ps(a[6], a[7])));
		float t = _mm512_reduce_add_ps(_mm512_castps256_ps512(s));
		y[o] = acc ? y[o] + t : t;
	}
}

// The bfloat16 decode kernel loads 32 weights (one 512-bit load) and splits
// them without any cross-lane instruction: each 32-bit lane holds weights 2j
// (low half) and 2j+1 (high half), so a shift left by 16 is the float32 of
// the even weight and a mask of the high half that of the odd one. The input
// is split the same way (split_eo) once per product, before the threads
// start, so that it is not redone for every chunk of rows. Widening with
// vpmovzxwd instead (a 256-bit load spread over 512 bits) streamed about 20%
// slower. Rows are read one at a time, or 8 at a time above GEMV_LONG
// columns, as in gemv1_f32.

// split_eo writes the even/odd copy of x the bfloat16 kernel reads for
// the columns in whole 32-weight blocks (cols rounded down to 32, nb):
// eo[j] = x[2j] and eo[nb/2 + j] = x[2j+1] for j < nb/2.
static AVX512 void split_eo(const float *x, long cols, float *eo) {
	const long nb = cols & ~31L;
	const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
	const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
	for (long c = 0; c < nb; c += 32) {
		__m512 x0 = _mm512_loadu_ps(x + c), x1 = _mm512_loadu_ps(x + c + 16);
		_mm512_storeu_ps(eo + c / 2, _mm512_permutex2var_ps(x0, even, x1));
		_mm512_storeu_ps(eo + nb / 2 + c / 2, _mm512_permutex2var_ps(x0, odd, x1));
	}
}

// ops_split_eo is split_eo for Go; gemv1_bf16 calls split_eo, which GCC
// inlines (a global function may be interposed under -fPIC, and is not).
AVX512 void ops_split_eo(const float *x, long cols, float *eo) { split_eo(x, cols, eo); }

// gemv_eo is a thread's own even/odd buffer, for a product run on one
// thread without a split made beforehand (eo == NULL).
static __thread float *gemv_eo;
#ifdef _WIN32 // MinGW's C runtime has no aligned_alloc
#include <malloc.h>
#define gemv_aligned_alloc(a, n) _aligned_malloc((n), (a))
#define gemv_aligned_free _aligned_free
#else
#define gemv_aligned_alloc aligned_alloc
#define gemv_aligned_free free
#endif
static __thread long gemv_eo_cap;

static AVX512 void gemv1_bf16(const uint16_t *w, long cols, long lo, long hi, const float *x,
		const float *eo, float *y, int acc) {
	const long nb = cols & ~31L; // columns in whole 32-weight blocks
	if (!eo && nb > 0) {
		if (gemv_eo_cap < nb) {
			gemv_aligned_free(gemv_eo);
			gemv_eo = gemv_aligned_alloc(64, nb * sizeof(float));
			gemv_eo_cap = gemv_eo ? nb : 0;
		}
		if (gemv_eo) {
			split_eo(x, cols, gemv_eo);
			eo = gemv_eo;
		}
	}
	const float *xe = eo, *xo = eo + nb / 2;
	const long split = eo ? nb : 0; // columns the even/odd loop covers
	const __m512i high = _mm512_set1_epi32((int)0xffff0000);
	long o = lo;
	if (cols > GEMV_LONG && split > 0) {
		for (; o + 8 <= hi; o += 8) {
			const uint16_t *w0 = w + o * cols;
			__m512 a[8];
			_Pragma("GCC unroll 8")
			for (int r = 0; r < 8; r++) a[r] = _mm512_setzero_ps();
			for (long c = 0; c < split; c += 32) {
				__m512 xev = _mm512_loadu_ps(xe + c / 2), xov = _mm512_loadu_ps(xo + c / 2);
				_Pragma("GCC unroll 8")
				for (int r = 0; r < 8; r++) {
					PF_LINE(w0 + r * cols + c);
					__m512i v = _mm512_loadu_si512(w0 + r * cols + c);
					a[r] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v, 16)), xev, a[r]);
					a[r] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v, high)), xov, a[r]);
				}
			}
			ROWS8_MASKED(ld_bf16, w0, cols, split, cols, x, a);
			store_rows8(a, y + o, acc);
		}
	}
	for (; o < hi; o++) {
		const uint16_t *wr = w + o * cols;
		__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
		long c = 0;
		for (; c + 64 <= split; c += 64) {
			PF_LINE(wr + c);
			PF_LINE(wr + c + 32);
			__m512i v0 = _mm512_loadu_si512(wr + c), v1 = _mm512_loadu_si512(wr + c + 32);
			a0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v0, 16)), _mm512_loadu_ps(xe + c / 2), a0);
			a1 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v0, high)), _mm512_loadu_ps(xo + c / 2), a1);
			a2 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v1, 16)), _mm512_loadu_ps(xe + c / 2 + 16), a2);
			a3 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v1, high)), _mm512_loadu_ps(xo + c / 2 + 16), a3);
		}
		if (c < split) {
			__m512i v0 = _mm512_loadu_si512(wr + c);
			a0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v0, 16)), _mm512_loadu_ps(xe + c / 2), a0);
			a1 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v0, high)), _mm512_loadu_ps(xo + c / 2), a1);
			c += 32;
		}
		for (; c < cols; c += 16) {
			long left = cols - c;
			__mmask16 m = (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1);
			a2 = _mm512_fmadd_ps(ld_bf16(wr + c, m), _mm512_maskz_loadu_ps(m, x + c), a2);
		}
		float t = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
		y[o] = acc ? y[o] + t : t;
	}
}

// GEMV512_BLOCK_BYTES is how much of a weight ops_gemv512_* reads before
// running the other inputs over it: a block that stays in the 32 KiB L1
// cache, so that only the first input reads the weight from memory.
#define GEMV512_BLOCK_BYTES 16384

// gemv512_block_rows is the number of rows ops_gemv512_* give gemv1_* at a
// time: GEMV512_BLOCK_BYTES of short rows, or 8 long rows, which keeps the
// groups of 8 that gemv1_* reads long rows in as they are for one call
// over [lo, hi).
static long gemv512_block_rows(long cols, long elem) {
	if (cols > GEMV_LONG) return 8;
	long r = GEMV512_BLOCK_BYTES / (cols * elem);
	return r > 0 ? r : 1;
}

// ops_gemv512_f32 computes y[i*ldy + o] (+)= Σ_c x[i*cols + c]·w[o*cols + c]
// for rows o in [lo, hi) (lo a multiple of 8) and n ≤ GEMVN_MAX inputs:
// batched decoding. Each input's sums are made exactly as gemv1_f32
// makes them for that input alone, so row i of the result is bit for bit
// the product of input i alone, while the weight is read from memory once
// for all n:
//   - short rows: gemv1_f32 runs every input over a block of rows while
//     the block is in L1;
//   - long rows, 8 at a time: each input's 8 accumulators are kept in memory
//     between column chunks of GEMV512_BLOCK_BYTES, so that every input goes
//     over a chunk while it is in L1; an accumulator sees the same
//     multiply-adds in the same order as in gemv1_f32.
AVX512 void ops_gemv512_f32(const float *w, long cols, long lo, long hi, const float *x, long n,
		float *y, long ldy, int acc) {
	OPS_RAN(OPS_K_GEMV, OPS_AVX512);
	if (n == 1) {
		gemv1_f32(w, cols, lo, hi, x, y, acc);
		return;
	}
	long o = lo;
	if (cols > GEMV_LONG) {
		const long chunk = GEMV512_BLOCK_BYTES / (8 * sizeof(float)); // columns, a multiple of 16
		for (; o + 8 <= hi; o += 8) {
			const float *w0 = w + o * cols;
			__m512 s[GEMVN_MAX][8];
			for (long i = 0; i < n; i++)
				for (int r = 0; r < 8; r++) s[i][r] = _mm512_setzero_ps();
			for (long c0 = 0; c0 < cols; c0 += chunk) {
				long c1 = c0 + chunk < cols ? c0 + chunk : cols;
				for (long i = 0; i < n; i++) {
					__m512 a[8];
					_Pragma("GCC unroll 8")
					for (int r = 0; r < 8; r++) a[r] = s[i][r];
					ROWS8_MASKED(ld_f32, w0, cols, c0, c1, x + i * cols, a);
					_Pragma("GCC unroll 8")
					for (int r = 0; r < 8; r++) s[i][r] = a[r];
				}
			}
			for (long i = 0; i < n; i++) store_rows8(s[i], y + i * ldy + o, acc);
		}
	}
	const long step = gemv512_block_rows(cols, sizeof(float));
	for (; o < hi; o += step) {
		long e = o + step < hi ? o + step : hi;
		for (long i = 0; i < n; i++) gemv1_f32(w, cols, o, e, x + i * cols, y + i * ldy, acc);
	}
}

// ops_gemv512_bf16 is ops_gemv512_f32 for a bfloat16 weight and
// gemv1_bf16; eo holds the n even/odd copies of the inputs
// (ops_split_eo), eolen values apart, or is NULL (each input is then split
// by gemv1_bf16 for every block).
AVX512 void ops_gemv512_bf16(const uint16_t *w, long cols, long lo, long hi, const float *x,
		const float *eo, long eolen, long n, float *y, long ldy, int acc) {
	OPS_RAN(OPS_K_GEMV, OPS_AVX512);
	if (n == 1) {
		gemv1_bf16(w, cols, lo, hi, x, eo, y, acc);
		return;
	}
	const long nb = cols & ~31L;
	long o = lo;
	if (cols > GEMV_LONG && eo && nb > 0) {
		const __m512i high = _mm512_set1_epi32((int)0xffff0000);
		const long chunk = GEMV512_BLOCK_BYTES / (8 * sizeof(uint16_t)); // columns, a multiple of 32
		for (; o + 8 <= hi; o += 8) {
			const uint16_t *w0 = w + o * cols;
			__m512 s[GEMVN_MAX][8];
			for (long i = 0; i < n; i++)
				for (int r = 0; r < 8; r++) s[i][r] = _mm512_setzero_ps();
			for (long c0 = 0; c0 < cols; c0 += chunk) {
				long c1 = c0 + chunk < cols ? c0 + chunk : cols;
				long e1 = c1 < nb ? c1 : nb; // the even/odd part of the chunk
				for (long i = 0; i < n; i++) {
					const float *xe = eo + i * eolen, *xo = xe + nb / 2;
					__m512 a[8];
					_Pragma("GCC unroll 8")
					for (int r = 0; r < 8; r++) a[r] = s[i][r];
					for (long c = c0; c < e1; c += 32) {
						__m512 xev = _mm512_loadu_ps(xe + c / 2), xov = _mm512_loadu_ps(xo + c / 2);
						_Pragma("GCC unroll 8")
						for (int r = 0; r < 8; r++) {
							__m512i v = _mm512_loadu_si512(w0 + r * cols + c);
							a[r] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v, 16)), xev, a[r]);
							a[r] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v, high)), xov, a[r]);
						}
					}
					if (c1 > nb) ROWS8_MASKED(ld_bf16, w0, cols, c0 > nb ? c0 : nb, c1, x + i * cols, a);
					_Pragma("GCC unroll 8")
					for (int r = 0; r < 8; r++) s[i][r] = a[r];
				}
			}
			for (long i = 0; i < n; i++) store_rows8(s[i], y + i * ldy + o, acc);
		}
	}
	const long step = gemv512_block_rows(cols, sizeof(uint16_t));
	for (; o < hi; o += step) {
		long e = o + step < hi ? o + step : hi;
		for (long i = 0; i < n; i++)
			gemv1_bf16(w, cols, o, e, x + i * cols, eo ? eo + i * eolen : NULL, y + i * ldy, acc);
	}
}
