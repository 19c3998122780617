//go:build !purego

package ops

/*
#cgo CFLAGS: -O3 -std=gnu11

// Tiled AVX-512 products of a frozen weight with a few hundred input rows
// (prefill, training), reading the weight in place: no packed copy of W is
// made per call, which is what costs sgemm most at these shapes (OpenBLAS
// repacks every weight element on every call, and a product with 64 or 256
// input rows uses each element only 64 or 256 times).
//
// MulT (y = x·Wᵀ) is a dot-product kernel: a tile of 4 weight rows × 6 input
// rows keeps 24 vector accumulators running along k, so each weight vector
// loaded is used 6 times and each input vector 4 times; the weight block
// stays in L1 while every input block passes over it, and the input rows
// stay in L2 (k is blocked so they fit). Mul (dx = dy·W) is an
// outer-product kernel: 6 input rows × 64 output columns, one weight row
// segment and six broadcast gradients per step.
//
// bfloat16 weights are widened in registers as they are loaded.

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

static int has_avx512;

static void gemm_detect(int off) {
	__builtin_cpu_init();
	has_avx512 = !off && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		__builtin_cpu_supports("avx512vl");
}

static int gemm_available(void) { return has_avx512; }

INLINE AVX512 __m512 ld_f32(const float *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }

INLINE AVX512 __m512 ld_bf16(const uint16_t *p, __mmask16 m) {
	__m256i h = _mm256_maskz_loadu_epi16(m, p);
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

INLINE float f32s(float f) { return f; }

INLINE float bf16s(uint16_t b) {
	union { uint32_t u; float f; } v = { (uint32_t)b << 16 };
	return v.f;
}

// GEMV_LONG is the row length (in columns) above which the decode kernels
// read 8 weight rows at a time: the input then no longer fits in half the
// 32 KiB L1 cache, and reading it from L2 once per row slowed the stream
// by 25-35% (down_proj, 8960 columns); 8 rows share each input load.
#define GEMV_LONG 4096

// ROWS8_MASKED adds to the accumulators a[r] the products of columns [from,
// to) of the 8 rows at w0 (cols apart) with x, 16 at a time (the last of the
// row masked), loading the weights with LDM (ld_f32 or ld_bf16).
#define ROWS8_MASKED(LDM, w0, cols, from, to, x, a)                                \
	for (long c = (from); c < (to); c += 16) {                                      \
		long left = (cols) - c;                                                     \
		__mmask16 m = (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1);          \
		__m512 xv = _mm512_maskz_loadu_ps(m, (x) + c);                              \
		_Pragma("GCC unroll 8")                                                     \
		for (int r = 0; r < 8; r++) (a)[r] = _mm512_fmadd_ps(LDM((w0) + r * (cols) + c, m), xv, (a)[r]); \
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

// ops_gemv1_f32 computes y[o] (+)= Σ_c x[c]·w[o*cols + c] for rows o in
// [lo, hi): decoding one token, bound by how fast the weight streams in.
// Rows up to GEMV_LONG columns are read one at a time, as one sequential
// stream (interleaving 2 or 4 such rows streamed 10-25% slower here), with
// 256-bit loads (512-bit ones streamed about 10% slower on this AMD Zen 4,
// which splits them in two). Longer rows go 8 at a time.
static AVX512 void ops_gemv1_f32(const float *w, long cols, long lo, long hi, const float *x,
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
// is split the same way (ops_split_eo) once per product, before the threads
// start, so that it is not redone for every chunk of rows. Widening with
// vpmovzxwd instead (a 256-bit load spread over 512 bits) streamed about 20%
// slower. Rows are read one at a time, or 8 at a time above GEMV_LONG
// columns, as in ops_gemv1_f32.

// ops_split_eo writes the even/odd copy of x the bfloat16 kernel reads for
// the columns in whole 32-weight blocks (cols rounded down to 32, nb):
// eo[j] = x[2j] and eo[nb/2 + j] = x[2j+1] for j < nb/2.
static AVX512 void ops_split_eo(const float *x, long cols, float *eo) {
	const long nb = cols & ~31L;
	const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
	const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
	for (long c = 0; c < nb; c += 32) {
		__m512 x0 = _mm512_loadu_ps(x + c), x1 = _mm512_loadu_ps(x + c + 16);
		_mm512_storeu_ps(eo + c / 2, _mm512_permutex2var_ps(x0, even, x1));
		_mm512_storeu_ps(eo + nb / 2 + c / 2, _mm512_permutex2var_ps(x0, odd, x1));
	}
}

// gemv_eo is a thread's own even/odd buffer, for a product run on one
// thread without a split made beforehand (eo == NULL).
static __thread float *gemv_eo;
static __thread long gemv_eo_cap;

static AVX512 void ops_gemv1_bf16(const uint16_t *w, long cols, long lo, long hi, const float *x,
		const float *eo, float *y, int acc) {
	const long nb = cols & ~31L; // columns in whole 32-weight blocks
	if (!eo && nb > 0) {
		if (gemv_eo_cap < nb) {
			free(gemv_eo);
			gemv_eo = aligned_alloc(64, nb * sizeof(float));
			gemv_eo_cap = gemv_eo ? nb : 0;
		}
		if (gemv_eo) {
			ops_split_eo(x, cols, gemv_eo);
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

// GEMVN_BLOCK_BYTES is how much of a weight ops_gemvn_* reads before
// running the other inputs over it: a block that stays in the 32 KiB L1
// cache, so that only the first input reads the weight from memory.
#define GEMVN_BLOCK_BYTES 16384

// GEMVN_MAX is the most inputs ops_gemvn_* takes (GEMVMaxN).
#define GEMVN_MAX 8

// gemvn_block_rows is the number of rows ops_gemvn_* give ops_gemv1_* at a
// time: GEMVN_BLOCK_BYTES of short rows, or 8 long rows, which keeps the
// groups of 8 that ops_gemv1_* reads long rows in as they are for one call
// over [lo, hi).
static long gemvn_block_rows(long cols, long elem) {
	if (cols > GEMV_LONG) return 8;
	long r = GEMVN_BLOCK_BYTES / (cols * elem);
	return r > 0 ? r : 1;
}

// ops_gemvn_f32 computes y[i*ldy + o] (+)= Σ_c x[i*cols + c]·w[o*cols + c]
// for rows o in [lo, hi) (lo a multiple of 8) and n ≤ GEMVN_MAX inputs:
// batched decoding. Each input's sums are made exactly as ops_gemv1_f32
// makes them for that input alone, so row i of the result is bit for bit
// the product of input i alone, while the weight is read from memory once
// for all n:
//   - short rows: ops_gemv1_f32 runs every input over a block of rows while
//     the block is in L1;
//   - long rows, 8 at a time: each input's 8 accumulators are kept in memory
//     between column chunks of GEMVN_BLOCK_BYTES, so that every input goes
//     over a chunk while it is in L1; an accumulator sees the same
//     multiply-adds in the same order as in ops_gemv1_f32.
static AVX512 void ops_gemvn_f32(const float *w, long cols, long lo, long hi, const float *x, long n,
		float *y, long ldy, int acc) {
	if (n == 1) {
		ops_gemv1_f32(w, cols, lo, hi, x, y, acc);
		return;
	}
	long o = lo;
	if (cols > GEMV_LONG) {
		const long chunk = GEMVN_BLOCK_BYTES / (8 * sizeof(float)); // columns, a multiple of 16
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
	const long step = gemvn_block_rows(cols, sizeof(float));
	for (; o < hi; o += step) {
		long e = o + step < hi ? o + step : hi;
		for (long i = 0; i < n; i++) ops_gemv1_f32(w, cols, o, e, x + i * cols, y + i * ldy, acc);
	}
}

// ops_gemvn_bf16 is ops_gemvn_f32 for a bfloat16 weight and
// ops_gemv1_bf16; eo holds the n even/odd copies of the inputs
// (ops_split_eo), eolen values apart, or is NULL (each input is then split
// by ops_gemv1_bf16 for every block).
static AVX512 void ops_gemvn_bf16(const uint16_t *w, long cols, long lo, long hi, const float *x,
		const float *eo, long eolen, long n, float *y, long ldy, int acc) {
	if (n == 1) {
		ops_gemv1_bf16(w, cols, lo, hi, x, eo, y, acc);
		return;
	}
	const long nb = cols & ~31L;
	long o = lo;
	if (cols > GEMV_LONG && eo && nb > 0) {
		const __m512i high = _mm512_set1_epi32((int)0xffff0000);
		const long chunk = GEMVN_BLOCK_BYTES / (8 * sizeof(uint16_t)); // columns, a multiple of 32
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
	const long step = gemvn_block_rows(cols, sizeof(uint16_t));
	for (; o < hi; o += step) {
		long e = o + step < hi ? o + step : hi;
		for (long i = 0; i < n; i++)
			ops_gemv1_bf16(w, cols, o, e, x + i * cols, eo ? eo + i * eolen : NULL, y + i * ldy, acc);
	}
}

// BCAST defines name(R, V, ...): for weight rows r < R ≤ 6 and 16·V ≤ 64
// inputs of the transposed input block xt ([kc][ldxt]), tile[r][j] =
// Σ_{k<kc} w[r*ldw + k]·xt[k*ldxt + j]. Each weight value is broadcast once
// and used for V vectors of inputs, so no horizontal sums are needed. pf,
// when not null, is the next weight block, prefetched a line at a time.
#define BCAST(name, T, CVT)                                                         \
INLINE AVX512 void name(const int R, const int V, const T *w, long ldw,              \
		const float *xt, long ldxt, long kc, float *tile, const T *pf) {            \
	__m512 s[24];                                                                   \
	_Pragma("GCC unroll 24")                                                        \
	for (int k = 0; k < R * V; k++) s[k] = _mm512_setzero_ps();                     \
	const long lineElems = 64 / sizeof(T);                                          \
	for (long k = 0; k < kc; k++) {                                                 \
		if (pf && (k & (lineElems - 1)) == 0) {                                     \
			_Pragma("GCC unroll 6")                                                 \
			for (int r = 0; r < R; r++) _mm_prefetch((const char *)(pf + r * ldw + k), _MM_HINT_T0); \
		}                                                                           \
		__m512 xv[4];                                                               \
		_Pragma("GCC unroll 4")                                                     \
		for (int v = 0; v < V; v++) xv[v] = _mm512_loadu_ps(xt + k * ldxt + 16 * v); \
		_Pragma("GCC unroll 6")                                                     \
		for (int r = 0; r < R; r++) {                                               \
			__m512 b = _mm512_set1_ps(CVT(w[r * ldw + k]));                         \
			_Pragma("GCC unroll 4")                                                 \
			for (int v = 0; v < V; v++) s[r * V + v] = _mm512_fmadd_ps(xv[v], b, s[r * V + v]); \
		}                                                                           \
	}                                                                               \
	_Pragma("GCC unroll 6")                                                         \
	for (int r = 0; r < R; r++) {                                                   \
		_Pragma("GCC unroll 4")                                                     \
		for (int v = 0; v < V; v++) _mm512_storeu_ps(tile + r * 64 + 16 * v, s[r * V + v]); \
	}                                                                               \
}

BCAST(bcast_f32, float, f32s)
BCAST(bcast_bf16, uint16_t, bf16s)

// MULT_ROWS defines name(...): y[i*ldy + o] (+)= Σ_c x[i, c]·w[o*cols + c] for
// weight rows o in [lo, hi) and i < n, from xt, the input transposed and
// zero-padded to np (a multiple of 16) columns: xt[c*np + i] = x[i, c].
// k is blocked by kc so that a block of xt stays in L2 while the weight
// rows pass.
#define MULT_ROWS(name, kern, T)                                                    \
static AVX512 void name##_tile(int R, int V, const T *w, long ldw, const float *xt,   \
		long ldxt, long kc, float *tile, const T *pf) {                             \
	switch (R * 8 + V) {                                                            \
	case 8 + 1: kern(1, 1, w, ldw, xt, ldxt, kc, tile, pf); return;                  \
	case 8 + 2: kern(1, 2, w, ldw, xt, ldxt, kc, tile, pf); return;                  \
	case 8 + 3: kern(1, 3, w, ldw, xt, ldxt, kc, tile, pf); return;                  \
	case 8 + 4: kern(1, 4, w, ldw, xt, ldxt, kc, tile, pf); return;                  \
	case 16 + 1: kern(2, 1, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 16 + 2: kern(2, 2, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 16 + 3: kern(2, 3, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 16 + 4: kern(2, 4, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 24 + 1: kern(3, 1, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 24 + 2: kern(3, 2, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 24 + 3: kern(3, 3, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 24 + 4: kern(3, 4, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 32 + 1: kern(4, 1, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 32 + 2: kern(4, 2, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 32 + 3: kern(4, 3, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 32 + 4: kern(4, 4, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 40 + 1: kern(5, 1, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 40 + 2: kern(5, 2, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 40 + 3: kern(5, 3, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 40 + 4: kern(5, 4, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 48 + 1: kern(6, 1, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 48 + 2: kern(6, 2, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 48 + 3: kern(6, 3, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	case 48 + 4: kern(6, 4, w, ldw, xt, ldxt, kc, tile, pf); return;                 \
	}                                                                               \
}                                                                                   \
static AVX512 void name(const T *w, long cols, long lo, long hi, const float *xt,    \
		long np, long n, float *y, long ldy, int acc, long kc) {                    \
	float tile[6 * 64] __attribute__((aligned(64)));                                \
	for (long i0 = 0; i0 < n; i0 += 64) {                                           \
		long wid = np - i0 < 64 ? np - i0 : 64;                                     \
		long ni = n - i0 < 64 ? n - i0 : 64;                                        \
		for (long k0 = 0; k0 < cols; k0 += kc) {                                    \
			long kl = cols - k0 < kc ? cols - k0 : kc;                              \
			int a = acc || k0 > 0;                                                  \
			for (long o = lo; o < hi; o += 6) {                                     \
				int R = hi - o < 6 ? (int)(hi - o) : 6;                             \
				const T *wb = w + o * cols + k0;                                    \
				name##_tile(R, (int)(wid / 16), wb, cols, xt + i0 * cols + k0 * wid, wid, kl, \
					tile, o + 6 < hi ? wb + 6 * cols : 0);                          \
				for (long i = 0; i < ni; i++) {                                     \
					float *d = y + (i0 + i) * ldy + o;                              \
					for (int r = 0; r < R; r++) d[r] = a ? d[r] + tile[r * 64 + i] : tile[r * 64 + i]; \
				}                                                                   \
			}                                                                       \
		}                                                                           \
	}                                                                               \
}

MULT_ROWS(ops_mult_f32, bcast_f32, float)
MULT_ROWS(ops_mult_bf16, bcast_bf16, uint16_t)

#define AVX2T __attribute__((target("avx2,fma")))

// tr8 transposes the 8×8 block at src (row stride ls) into dst (row stride ld).
INLINE AVX2T void tr8(const float *src, long ls, float *dst, long ld) {
	__m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ls), r2 = _mm256_loadu_ps(src + 2 * ls),
		r3 = _mm256_loadu_ps(src + 3 * ls), r4 = _mm256_loadu_ps(src + 4 * ls), r5 = _mm256_loadu_ps(src + 5 * ls),
		r6 = _mm256_loadu_ps(src + 6 * ls), r7 = _mm256_loadu_ps(src + 7 * ls);
	__m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
		t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
		t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
	__m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee),
		u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee),
		u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee),
		u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
	_mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
	_mm256_storeu_ps(dst + ld, _mm256_permute2f128_ps(u1, u5, 0x20));
	_mm256_storeu_ps(dst + 2 * ld, _mm256_permute2f128_ps(u2, u6, 0x20));
	_mm256_storeu_ps(dst + 3 * ld, _mm256_permute2f128_ps(u3, u7, 0x20));
	_mm256_storeu_ps(dst + 4 * ld, _mm256_permute2f128_ps(u0, u4, 0x31));
	_mm256_storeu_ps(dst + 5 * ld, _mm256_permute2f128_ps(u1, u5, 0x31));
	_mm256_storeu_ps(dst + 6 * ld, _mm256_permute2f128_ps(u2, u6, 0x31));
	_mm256_storeu_ps(dst + 7 * ld, _mm256_permute2f128_ps(u3, u7, 0x31));
}

// ops_transpose writes the input block layout of MULT_ROWS for columns c in
// [lo, hi): inputs go in blocks of 64 (the last one np mod 64 wide, np a
// multiple of 16), each block a [cols][width] array starting at element
// i0·cols, zero beyond n. Whole 8×8 blocks go through registers.
static AVX2T void ops_transpose(const float *x, long n, long cols, long lo, long hi, float *xt, long np) {
	for (long i0 = 0; i0 < np; i0 += 64) {
		long wid = np - i0 < 64 ? np - i0 : 64;
		float *blk = xt + i0 * cols;
		long c = lo;
		for (; c + 8 <= hi; c += 8) {
			long i = 0;
			for (; i + 8 <= wid && i0 + i + 8 <= n; i += 8) tr8(x + (i0 + i) * cols + c, cols, blk + c * wid + i, wid);
			for (; i < wid; i++)
				for (long cc = c; cc < c + 8; cc++) blk[cc * wid + i] = i0 + i < n ? x[(i0 + i) * cols + cc] : 0;
		}
		for (; c < hi; c++)
			for (long i = 0; i < wid; i++) blk[c * wid + i] = i0 + i < n ? x[(i0 + i) * cols + c] : 0;
	}
}

// OUTER defines name(I, V, ...): dx[i*ldx + c] (+)= Σ_{o<oc} dy[i*ldy + o]·w[o*ldw + c]
// for i < I ≤ 6 and c < 16·V (V ≤ 4 vectors, the last masked by m).
#define OUTER(name, T, LDM)                                                         \
INLINE AVX512 void name(const int I, const int V, const T *w, long ldw,              \
		const float *dy, long ldy, long oc, float *dx, long ldx, int acc, __mmask16 m, \
		const T *pf) {                                                              \
	__m512 s[24];                                                                   \
	_Pragma("GCC unroll 24")                                                        \
	for (int k = 0; k < I * V; k++) s[k] = _mm512_setzero_ps();                     \
	for (long o = 0; o < oc; o++) {                                                 \
		if (pf) {                                                                   \
			_Pragma("GCC unroll 4")                                                 \
			for (int l = 0; l < 64 * (int)sizeof(T); l += 64)                       \
				_mm_prefetch((const char *)(pf + o * ldw) + l, _MM_HINT_T0);         \
		}                                                                           \
		__m512 wv[4];                                                               \
		_Pragma("GCC unroll 4")                                                     \
		for (int v = 0; v < V; v++) wv[v] = LDM(w + o * ldw + 16 * v, v == V - 1 ? m : 0xffff); \
		_Pragma("GCC unroll 6")                                                     \
		for (int i = 0; i < I; i++) {                                               \
			__m512 b = _mm512_set1_ps(dy[i * ldy + o]);                             \
			_Pragma("GCC unroll 4")                                                 \
			for (int v = 0; v < V; v++) s[i * V + v] = _mm512_fmadd_ps(wv[v], b, s[i * V + v]); \
		}                                                                           \
	}                                                                               \
	_Pragma("GCC unroll 6")                                                         \
	for (int i = 0; i < I; i++) {                                                   \
		_Pragma("GCC unroll 4")                                                     \
		for (int v = 0; v < V; v++) {                                               \
			__mmask16 mm = v == V - 1 ? m : 0xffff;                                 \
			float *d = dx + i * ldx + 16 * v;                                       \
			__m512 r = s[i * V + v];                                                \
			if (acc) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mm, d));            \
			_mm512_mask_storeu_ps(d, mm, r);                                        \
		}                                                                           \
	}                                                                               \
}

OUTER(outer_f32, float, ld_f32)
OUTER(outer_bf16, uint16_t, ld_bf16)

// MUL_COLS defines name(...): dx[i*cols + c] (+)= Σ_o dy[i*ldy + o]·w[o*cols + c]
// for columns c in [lo, hi), all rows o < rows and i < n, o blocked by oc.
// PFROWS is how many weight rows ahead Mul prefetches within a block (the
// first input block instead prefetches the next column block).
#define PFROWS 8
#define MUL_COLS(name, kern, T)                                                     \
static AVX512 void name##_tile(int I, int V, const T *w, long ldw, const float *dy,   \
		long ldy, long oc, float *dx, long ldx, int acc, __mmask16 m, const T *pf) { \
	switch (I * 8 + V) {                                                            \
	case 8 + 1: kern(1, 1, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;            \
	case 8 + 2: kern(1, 2, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;            \
	case 8 + 3: kern(1, 3, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;            \
	case 8 + 4: kern(1, 4, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;            \
	case 16 + 1: kern(2, 1, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 16 + 2: kern(2, 2, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 16 + 3: kern(2, 3, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 16 + 4: kern(2, 4, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 24 + 1: kern(3, 1, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 24 + 2: kern(3, 2, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 24 + 3: kern(3, 3, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 24 + 4: kern(3, 4, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 32 + 1: kern(4, 1, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 32 + 2: kern(4, 2, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 32 + 3: kern(4, 3, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 32 + 4: kern(4, 4, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 40 + 1: kern(5, 1, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 40 + 2: kern(5, 2, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 40 + 3: kern(5, 3, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 40 + 4: kern(5, 4, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 48 + 1: kern(6, 1, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 48 + 2: kern(6, 2, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 48 + 3: kern(6, 3, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	case 48 + 4: kern(6, 4, w, ldw, dy, ldy, oc, dx, ldx, acc, m, pf); return;           \
	}                                                                               \
}                                                                                   \
static AVX512 void name(const T *w, long cols, long rows, long lo, long hi,          \
		const float *dy, long n, float *dx, int acc, long oc) {                     \
	for (long o0 = 0; o0 < rows; o0 += oc) {                                        \
		long ol = rows - o0 < oc ? rows - o0 : oc;                                  \
		int a = acc || o0 > 0;                                                      \
		for (long c = lo; c < hi; c += 64) {                                        \
			long w64 = hi - c < 64 ? hi - c : 64;                                   \
			int V = (int)((w64 + 15) / 16);                                         \
			long tail = w64 - 16 * (V - 1);                                         \
			__mmask16 m = (__mmask16)(tail == 16 ? 0xffff : (1u << tail) - 1);       \
			for (long i = 0; i < n; i += 6) {                                       \
				int I = n - i < 6 ? (int)(n - i) : 6;                               \
				name##_tile(I, V, w + o0 * cols + c, cols, dy + i * rows + o0, rows, ol, \
					dx + i * cols + c, cols, a, m,                                  \
					i == 0 ? (c + 64 < hi ? w + o0 * cols + c + 64 : 0) : w + o0 * cols + c + PFROWS * cols); \
			}                                                                       \
		}                                                                           \
	}                                                                               \
}

MUL_COLS(ops_mul_f32, outer_f32, float)
MUL_COLS(ops_mul_bf16, outer_bf16, uint16_t)
*/
import "C"

