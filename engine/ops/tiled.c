//go:build cgo && !purego && amd64

// tiled.c: products of a frozen weight with a few hundred input rows
// (prefill, training) in AVX-512 and in AVX2/FMA, reading the weight in
// place: no packed copy of W is made per call, which is what costs sgemm
// most at these shapes (OpenBLAS repacks every weight element on every
// call, and a product with 64 or 256 input rows uses each element only 64
// or 256 times). They run in the AVX512 and AVX2 families; Scalar uses
// sgemm.
//
// MulT (y = x·Wᵀ) transposes its input, 64 rows at a time, and broadcasts
// each weight value against a vector of inputs: a tile of 6 weight rows ×
// 64 inputs (AVX-512) or 16 inputs (AVX2) keeps its accumulators running
// along k, with no horizontal sums; k is blocked so that the transposed
// inputs stay in L2. Mul (dx = dy·W) is an outer-product kernel: 6 input
// rows × 64 (AVX-512) or 16 (AVX2) output columns, one weight row segment
// and six broadcast gradients per step.
//
// bfloat16 weights are widened in registers as they are loaded (AVX2 MulT:
// a block at a time into a float32 buffer, see MULT2).

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
static AVX512 void name(const T *w, long cols, long lo, long hi, const float *xt,    \
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

MULT_ROWS(mult512_f32, bcast_f32, float)
MULT_ROWS(mult512_bf16, bcast_bf16, uint16_t)

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
static AVX512 void name(const T *w, long cols, long rows, long lo, long hi,          \
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

MUL_COLS(mul512_f32, outer_f32, float)
MUL_COLS(mul512_bf16, outer_bf16, uint16_t)

// The AVX2 kernels (16 ymm registers, no masks, no embedded broadcasts) run
// the same loops with 256-bit tiles: MulT 6 weight rows × 16 inputs (12
// accumulators, 2 input vectors, 1 broadcast), Mul 6 input rows × 16
// columns. Both block k more finely than the AVX-512 ones, so that the
// block of weights a tile reads again (6 rows × KC2 for MulT, OC2 rows × 16
// columns for Mul) stays in L1. A bfloat16 weight block of MulT is widened
// once into a float32 buffer and read from there by the 4 tiles of a block
// of 64 inputs (a broadcast from bfloat16 takes four instructions).
#define KC2 512
#define OC2 256

// bcast2(R, ...): tile[r*64 + j] = Σ_{k<kc} w[r*ldw + k]·xt[k*ldxt + j] for
// r < R ≤ 6 and j < 16. pf, when not null, is the next block of weights
// (row stride pfld bytes, es bytes an element), prefetched a line at a time.
INLINE AVX2 void bcast2(const int R, const float *w, long ldw, const float *xt, long ldxt, long kc, float *tile,
		const char *pf, long pfld, long es) {
	__m256 s[12];
	_Pragma("GCC unroll 12")
	for (int k = 0; k < 2 * R; k++) s[k] = _mm256_setzero_ps();
	const long lm = 64 / es - 1;
	for (long k = 0; k < kc; k++) {
		if (pf && (k & lm) == 0) {
			_Pragma("GCC unroll 6")
			for (int r = 0; r < R; r++) _mm_prefetch(pf + r * pfld + k * es, _MM_HINT_T0);
		}
		__m256 x0 = _mm256_loadu_ps(xt + k * ldxt), x1 = _mm256_loadu_ps(xt + k * ldxt + 8);
		_Pragma("GCC unroll 6")
		for (int r = 0; r < R; r++) {
			__m256 b = _mm256_broadcast_ss(w + r * ldw + k);
			s[2 * r] = _mm256_fmadd_ps(x0, b, s[2 * r]);
			s[2 * r + 1] = _mm256_fmadd_ps(x1, b, s[2 * r + 1]);
		}
	}
	_Pragma("GCC unroll 6")
	for (int r = 0; r < R; r++) {
		_mm256_storeu_ps(tile + r * 64, s[2 * r]);
		_mm256_storeu_ps(tile + r * 64 + 8, s[2 * r + 1]);
	}
}

static AVX2 void bcast2_tile(int R, const float *w, long ldw, const float *xt, long ldxt, long kc, float *tile,
		const char *pf, long pfld, long es) {
	switch (R) {
	case 1: bcast2(1, w, ldw, xt, ldxt, kc, tile, pf, pfld, es); return;
	case 2: bcast2(2, w, ldw, xt, ldxt, kc, tile, pf, pfld, es); return;
	case 3: bcast2(3, w, ldw, xt, ldxt, kc, tile, pf, pfld, es); return;
	case 4: bcast2(4, w, ldw, xt, ldxt, kc, tile, pf, pfld, es); return;
	case 5: bcast2(5, w, ldw, xt, ldxt, kc, tile, pf, pfld, es); return;
	case 6: bcast2(6, w, ldw, xt, ldxt, kc, tile, pf, pfld, es); return;
	}
}

// MULT2 defines name(...), MULT_ROWS's product in AVX2: the same input
// layout (blocks of up to 64 inputs, a multiple of 16 wide), k blocked by
// at most KC2.
#define MULT2(name, T)                                                              \
static AVX2 void name(const T *w, long cols, long lo, long hi, const float *xt,      \
		long np, long n, float *y, long ldy, int acc, long kc) {                    \
	OPS_RAN(OPS_K_TILED_MULT, OPS_AVX2);                                            \
	if (kc > KC2) kc = KC2;                                                         \
	float tile[6 * 64] __attribute__((aligned(32)));                                \
	float wbuf[6 * KC2] __attribute__((aligned(32)));                               \
	const int widen = sizeof(T) == 2;                                               \
	for (long i0 = 0; i0 < n; i0 += 64) {                                           \
		long wid = np - i0 < 64 ? np - i0 : 64;                                     \
		long ni = n - i0 < 64 ? n - i0 : 64;                                        \
		const float *xb = xt + i0 * cols;                                           \
		for (long k0 = 0; k0 < cols; k0 += kc) {                                    \
			long kl = cols - k0 < kc ? cols - k0 : kc;                              \
			int a = acc || k0 > 0;                                                  \
			for (long o = lo; o < hi; o += 6) {                                     \
				int R = hi - o < 6 ? (int)(hi - o) : 6;                             \
				const T *wb = w + o * cols + k0;                                    \
				const float *wf = (const float *)wb;                                \
				long ldw = cols;                                                    \
				if (widen) {                                                        \
					for (int r = 0; r < R; r++) {                                   \
						const uint16_t *src = (const uint16_t *)wb + r * cols;      \
						float *dst = wbuf + r * kl;                                 \
						long k = 0;                                                 \
						for (; k + 8 <= kl; k += 8) _mm256_storeu_ps(dst + k, load_bf16(src + k)); \
						for (; k < kl; k++) dst[k] = bf16f(src[k]);                 \
					}                                                               \
					wf = wbuf, ldw = kl;                                            \
				}                                                                   \
				const char *pf = o + 6 < hi ? (const char *)(wb + 6 * cols) : 0;   \
				for (long j = 0; j < wid; j += 16)                                  \
					bcast2_tile(R, wf, ldw, xb + k0 * wid + j, wid, kl, tile + j,   \
						j == 0 ? pf : 0, cols * (long)sizeof(T), (long)sizeof(T));  \
				for (long i = 0; i < ni; i++) {                                     \
					float *d = y + (i0 + i) * ldy + o;                              \
					for (int r = 0; r < R; r++) d[r] = a ? d[r] + tile[r * 64 + i] : tile[r * 64 + i]; \
				}                                                                   \
			}                                                                       \
		}                                                                           \
	}                                                                               \
}

MULT2(mult2_f32, float)
MULT2(mult2_bf16, uint16_t)

// ld8_f32 and ld8_bf16 load 8 weights as float32, or with t < 8 the first t
// of them and zeros (the last columns of a weight).
INLINE AVX2 __m256 ld8_f32(const float *p, long t) {
	return t < 8 ? _mm256_maskload_ps(p, tail_mask8(t)) : _mm256_loadu_ps(p);
}

INLINE AVX2 __m256 ld8_bf16(const uint16_t *p, long t) {
	if (t < 8) {
		uint16_t b[8] = {0};
		memcpy(b, p, t * sizeof *p);
		return load_bf16(b);
	}
	return load_bf16(p);
}

// OUTER2 defines name(I, V, MT, ...): dx[i*ldx + c] (+)= Σ_{o<oc} dy[i*ldy + o]·w[o*ldw + c]
// for i < I ≤ 6 and c < 8·V (V ≤ 2), the last vector only its first t
// columns when MT (masked tail) is set. pf, when not null, is the weight
// row to prefetch alongside row o (a few rows ahead).
#define OUTER2(name, T, LD8)                                                        \
INLINE AVX2 void name(const int I, const int V, const int MT, const T *w, long ldw,  \
		const float *dy, long ldy, long oc, float *dx, long ldx, int acc, long t,   \
		const T *pf) {                                                              \
	__m256 s[12];                                                                   \
	_Pragma("GCC unroll 12")                                                        \
	for (int k = 0; k < I * V; k++) s[k] = _mm256_setzero_ps();                     \
	for (long o = 0; o < oc; o++) {                                                 \
		if (pf) _mm_prefetch((const char *)(pf + o * ldw), _MM_HINT_T0);            \
		__m256 wv[2];                                                               \
		_Pragma("GCC unroll 2")                                                     \
		for (int v = 0; v < V; v++) wv[v] = LD8(w + o * ldw + 8 * v, MT && v == V - 1 ? t : 8); \
		_Pragma("GCC unroll 6")                                                     \
		for (int i = 0; i < I; i++) {                                               \
			__m256 b = _mm256_broadcast_ss(dy + i * ldy + o);                       \
			_Pragma("GCC unroll 2")                                                 \
			for (int v = 0; v < V; v++) s[i * V + v] = _mm256_fmadd_ps(wv[v], b, s[i * V + v]); \
		}                                                                           \
	}                                                                               \
	_Pragma("GCC unroll 6")                                                         \
	for (int i = 0; i < I; i++) {                                                   \
		_Pragma("GCC unroll 2")                                                     \
		for (int v = 0; v < V; v++) {                                               \
			float *d = dx + i * ldx + 8 * v;                                        \
			__m256 r = s[i * V + v];                                                \
			if (MT && v == V - 1) {                                                 \
				__m256i m = tail_mask8(t);                                          \
				if (acc) r = _mm256_add_ps(r, _mm256_maskload_ps(d, m));            \
				_mm256_maskstore_ps(d, m, r);                                       \
			} else {                                                                \
				if (acc) r = _mm256_add_ps(r, _mm256_loadu_ps(d));                  \
				_mm256_storeu_ps(d, r);                                             \
			}                                                                       \
		}                                                                           \
	}                                                                               \
}

OUTER2(outer2_f32, float, ld8_f32)
OUTER2(outer2_bf16, uint16_t, ld8_bf16)

#define OUTER2_I(kern, I)                                                           \
	case I * 4 + 0: kern(I, 1, 0, w, ldw, dy, ldy, oc, dx, ldx, acc, t, pf); return;    \
	case I * 4 + 1: kern(I, 2, 0, w, ldw, dy, ldy, oc, dx, ldx, acc, t, pf); return;    \
	case I * 4 + 2: kern(I, 1, 1, w, ldw, dy, ldy, oc, dx, ldx, acc, t, pf); return;    \
	case I * 4 + 3: kern(I, 2, 1, w, ldw, dy, ldy, oc, dx, ldx, acc, t, pf); return;

// MUL2 defines name(...), MUL_COLS's product in AVX2: columns in blocks of
// 16, o blocked by at most OC2 rows.
#define MUL2(name, kern, T)                                                         \
static AVX2 void name##_tile(int I, int V, int MT, const T *w, long ldw, const float *dy, \
		long ldy, long oc, float *dx, long ldx, int acc, long t, const T *pf) {     \
	switch (I * 4 + (MT ? 2 : 0) + V - 1) {                                         \
	OUTER2_I(kern, 1) OUTER2_I(kern, 2) OUTER2_I(kern, 3)                           \
	OUTER2_I(kern, 4) OUTER2_I(kern, 5) OUTER2_I(kern, 6)                           \
	}                                                                               \
}                                                                                   \
static AVX2 void name(const T *w, long cols, long rows, long lo, long hi,            \
		const float *dy, long n, float *dx, int acc, long oc) {                     \
	OPS_RAN(OPS_K_TILED_MUL, OPS_AVX2);                                             \
	if (oc > OC2) oc = OC2;                                                         \
	for (long o0 = 0; o0 < rows; o0 += oc) {                                        \
		long ol = rows - o0 < oc ? rows - o0 : oc;                                  \
		int a = acc || o0 > 0;                                                      \
		for (long c = lo; c < hi; c += 16) {                                        \
			long w16 = hi - c < 16 ? hi - c : 16;                                   \
			int V = (int)((w16 + 7) / 8);                                           \
			long t = w16 - 8 * (V - 1);                                             \
			const T *wb = w + o0 * cols + c;                                        \
			for (long i = 0; i < n; i += 6) {                                       \
				int I = n - i < 6 ? (int)(n - i) : 6;                               \
				name##_tile(I, V, t < 8, wb, cols, dy + i * rows + o0, rows, ol,    \
					dx + i * cols + c, cols, a, t, i == 0 ? wb + PFROWS * cols : 0); \
			}                                                                       \
		}                                                                           \
	}                                                                               \
}

