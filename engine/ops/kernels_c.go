//go:build !purego

package ops

/*
#cgo CFLAGS: -O3 -std=gnu11

// The AVX2 kernels carry a per-function target attribute instead of a
// file-wide -mavx2 so that the scalar fallbacks (and anything GCC inlines
// into them) stay runnable on CPUs without AVX2; ops_has_avx2 picks one at
// run time.

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

// has_avx2 is set once from Go's init (and by tests), before any kernel runs.
static int has_avx2;

static void ops_detect(int force_scalar) {
	__builtin_cpu_init();
	has_avx2 = !force_scalar && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int ops_has_avx2(void) { return has_avx2; }

INLINE float bf16f(uint16_t b) {
	uint32_t u = (uint32_t)b << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

INLINE AVX2 __m256 load_bf16(const uint16_t *p) {
	__m128i h = _mm_loadu_si128((const __m128i *)p);
	return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

INLINE AVX2 __m256 load_f32(const float *p) { return _mm256_loadu_ps(p); }

INLINE float f32f(float f) { return f; }

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

// GEMV_AVX2 defines name(...): y[o] (+)= sum_c x[c]*w[o*cols + c] for rows o
// in [lo, hi) and one input x. Short rows (x fits in L1) stream one row at a
// time: a single sequential stream is what the hardware prefetcher follows
// best when rows are only a few KiB. Long rows go four at a time (the rest
// one at a time), which saves reloading x from L2 for every row, with
// software prefetch to keep the streams ahead.
#define GEMV_AVX2(name, block, T)                                                   \
static AVX2 void name(const T *w, long cols, long lo, long hi, const float *x,       \
		float *y, int acc) {                                                        \
	long o = lo;                                                                    \
	if (cols < 4096) {                                                              \
		for (; o < hi; o++) block(1, 4, 0, w, cols, o, x, y, acc);                  \
		return;                                                                     \
	}                                                                               \
	for (; o + 4 <= hi; o += 4) block(4, 2, 2048, w, cols, o, x, y, acc);           \
	for (; o < hi; o++) block(1, 1, 0, w, cols, o, x, y, acc);                      \
}

GEMV_AVX2(gemv_bf16_avx2, gemv_block_bf16, uint16_t)
GEMV_AVX2(gemv_f32_avx2, gemv_block_f32, float)

// GEMV defines the entry point name(...): y[i*ldy + o] (+)= sum_c
// x[i*cols + c]*w[o*cols + c] for rows o in [lo, hi) and inputs i < n, with
// GEMV_AVX2 or its scalar fallback. Each input is computed as if it were
// alone (batched decoding gives every row what decoding it alone gives),
// over blocks of rows small enough to stay in cache for the inputs after
// the first: 16 KiB, or 8 long rows (a multiple of GEMV_AVX2's groups of 4,
// which lo, a multiple of 8, starts in step with).
#define GEMV(name, avx2, T, CVT)                                                    \
static void name(const T *w, long cols, long lo, long hi, const float *x, long n,   \
		float *y, long ldy, int acc) {                                              \
	if (ops_has_avx2()) {                                                           \
		long step = n == 1 ? hi - lo : cols >= 4096 ? 8 : 16384 / (cols * (long)sizeof(T)); \
		if (step < 1) step = 1;                                                     \
		for (long o = lo; o < hi; o += step) {                                      \
			long e = o + step < hi ? o + step : hi;                                 \
			for (long i = 0; i < n; i++) avx2(w, cols, o, e, x + i * cols, y + i * ldy, acc); \
		}                                                                           \
		return;                                                                     \
	}                                                                               \
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
static void name(const T *w, long cols, long lo, long hi, const float *dy, long ldy, \
		long n, float *dx, int acc) {                                               \
	if (!acc) memset(dx, 0, n * cols * sizeof(float));                              \
	if (ops_has_avx2()) {                                                           \
		avx2(w, cols, lo, hi, dy, ldy, n, dx);                                      \
		return;                                                                     \
	}                                                                               \
	for (long o = lo; o < hi; o++)                                                  \
		for (long i = 0; i < n; i++) {                                              \
			float d = dy[i * ldy + o];                                              \
			for (long c = 0; c < cols; c++) dx[i * cols + c] += d * CVT(w[o * cols + c]); \
		}                                                                           \
}

AXPY(ops_axpy_bf16, axpy_bf16_avx2, uint16_t, bf16f)
AXPY(ops_axpy_f32, axpy_f32_avx2, float, f32f)

static AVX2 void to_f32_avx2(const uint16_t *src, float *dst, long count) {
	long k = 0;
	for (; k + 8 <= count; k += 8) _mm256_storeu_ps(dst + k, load_bf16(src + k));
	for (; k < count; k++) dst[k] = bf16f(src[k]);
}

static void ops_bf16_to_f32(const uint16_t *src, float *dst, long count) {
	if (ops_has_avx2()) {
		to_f32_avx2(src, dst, count);
		return;
	}
	for (long k = 0; k < count; k++) dst[k] = bf16f(src[k]);
}

static AVX2 uint32_t read_avx2(const uint32_t *p, long count) {
	__m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
	long k = 0;
	for (; k + 32 <= count; k += 32) {
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
static uint32_t ops_read_words(const uint32_t *p, long count) {
	if (ops_has_avx2()) return read_avx2(p, count);
	uint32_t r = 0;
	for (long k = 0; k < count; k++) r ^= p[k];
	return r;
}
*/
import "C"