import "os"

// QWENTUNE_GEMM=blas turns the tiled kernels off, so that a benchmark can
// compare them with sgemm on the same machine.
func init() { setTiled(os.Getenv("QWENTUNE_GEMM") != "blas") }

// setTiled turns the tiled kernels on (where the CPU has AVX-512) or off,
// and hands the cores to whoever then does the heavy products: with tiled
// kernels the pool's goroutines run them and OpenBLAS runs single-threaded
// (Gemm splits its work over the pool instead), so that no OpenBLAS worker
// spins on a core the pool needs; without them OpenBLAS gets one thread
// per core.
func setTiled(on bool) {
	C.gemm_detect(cbool(!on))
	if tiledAvailable() {
		SetBLASThreads(1)
	} else {
		SetBLASThreads(Threads())
	}
}

// forceNoTiled turns the tiled kernels off (on) or back on where the CPU
// has AVX-512 (off), so that tests cover both paths.
func forceNoTiled(on bool) { setTiled(!on) }

// tiledAvailable reports whether the tiled AVX-512 kernels can run.
func tiledAvailable() bool { return C.gemm_available() != 0 }

// multRows computes y[i*ldy+o] (+)= Σ_c x[i, c]·W[o, c] for weight rows o
// in [lo, hi) and i < n from xt, x transposed into np columns, blocking k
// by kc.
func (w *Weight) multRows(lo, hi int, xt []float32, np, n int, y []float32, ldy int, acc bool, kc int) {
	if w.BF16 != nil {
		C.ops_mult_bf16(u16p(w.BF16), C.long(w.Cols), C.long(lo), C.long(hi), f32p(xt), C.long(np), C.long(n), f32p(y), C.long(ldy), cbool(acc), C.long(kc))
	} else {
		C.ops_mult_f32(f32p(w.F32), C.long(w.Cols), C.long(lo), C.long(hi), f32p(xt), C.long(np), C.long(n), f32p(y), C.long(ldy), cbool(acc), C.long(kc))
	}
}