MUL2(mul2_f32, outer2_f32, float)
MUL2(mul2_bf16, outer2_bf16, uint16_t)

// The entry points run the AVX-512 kernels in the AVX512 family and the
// AVX2 ones below it (Go calls them only in those two families).
void ops_mult_f32(const float *w, long cols, long lo, long hi, const float *xt, long np, long n, float *y, long ldy,
		int acc, long kc) {
	(ops_family >= OPS_AVX512 ? mult512_f32 : mult2_f32)(w, cols, lo, hi, xt, np, n, y, ldy, acc, kc);
}

void ops_mult_bf16(const uint16_t *w, long cols, long lo, long hi, const float *xt, long np, long n, float *y,
		long ldy, int acc, long kc) {
	(ops_family >= OPS_AVX512 ? mult512_bf16 : mult2_bf16)(w, cols, lo, hi, xt, np, n, y, ldy, acc, kc);
}

void ops_mul_f32(const float *w, long cols, long rows, long lo, long hi, const float *dy, long n, float *dx, int acc,
		long oc) {
	(ops_family >= OPS_AVX512 ? mul512_f32 : mul2_f32)(w, cols, rows, lo, hi, dy, n, dx, acc, oc);
}

void ops_mul_bf16(const uint16_t *w, long cols, long rows, long lo, long hi, const float *dy, long n, float *dx,
		int acc, long oc) {
	(ops_family >= OPS_AVX512 ? mul512_bf16 : mul2_bf16)(w, cols, rows, lo, hi, dy, n, dx, acc, oc);
}
