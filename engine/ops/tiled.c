//go:build cgo && !purego && amd64

// tiled.c: products of a frozen weight with a few hundred input rows
// (prefill, training) in AVX-512, reading the weight in place: no packed
// copy of W is made per call, which is what costs sgemm most at these
// shapes (OpenBLAS repacks every weight element on every call, and a
// product with 64 or 256 input rows uses each element only 64 or 256
// times). They run only in the AVX-512 family; the others use sgemm.
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

#include "kernels.h"

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

BCAST(bcast_f32, float, f32f)
BCAST(bcast_bf16, uint16_t, bf16f)

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
AVX512 void name(const T *w, long cols, long lo, long hi, const float *xt,           \
		long np, long n, float *y, long ldy, int acc, long kc) {                    \
	OPS_RAN(OPS_K_TILED_MULT, OPS_AVX512);                                          \
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

// tr8 transposes the 8×8 block at src (row stride ls) into dst (row stride ld).
INLINE AVX2 void tr8(const float *src, long ls, float *dst, long ld) {
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
AVX2 void ops_transpose(const float *x, long n, long cols, long lo, long hi, float *xt, long np) {
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
AVX512 void name(const T *w, long cols, long rows, long lo, long hi,                 \
		const float *dy, long n, float *dx, int acc, long oc) {                     \
	OPS_RAN(OPS_K_TILED_MUL, OPS_AVX512);                                           \
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