// gemv1 computes y[i*ldy+o] (+)= Σ_c x[i*Cols+c]·W[o, c] for rows o in
// [lo, hi) and n inputs with the AVX-512 decode kernels (tiledAvailable
// must hold), each input as if it were alone. For a bfloat16 weight eo is
// x split by splitEO (eoLen(Cols) values per input), or nil to have the
// kernel split it itself.
func (w *Weight) gemv1(lo, hi int, x []float32, n int, eo, y []float32, ldy int, acc bool) {
	if w.BF16 != nil {
		var e *C.float
		if eo != nil {
			e = f32p(eo)
		}
		C.ops_gemvn_bf16(u16p(w.BF16), C.long(w.Cols), C.long(lo), C.long(hi), f32p(x), e, C.long(eoLen(w.Cols)), C.long(n), f32p(y), C.long(ldy), cbool(acc))
	} else {
		C.ops_gemvn_f32(f32p(w.F32), C.long(w.Cols), C.long(lo), C.long(hi), f32p(x), C.long(n), f32p(y), C.long(ldy), cbool(acc))
	}
}

// The batched decode kernels hold the accumulators of up to GEMVN_MAX
// inputs, and MulT gives them up to GEMVMaxN: this fails to compile if
// GEMVN_MAX is the smaller.
var _ [C.GEMVN_MAX - GEMVMaxN]struct{}