import "unsafe"

func init() { C.ops_detect(0) }

// forceScalar switches the C kernels to their scalar fallbacks (on) or back
// to what the CPU supports (off), so that tests cover both.
func forceScalar(on bool) { C.ops_detect(cbool(on)) }

func f32p(s []float32) *C.float { return (*C.float)(unsafe.Pointer(unsafe.SliceData(s))) }

func u16p(s []uint16) *C.uint16_t { return (*C.uint16_t)(unsafe.Pointer(unsafe.SliceData(s))) }

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// gemvBF16 computes y[i*ldy+o] (+)= Σ_c x[i*cols+c]·w[o*cols+c] for rows o
// in [lo, hi) and i < n.
func gemvBF16(w []uint16, cols, lo, hi int, x []float32, n int, y []float32, ldy int, acc bool) {
	C.ops_gemv_bf16(u16p(w), C.long(cols), C.long(lo), C.long(hi), f32p(x), C.long(n), f32p(y), C.long(ldy), cbool(acc))
}

// gemvF32 is gemvBF16 for float32 weights.
func gemvF32(w []float32, cols, lo, hi int, x []float32, n int, y []float32, ldy int, acc bool) {
	C.ops_gemv_f32(f32p(w), C.long(cols), C.long(lo), C.long(hi), f32p(x), C.long(n), f32p(y), C.long(ldy), cbool(acc))
}

// axpyBF16 computes dx[i*cols+c] (+)= Σ_o dy[i*ldy+o]·w[o*cols+c] over rows
// o in [lo, hi), for all columns c and i < n.
func axpyBF16(w []uint16, cols, lo, hi int, dy []float32, ldy, n int, dx []float32, acc bool) {
	C.ops_axpy_bf16(u16p(w), C.long(cols), C.long(lo), C.long(hi), f32p(dy), C.long(ldy), C.long(n), f32p(dx), cbool(acc))
}

// axpyF32 is axpyBF16 for float32 weights.
func axpyF32(w []float32, cols, lo, hi int, dy []float32, ldy, n int, dx []float32, acc bool) {
	C.ops_axpy_f32(f32p(w), C.long(cols), C.long(lo), C.long(hi), f32p(dy), C.long(ldy), C.long(n), f32p(dx), cbool(acc))
}

// bf16ToF32 widens src into dst (equal lengths).
func bf16ToF32(dst []float32, src []uint16) {
	C.ops_bf16_to_f32(u16p(src), f32p(dst), C.long(len(dst)))
}

// readWords reads every word of p once and returns their XOR.
func readWords(p []uint32) uint32 {
	return uint32(C.ops_read_words((*C.uint32_t)(unsafe.Pointer(unsafe.SliceData(p))), C.long(len(p))))
}