// eoLen is the length of the even/odd copy of an input of cols values.
func eoLen(cols int) int { return cols &^ 31 }

// splitEO writes the even/odd copy of x (cols values) that the bfloat16
// decode kernel reads into eo (eoLen(cols) values).
func splitEO(x []float32, cols int, eo []float32) {
	if eoLen(cols) > 0 {
		C.ops_split_eo(f32p(x), C.long(cols), f32p(eo))
	}
}

// transposeCols writes xt[c*np+i] = x[i*cols+c] for columns c in [lo, hi)
// and i < n, and zeros for n ≤ i < np.
func transposeCols(x []float32, n, cols, lo, hi int, xt []float32, np int) {
	C.ops_transpose(f32p(x), C.long(n), C.long(cols), C.long(lo), C.long(hi), f32p(xt), C.long(np))
}

// mulCols computes dx[i*Cols+c] (+)= Σ_o dy[i*Rows+o]·W[o, c] for columns c
// in [lo, hi) and i < n, blocking o by oc.
func (w *Weight) mulCols(lo, hi int, dy []float32, n int, dx []float32, acc bool, oc int) {
	if w.BF16 != nil {
		C.ops_mul_bf16(u16p(w.BF16), C.long(w.Cols), C.long(w.Rows), C.long(lo), C.long(hi), f32p(dy), C.long(n), f32p(dx), cbool(acc), C.long(oc))
	} else {
		C.ops_mul_f32(f32p(w.F32), C.long(w.Cols), C.long(w.Rows), C.long(lo), C.long(hi), f32p(dy), C.long(n), f32p(dx), cbool(acc), C.long(oc))
	}
}
